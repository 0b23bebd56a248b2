"""Appointments: a doctor's day agenda and the filtered, paged list (a patient sees only
their own list). The tables, the booking form and the free-time picker live in
screens/widgets and screens/forms."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from rich.text import Text
from textual import on
from textual.app import ComposeResult, SystemCommand
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.message import Message
from textual.widgets import DataTable, Input, Select, Static, TabbedContent, TabPane

from meditrack_tui.domain import AppointmentStatus
from meditrack_tui.errors import MediTrackError, SessionExpired
from meditrack_tui.services.base import Page

from .base import BaseScreen, error_text
from .forms.booking import book_appointment
from .forms.confirm import PromptScreen
from .forms.fields import error_line
from .messages import ServiceFailed
from .widgets.appointment_filters import AppointmentFilters, agenda_summary, pager_text
from .widgets.appointment_table import AppointmentTable
from .widgets.cells import day_text, keeps_an_agenda, parse_day, sees_every_patient
from .widgets.footer import AppFooter

LIST_PAGE_SIZE = 50


@dataclass
class DoctorsLoaded(Message):
    """The doctors, and (for the agenda) the first with appointments today, if any."""

    doctors: list[dict[str, Any]]
    busy_today: str | None


@dataclass
class AgendaLoaded(Message):
    """``doctor_id``'s appointments on ``day``."""

    rows: list[dict[str, Any]]
    doctor_id: str
    day: date


@dataclass
class ListLoaded(Message):
    """A page of the list, for the filters ``filters``."""

    page: Page[dict[str, Any]]
    filters: dict[str, Any]


class AppointmentsScreen(BaseScreen):
    """A doctor's day agenda and the filtered, paged list (a patient sees only their list)."""

    CSS_PATH = "appointments.tcss"
    WATCHES = frozenset({"appointments"})
    AUTO_FOCUS = "AppointmentTable"  # the agenda for staff, the list for a patient
    BINDINGS = [
        Binding("ctrl+n", "book", "Book", id="appt-book"),
        Binding("insert", "book", "Book", show=False),  # a browser keeps ctrl+n
        Binding("ctrl+l", "toggle_view", "Agenda/List", id="appt-view"),
        Binding("p", "prev_day", "Prev day", id="agenda-prev"),
        Binding("n", "next_day", "Next day", id="agenda-next"),
        Binding("t", "today", "Today", id="agenda-today"),
        Binding("g", "goto_day", "Go to date", id="agenda-goto"),
        Binding("pageup", "prev_page", "Prev page", id="list-prev", priority=True),
        Binding("pagedown", "next_page", "Next page", id="list-next", priority=True),
        Binding("ctrl+r", "refresh", "Refresh", id="appt-refresh"),
    ]

    def __init__(self, *, doctor_id: str | None = None, day: date | None = None) -> None:
        """``doctor_id``, ``day``: open on that doctor's agenda of that day (OpenAgenda)."""
        super().__init__()
        self.doctors: list[dict[str, Any]] | None = None
        self.day: date | None = day
        self.agenda_doctor: str | None = doctor_id
        self.page = 1
        self.pages = 1
        self.shown_filters: dict[str, Any] | None = None
        self.select_id: str | None = None  # put the cursor here once it is shown (new booking)
        self.current_view = "agenda"

    @property
    def staff(self) -> bool:
        return sees_every_patient(self.permissions)

    # --- layout ---

    def compose(self) -> ComposeResult:
        today = self.ctx.now().date()
        self.day = self.day or today
        if self.agenda_doctor is None and keeps_an_agenda(self.permissions):
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
        yield AppointmentFilters(today=today, search=self.staff)
        yield error_line("filters")
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

    def search_field(self, table: DataTable[Any]) -> Input | None:
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
        if self.doctors is None:
            session, today = self.session, self.ctx.now().date().isoformat()
            pick = self.staff and self.agenda_doctor is None

            def fetch(s: Any) -> tuple[list[dict[str, Any]], str | None]:
                """The doctors, and (for the agenda) the first with appointments today."""
                doctors = s.users.doctors(session)
                busy = s.appointments.list(session, date_from=today, date_to=today,
                                           status=AppointmentStatus.SCHEDULED.value,
                                           sort="doctor", page_size=1).items if pick else []
                return doctors, (str(busy[0]["doctor_id"]) if busy else None)

            self.ask(fetch, lambda found: DoctorsLoaded(*found), group="appt-doctors")
            return
        if self.staff:
            self.load_agenda()
        self.load_list()

    def action_refresh(self) -> None:
        self.reload()

    def on_doctors_loaded(self, message: DoctorsLoaded) -> None:
        doctors, busy_today = message.doctors, message.busy_today
        self.doctors = doctors
        if self.staff and self.agenda_doctor is None and busy_today \
                and any(d["id"] == busy_today for d in doctors):
            self.agenda_doctor = busy_today  # open on a doctor who has patients today
        def options() -> list[tuple[Text, str]]:  # names as Text: never read as markup
            return [(Text(d["full_name"]), d["id"]) for d in doctors]

        self.query_one(AppointmentFilters).set_doctors(doctors)
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
        today = self.ctx.now().date()
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
        self.ask(lambda s: s.appointments.day_agenda(session, doctor_id, day.isoformat()),
                 lambda rows: AgendaLoaded(rows, doctor_id, day),
                 busy=table if not table.row_count else None, group="appt-agenda")

    def on_agenda_loaded(self, message: AgendaLoaded) -> None:
        if message.doctor_id != self.agenda_doctor or message.day != self.day:
            return  # the user moved on while this was loading
        table = self.query_one("#agenda-table", AppointmentTable)
        table.show(message.rows, select=self.select_id)
        self._summarize(table)

    def _summarize(self, table: AppointmentTable) -> None:  # from the rows it shows
        doctor = next((d["full_name"] for d in self.doctors or []
                       if d["id"] == self.agenda_doctor), "this doctor")
        self.query_one("#agenda-summary", Static).update(
            Text(agenda_summary(list(table.records.values()), doctor)))

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
        self.set_day(self.ctx.now().date())

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
        out, problem = self.query_one(AppointmentFilters).read()
        err = self.query_one("#err-filters", Static)
        err.update(problem)
        err.display = bool(problem)
        return out

    def load_list(self) -> None:
        filt = self.filters()
        if filt is None:
            return
        table = self.query_one("#list-table", AppointmentTable)
        session, page = self.session, self.page
        if not self.staff:
            filt["patient_id"] = self.session.patient_id
        self.ask(lambda s: s.appointments.list(session, page=page, page_size=LIST_PAGE_SIZE,
                                               **filt),
                 lambda result: ListLoaded(result, filt),
                 busy=table if not table.row_count else None, group="appt-list")

    def on_list_loaded(self, message: ListLoaded) -> None:
        page, filt = message.page, message.filters
        self.shown_filters = {k: v for k, v in filt.items() if k != "patient_id"}
        self.query_one("#list-table", AppointmentTable).show(page.items, select=self.select_id)
        self.page, self.pages = page.page, page.pages
        self.refresh_bindings()
        self.query_one("#list-pager", Static).update(pager_text(page, filt["descending"]))

    def on_service_failed(self, message: ServiceFailed) -> None:
        """The list could not be fetched (e.g. a refused filter): said above it."""
        exc = message.error
        if message.group == "appt-list" and isinstance(exc, MediTrackError) \
                and not isinstance(exc, SessionExpired):
            message.prevent_default()
            message.stop()
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
    def appointment_changed(self, event: AppointmentTable.AppointmentChanged) -> None:
        if event.control.id == "agenda-table":
            self._summarize(event.control)  # the summary follows the changed row at once
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


__all__ = ["AppointmentsScreen"]
