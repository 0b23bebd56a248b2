"""The one versioned form: create a record, or edit one with a version check.

On a conflict (someone saved the record since the form opened) the typed values stay;
Ctrl+R loads the latest saved record into the fields the user did not touch and shows
the saved value under the ones they did, and saving then applies only the user's edits
on top of the latest version. The patient and the prescription forms build on it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.message import Message
from textual.screen import ModalScreen
from textual.widget import Widget
from textual.widgets import Button, Input, Static

from meditrack_tui.errors import Conflict, MediTrackError, SessionExpired

from ..base import ServiceMixin, error_text
from ..messages import ServiceFailed
from .confirm import close_or_ask
from .fields import clear_field_errors, error_line, field_row, show_field_errors

if TYPE_CHECKING:
    from meditrack_tui.services import Services

Record = dict[str, Any]
SAVE, LATEST = "versioned-save", "versioned-latest"  # the form's ask() groups


@dataclass
class RecordSaved(Message):
    """The service stored the form's record (the form closes with it)."""

    record: Record


@dataclass
class LatestLoaded(Message):
    """The latest saved version of the record after a conflict (None: it is gone)."""

    record: Record | None


class VersionedForm(ServiceMixin, ModalScreen[Record | None]):
    # (misc: ServiceMixin types ``app`` as the MediTrackApp, MessagePump as any App)
    """A form over one versioned record; dismissed with the saved record (or None).

    A form defines its fields' labels and controls (:meth:`label`, :meth:`control`), how
    they read and write values in the record's terms (:meth:`read`, :meth:`write`,
    :meth:`normal`) and the service calls (:meth:`save_call`, :meth:`latest_call`).
    """

    CSS_PATH = "versioned.tcss"
    BINDINGS = [
        Binding("escape", "cancel", "Cancel", id="form-cancel"),
        Binding("ctrl+r", "reload_latest", "Reload latest", id="form-reload"),
    ]

    def __init__(self, record: Record | None, fields: list[str], title: str) -> None:
        super().__init__()
        self.record = record
        self.fields = fields
        self.heading = title
        self.base: Record = self.normal(record or {})  # the values the edits apply to
        self.version = (record or {}).get("version")
        self.in_conflict = False
        self.saving = False

    # --- what a form defines ---

    def label(self, name: str) -> str:
        raise NotImplementedError

    def control(self, name: str) -> Widget:
        raise NotImplementedError

    def read(self, name: str) -> Any:
        """The value field ``name`` holds now, in the terms of :meth:`normal`."""
        return self.query_one(f"#f-{name}", Input).value.strip()

    def write(self, name: str, value: Any) -> None:
        """Put a stored value (as :meth:`normal` gives it) into field ``name``."""
        self.query_one(f"#f-{name}", Input).value = value or ""

    def normal(self, record: Record) -> Record:
        """A record's values in the form's terms (what :meth:`read` returns)."""
        raise NotImplementedError

    def describe(self, name: str, value: Any, record: Record) -> str:
        """How a saved value reads under a field the user changed too."""
        if isinstance(value, list):
            return ", ".join(value) or "(none)"
        return str(value) if value else "(empty)"

    def save_call(self) -> Callable[[Services], Record] | None:
        """The service call storing what was typed; None when there is nothing to send
        (the form has said why)."""
        raise NotImplementedError

    def latest_call(self) -> Callable[[Services], Record | None]:
        """The service call reading the record's latest saved version."""
        raise NotImplementedError

    def compose_extra(self) -> ComposeResult:
        """Widgets after the fields (e.g. the prescription form's allergy override)."""
        yield from ()

    def failed(self, error: MediTrackError) -> bool:
        """Handle a form-specific refusal of a save; True if handled."""
        return False

    def gone(self, latest: Record | None) -> str | None:
        """Why the latest version cannot be edited (removed meanwhile), or None."""
        return None if latest is not None else \
            "This record was removed meanwhile; it cannot be changed."

    # --- layout ---

    def compose(self) -> ComposeResult:
        with Vertical(id="form-box"):
            yield Static(self.heading, classes="form-title", markup=False)
            with VerticalScroll(id="form-fields"):
                for name in self.fields:
                    yield from field_row(name, self.label(name), self.control(name),
                                         latest=True)
                yield from self.compose_extra()
            yield error_line("form")
            conflict = Static("", id="conflict", classes="conflict", markup=False)
            conflict.display = False
            yield conflict
            with Horizontal(classes="form-buttons"):
                yield Button("Save (Enter)", id="save", variant="primary")
                reload = Button("Reload latest (Ctrl+R)", id="reload", variant="warning")
                reload.display = False
                yield reload
                yield Button("Cancel (Esc)", id="cancel")

    def on_mount(self) -> None:
        if self.fields:
            self.query_one(f"#f-{self.fields[0]}").focus()

    # --- values ---

    def typed(self) -> Record:
        """What the form holds now."""
        return {name: self.read(name) for name in self.fields}

    def changes(self) -> Record:
        """Fields whose typed value differs from the record the form is based on."""
        return {k: v for k, v in self.typed().items() if v != self.base.get(k)}

    @property
    def has_unsaved_changes(self) -> bool:
        """True when leaving now would lose something the user typed."""
        return bool(self.changes())

    # --- saving ---

    @on(Input.Submitted)
    @on(Button.Pressed, "#save")
    def save(self) -> None:
        if self.saving:
            return
        clear_field_errors(self)
        call = self.save_call()
        if call is None:
            return
        self.saving = True
        self.ask(call, RecordSaved, group=SAVE)

    def on_record_saved(self, message: RecordSaved) -> None:
        self.saving = False
        self.dismiss(message.record)

    def on_service_failed(self, message: ServiceFailed) -> None:
        """A refused save is shown in the form: field errors inline, a conflict with the
        way to reload; an expired session or an unexpected error goes to the base handler."""
        if message.group == SAVE:
            self.saving = False
        error = message.error
        if message.group not in (SAVE, LATEST) or isinstance(error, SessionExpired) \
                or not isinstance(error, MediTrackError):
            return
        message.prevent_default()
        message.stop()
        if message.group == LATEST:
            self.form_error(error_text(error))
        elif self.failed(error):
            pass
        elif isinstance(error, Conflict):
            self.show_conflict(error)
        elif not show_field_errors(self, error):
            self.form_error(error_text(error))

    def form_error(self, text: str) -> None:
        err = self.query_one("#err-form", Static)
        err.update(Text(text))
        err.display = True

    # --- conflict: reload the latest saved record ---

    def show_conflict(self, error: Conflict) -> None:
        # a stale version can be reloaded; a conflict of another kind (the record was
        # archived, the prescription stopped) has no version to reload
        self.in_conflict = self.record is not None and error.current is not None
        box = self.query_one("#conflict", Static)
        hint = "\nCtrl+R loads the latest saved values; then save again." \
            if self.in_conflict else ""
        box.update(Text(error.message + hint))
        box.display = True
        self.query_one("#reload").display = self.in_conflict
        self.refresh_bindings()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "reload_latest":
            return self.in_conflict
        return True

    @on(Button.Pressed, "#reload")
    def action_reload_latest(self) -> None:
        if not self.in_conflict or self.record is None:
            return
        self.ask(self.latest_call(), LatestLoaded, group=LATEST)

    def on_latest_loaded(self, message: LatestLoaded) -> None:
        """Untouched fields take the latest values; touched ones keep the typed text and
        show the saved value under them. Saving then applies only the user's edits."""
        latest = message.record
        box = self.query_one("#conflict", Static)
        self.in_conflict = False
        self.query_one("#reload").display = False
        self.refresh_bindings()
        why = self.gone(latest)
        if why is not None or latest is None:
            box.update(Text(why or ""))
            return
        typed, now = self.typed(), self.normal(latest)
        differing = []
        for name in self.fields:
            line = self.query_one(f"#latest-{name}", Static)
            line.display = False
            if typed[name] == self.base.get(name):  # untouched: take the latest
                self.write(name, now[name])
            elif now[name] != self.base.get(name) and now[name] != typed[name]:
                # both changed this field: show theirs under the typed value
                line.update(Text(f"Saved now: {self.describe(name, now[name], latest)}"))
                line.display = True
                differing.append(self.label(name).lower())
        self.base, self.version, self.record = now, latest.get("version"), latest
        who = latest.get("updated_by") or "someone else"
        if differing:
            box.update(Text(f"Loaded the latest version (changed by {who}). They also changed "
                            f"{', '.join(differing)}: compare with your typed value, then "
                            "save again."))
        else:
            box.update(Text(f"Loaded the latest version (changed by {who}). Your edits are "
                            "kept; save again to apply them."))

    # --- leaving ---

    @on(Button.Pressed, "#cancel")
    def action_cancel(self) -> None:
        close_or_ask(self, "Discard the changes you typed?")
