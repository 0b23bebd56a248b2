"""The record tables: :class:`RecordTable` (rows that keep their record) and
:class:`AppointmentTable`, which offers the changes (check in, done, no-show, reschedule,
cancel) the role may make in a menu on Enter and tells its owner to re-fetch with
:class:`AppointmentTable.AppointmentChanged`."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from rich.text import Text
from textual import on
from textual.binding import Binding
from textual.coordinate import Coordinate
from textual.message import Message
from textual.widgets import DataTable

from meditrack_tui.domain import AppointmentStatus, may_follow
from meditrack_tui.errors import MediTrackError, SessionExpired

from ..base import ServiceMixin
from ..forms.booking import AppointmentForm
from ..forms.confirm import ActionMenu, ConfirmScreen
from ..messages import OpenPatient, ServiceFailed
from .cells import STATUS_STYLES, is_open, sees_every_patient, status_label, styled, when_text
from .table import Fit, Short, Table, refilled, short_day, short_doctor

Column = tuple[str, str, Callable[[dict[str, Any]], Any]]

#: the status changes the action menu offers (cancelling has its own entry, last)
MENU_CHANGES = ((AppointmentStatus.CHECKED_IN, "Check in"),
                (AppointmentStatus.COMPLETED, "Mark completed"),
                (AppointmentStatus.NO_SHOW, "Mark as a no-show"))


class RecordTable(Table):
    """A row-cursor table keeping the record (a dict with an ``id``) behind each row.

    ``columns`` are (key, label, cell function) triples; :meth:`show` refills the rows
    and keeps the cursor on the same record when it is still there. ``fit`` says which
    columns give way on a narrow table (a cell function may return a :class:`Short`).
    """

    def __init__(self, columns: Iterable[Column], *, fit: Fit | None = None,
                 id: str | None = None, classes: str | None = None) -> None:
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
        if target is not None and target in self.records:
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


def _appt_columns(table: AppointmentTable, names: Iterable[str]) -> list[Column]:
    def time_of(a: dict[str, Any]) -> Text:
        return Text(f"{a['start']:%H:%M}") if isinstance(a.get("start"), datetime) else Text("")

    def date_of(a: dict[str, Any]) -> Short | Text:
        if not isinstance(a.get("start"), datetime):
            return Text("")
        return Short(Text(f"{a['start']:%d %b %Y}"), Text(short_day(a["start"], table.ctx.now())))

    def doctor_of(a: dict[str, Any]) -> Short:
        name = a.get("doctor_name") or ""
        return Short(Text(name), Text(short_doctor(name)))

    def status_of(a: dict[str, Any]) -> Text:
        status = a.get("status", "")
        return styled(table, status_label(status), STATUS_STYLES.get(status))

    specs: dict[str, tuple[str, Callable[[dict[str, Any]], Any]]] = {
        "date": ("Date", date_of),
        "time": ("Time", time_of),
        "duration": ("Min", lambda a: Text(str(a.get("duration_min", "")))),
        "status": ("Status", status_of),
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

    @dataclass
    class StatusSet(Message):
        """The service's answer to a status change made here: the changed appointment."""

        appointment: dict[str, Any]
        verb: str

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
        return self.opens_patient and sees_every_patient(self.permissions)

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
            self.post_message(OpenPatient(str(appt["patient_id"])))
            return

        def chosen(action: str | None) -> None:
            if action == "open":
                self.post_message(OpenPatient(str(appt["patient_id"])))
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
        session, aid, version = self.ctx.session, appt["id"], appt.get("version")
        self.ask(lambda s: s.appointments.set_status(session, aid, status, version=version),
                 lambda result: self.StatusSet(result, verb), group="appointment-status")

    def on_appointment_table_status_set(self, message: AppointmentTable.StatusSet) -> None:
        message.stop()
        result = message.appointment
        self.replace(result)
        name = result.get("patient_name", "The patient")
        self.app.notify(f"{name} ({result['start']:%H:%M}) {message.verb}.", timeout=3,
                        markup=False)
        self.post_message(self.AppointmentChanged(self, result))

    def on_service_failed(self, message: ServiceFailed) -> None:
        """A refused change (e.g. changed meanwhile elsewhere): the base handler says why,
        and the owner re-fetches what is stored now."""
        error = message.error
        if message.group == "appointment-status" and isinstance(error, MediTrackError) \
                and not isinstance(error, SessionExpired):
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


__all__ = ["MENU_CHANGES", "AppointmentTable", "RecordTable"]
