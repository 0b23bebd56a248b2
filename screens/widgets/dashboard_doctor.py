"""The doctor's dashboard: today's appointments, patients whose latest vitals are out of
range, and a quick patient search."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.containers import Container, Vertical
from textual.message import Message
from textual.widgets import DataTable, Input, Static

from meditrack_tui.domain import OPEN_STATUSES

from ..messages import OpenAgenda, OpenPatient
from .appointment_table import AppointmentTable, RecordTable
from .cells import styled
from .dashboard_panel import DashboardPanel
from .table import Fit


def _day_month(moment: Any) -> str:
    return f"{moment:%d %b}" if isinstance(moment, datetime) else ""


def _person(p: dict[str, Any]) -> Text:
    return Text(f"{p.get('first_name', '')} {p.get('last_name', '')}".strip()
                or p.get("name", ""))


@dataclass
class PatientsFound(Message):
    """The patients matching ``query`` (the quick search)."""

    query: str
    items: list[dict[str, Any]]


class DoctorPanel(DashboardPanel, Container):
    """A doctor's day: the agenda on top, alerts and the patient search below."""

    def __init__(self) -> None:
        super().__init__(id="doctor-body")

    def compose(self) -> ComposeResult:
        with Vertical(id="agenda-box", classes="panel"):
            yield Static("Today's appointments", id="agenda-title", classes="section-title")
            yield AppointmentTable(("time", "status", "patient", "reason"), id="dash-agenda")
            yield Static("", id="agenda-empty", classes="muted empty")
        with Container(id="side"):
            with Vertical(id="alerts-box", classes="panel"):
                yield Static("Out-of-range vitals", id="alerts-title",
                             classes="section-title")
                yield RecordTable([
                    ("patient", "Patient", _person),
                    ("flag", "Latest reading", self._alert_flag),
                    ("when", "Taken", lambda p: Text(_day_month(p.get("vitals_alert_at")))),
                    ("mrn", "MRN", lambda p: Text(p.get("mrn") or "")),
                ], fit=Fit(flex=("patient", "flag"), drop=("mrn",)), id="alerts")
                yield Static("", id="alerts-empty", classes="muted empty")
            with Vertical(id="search-box", classes="panel"):
                yield Static("Find a patient ( / )", classes="section-title")
                yield Input(placeholder="name or MRN", id="patient-search", compact=True)
                yield RecordTable([
                    ("patient", "Patient", lambda p: Text(p.get("name") or "")),
                    ("mrn", "MRN", lambda p: Text(p.get("mrn") or "")),
                    ("age", "Age", lambda p: Text(str(p.get("age") or ""))),
                    ("dob", "Born", lambda p: Text(p.get("dob") or "")),
                ], fit=Fit(flex=("patient",), drop=("dob", "age")), id="search-results")

    def _alert_flag(self, patient: dict[str, Any]) -> Text:
        return styled(self, patient.get("vitals_alert_label") or "out of range", "error")


    def show(self, data: dict[str, Any]) -> None:
        agenda = data.get("agenda", [])
        self.query_one("#dash-agenda", AppointmentTable).show(agenda)
        open_count = sum(1 for a in agenda if a.get("status") in OPEN_STATUSES)
        title = f"Today's appointments ({len(agenda)}, {open_count} to see)" if agenda \
            else "Today's appointments"
        self.query_one("#agenda-title", Static).update(title)
        self._empty("#agenda-empty", "No appointments today.", len(agenda))
        alerts = data.get("alerts", [])
        self.query_one("#alerts", RecordTable).show(alerts)
        self.query_one("#alerts-title", Static).update(
            f"Out-of-range vitals ({len(alerts)})" if alerts else "Out-of-range vitals")
        self._empty("#alerts-empty", "No patient's latest reading is out of range.",
                    len(alerts))


    @on(Input.Changed, "#patient-search")
    def search_changed(self, event: Input.Changed) -> None:
        query = event.value.strip()
        results = self.query_one("#search-results", RecordTable)
        if len(query) < 2:
            results.show([])
            return
        session = self.ctx.session
        self.ask(lambda s: s.patients.list(session, query=query, page_size=8),
                 lambda page: PatientsFound(query, page.items), group="dashboard-search")

    def on_patients_found(self, message: PatientsFound) -> None:
        message.stop()
        query, items = message.query, message.items
        if self.query_one("#patient-search", Input).value.strip() != query:
            return  # typed on since
        self.query_one("#search-results", RecordTable).show(items)
        if not items:
            self.notify(f"No patient matches “{query}”.", timeout=2, markup=False)

    @on(Input.Submitted, "#patient-search")
    def search_submitted(self) -> None:
        results = self.query_one("#search-results", RecordTable)
        if results.row_count:
            results.focus()

    @on(DataTable.RowSelected, "#alerts, #search-results")
    def open_row(self, event: DataTable.RowSelected) -> None:
        table = event.data_table
        assert isinstance(table, RecordTable)
        record = table.records.get(str(event.row_key.value))
        if record:
            self.post_message(OpenPatient(str(record["id"])))

    def on_click(self, event: Any) -> None:
        """A click on the agenda's title opens the day's agenda on the Appointments screen."""
        if getattr(event.widget, "id", None) == "agenda-title":
            self.post_message(OpenAgenda(self.ctx.user_id, self.ctx.now().date()))

