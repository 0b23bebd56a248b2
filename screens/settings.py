"""Clinic settings (admins): opening hours per weekday, the most upcoming appointments a
patient may hold, the sign-up switches, and each doctor's working hours.

Keyboard only: Tab/Shift+Tab between fields, Enter (or Ctrl+O) saves, Ctrl+T opens the
doctors' hours, Escape goes back (asking first when something typed is not saved). The
service's refusals show under the field they concern.
"""

from __future__ import annotations

from typing import Any

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label, Select, Static

from meditrack_tui.errors import Conflict, MediTrackError, PermissionDenied, ValidationError
from meditrack_tui.services.settings import DAY_LABELS, WEEKDAYS

from .base import BaseScreen, ServiceMixin, error_text
from .forms.confirm import ConfirmScreen
from .forms.fields import clear_field_errors, show_field_errors
from .widgets.footer import AppFooter

YES_NO = [("Yes", True), ("No", False)]


def hours_text(span: Any) -> str:
    """[open, close] as '08:00-18:00'; None as 'closed'."""
    return f"{span[0]}-{span[1]}" if span else "closed"


def row(label: str, widget: Any, name: str) -> ComposeResult:
    """A label and a compact field on one line, with the field's error line below."""
    with Horizontal(classes="settings-row"):
        yield Label(label, classes="settings-label")
        yield widget
    err = Static("", id=f"err-{name}", classes="field-error", markup=False)
    err.display = False
    yield err


def hours_rows(prefix: str) -> ComposeResult:
    """One row per weekday: 'Mon  08:00-18:00' (or 'closed')."""
    for day in WEEKDAYS:
        yield from row(DAY_LABELS[day], Input(id=f"{prefix}{day}", compact=True,
                                              placeholder="08:00-18:00 or closed"),
                       f"hours_{day}")


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
            err = Static("", id="err-form", classes="field-error", markup=False)
            err.display = False
            yield err
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
            yield from row("Upcoming per patient",
                           Input(id="max_upcoming", compact=True, placeholder="1-50"),
                           "max_upcoming")
            yield from row("Self sign-up",
                           Select(YES_NO, value=True, allow_blank=False, compact=True,
                                  id="self_signup"), "self_signup")
            yield from row("Sign-ups per hour", Input(id="signups_per_hour", compact=True,
                                                      placeholder="1-1000"),
                           "signups_per_hour")

    # --- loading ---

    def reload(self) -> None:
        if self.session is None:
            return
        session = self.session

        def fetch(s: Any) -> dict[str, Any]:
            return s.settings.get(session)

        self.call_service(fetch, self.show_settings, error=self.load_failed,
                          group="settings-load")

    def load_failed(self, exc: BaseException) -> None:
        self.notify(error_text(exc), title="Clinic settings", severity="error", timeout=8,
                    markup=False)

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
        if self.loaded is None or self.session is None:
            return
        clear_field_errors(self)
        session, version, changes = self.session, self.loaded["version"], self.values()

        def save(s: Any) -> dict[str, Any]:
            return s.settings.update(session, changes, version=version)

        self.query_one("#save", Button).disabled = True
        self.call_service(save, self.saved, error=self.failed, group="settings-save")

    def saved(self, settings: dict[str, Any]) -> None:
        self.query_one("#save", Button).disabled = False
        self.loaded = None  # refill from what was stored
        self.show_settings(settings)
        self.notify("The clinic settings are saved.", title="Clinic settings", markup=False)

    def failed(self, exc: BaseException) -> None:
        self.query_one("#save", Button).disabled = False
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


class DoctorHoursScreen(ServiceMixin, ModalScreen[None]):
    """One doctor's working hours: pick the doctor, edit the week, save; or follow the
    clinic's hours again. Bookings must fit inside both theirs and the clinic's."""

    CSS_PATH = "settings.tcss"
    AUTO_FOCUS = "#doctor"
    BINDINGS = [
        Binding("escape", "close", "Cancel", id="doctor-hours-close"),
        Binding("ctrl+o", "save", "Save", id="doctor-hours-save"),
        Binding("ctrl+r", "clinic_hours", "Use clinic hours", id="doctor-hours-reset"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.doctors: dict[str, dict[str, Any]] = {}

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog", id="doctor-hours-form"):
            yield Static("A doctor's working hours", classes="dialog-title")
            yield from row("Doctor", Select([], prompt="Loading doctors…", compact=True,
                                            id="doctor"), "doctor_id")
            yield Static("", id="doctor-hours-now", classes="status", markup=False)
            yield from hours_rows("dh-")
            err = Static("", id="err-form", classes="field-error", markup=False)
            err.display = False
            yield err
            with Horizontal(classes="buttons"):
                yield Button("Save (Enter)", id="dh-save", variant="primary", compact=True)
                yield Button("Clinic hours (Ctrl+R)", id="dh-reset", compact=True)
                yield Button("Close (Esc)", id="dh-close", compact=True)

    def on_mount(self) -> None:
        self.load()

    def load(self, keep: str | None = None) -> None:
        session = self.app.session

        def fetch(s: Any) -> list[dict[str, Any]]:
            return s.settings.doctors(session)

        self.call_service(fetch, lambda found: self.show_doctors(found, keep),
                          error=self.failed, group="doctor-hours")

    def show_doctors(self, found: list[dict[str, Any]], keep: str | None) -> None:
        self.doctors = {d["id"]: d for d in found}
        select = self.query_one("#doctor", Select)
        select.set_options([(d["full_name"], d["id"]) for d in found])
        if found:
            select.value = keep if keep in self.doctors else found[0]["id"]
        self.fill()

    @on(Select.Changed, "#doctor")
    def fill(self) -> None:
        doctor = self.current
        if doctor is None:
            return
        for day in WEEKDAYS:
            self.query_one(f"#dh-{day}", Input).value = hours_text(doctor["hours"].get(day))
        whose = "their own hours" if doctor["own_hours"] else "the clinic's hours"
        self.query_one("#doctor-hours-now", Static).update(
            f"Now: {doctor['hours_text']} ({whose}).")

    @property
    def current(self) -> dict[str, Any] | None:
        value = self.query_one("#doctor", Select).value
        return self.doctors.get(value) if isinstance(value, str) else None

    @on(Input.Submitted)
    @on(Button.Pressed, "#dh-save")
    def action_save(self) -> None:
        self._send({day: self.query_one(f"#dh-{day}", Input).value.strip() for day in WEEKDAYS})

    @on(Button.Pressed, "#dh-reset")
    def action_clinic_hours(self) -> None:
        self._send(None)

    def _send(self, hours: dict[str, str] | None) -> None:
        doctor = self.current
        if doctor is None:
            return
        clear_field_errors(self)
        session, doctor_id = self.app.session, doctor["id"]

        def save(s: Any) -> dict[str, Any]:
            return s.settings.set_doctor_hours(session, doctor_id, hours)

        def done(result: dict[str, Any]) -> None:
            self.notify(f"{result['full_name']}: {result['hours_text']}.",
                        title="Working hours saved", markup=False)
            self.load(keep=doctor_id)

        self.call_service(save, done, error=self.failed, group="doctor-hours-save")

    def failed(self, exc: BaseException) -> None:
        if isinstance(exc, ValidationError) and show_field_errors(self, exc):
            for name in exc.fields:
                found = self.query("#dh-" + name.removeprefix("hours_"))
                if found:
                    found.first().focus()
                    break
            return
        err = self.query_one("#err-form", Static)
        err.update(exc.message if isinstance(exc, MediTrackError) else error_text(exc))
        err.display = True

    @on(Button.Pressed, "#dh-close")
    def action_close(self) -> None:
        self.dismiss(None)
