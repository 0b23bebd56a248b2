"""The dashboard: what the person needs first, by what they may do: a doctor's day, a
patient's summary or the clinic's state (the panels are screens/widgets/dashboard_*.py)."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from rich.text import Text
from textual.app import ComposeResult, SystemCommand
from textual.binding import Binding
from textual.message import Message
from textual.widgets import Input, Static

from .base import BaseScreen
from .forms.booking import book_appointment
from .messages import DataChanged, OpenAgenda
from .widgets.appointment_table import AppointmentTable
from .widgets.cells import day_text
from .widgets.dashboard_admin import AdminPanel
from .widgets.dashboard_doctor import DoctorPanel
from .widgets.dashboard_panel import DashboardPanel
from .widgets.dashboard_patient import PatientPanel
from .widgets.footer import AppFooter

DOCTOR, PATIENT, ADMIN = "doctor", "patient", "admin"  # the three dashboards
#: what each dashboard shows, so what makes it re-fetch
WATCHES_OF = {
    DOCTOR: frozenset({"appointments", "patients", "vitals"}),
    PATIENT: frozenset({"appointments", "prescriptions", "reports", "vitals"}),
    ADMIN: frozenset({"users", "patients", "appointments"}),
}


@dataclass
class DashboardLoaded(Message):
    """The dashboard service's answer for this dashboard."""

    data: dict[str, Any]


class DashboardScreen(BaseScreen):
    """The dashboard the session may see (``dashboard.doctor``, ``.patient``, ``.admin``)."""

    CSS_PATH = "dashboard.tcss"
    HORIZONTAL_BREAKPOINTS = [(0, "-narrow"), (110, "-wide")]
    WATCHES = frozenset().union(*WATCHES_OF.values())
    AUTO_FOCUS = "AppointmentTable, #pending"  # the agenda (doctor, patient) or approvals
    SEARCH_FIELD = "#patient-search"  # a doctor's "Find a patient": text typed on a table
    BINDINGS = [
        Binding("ctrl+n", "book", "Book", id="dash-book"),
        Binding("insert", "book", "Book", show=False),  # a browser keeps ctrl+n
        Binding("slash", "find_patient", "Find patient", id="dash-find"),
        Binding("ctrl+r", "refresh", "Refresh", id="dash-refresh"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.kind = ""  # which dashboard: DOCTOR, PATIENT or ADMIN
        self.loaded = False

    # --- layout ---

    def compose(self) -> ComposeResult:
        session = self.session
        self.kind = next((kind for kind in (DOCTOR, PATIENT, ADMIN)
                          if self.permissions.may(f"dashboard.{kind}")), "")
        today = day_text(self.ctx.now().date())
        title = {DOCTOR: f"{session.full_name} · {today}",
                 PATIENT: f"Welcome, {session.full_name} · {today}",
                 ADMIN: f"Clinic overview · {today}"}.get(self.kind)
        if title is not None:
            yield Static(Text(title), id="dash-title", classes="screen-title")
            yield {DOCTOR: DoctorPanel, PATIENT: PatientPanel, ADMIN: AdminPanel}[self.kind]()
        yield AppFooter()

    @property
    def panel(self) -> DashboardPanel:
        return self.query_one(DashboardPanel)

    # --- loading ---

    def is_relevant(self, message: DataChanged) -> bool:
        watched = WATCHES_OF.get(self.kind, frozenset())
        if not watched & message.collections:
            return False
        if self.kind == PATIENT:
            return any(message.touches(c, self.session.patient_id) for c in watched)
        return True

    def reload(self) -> None:
        if self.kind not in WATCHES_OF:
            return
        session = self.session
        calls: dict[str, Callable[[Any], dict[str, Any]]] = {
            DOCTOR: lambda s: s.dashboard.doctor(session),
            PATIENT: lambda s: s.dashboard.patient(session),
            ADMIN: lambda s: s.dashboard.admin(session),
        }
        busy = None if self.loaded else self.query_one(
            "#pending-box" if self.kind == ADMIN else DashboardPanel)
        self.ask(calls[self.kind], DashboardLoaded, busy=busy, group="dashboard")

    def on_dashboard_loaded(self, message: DashboardLoaded) -> None:
        self.loaded = True
        panel = self.panel
        assert isinstance(panel, (DoctorPanel, PatientPanel, AdminPanel))
        panel.show(message.data)

    def action_refresh(self) -> None:
        self.reload()

    def on_dashboard_panel_stale(self) -> None:
        self.reload()

    def on_appointment_table_appointment_changed(
            self, message: AppointmentTable.AppointmentChanged) -> None:
        self.reload()

    # --- keys and commands ---

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "book":
            return self.kind in (DOCTOR, PATIENT) and self.permissions.may("appointment.book")
        if action in ("find_patient", "doctor_agenda"):
            return self.kind == DOCTOR
        if action in ("approve", "reject"):
            return self.kind == ADMIN and bool(self.query_one(AdminPanel).pending_count)
        return True

    def action_book(self) -> None:
        if self.kind == DOCTOR:
            book_appointment(self, lambda _a: self.reload(), doctor_id=self.session.user_id,
                             day=self.ctx.now().date())
        else:
            book_appointment(self, lambda _a: self.reload())

    def action_find_patient(self) -> None:
        self.query_one("#patient-search", Input).focus()

    def action_approve(self) -> None:
        self.query_one(AdminPanel).action_approve()

    def action_reject(self) -> None:
        self.query_one(AdminPanel).action_reject()

    def action_doctor_agenda(self) -> None:
        """Today's agenda on the Appointments screen (its day and doctor navigation)."""
        self.post_message(OpenAgenda(self.session.user_id, self.ctx.now().date()))

    def action_today_agenda(self) -> None:
        """Today's agenda of the first doctor with visits today (the admin's)."""
        self.post_message(OpenAgenda(day=self.ctx.now().date()))

    def palette_commands(self) -> Iterable[SystemCommand]:
        yield SystemCommand("Refresh the dashboard", "Fetch it again (Ctrl+R)",
                            self.action_refresh)
        if self.check_action("book", ()):
            yield SystemCommand("Book an appointment", "Open the booking form (Ctrl+N)",
                                self.action_book)
        if self.kind == DOCTOR:
            yield SystemCommand("Find a patient", "Search by name or MRN (/)",
                                self.action_find_patient)
            yield SystemCommand("Open today's agenda", "Your day on the Appointments screen",
                                self.action_doctor_agenda)
        if self.kind == ADMIN:
            yield SystemCommand("Open today's agenda", "Today's visits on the Appointments "
                                "screen", self.action_today_agenda)
