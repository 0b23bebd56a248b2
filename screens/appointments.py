"""Appointments: a doctor's day agenda, the filtered list, the booking form and a patient's pane.

The tables here (:class:`RecordTable`, :class:`AppointmentTable`) are shared with the
dashboard: an :class:`AppointmentTable` offers the changes (check in, done, no-show,
reschedule, cancel) the role may make in a menu on Enter, and tells its owner to
re-fetch with :class:`AppointmentTable.AppointmentChanged`.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from datetime import date, datetime, timedelta
from typing import Any

from rich.errors import StyleSyntaxError
from rich.style import Style
from rich.text import Text
from textual import on
from textual.app import ComposeResult, SystemCommand
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.coordinate import Coordinate
from textual.message import Message
from textual.screen import ModalScreen
from textual.widget import Widget
from textual.widgets import (
    Button,
    DataTable,
    Input,
    Label,
    OptionList,
    Select,
    Static,
    TabbedContent,
    TabPane,
)
from textual.widgets.option_list import Option

from meditrack_tui import policy
from meditrack_tui.domain import OPEN_STATUSES, AppointmentStatus, may_follow
from meditrack_tui.errors import Conflict, ValidationError

from .base import BaseScreen, ServiceMixin, error_text, label_of
from .forms.confirm import ActionMenu, ConfirmScreen, PromptScreen
from .forms.fields import clear_field_errors, show_field_errors
from .messages import DataChanged
from .slots import SlotPicker
from .widgets.footer import AppFooter
from .widgets.table import Fit, Short, Table, refilled, short_day, short_doctor

# the statuses' labels, verbs and transitions are the domain's (meditrack_tui.domain);
# here only how they look and what the action menu calls each change
STATUS_STYLES = {AppointmentStatus.CHECKED_IN: "accent", AppointmentStatus.COMPLETED: "success",
                 AppointmentStatus.CANCELLED: "text-muted", AppointmentStatus.NO_SHOW: "warning"}
#: the status changes the action menu offers (cancelling has its own entry, last)
MENU_CHANGES = ((AppointmentStatus.CHECKED_IN, "Check in"),
                (AppointmentStatus.COMPLETED, "Mark completed"),
                (AppointmentStatus.NO_SHOW, "Mark as a no-show"))
DATE_RE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
LIST_PAGE_SIZE = 50
PANE_PAGE_SIZE = 20


# --- small helpers -------------------------------------------------------------------------

def parse_day(text: str) -> date | None:
    """A YYYY-MM-DD date, or None when the text is not one."""
    text = text.strip()
    if not DATE_RE.match(text):
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        return None


def day_text(day: date) -> str:
    return f"{day:%A %d %B %Y}"


def when_text(appt: dict[str, Any]) -> str:
    start = appt.get("start")
    return f"{start:%d %b %Y at %H:%M}" if isinstance(start, datetime) else "?"


def open_patient(app: Any, patient_id: str) -> None:
    """Push the patient's record (the module is imported when first needed)."""
    from .patient_detail import PatientScreen

    app.push_screen(PatientScreen(patient_id))


def role_of(app: Any) -> str | None:
    return app.session.role if app.session is not None else None


def is_open(status: Any) -> bool:
    """Still to happen (scheduled or checked in): it can be moved."""
    return status in OPEN_STATUSES


def status_label(status: Any) -> str:
    """'Checked in', 'No-show', ... (the domain's label for a stored status)."""
    return label_of(AppointmentStatus, status)


# --- tables ----------------------------------------------------------------------------------

class RecordTable(Table):
    """A row-cursor table keeping the record (a dict with an ``id``) behind each row.

    ``columns`` are (key, label, cell function) triples; :meth:`show` refills the rows
    and keeps the cursor on the same record when it is still there. ``fit`` says which
    columns give way on a narrow table (a cell function may return a :class:`Short`).
    """

    def __init__(self, columns: Iterable[tuple[str, str, Callable[[dict[str, Any]], Any]]],
                 *, fit: Fit | None = None, id: str | None = None,
                 classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes, cursor_type="row", zebra_stripes=True)
        self.fit = fit
        self.column_specs = list(columns)
        self.records: dict[str, dict[str, Any]] = {}
        for key, label, _ in self.column_specs:
            self.add_column(label, key=key)

    def cells(self, record: dict[str, Any]) -> list[Any]:
        return [cell(record) for _, _, cell in self.column_specs]

    def show(self, records: Iterable[dict[str, Any]], *, select: str | None = None) -> None:
        """Replace the rows with ``records``; the cursor goes to ``select`` if given and
        shown, else stays on the same record when it is still there."""
        selected, scroll_y = self.selected, self.scroll_y
        self.records = {str(record["id"]): record for record in records}
        self.fill_fitted([(key, label) for key, label, _ in self.column_specs],
                         [(key, self.cells(record)) for key, record in self.records.items()])
        refilled(self, scroll_y)
        target = select if select in self.records else (
            selected["id"] if selected is not None else None)
        if target in self.records:
            self.move_cursor(row=self.get_row_index(target), animate=False)

    def replace(self, record: dict[str, Any]) -> None:
        """Update one row in place (after a change made here)."""
        key = str(record["id"])
        if key not in self.records:
            return
        self.records[key] = record
        self.refit_row(key, self.cells(record))

    @property
    def selected(self) -> dict[str, Any] | None:
        """The record under the cursor, if any."""
        if not self.row_count:
            return None
        try:
            row_key = self.coordinate_to_cell_key(Coordinate(self.cursor_row, 0)).row_key
        except Exception:  # noqa: BLE001 - cursor outside the rows
            return None
        return self.records.get(str(row_key.value))


def styled(widget: Widget, text: str, variable: str | None) -> Text:
    """Text coloured with a theme variable (e.g. 'error'), never a literal colour."""
    if not variable:
        return Text(text)
    value = widget.app.theme_variables.get(variable, "")
    try:
        style = Style.parse(value) if value else Style()
    except StyleSyntaxError:  # e.g. 'auto 60%' (text-muted): not a Rich colour
        style = Style(dim=True)
    return Text(text, style=style)


def _status_cell(widget: Widget) -> Callable[[dict[str, Any]], Text]:
    def cell(appt: dict[str, Any]) -> Text:
        status = appt.get("status", "")
        return styled(widget, status_label(status), STATUS_STYLES.get(status))
    return cell


def _appt_columns(widget: Widget, names: Iterable[str]) -> list[tuple[str, str, Callable]]:
    def time_of(a: dict[str, Any]) -> Text:
        return Text(f"{a['start']:%H:%M}") if isinstance(a.get("start"), datetime) else Text("")

    def date_of(a: dict[str, Any]) -> Short | Text:
        if not isinstance(a.get("start"), datetime):
            return Text("")
        return Short(Text(f"{a['start']:%d %b %Y}"),
                     Text(short_day(a["start"], widget.app.now())))

    def doctor_of(a: dict[str, Any]) -> Short:
        name = a.get("doctor_name") or ""
        return Short(Text(name), Text(short_doctor(name)))

    specs: dict[str, tuple[str, Callable]] = {
        "date": ("Date", date_of),
        "time": ("Time", time_of),
        "duration": ("Min", lambda a: Text(str(a.get("duration_min", "")))),
        "status": ("Status", _status_cell(widget)),
        "patient": ("Patient", lambda a: Text(a.get("patient_name") or "")),
        "mrn": ("MRN", lambda a: Text(a.get("mrn") or "")),
        "doctor": ("Doctor", doctor_of),
        "reason": ("Reason", lambda a: Text(a.get("reason") or "")),
    }
    return [(name, *specs[name]) for name in names]


class AppointmentTable(ServiceMixin, RecordTable):
    """Appointments with the changes the role may make to the selected one.

    Enter opens a menu naming the appointment: the patient's record (staff), check in,
    completed, no-show, move, cancel, as far as the role and the status allow; Delete
    cancels after a confirmation. No letter changes an appointment (text typed here goes
    to the screen's search field). Changes post :class:`AppointmentChanged`.
    """

    BINDINGS = [
        Binding("enter", "select_cursor", "Actions", id="appt-open"),
        Binding("delete", "cancel_appointment", "Cancel appt", id="appt-cancel"),
    ]

    class AppointmentChanged(Message):
        """An appointment was changed from this table; its owner re-fetches."""

        def __init__(self, table: AppointmentTable, appointment: dict[str, Any] | None) -> None:
            super().__init__()
            self.table = table
            self.appointment = appointment

        @property
        def control(self) -> AppointmentTable:
            return self.table

    #: on a narrow table the reason gives way; then the duration, MRN and doctor go
    FIT = Fit(flex=("reason", "patient"), drop=("duration", "mrn", "doctor"), minimum=14)

    def __init__(self, columns: Iterable[str], *, open_patient: bool = True,
                 id: str | None = None, classes: str | None = None) -> None:
        self.column_names = tuple(columns)
        self.opens_patient = open_patient
        super().__init__(_appt_columns(self, self.column_names), fit=self.FIT, id=id,
                         classes=classes)

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "select_cursor":
            return self.may_open() or self.permissions.may("appointment.update") \
                or self.permissions.may("appointment.cancel")
        if action == "cancel_appointment":
            return self.permissions.may("appointment.cancel")
        return True

    def may_open(self) -> bool:
        """Whether Enter offers the patient's record (staff, outside a patient's record)."""
        return self.opens_patient and role_of(self.app) in (policy.DOCTOR, policy.ADMIN)

    def actions_for(self, appt: dict[str, Any]) -> list[tuple[str, str]]:
        """(action, label) for the menu of ``appt``: what the role and its status allow."""
        name = appt.get("patient_name") or "the patient"
        status = appt.get("status", "")
        out: list[tuple[str, str]] = []
        if self.may_open():
            out.append(("open", f"Open the record of {name}"))
        if self.permissions.may("appointment.update"):
            for target, label in MENU_CHANGES:
                if may_follow(status, target):
                    out.append((target.value, label))
            if is_open(status):
                out.append(("reschedule", "Move to another time"))
        if self.permissions.may("appointment.cancel") \
                and may_follow(status, AppointmentStatus.CANCELLED):
            out.append(("cancel", "Cancel the appointment"))
        return out

    @staticmethod
    def describe(appt: dict[str, Any]) -> str:
        """The appointment in a few words: who, when, with whom, its status."""
        status = status_label(appt.get("status", ""))
        who = appt.get("patient_name") or "Appointment"
        return f"{who} · {when_text(appt)} · {appt.get('doctor_name') or ''} · {status}"

    @on(DataTable.RowSelected)
    def _row_chosen(self, event: DataTable.RowSelected) -> None:
        appt = self.records.get(str(event.row_key.value))
        if appt is None:
            return
        actions = self.actions_for(appt)
        if not actions:
            self.app.notify("Nothing can be changed on this appointment now.", timeout=3,
                            markup=False)
            return
        if [action for action, _label in actions] == ["open"]:
            open_patient(self.app, appt["patient_id"])
            return

        def chosen(action: str | None) -> None:
            if action == "open":
                open_patient(self.app, appt["patient_id"])
            elif action == "reschedule":
                self.action_reschedule()
            elif action == "cancel":
                self.action_cancel_appointment()
            elif action in {target.value for target, _label in MENU_CHANGES}:
                self.set_status(action)

        self.app.push_screen(ActionMenu(self.describe(appt), actions), chosen)

    def _chosen(self) -> dict[str, Any] | None:
        appt = self.selected
        if appt is None:
            self.app.notify("Select an appointment first.", severity="warning", markup=False)
        return appt

    def set_status(self, status: str) -> None:
        """Move the selected appointment to ``status`` (refused here if it cannot move)."""
        appt = self._chosen()
        if appt is None:
            return
        verb = AppointmentStatus(status).verb
        if not may_follow(appt["status"], status):
            current = status_label(appt["status"]).lower()
            self.app.notify(f"This appointment is {current}; it cannot be {verb}.",
                            severity="warning", markup=False)
            return
        session, aid, version = self.app.session, appt["id"], appt.get("version")
        name = appt.get("patient_name", "The patient")

        def done(result: dict[str, Any]) -> None:
            self.replace(result)
            self.app.notify(f"{name} ({result['start']:%H:%M}) {verb}.", timeout=3, markup=False)
            self.post_message(self.AppointmentChanged(self, result))

        self.call_service(
            lambda s: s.appointments.set_status(session, aid, status, version=version),
            done, error=self._failed, group="appointment-status")

    def _failed(self, exc: BaseException) -> None:
        self.app.notify(error_text(exc), title=getattr(exc, "title", "Error"),
                        severity="error", timeout=8, markup=False)
        self.post_message(self.AppointmentChanged(self, None))

    def action_cancel_appointment(self) -> None:
        appt = self._chosen()
        if appt is None:
            return
        if not may_follow(appt["status"], AppointmentStatus.CANCELLED):
            current = status_label(appt["status"]).lower()
            self.app.notify(f"This appointment is {current}; it cannot be "
                            f"{AppointmentStatus.CANCELLED.verb}.",
                            severity="warning", markup=False)
            return
        who = appt.get("patient_name", "this patient")
        question = (f"Cancel the appointment of {who} on {when_text(appt)} "
                    f"with {appt.get('doctor_name', 'the doctor')}?")

        def answered(yes: bool | None) -> None:
            if yes:
                self.set_status(AppointmentStatus.CANCELLED.value)

        self.app.push_screen(ConfirmScreen(question, yes="Cancel it", no="Keep it"), answered)

    def action_reschedule(self) -> None:
        appt = self._chosen()
        if appt is None:
            return
        if not is_open(appt["status"]):
            current = status_label(appt["status"]).lower()
            self.app.notify(f"This appointment is {current} and cannot be moved.",
                            severity="warning", markup=False)
            return

        def saved(result: dict[str, Any] | None) -> None:
            if result:
                self.app.notify(f"Moved to {when_text(result)}.", title="Rescheduled",
                                timeout=4, markup=False)
                self.post_message(self.AppointmentChanged(self, result))

        self.app.push_screen(AppointmentForm(appointment=appt), saved)


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


# --- the booking / reschedule form -----------------------------------------------------------

def _error_line(field_name: str) -> Static:
    err = Static("", id=f"err-{field_name}", classes="field-error", markup=False)
    err.display = False
    return err


class AppointmentForm(ServiceMixin, ModalScreen[dict | None]):
    """Book an appointment, or reschedule one (``appointment=`` given).

    Formats are checked here before the service is called; the service's refusals
    (double booking on ``time``, a stale version) appear inline. Dismissed with the
    saved appointment, or None.
    """

    CSS_PATH = "appointments.tcss"
    BINDINGS = [
        Binding("escape", "close", "Cancel", id="form-close"),
        Binding("down", "results", "Matches", show=False, id="form-results"),
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
        self.picked: dict[str, Any] | None = None
        self.matches: list[dict[str, Any]] = []
        self.matched_query: str | None = None  # the search text `matches` answers
        self.pick_pending = False  # Enter came before the search answered: pick then
        self.initial: tuple[Any, ...] | None = None

    @property
    def session(self) -> Any:
        return self.app.session

    def compose(self) -> ComposeResult:
        if self.default_day is None:
            self.default_day = self.app.now().date()
        if self.session is not None and self.session.role == policy.PATIENT \
                and not self.appointment and not self.fixed_patient_id:
            self.fixed_patient_id = self.session.patient_id
            self.fixed_patient_name = self.session.full_name
        title = "Reschedule the appointment" if self.appointment else "Book an appointment"
        with Vertical(id="appt-form"):
            yield Static(title, classes="form-title")
            with Horizontal(classes="form-row"):
                yield Label("Patient", classes="form-label")
                if self.fixed_patient_id:
                    yield Static(Text(self.fixed_patient_name or "This patient"),
                                 id="patient-fixed")
                else:
                    yield Input(placeholder="name or MRN, then Enter", id="patient-search",
                                compact=True)
            if not self.fixed_patient_id:
                results = OptionList(id="patient-results", compact=True)
                results.display = False
                yield results
            yield _error_line("patient_id")
            with Horizontal(classes="form-row"):
                yield Label("Doctor", classes="form-label")
                yield Select([], prompt="Choose a doctor", id="doctor", compact=True)
                yield Label("Minutes", classes="form-label-inline")
                yield Input(str(self.appointment["duration_min"]) if self.appointment else "20",
                            id="duration_min", max_length=3, compact=True)
            yield _error_line("doctor_id")
            yield _error_line("duration_min")
            yield SlotPicker(day=self.default_day, time=self.default_time or None,
                             exclude=self.appointment["id"] if self.appointment else None,
                             id="slots")
            yield _error_line("date")
            yield _error_line("time")
            with Horizontal(classes="form-row"):
                yield Label("Reason", classes="form-label")
                yield Input(self.appointment.get("reason", "") if self.appointment else "",
                            placeholder="reason for the visit", id="reason", max_length=200,
                            compact=True)
            yield _error_line("reason")
            yield _error_line("form")
            with Horizontal(classes="form-buttons"):
                yield Button("Save (Enter)" if self.appointment else "Book (Enter)",
                             id="save", variant="primary", compact=True)
                yield Button("Close (Esc)", id="close", compact=True)

    def on_mount(self) -> None:
        if not self.fixed_patient_id:
            first = "#patient-search"
        elif self.default_doctor or (self.session is not None
                                     and self.session.role == policy.DOCTOR):
            first = "#slot"
        else:
            first = "#doctor"
        self.query_one(first).focus()
        session = self.session
        self.call_service(lambda s: s.users.doctors(session), self._doctors_loaded,
                          group="form-doctors")

    def _doctors_loaded(self, doctors: list[dict[str, Any]]) -> None:
        select = self.query_one("#doctor", Select)
        options = [(Text(d["full_name"] + (f" ({d['specialty']})" if d.get("specialty") else "")),
                    d["id"]) for d in doctors]
        select.set_options(options)
        default = self.default_doctor
        if default is None and self.session is not None and self.session.role == policy.DOCTOR:
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

    @on(OptionList.OptionSelected, "#slot")
    def slot_selected(self) -> None:
        self.query_one("#reason", Input).focus()

    # --- values and dirtiness ---

    def text(self, field_id: str) -> str:
        return self.query_one(f"#{field_id}", Input).value

    def patient_id(self) -> str | None:
        if self.fixed_patient_id:
            return self.fixed_patient_id
        return self.picked["id"] if self.picked else None

    def values(self) -> tuple[Any, ...]:
        doctor = self.query_one("#doctor", Select)
        search = "" if self.fixed_patient_id else self.text("patient-search")
        picker = self.query_one(SlotPicker)
        return (self.patient_id(), search, None if doctor.is_blank() else doctor.value,
                picker.chosen if picker.touched else None, self.text("duration_min"),
                self.text("reason"))

    @property
    def has_unsaved_changes(self) -> bool:
        """True when leaving now would lose something typed (the app's guard asks first)."""
        return self.initial is not None and self.values() != self.initial

    # --- patient search ---

    @on(Input.Changed, "#patient-search")
    def search_changed(self, event: Input.Changed) -> None:
        if self.picked and event.value == self._picked_label(self.picked):
            return
        self.picked = None
        self.pick_pending = False
        query = event.value.strip()
        results = self.query_one("#patient-results", OptionList)
        if len(query) < 2:
            self.matches, self.matched_query = [], None
            results.clear_options()
            results.display = False
            return
        session = self.session
        self.call_service(lambda s: s.patients.list(session, query=query, page_size=8),
                          lambda page: self._show_matches(page, query),
                          group="form-patient-search")

    def _show_matches(self, page: Any, query: str) -> None:
        """Show the matches for ``query`` (ignored when the text has changed since);
        complete an Enter pressed while the search was running."""
        if self.picked or query != self.text("patient-search").strip():
            return
        self.matches, self.matched_query = list(page.items), query
        results = self.query_one("#patient-results", OptionList)
        results.clear_options()
        if not self.matches:
            results.add_option(Option(Text("No patient matches."), disabled=True))
        for p in self.matches:
            born = f"  born {p['dob']}" if p.get("dob") else ""
            results.add_option(Option(Text(f"{p['name']}  {p['mrn']}{born}"), id=p["id"]))
        results.display = True
        if self.matches:
            results.highlighted = 0
        if self.pick_pending:
            self.pick_pending = False
            self._pick_highlighted()

    @staticmethod
    def _picked_label(patient: dict[str, Any]) -> str:
        return f"{patient['name']} ({patient['mrn']})"

    def pick(self, patient: dict[str, Any]) -> None:
        self.picked = patient
        search = self.query_one("#patient-search", Input)
        search.value = self._picked_label(patient)
        results = self.query_one("#patient-results", OptionList)
        results.display = False
        err = self.query_one("#err-patient_id", Static)
        err.display = False
        self.query_one("#doctor", Select).focus()

    @on(OptionList.OptionSelected, "#patient-results")
    def option_selected(self, event: OptionList.OptionSelected) -> None:
        chosen = next((p for p in self.matches if p["id"] == event.option.id), None)
        if chosen:
            self.pick(chosen)

    @on(Input.Submitted, "#patient-search")
    def search_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        if self.picked:
            self.query_one("#doctor", Select).focus()
            return
        query = self.text("patient-search").strip()
        if len(query) < 2:
            self.show_error("patient_id", "Type at least two letters of the name, or the MRN, "
                                          "and pick a patient from the list.")
            return
        if self.matched_query != query:  # the search is still running: pick when it answers
            self.pick_pending = True
            return
        self._pick_highlighted()

    def _pick_highlighted(self) -> None:
        """Pick the highlighted match (the first by default), or say that none matched."""
        if not self.matches:
            typed = self.matched_query or ""
            self.show_error("patient_id", f"No patient matches “{typed}”. Check the spelling, "
                                          "or type the MRN.")
            return
        results = self.query_one("#patient-results", OptionList)
        index = results.highlighted if results.highlighted is not None else 0
        self.pick(self.matches[min(index, len(self.matches) - 1)])

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "results":
            return (self.focused is not None and self.focused.id == "patient-search"
                    and bool(self.matches) and not self.picked)
        return True

    def action_results(self) -> None:
        self.query_one("#patient-results", OptionList).focus()

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

            def fn(s: Any) -> Any:
                return s.appointments.reschedule(session, aid, data, version=version)
        else:
            data["patient_id"] = patient_id

            def fn(s: Any) -> Any:
                return s.appointments.book(session, data)
        self.query_one("#save", Button).disabled = True
        self.call_service(fn, self._saved, error=self._failed, group="form-save")

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

    def _saved(self, result: dict[str, Any]) -> None:
        self.dismiss(result)

    def _failed(self, exc: BaseException) -> None:
        self.query_one("#save", Button).disabled = False
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
        if not self.has_unsaved_changes:
            self.dismiss(None)
            return

        def answered(discard: bool | None) -> None:
            if discard:
                self.dismiss(None)

        self.app.push_screen(ConfirmScreen("Discard your changes?", yes="Discard",
                                           no="Keep editing"), answered)


# --- the Appointments screen ---------------------------------------------------------------

class AppointmentsScreen(BaseScreen):
    """A doctor's day agenda and the filtered, paged list (a patient sees only their list)."""

    CSS_PATH = "appointments.tcss"
    WATCHES = frozenset({"appointments"})
    AUTO_FOCUS = "AppointmentTable"  # the agenda for staff, the list for a patient
    BINDINGS = [
        Binding("ctrl+n", "book", "Book", id="appt-book"),
        Binding("ctrl+l", "toggle_view", "Agenda/List", id="appt-view"),
        Binding("p", "prev_day", "Prev day", id="agenda-prev"),
        Binding("n", "next_day", "Next day", id="agenda-next"),
        Binding("t", "today", "Today", id="agenda-today"),
        Binding("g", "goto_day", "Go to date", id="agenda-goto"),
        Binding("pageup", "prev_page", "Prev page", id="list-prev", priority=True),
        Binding("pagedown", "next_page", "Next page", id="list-next", priority=True),
        Binding("ctrl+r", "refresh", "Refresh", id="appt-refresh"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.doctors: list[dict[str, Any]] | None = None
        self.day: date | None = None
        self.agenda_doctor: str | None = None
        self.page = 1
        self.pages = 1
        self.shown_filters: dict[str, Any] | None = None
        self.select_id: str | None = None  # put the cursor here once it is shown (new booking)
        self.current_view = "agenda"

    @property
    def staff(self) -> bool:
        return role_of(self.app) in (policy.DOCTOR, policy.ADMIN)

    # --- layout ---

    def compose(self) -> ComposeResult:
        today = self.app.now().date()
        self.day = today
        if self.session is not None and self.session.role == policy.DOCTOR:
            self.agenda_doctor = self.session.user_id
        title = "Appointments" if self.staff else "Your appointments"
        yield Static(title, id="appt-title", classes="screen-title")
        if self.staff:
            with TabbedContent(id="views", initial="agenda-tab"):
                with TabPane("Day agenda", id="agenda-tab"):
                    yield from self._agenda()
                with TabPane("List", id="list-tab"):
                    yield from self._list(today)
        else:
            with Vertical(id="list-only"):
                yield from self._list(today)
        yield AppFooter()

    def _agenda(self) -> ComposeResult:
        with Horizontal(id="agenda-bar"):
            yield Static("", id="agenda-day")
            yield Select([], prompt="Doctor", id="agenda-doctor", compact=True)
        yield AppointmentTable(("time", "status", "patient", "mrn", "reason", "duration"),
                               id="agenda-table")
        yield Static("", id="agenda-summary", classes="muted")

    def _list(self, today: date) -> ComposeResult:
        with Horizontal(id="list-filters"):
            yield Select([(s.label, s.value) for s in AppointmentStatus],
                         prompt="Any status", id="f-status", compact=True)
            yield Select([], prompt="Any doctor", id="f-doctor", compact=True)
            yield Input(today.isoformat(), placeholder="from date", id="f-from", max_length=10,
                        compact=True)
            yield Input(placeholder="to date", id="f-to", max_length=10, compact=True)
            if self.staff:
                yield Input(placeholder="patient, MRN, reason", id="f-query", compact=True)
        yield _error_line("filters")
        columns = ("date", "time", "status", "patient", "doctor", "reason") if self.staff \
            else ("date", "time", "status", "doctor", "reason")
        yield AppointmentTable(columns, id="list-table")
        yield Static("", id="list-pager", classes="muted")

    def on_mount(self) -> None:
        super().on_mount()
        self._show_day_label()

    @property
    def view(self) -> str:
        """The view shown: "agenda" or "list" (a patient only has the list)."""
        return self.current_view if self.staff else "list"

    def search_field(self, table: DataTable) -> Input | None:
        """Text typed on the staff's list goes to its patient/MRN/reason filter; the
        agenda has no search (its letters only move between days)."""
        if self.staff and self.view == "list":
            return self.query_one("#f-query", Input)
        return None

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "book":
            return self.permissions.may("appointment.book")
        if action == "toggle_view":
            return self.staff
        if action in ("prev_day", "next_day", "today", "goto_day"):
            return self.staff and self.view == "agenda"
        if action in ("prev_page", "next_page"):
            return self.view == "list" and self.pages > 1
        return True

    @on(TabbedContent.TabActivated)
    def tab_activated(self, event: TabbedContent.TabActivated) -> None:
        self.current_view = "agenda" if event.pane.id == "agenda-tab" else "list"
        table = "#agenda-table" if self.view == "agenda" else "#list-table"
        self.query_one(table).focus()
        self.refresh_bindings()

    def action_toggle_view(self) -> None:
        tabs = self.query_one("#views", TabbedContent)
        tabs.active = "list-tab" if tabs.active == "agenda-tab" else "agenda-tab"

    # --- loading ---

    def reload(self) -> None:
        if self.session is None:
            return
        if self.doctors is None:
            session, today = self.session, self.app.now().date().isoformat()
            pick = self.staff and self.agenda_doctor is None

            def fetch(s: Any) -> tuple[list[dict[str, Any]], str | None]:
                """The doctors, and (for the agenda) the first with appointments today."""
                doctors = s.users.doctors(session)
                busy = s.appointments.list(session, date_from=today, date_to=today,
                                           status=AppointmentStatus.SCHEDULED.value,
                                           sort="doctor", page_size=1).items if pick else []
                return doctors, (str(busy[0]["doctor_id"]) if busy else None)

            self.call_service(fetch, lambda found: self._doctors_loaded(*found),
                              group="appt-doctors")
            return
        if self.staff:
            self.load_agenda()
        self.load_list()

    def action_refresh(self) -> None:
        self.reload()

    def _doctors_loaded(self, doctors: list[dict[str, Any]],
                        busy_today: str | None = None) -> None:
        self.doctors = doctors
        if self.staff and self.agenda_doctor is None and busy_today \
                and any(d["id"] == busy_today for d in doctors):
            self.agenda_doctor = busy_today  # open on a doctor who has patients today
        def options() -> list[tuple[Text, str]]:  # names as Text: never read as markup
            return [(Text(d["full_name"]), d["id"]) for d in doctors]

        self.query_one("#f-doctor", Select).set_options(options())
        if self.staff:
            if self.agenda_doctor is None and doctors:
                self.agenda_doctor = doctors[0]["id"]
            select = self.query_one("#agenda-doctor", Select)
            select.set_options(options())
            if self.agenda_doctor and any(d["id"] == self.agenda_doctor for d in doctors):
                select.value = self.agenda_doctor
        self.reload()

    # --- agenda ---

    def _show_day_label(self) -> None:
        if not self.staff or self.day is None:
            return
        today = self.app.now().date()
        note = "  (today)" if self.day == today else ""
        self.query_one("#agenda-day", Static).update(
            Text(f"◀ p  {day_text(self.day)}{note}  n ▶"))

    def load_agenda(self) -> None:
        table = self.query_one("#agenda-table", AppointmentTable)
        summary = self.query_one("#agenda-summary", Static)
        if not self.agenda_doctor:
            table.show([])
            summary.update("There are no active doctors yet.")
            return
        session, doctor_id, day = self.session, self.agenda_doctor, self.day
        assert day is not None
        self.call_service(lambda s: s.appointments.day_agenda(session, doctor_id, day.isoformat()),
                          lambda rows: self._show_agenda(rows, doctor_id, day),
                          busy=table if not table.row_count else None, group="appt-agenda")

    def _show_agenda(self, rows: list[dict[str, Any]], doctor_id: str, day: date) -> None:
        if doctor_id != self.agenda_doctor or day != self.day:
            return  # the user moved on while this was loading
        table = self.query_one("#agenda-table", AppointmentTable)
        table.show(rows, select=self.select_id)
        doctor = next((d["full_name"] for d in self.doctors or [] if d["id"] == doctor_id),
                      "this doctor")
        if not rows:
            text = f"No appointments for {doctor} on this day."
        else:
            counts = {status: sum(1 for row in rows if row["status"] == status)
                      for status in AppointmentStatus}
            parts = [f"{n} {s.label.lower()}" for s, n in counts.items() if n]
            text = f"{len(rows)} appointment{'s' if len(rows) != 1 else ''}: {', '.join(parts)}"
        self.query_one("#agenda-summary", Static).update(Text(text))

    def set_day(self, day: date) -> None:
        self.day = day
        self._show_day_label()
        self.load_agenda()

    def action_prev_day(self) -> None:
        assert self.day is not None
        self.set_day(self.day - timedelta(days=1))

    def action_next_day(self) -> None:
        assert self.day is not None
        self.set_day(self.day + timedelta(days=1))

    def action_today(self) -> None:
        self.set_day(self.app.now().date())

    def action_goto_day(self) -> None:
        def answered(text: str | None) -> None:
            if text is None:
                return
            day = parse_day(text)
            if day is None:
                self.app.notify("Enter the date as YYYY-MM-DD, e.g. 2026-03-18.",
                                severity="warning", markup=False)
                return
            self.set_day(day)

        current = self.day.isoformat() if self.day else ""
        self.app.push_screen(PromptScreen("Go to date (YYYY-MM-DD)", value=current,
                                          placeholder="YYYY-MM-DD"), answered)

    @on(Select.Changed, "#agenda-doctor")
    def agenda_doctor_changed(self, event: Select.Changed) -> None:
        if event.select.is_blank() or event.value == self.agenda_doctor:
            return
        self.agenda_doctor = str(event.value)
        self.load_agenda()

    # --- list ---

    def filters(self) -> dict[str, Any] | None:
        """The list filters, or None (with the error shown) when a date is not valid."""
        err = self.query_one("#err-filters", Static)
        out: dict[str, Any] = {}
        status = self.query_one("#f-status", Select)
        doctor = self.query_one("#f-doctor", Select)
        out["status"] = None if status.is_blank() else status.value
        out["doctor_id"] = None if doctor.is_blank() else doctor.value
        for field_id, key, label in (("#f-from", "date_from", "From"), ("#f-to", "date_to", "To")):
            text = self.query_one(field_id, Input).value.strip()
            if text and parse_day(text) is None:
                err.update(f"{label} date: enter it as YYYY-MM-DD, or leave it empty.")
                err.display = True
                return None
            out[key] = text or None
        err.display = False
        out["query"] = None
        if self.staff:
            out["query"] = self.query_one("#f-query", Input).value.strip() or None
        # without a start date the newest come first; from a date on, the earliest first
        out["descending"] = out["date_from"] is None
        return out

    def load_list(self) -> None:
        filt = self.filters()
        if filt is None:
            return
        table = self.query_one("#list-table", AppointmentTable)
        session, page = self.session, self.page
        if self.session.role == policy.PATIENT:
            filt["patient_id"] = self.session.patient_id
        self.call_service(
            lambda s: s.appointments.list(session, page=page, page_size=LIST_PAGE_SIZE, **filt),
            lambda result: self._show_list(result, filt), error=self._list_failed,
            busy=table if not table.row_count else None, group="appt-list")

    def _show_list(self, page: Any, filt: dict[str, Any]) -> None:
        self.shown_filters = {k: v for k, v in filt.items() if k != "patient_id"}
        self.query_one("#list-table", AppointmentTable).show(page.items, select=self.select_id)
        self.page, self.pages = page.page, page.pages
        self.refresh_bindings()
        order = "newest first" if filt["descending"] else "earliest first"
        if page.total:
            text = (f"Page {page.page} of {page.pages} · {page.total} appointment"
                    f"{'s' if page.total != 1 else ''} · {order}"
                    + (" · PgUp/PgDn: pages" if page.pages > 1 else ""))
        else:
            text = "No appointments match these filters."
        self.query_one("#list-pager", Static).update(text)

    def _list_failed(self, exc: BaseException) -> None:
        err = self.query_one("#err-filters", Static)
        err.update(error_text(exc))
        err.display = True

    @on(Select.Changed, "#f-status, #f-doctor")
    @on(Input.Changed, "#f-from, #f-to, #f-query")
    def filters_changed(self) -> None:
        if self.doctors is None:
            return  # the first load follows the doctors list
        filt = self.filters()
        if filt is None or filt == self.shown_filters:
            return
        self.page = 1
        self.load_list()

    @on(Input.Submitted, "#f-from, #f-to, #f-query")
    def filter_submitted(self) -> None:
        self.query_one("#list-table").focus()

    def action_next_page(self) -> None:
        if self.page < self.pages:
            self.page += 1
            self.load_list()
        else:
            self.app.notify("This is the last page.", timeout=2, markup=False)

    def action_prev_page(self) -> None:
        if self.page > 1:
            self.page -= 1
            self.load_list()
        else:
            self.app.notify("This is the first page.", timeout=2, markup=False)

    # --- changes ---

    def action_book(self) -> None:
        defaults: dict[str, Any] = {}
        if self.staff and self.view == "agenda":
            defaults = {"doctor_id": self.agenda_doctor, "day": self.day}
        book_appointment(self, self.booked, **defaults)

    def booked(self, appt: dict[str, Any]) -> None:
        self.select_id = appt["id"]
        if self.staff and self.view == "agenda" and appt["doctor_id"] == self.agenda_doctor:
            self.day = appt["start"].date()
            self._show_day_label()
        self.reload()

    @on(AppointmentTable.AppointmentChanged)
    def appointment_changed(self) -> None:
        self.reload()

    def palette_commands(self) -> Iterable[SystemCommand]:
        if self.permissions.may("appointment.book"):
            yield SystemCommand("Book an appointment", "Open the booking form (Ctrl+N)",
                                self.action_book)
        if self.staff:
            yield SystemCommand("Agenda: today", "Show today's agenda", self._palette_today)
            yield SystemCommand("Agenda: go to a date", "Show the agenda of a chosen day (g)",
                                self._palette_goto)
            yield SystemCommand("Switch agenda / list", "Toggle the view (Ctrl+L)",
                                self.action_toggle_view)

    def _palette_today(self) -> None:
        self.query_one("#views", TabbedContent).active = "agenda-tab"
        self.action_today()

    def _palette_goto(self) -> None:
        self.query_one("#views", TabbedContent).active = "agenda-tab"
        self.action_goto_day()


# --- the pane embedded in a patient's record -------------------------------------------------

class PatientAppointmentsPane(ServiceMixin, Widget):
    """One patient's appointments, newest first, with book/cancel (and staff) keys."""

    WATCHES = frozenset({"appointments"})
    DEFAULT_CSS = """
    PatientAppointmentsPane { height: 1fr; }
    PatientAppointmentsPane #pane-summary { height: 1; color: $text-muted; }
    PatientAppointmentsPane AppointmentTable { height: 1fr; }
    """
    BINDINGS = [
        Binding("ctrl+n", "book", "Book", id="pane-book"),
        Binding("n", "next_page", "Next page", id="pane-next"),
        Binding("p", "prev_page", "Prev page", id="pane-prev"),
    ]

    def __init__(self, patient_id: str, *, patient_name: str | None = None,
                 id: str | None = None, classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes)
        self.patient_id = str(patient_id)
        self.patient_name = patient_name
        self.page = 1
        self.pages = 1
        self.select_id: str | None = None

    def compose(self) -> ComposeResult:
        yield Static("", id="pane-summary")
        yield AppointmentTable(("date", "time", "status", "doctor", "reason"),
                               open_patient=False, id="pane-table")

    def on_mount(self) -> None:
        self.reload()

    def is_relevant(self, message: DataChanged) -> bool:
        return message.touches("appointments", self.patient_id)

    def reload(self) -> None:
        """Fetch the current page of this patient's appointments."""
        session = self.app.session
        if session is None:
            return
        pid, page = self.patient_id, self.page
        table = self.query_one("#pane-table", AppointmentTable)
        self.call_service(
            lambda s: s.appointments.list(session, patient_id=pid, sort="start",
                                          descending=True, page=page,
                                          page_size=PANE_PAGE_SIZE),
            self._show, busy=table if not table.row_count else None,
            group=f"pane-appointments-{pid}")

    def _show(self, page: Any) -> None:
        self.query_one("#pane-table", AppointmentTable).show(page.items, select=self.select_id)
        self.page, self.pages = page.page, page.pages
        self.refresh_bindings()
        if page.items and not self.patient_name:
            self.patient_name = page.items[0].get("patient_name")
        keys = "Ctrl+N book" if self.permissions.may("appointment.book") else ""
        if page.total:
            more = f" · page {page.page} of {page.pages} (n/p)" if page.pages > 1 else ""
            text = f"{page.total} appointment{'s' if page.total != 1 else ''}, newest first{more}"
        else:
            text = "No appointments yet."
        self.query_one("#pane-summary", Static).update(Text(f"{text}   {keys}".rstrip()))

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "book":
            return self.permissions.may("appointment.book")
        if action in ("next_page", "prev_page"):
            return self.pages > 1
        return True

    def action_book(self) -> None:
        book_appointment(self, self.booked, patient_id=self.patient_id,
                         patient_name=self.patient_name)

    def booked(self, appt: dict[str, Any]) -> None:
        self.select_id = appt["id"]
        self.page = 1
        self.reload()

    def action_next_page(self) -> None:
        if self.page < self.pages:
            self.page += 1
            self.reload()

    def action_prev_page(self) -> None:
        if self.page > 1:
            self.page -= 1
            self.reload()

    @on(AppointmentTable.AppointmentChanged)
    def appointment_changed(self, event: AppointmentTable.AppointmentChanged) -> None:
        event.stop()
        self.reload()


__all__ = [
    "AppointmentForm",
    "AppointmentTable",
    "AppointmentsScreen",
    "PatientAppointmentsPane",
    "RecordTable",
]
