"""The appointments tab of a patient's record: that patient's appointments, newest first,
with booking and (as the role allows) the changes of :class:`AppointmentTable`."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.message import Message
from textual.widget import Widget
from textual.widgets import Static

from meditrack_tui.services.base import Page

from ..base import ServiceMixin
from ..forms.booking import book_appointment
from ..messages import DataChanged, ServiceFailed
from .appointment_table import AppointmentTable

PANE_PAGE_SIZE = 20


@dataclass
class PatientAppointmentsLoaded(Message):
    """A page of the patient's appointments."""

    page: Page[dict[str, Any]]


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
        Binding("insert", "book", "Book", show=False),  # a browser keeps ctrl+n
        Binding("n", "next_page", "Next page", id="pane-next"),
        Binding("p", "prev_page", "Prev page", id="pane-prev"),
    ]

    class Ready(Message):
        """The pane shows its first data (its table can take the focus)."""

    def __init__(self, patient_id: str, *, patient_name: str | None = None,
                 id: str | None = None, classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes)
        self.patient_id = str(patient_id)
        self.patient_name = patient_name
        self.page = 1
        self.pages = 1
        self.select_id: str | None = None
        self._ready_sent = False

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
        session = self.ctx.session
        pid, page = self.patient_id, self.page
        table = self.query_one("#pane-table", AppointmentTable)
        self.ask(lambda s: s.appointments.list(session, patient_id=pid, sort="start",
                                               descending=True, page=page,
                                               page_size=PANE_PAGE_SIZE),
                 PatientAppointmentsLoaded, busy=table if not table.row_count else None,
                 group=self.list_group)

    @property
    def list_group(self) -> str:
        """The ask() group of the list: a newer page asked drops an older answer."""
        return f"pane-appointments-{self.patient_id}"

    def on_patient_appointments_loaded(self, message: PatientAppointmentsLoaded) -> None:
        message.stop()
        page = message.page
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
        self.shown()

    def on_service_failed(self, message: ServiceFailed) -> None:
        """A first page that failed still counts as shown (the base handler says why)."""
        if message.group == self.list_group:
            self.shown()

    def shown(self) -> None:
        """The first answer is on screen: tell the patient screen (which focuses the
        table), once."""
        if not self._ready_sent:
            self._ready_sent = True
            self.post_message(self.Ready())

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


__all__ = ["PatientAppointmentsPane"]
