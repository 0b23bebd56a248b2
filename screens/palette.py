"""The command palette's commands: Textual's own (without Screenshot, which would write
patient data to a file), then what the role may do from any screen, then the open screen's
own (its ``palette_commands``; a screen's version of a global command replaces it), then
every other key its footer shows.

The App's ``get_system_commands`` asks :func:`system_commands`; the palette is imported
only once it is opened.
"""

from __future__ import annotations

from collections.abc import Iterable
from functools import partial
from typing import TYPE_CHECKING, Any

from textual.app import SystemCommand
from textual.screen import ModalScreen, Screen

from meditrack_tui import policy

from .keys import GLOBAL_KEYS

if TYPE_CHECKING:
    from .app import MediTrackApp


def system_commands(app: MediTrackApp, screen: Screen[Any],
                    textual_commands: Iterable[SystemCommand]) -> Iterable[SystemCommand]:
    """What the palette offers on ``screen`` (``textual_commands``: Textual's own)."""
    for command in textual_commands:
        if command.title != "Screenshot":
            yield command
    if app.session is None or app.locked:
        return
    screen_commands = list(getattr(screen, "palette_commands", lambda: ())())
    offered = {command.title for command in screen_commands}
    for command in global_commands(app, screen):
        if command.title not in offered:  # the screen's own version fits better
            yield command
    yield from screen_commands
    offered |= {command.title for command in global_commands(app, screen)}
    yield from key_commands(app, screen, offered)


def key_commands(app: MediTrackApp, screen: Screen[Any],
                 offered: set[str]) -> Iterable[SystemCommand]:
    """Every key the screen shows in its footer, as a command: the footer leaves some out
    at 80 columns, and a browser keeps Ctrl+N, Ctrl+T and Ctrl+W for itself."""
    seen = set(offered)
    for active in screen.active_bindings.values():
        binding = active.binding
        if not (binding.show and active.enabled) or binding.action.startswith("app."):
            continue
        if binding.description in seen:
            continue
        seen.add(binding.description)
        yield SystemCommand(binding.description,
                            f"{app.get_key_display(binding)} on this screen",
                            partial(app.run_action, binding.action, active.node))


def global_commands(app: MediTrackApp, screen: Screen[Any]) -> Iterable[SystemCommand]:
    """Commands that work from any screen, only those the role may use."""
    role = app.session.role
    for key in GLOBAL_KEYS:
        if key.action.startswith("app.goto("):
            area = key.action.removeprefix("app.goto('").removesuffix("')")
            if app.area_allowed(area):
                yield SystemCommand(f"Go to {key.label}", f"{key.help} ({key.key.upper()})",
                                    lambda a=area: app.goto(a))
    if role == policy.PATIENT and not getattr(screen, "own", False):
        for tab, title in (("vitals", "My vitals"), ("prescriptions", "My prescriptions"),
                           ("reports", "My reports")):
            yield SystemCommand(title, "A tab of your record (F3)",
                                lambda t=tab: app.goto("records", tab=t))
    if app.permissions.may("appointment.book") and not isinstance(screen, ModalScreen):
        yield SystemCommand("Book an appointment", "Open the booking form",
                            lambda: book(screen))
    yield SystemCommand("Change my password", "On your profile (F6)", app.change_password)
    yield SystemCommand("Lock the terminal", "Hide everything until your password (F9)",
                        app.action_lock)
    yield SystemCommand("Log out", "End your session (F10)", app.action_logout)


def book(screen: Screen[Any]) -> None:
    """The booking form over ``screen`` (the patient and doctor chosen in it)."""
    from .forms.booking import book_appointment

    book_appointment(screen, lambda _appointment: None)


__all__ = ["book", "global_commands", "key_commands", "system_commands"]
