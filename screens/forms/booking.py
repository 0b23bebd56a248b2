"""Booking an appointment, or moving one: the form (patient, doctor, length, one of the
doctor's free times, reason) and :func:`book_appointment`, which opens it."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.message import Message
from textual.screen import ModalScreen
from textual.widget import Widget
from textual.widgets import Button, Input, Label, OptionList, Select, Static

from meditrack_tui.errors import Conflict, MediTrackError, SessionExpired, ValidationError
from meditrack_tui.services.base import Session

from ..base import ServiceMixin, error_text
from ..messages import ServiceFailed
from ..widgets.cells import books_for_self, keeps_an_agenda, status_label, when_text
from .confirm import close_or_ask
from .fields import clear_field_errors, error_line, field_row, show_field_errors
from .patient_picker import PatientPicker
from .slots import SlotPicker


def book_appointment(owner: Widget, done: Callable[[dict[str, Any]], None],
                     **defaults: Any) -> None:
    """Open the booking form; ``done(appointment)`` runs after a booking was saved."""
    app: Any = owner.app  # the MediTrack App (its session's permissions)
    if not app.permissions.may("appointment.book"):
        owner.app.notify("Your role cannot book appointments.", severity="warning", markup=False)
        return

    def saved(result: dict[str, Any] | None) -> None:
        if result:
            owner.app.notify(f"{result.get('patient_name', 'Patient')}, {when_text(result)} "
                             f"with {result.get('doctor_name', 'the doctor')}.",
                             title="Appointment booked", timeout=4, markup=False)
            done(result)

    owner.app.push_screen(AppointmentForm(**defaults), saved)


@dataclass
class DoctorsLoaded(Message):
    """The doctors one can book with."""

    doctors: list[dict[str, Any]]


@dataclass
class AppointmentSaved(Message):
    """The booked or moved appointment, as stored."""

    appointment: dict[str, Any]


class AppointmentForm(ServiceMixin, ModalScreen[dict[str, Any] | None]):
    """Book an appointment, or reschedule one (``appointment=`` given).

    Formats are checked here before the service is called; the service's refusals
    (double booking on ``time``, a stale version) appear inline. Dismissed with the
    saved appointment, or None.
    """

    CSS_PATH = "booking.tcss"
    BINDINGS = [
        Binding("escape", "close", "Cancel", id="form-close"),
    ]

    def __init__(self, *, appointment: dict[str, Any] | None = None,
                 patient_id: str | None = None, patient_name: str | None = None,
                 doctor_id: str | None = None, day: date | None = None,
                 time: str | None = None) -> None:
        super().__init__()
        self.appointment = appointment
        self.fixed_patient_id = appointment["patient_id"] if appointment else patient_id
        self.fixed_patient_name = appointment.get("patient_name") if appointment else patient_name
        self.default_doctor = str(appointment["doctor_id"]) if appointment else doctor_id
        self.default_day = appointment["start"].date() if appointment else day
        self.default_time = f"{appointment['start']:%H:%M}" if appointment else (time or "")
        self.initial: tuple[Any, ...] | None = None

    @property
    def session(self) -> Session:
        return self.ctx.session

    def compose(self) -> ComposeResult:
        if self.default_day is None:
            self.default_day = self.ctx.now().date()
        if books_for_self(self.permissions) and not self.appointment \
                and not self.fixed_patient_id:
            self.fixed_patient_id = self.session.patient_id
            self.fixed_patient_name = self.session.full_name
        title = "Reschedule the appointment" if self.appointment else "Book an appointment"
        with Vertical(id="appt-form"):
            yield Static(title, classes="form-title")
            if self.fixed_patient_id:
                yield from field_row("patient_id", "Patient", Static(
                    Text(self.fixed_patient_name or "This patient"), id="patient-fixed"))
            else:
                yield PatientPicker()
                yield error_line("patient_id")
            with Horizontal(classes="form-row"):
                yield Label("Doctor", classes="form-label")
                yield Select([], prompt="Choose a doctor", id="doctor", compact=True)
                yield Label("Minutes", classes="form-label-inline")
                yield Input(str(self.appointment["duration_min"]) if self.appointment else "20",
                            id="duration_min", max_length=3, compact=True)
            yield error_line("doctor_id")
            yield error_line("duration_min")
            yield SlotPicker(day=self.default_day, time=self.default_time or None,
                             exclude=self.appointment["id"] if self.appointment else None,
                             id="slots")
            yield error_line("date")
            yield error_line("time")
            yield from field_row("reason", "Reason", Input(
                self.appointment.get("reason", "") if self.appointment else "",
                placeholder="reason for the visit", id="reason", max_length=200, compact=True))
            yield error_line("form")
            with Horizontal(classes="form-buttons"):
                yield Button("Save (Enter)" if self.appointment else "Book (Enter)",
                             id="save", variant="primary", compact=True)
                yield Button("Close (Esc)", id="close", compact=True)

    def on_mount(self) -> None:
        if not self.fixed_patient_id:
            first = "#patient-search"
        elif self.default_doctor or keeps_an_agenda(self.permissions):
            first = "#slot"
        else:
            first = "#doctor"
        self.query_one(first).focus()
        session = self.session
        self.ask(lambda s: s.users.doctors(session), DoctorsLoaded, group="form-doctors")

    def on_doctors_loaded(self, message: DoctorsLoaded) -> None:
        doctors = message.doctors
        select = self.query_one("#doctor", Select)
        options = [(Text(d["full_name"] + (f" ({d['specialty']})" if d.get("specialty") else "")),
                    d["id"]) for d in doctors]
        select.set_options(options)
        default = self.default_doctor
        if default is None and keeps_an_agenda(self.permissions):
            default = self.session.user_id
        if default and any(d["id"] == default for d in doctors):
            select.value = default
        self.initial = self.values()
        self.load_slots()

    # --- free times ---

    def duration(self) -> int | None:
        minutes = self.text("duration_min").strip()
        return int(minutes) if minutes.isdigit() and 5 <= int(minutes) <= 240 else None

    def load_slots(self) -> None:
        """Ask for the chosen doctor's free times for the visit's length."""
        doctor = self.query_one("#doctor", Select)
        duration = self.duration()
        if duration is None:
            return
        picker = self.query_one(SlotPicker)
        doctor_id = None if doctor.is_blank() else str(doctor.value)
        if (doctor_id, duration) != (picker.doctor_id, picker.duration) or picker.key is None:
            picker.request(doctor_id, duration)

    @on(Select.Changed, "#doctor")
    def doctor_changed(self) -> None:
        if self.initial is not None:
            self.load_slots()

    @on(Input.Changed, "#duration_min")
    def duration_changed(self) -> None:
        if self.initial is not None:
            self.load_slots()

    def on_patient_picker_picked(self, message: PatientPicker.Picked) -> None:
        message.stop()
        self.query_one("#doctor", Select).focus()

    @on(OptionList.OptionSelected, "#slot")
    def slot_selected(self) -> None:
        self.query_one("#reason", Input).focus()

    # --- values and dirtiness ---

    def text(self, field_id: str) -> str:
        return self.query_one(f"#{field_id}", Input).value

    @property
    def picked(self) -> dict[str, Any] | None:
        """The patient picked in the search (None with a fixed patient)."""
        found = self.query(PatientPicker)
        return found.first().picked if found else None

    def patient_id(self) -> str | None:
        if self.fixed_patient_id:
            return self.fixed_patient_id
        return self.picked["id"] if self.picked else None

    def values(self) -> tuple[Any, ...]:
        doctor = self.query_one("#doctor", Select)
        search = "" if self.fixed_patient_id else self.query_one(PatientPicker).text
        picker = self.query_one(SlotPicker)
        return (self.patient_id(), search, None if doctor.is_blank() else doctor.value,
                picker.chosen if picker.touched else None, self.text("duration_min"),
                self.text("reason"))

    @property
    def has_unsaved_changes(self) -> bool:
        """True when leaving now would lose something typed (the app's guard asks first)."""
        return self.initial is not None and self.values() != self.initial

    # --- submit ---

    def show_error(self, field_name: str, text: str) -> None:
        show_field_errors(self, ValidationError({field_name: text}))

    @on(Input.Submitted, "#duration_min, #reason")
    @on(Button.Pressed, "#save")
    def submit(self) -> None:
        clear_field_errors(self)
        errors: dict[str, str] = {}
        patient_id = self.patient_id()
        if not patient_id:
            errors["patient_id"] = "Pick a patient: type a name or MRN, then Enter."
        doctor = self.query_one("#doctor", Select)
        if doctor.is_blank():
            errors["doctor_id"] = "Choose a doctor."
        minutes = self.text("duration_min").strip()
        if not minutes.isdigit() or not 5 <= int(minutes) <= 240:
            errors["duration_min"] = "Minutes must be a whole number from 5 to 240."
        chosen = self.query_one(SlotPicker).chosen
        if chosen is None and "doctor_id" not in errors and "duration_min" not in errors:
            errors["time"] = ("Choose one of the doctor's free times: pick a day, then a time "
                              "(Up and Down).")
        reason = self.text("reason").strip()
        if not reason:
            errors["reason"] = "Enter the reason for the visit."
        if errors:
            show_field_errors(self, ValidationError(errors))
            self._focus_first(errors)
            return
        assert chosen is not None
        day, clock = chosen
        data: dict[str, Any] = {"doctor_id": str(doctor.value), "date": day.isoformat(),
                                "time": clock, "duration_min": int(minutes), "reason": reason}
        session = self.session
        if self.appointment:
            aid, version = self.appointment["id"], self.appointment.get("version")

            self.ask(lambda s: s.appointments.reschedule(session, aid, data, version=version),
                     AppointmentSaved, group="form-save")
        else:
            data["patient_id"] = patient_id
            self.ask(lambda s: s.appointments.book(session, data), AppointmentSaved,
                     group="form-save")
        self.query_one("#save", Button).disabled = True

    def _focus_first(self, errors: dict[str, str]) -> None:
        order = [("patient_id", "#patient-search"), ("doctor_id", "#doctor"),
                 ("duration_min", "#duration_min"), ("date", "#day"), ("time", "#slot"),
                 ("reason", "#reason")]
        for name, selector in order:
            if name in errors:
                found = self.query(selector)
                if found:
                    found.first().focus()
                return

    def on_appointment_saved(self, message: AppointmentSaved) -> None:
        self.dismiss(message.appointment)

    def on_service_failed(self, message: ServiceFailed) -> None:
        """A refused booking: why, inline (the base handler covers the rest)."""
        if message.group != "form-save":
            return
        self.query_one("#save", Button).disabled = False
        exc = message.error
        if isinstance(exc, MediTrackError) and not isinstance(exc, SessionExpired):
            message.prevent_default()
            message.stop()
            self._refused(exc)

    def _refused(self, exc: MediTrackError) -> None:
        if isinstance(exc, ValidationError) and {"date", "time"} & set(exc.fields):
            picker = self.query_one(SlotPicker)
            picker.key = None  # the time was taken meanwhile: offer what is free now
            self.load_slots()
        if isinstance(exc, ValidationError) and show_field_errors(self, exc):
            self._focus_first(exc.fields)
            return
        text = error_text(exc)
        if isinstance(exc, Conflict) and exc.current:
            current = exc.current
            start = current.get("start")
            if isinstance(start, datetime):
                status = status_label(current.get("status"))
                text += (f" It is now {start:%d %b %Y %H:%M} with "
                         f"{current.get('doctor_name', 'the doctor')} ({status}). "
                         "Close this form and open it again to start from their version.")
        self.show_error("form", text)

    @on(Button.Pressed, "#close")
    def action_close(self) -> None:
        close_or_ask(self, "Discard your changes?")

