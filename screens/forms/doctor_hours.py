"""One doctor's working hours (from the clinic settings): pick the doctor, edit the week,
save, or follow the clinic's hours again. Also the week's rows the settings form shares."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.message import Message
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Select, Static

from meditrack_tui.errors import SessionExpired, ValidationError
from meditrack_tui.services.settings import DAY_LABELS, WEEKDAYS

from ..base import ServiceMixin, error_text
from ..messages import ServiceFailed
from .fields import clear_field_errors, error_line, field_row, show_field_errors

if TYPE_CHECKING:
    from meditrack_tui.services import Services


def hours_text(span: Any) -> str:
    """[open, close] as '08:00-18:00'; None as 'closed'."""
    return f"{span[0]}-{span[1]}" if span else "closed"


def hours_rows(prefix: str) -> ComposeResult:
    """One row per weekday: 'Mon  08:00-18:00' (or 'closed')."""
    for day in WEEKDAYS:
        yield from field_row(f"hours_{day}", DAY_LABELS[day], Input(
            id=f"{prefix}{day}", compact=True, placeholder="08:00-18:00 or closed"))


@dataclass
class DoctorsLoaded(Message):
    """The doctors with their hours; ``keep`` the doctor to stay on; ``fresh`` when the
    form is to show what is stored (after a save) rather than keep what is typed."""

    doctors: list[dict[str, Any]]
    keep: str | None
    fresh: bool


@dataclass
class DoctorHoursSaved(Message):
    """The doctor's hours as saved."""

    doctor: dict[str, Any]


class DoctorHoursScreen(ServiceMixin, ModalScreen[None]):
    """One doctor's working hours: pick the doctor, edit the week, save; or follow the
    clinic's hours again. Bookings must fit inside both theirs and the clinic's.

    Hours that arrive after typing began never overwrite what was typed (the days typed
    in keep their text); choosing another doctor shows that doctor's week."""

    CSS_PATH = "../settings.tcss"
    AUTO_FOCUS = "#doctor"
    BINDINGS = [
        Binding("escape", "close", "Cancel", id="doctor-hours-close"),
        Binding("ctrl+o", "save", "Save", id="doctor-hours-save"),
        Binding("ctrl+r", "clinic_hours", "Use clinic hours", id="doctor-hours-reset"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.doctors: dict[str, dict[str, Any]] = {}
        #: what the form last put in each day's field, and for which doctor: a field
        #: holding anything else was typed in
        self.filled: dict[str, str] = {}
        self.filled_for: str | None = None

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog", id="doctor-hours-form"):
            yield Static("A doctor's working hours", classes="dialog-title")
            yield from field_row("doctor_id", "Doctor", Select(
                [], prompt="Loading doctors…", compact=True, id="doctor"))
            yield Static("", id="doctor-hours-now", classes="status", markup=False)
            yield from hours_rows("dh-")
            yield error_line("form")
            with Horizontal(classes="buttons"):
                yield Button("Save (Enter)", id="dh-save", variant="primary", compact=True)
                yield Button("Clinic hours (Ctrl+R)", id="dh-reset", compact=True)
                yield Button("Close (Esc)", id="dh-close", compact=True)

    def on_mount(self) -> None:
        self.load()

    def load(self, keep: str | None = None, fresh: bool = False) -> None:
        session = self.ctx.session
        self.ask(lambda s: s.settings.doctors(session),
                 lambda found: DoctorsLoaded(found, keep, fresh), group="doctor-hours")

    def on_doctors_loaded(self, message: DoctorsLoaded) -> None:
        found = message.doctors
        if message.fresh:
            self.filled, self.filled_for = {}, None
        self.doctors = {d["id"]: d for d in found}
        select = self.query_one("#doctor", Select)
        current = select.value
        with select.prevent(Select.Changed):
            select.set_options([(d["full_name"], d["id"]) for d in found])
            if found:
                keep = message.keep or (current if isinstance(current, str) else None)
                select.value = keep if keep in self.doctors else found[0]["id"]
        self.fill()

    @on(Select.Changed, "#doctor")
    def fill(self) -> None:
        """Show the chosen doctor's week; for the doctor already shown, the days typed in
        keep what was typed."""
        doctor = self.current
        if doctor is None:
            return
        same = self.filled_for in (None, doctor["id"])
        for day in WEEKDAYS:
            box = self.query_one(f"#dh-{day}", Input)
            if same and box.value != self.filled.get(day, ""):
                continue  # typed in: theirs, not the loaded hours
            box.value = self.filled[day] = hours_text(doctor["hours"].get(day))
        self.filled_for = doctor["id"]
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
        session, doctor_id = self.ctx.session, str(doctor["id"])

        def save(s: Services) -> dict[str, Any]:
            return s.settings.set_doctor_hours(session, doctor_id, hours)

        self.ask(save, DoctorHoursSaved, group="doctor-hours-save")

    def on_doctor_hours_saved(self, message: DoctorHoursSaved) -> None:
        result = message.doctor
        self.notify(f"{result['full_name']}: {result['hours_text']}.",
                    title="Working hours saved", markup=False)
        self.load(keep=str(result["id"]), fresh=True)

    def on_service_failed(self, message: ServiceFailed) -> None:
        """Refusals show in the form: a day's under that day (the cursor goes there)."""
        exc = message.error
        if isinstance(exc, SessionExpired):
            return  # the base handler logs out
        message.prevent_default()
        message.stop()
        if isinstance(exc, ValidationError) and show_field_errors(self, exc):
            for name in exc.fields:
                found = self.query("#dh-" + name.removeprefix("hours_"))
                if found:
                    found.first().focus()
                    break
            return
        err = self.query_one("#err-form", Static)
        err.update(error_text(exc))
        err.display = True

    @on(Button.Pressed, "#dh-close")
    def action_close(self) -> None:
        self.dismiss(None)
