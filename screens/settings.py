"""Clinic settings (admins): opening hours per weekday, the most upcoming appointments a
patient may hold, the sign-up switches, and each doctor's working hours.

Keyboard only: Tab/Shift+Tab between fields, Enter (or Ctrl+O) saves, Ctrl+T opens the
doctors' hours, Escape goes back (asking first when something typed is not saved). The
service's refusals show under the field they concern.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.message import Message
from textual.widgets import Button, Input, Select, Static

from meditrack_tui.errors import Conflict, PermissionDenied, SessionExpired, ValidationError
from meditrack_tui.services.settings import WEEKDAYS

from .base import BaseScreen, error_text
from .forms.confirm import ConfirmScreen
from .forms.doctor_hours import DoctorHoursScreen, hours_rows, hours_text
from .forms.fields import clear_field_errors, error_line, field_row, show_field_errors
from .messages import ServiceFailed
from .widgets.footer import AppFooter

if TYPE_CHECKING:
    from meditrack_tui.services import Services

YES_NO = [("Yes", True), ("No", False)]


@dataclass
class SettingsLoaded(Message):
    """The clinic settings as stored."""

    settings: dict[str, Any]


@dataclass
class SettingsSaved(Message):
    """The clinic settings as saved."""

    settings: dict[str, Any]


class SettingsScreen(BaseScreen):
    """The clinic's settings as one form (any other role sees the refusal)."""

    CSS_PATH = "settings.tcss"
    HORIZONTAL_BREAKPOINTS = [(0, "-narrow"), (110, "-wide")]
    AUTO_FOCUS = "#hours-mon"
    WATCHES = frozenset({"settings"})
    BINDINGS = [
        Binding("ctrl+o", "save", "Save", id="settings-save"),
        Binding("ctrl+t", "doctor_hours", "Doctor hours", id="settings-doctors"),
        Binding("escape", "leave", "Back", id="settings-back"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.loaded: dict[str, Any] | None = None
        self.saved_values: dict[str, Any] = {}

    def compose(self) -> ComposeResult:
        yield Static("Clinic settings", id="settings-title", classes="screen-title")
        yield Static("", id="settings-denied", classes="denied", markup=False)
        with VerticalScroll(id="settings-body", can_focus=False):
            with Horizontal(id="settings-panels"):
                yield from self.panels()
            yield Static("", id="settings-status", classes="status", markup=False)
            yield error_line("form")
            with Horizontal(classes="buttons"):
                yield Button("Save (Enter)", id="save", variant="primary", compact=True)
                yield Button("Doctor hours (Ctrl+T)", id="doctors", compact=True)
                yield Button("Back (Esc)", id="back", compact=True)
        yield AppFooter()

    def panels(self) -> ComposeResult:
        with Vertical(classes="panel", id="settings-hours"):
            yield Static("Opening hours (a booking must fit inside them)",
                         classes="section-title")
            yield from hours_rows("hours-")
        with Vertical(classes="panel", id="settings-rules"):
            yield Static("Appointments and sign-up", classes="section-title")
            yield from field_row("max_upcoming", "Upcoming per patient",
                                 Input(id="max_upcoming", compact=True, placeholder="1-50"))
            yield from field_row("self_signup", "Self sign-up",
                                 Select(YES_NO, value=True, allow_blank=False, compact=True,
                                        id="self_signup"))
            yield from field_row("signups_per_hour", "Sign-ups per hour",
                                 Input(id="signups_per_hour", compact=True,
                                       placeholder="1-1000"))

    # --- loading ---

    def reload(self) -> None:
        session = self.session
        self.ask(lambda s: s.settings.get(session), SettingsLoaded, group="settings-load")

    def on_settings_loaded(self, message: SettingsLoaded) -> None:
        self.show_settings(message.settings)

    def show_settings(self, settings: dict[str, Any]) -> None:
        """Fill the form (a live change by someone else refills only an untouched form)."""
        if self.loaded is not None and self.has_unsaved_changes:
            self.loaded = settings
            self.status(f"{settings.get('updated_by') or 'Someone'} changed the settings; "
                        "save to keep yours anyway, or Esc and reopen to see theirs.")
            return
        self.loaded = settings
        for day in WEEKDAYS:
            self.query_one(f"#hours-{day}", Input).value = hours_text(settings["hours"].get(day))
        self.query_one("#max_upcoming", Input).value = str(settings["max_upcoming"])
        self.query_one("#signups_per_hour", Input).value = str(settings["signups_per_hour"])
        self.query_one("#self_signup", Select).value = bool(settings["self_signup"])
        self.saved_values = self.values()
        by = settings.get("updated_by")
        when = settings.get("updated_at")
        self.status(f"Last changed by {by}" + (f" at {when:%H:%M on %d %b %Y}." if when else ".")
                    if by else "The defaults: nobody has changed the settings yet.")

    def status(self, text: str) -> None:
        self.query_one("#settings-status", Static).update(text)

    # --- the form ---

    def values(self) -> dict[str, Any]:
        return {
            "hours": {day: self.query_one(f"#hours-{day}", Input).value.strip()
                      for day in WEEKDAYS},
            "max_upcoming": self.query_one("#max_upcoming", Input).value.strip(),
            "signups_per_hour": self.query_one("#signups_per_hour", Input).value.strip(),
            "self_signup": self.query_one("#self_signup", Select).value,
        }

    @property
    def has_unsaved_changes(self) -> bool:
        return self.loaded is not None and self.values() != self.saved_values

    @on(Input.Submitted)
    @on(Button.Pressed, "#save")
    def action_save(self) -> None:
        if self.loaded is None:
            return
        clear_field_errors(self)
        session, version, changes = self.session, self.loaded["version"], self.values()

        def save(s: Services) -> dict[str, Any]:
            return s.settings.update(session, changes, version=version)

        self.query_one("#save", Button).disabled = True
        self.ask(save, SettingsSaved, group="settings-save")

    def on_settings_saved(self, message: SettingsSaved) -> None:
        self.query_one("#save", Button).disabled = False
        self.loaded = None  # refill from what was stored
        self.show_settings(message.settings)
        self.notify("The clinic settings are saved.", title="Clinic settings", markup=False)

    def on_service_failed(self, message: ServiceFailed) -> None:
        """A refused save shows in the form (a field's refusal under it, the cursor there);
        a failed load goes to the base handler."""
        exc = message.error
        if message.group != "settings-save":
            return
        self.query_one("#save", Button).disabled = False
        if isinstance(exc, SessionExpired):
            return
        message.prevent_default()
        message.stop()
        if isinstance(exc, ValidationError) and show_field_errors(self, exc):
            for name in exc.fields:
                target = ("#hours-" + name.removeprefix("hours_")) if name.startswith(
                    "hours_") else f"#{name}"
                found = self.query(target)
                if found:
                    found.first().focus()
                    break
            return
        if isinstance(exc, PermissionDenied):
            denied = self.query_one("#settings-denied", Static)
            denied.update(error_text(exc))
            denied.display = True
            return
        text = error_text(exc)
        if isinstance(exc, Conflict):
            text += " Press Esc and open the settings again to start from theirs."
        err = self.query_one("#err-form", Static)
        err.update(text)
        err.display = True

    # --- leaving, doctors ---

    @on(Button.Pressed, "#doctors")
    def action_doctor_hours(self) -> None:
        self.app.push_screen(DoctorHoursScreen())

    @on(Button.Pressed, "#back")
    def action_leave(self) -> None:
        if not self.has_unsaved_changes:
            self.dismiss_screen()
            return

        def answered(discard: bool | None) -> None:
            if discard:
                self.dismiss_screen()

        self.app.push_screen(ConfirmScreen("Discard your changes to the clinic settings?",
                                           yes="Discard", no="Keep editing"), answered)

    def dismiss_screen(self) -> None:
        if len(self.app.screen_stack) > 2:
            self.app.pop_screen()
