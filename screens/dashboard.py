"""The dashboard: what the logged-in role needs first (doctor, patient or admin)."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from rich.text import Text
from textual import on
from textual.app import ComposeResult, SystemCommand
from textual.binding import Binding
from textual.containers import Container, Grid, Horizontal, Vertical
from textual.widgets import DataTable, Input, Sparkline, Static

from meditrack_tui import policy
from meditrack_tui.domain import OPEN_STATUSES, outcome_label

from .appointments import (
    AppointmentTable,
    RecordTable,
    book_appointment,
    day_text,
    open_patient,
    role_of,
    styled,
)
from .base import BaseScreen
from .forms.confirm import ActionMenu, ConfirmScreen
from .messages import DataChanged
from .widgets.footer import AppFooter
from .widgets.table import Fit, Short, short_day, short_doctor

ROLE_WATCHES = {
    policy.DOCTOR: frozenset({"appointments", "patients", "vitals"}),
    policy.PATIENT: frozenset({"appointments", "prescriptions", "reports", "vitals"}),
    policy.ADMIN: frozenset({"users", "patients", "appointments"}),
}
FLAG_STYLES = {0: "success", 1: "warning", 2: "error", 3: "error"}
METRICS = (  # (flag metric, label, formatter)
    ("blood_pressure", "Blood pressure",
     lambda r: f"{r['systolic']}/{r['diastolic']} mmHg" if "systolic" in r else None),
    ("heart_rate", "Heart rate", lambda r: f"{r['heart_rate']} bpm" if "heart_rate" in r else None),
    ("glucose", "Glucose",
     lambda r: (f"{r['glucose_mg_dl']:g} mg/dL" + (" fasting" if r.get("glucose_fasting") else ""))
     if "glucose_mg_dl" in r else None),
    ("temperature_c", "Temperature",
     lambda r: f"{r['temperature_c']:g} °C" if "temperature_c" in r else None),
    ("spo2", "SpO2", lambda r: f"{r['spo2']} %" if "spo2" in r else None),
    ("weight_kg", "Weight", lambda r: f"{r['weight_kg']:g} kg" if "weight_kg" in r else None),
)


def _short(moment: Any) -> str:
    return f"{moment:%d %b %Y}" if isinstance(moment, datetime) else str(moment or "")


def _day_month(moment: Any) -> str:
    return f"{moment:%d %b}" if isinstance(moment, datetime) else ""


def _person(p: dict[str, Any]) -> Text:
    return Text(f"{p.get('first_name', '')} {p.get('last_name', '')}".strip()
                or p.get("name", ""))


class DashboardScreen(BaseScreen):
    """The role's dashboard: a doctor's day, a patient's summary, or the clinic's state."""

    CSS_PATH = "dashboard.tcss"
    HORIZONTAL_BREAKPOINTS = [(0, "-narrow"), (110, "-wide")]
    WATCHES = frozenset().union(*ROLE_WATCHES.values())
    AUTO_FOCUS = "AppointmentTable, #pending"  # the agenda (doctor, patient) or approvals
    SEARCH_FIELD = "#patient-search"  # a doctor's "Find a patient": text typed on a table
    BINDINGS = [
        Binding("ctrl+n", "book", "Book", id="dash-book"),
        Binding("slash", "find_patient", "Find patient", id="dash-find"),
        Binding("ctrl+r", "refresh", "Refresh", id="dash-refresh"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.role = ""
        self.loaded = False

    # --- layout ---

    def compose(self) -> ComposeResult:
        session = self.session
        self.role = session.role if session is not None else ""
        today = day_text(self.app.now().date())
        if self.role == policy.DOCTOR:
            yield Static(Text(f"{session.full_name} · {today}"), id="dash-title",
                         classes="screen-title")
            yield from self._doctor()
        elif self.role == policy.PATIENT:
            yield Static(Text(f"Welcome, {session.full_name} · {today}"), id="dash-title",
                         classes="screen-title")
            yield from self._patient()
        elif self.role == policy.ADMIN:
            yield Static(Text(f"Clinic overview · {today}"), id="dash-title",
                         classes="screen-title")
            yield from self._admin()
        yield AppFooter()

    def _doctor(self) -> ComposeResult:
        with Container(id="doctor-body"):
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

    def _patient(self) -> ComposeResult:
        with Grid(id="patient-body"):
            with Vertical(id="upcoming-box", classes="panel"):
                yield Static("Upcoming appointments", classes="section-title")
                yield AppointmentTable(("date", "time", "doctor", "reason"), id="upcoming")
                yield Static("", id="upcoming-empty", classes="muted empty")
            with Vertical(id="vitals-box", classes="panel"):
                yield Static("Latest vitals", classes="section-title")
                yield Static("", id="vitals-latest")
                yield Static("", id="trend-title", classes="muted")
                yield Sparkline([], id="systolic-trend")
            with Vertical(id="rx-box", classes="panel"):
                yield Static("Active prescriptions", classes="section-title")
                yield RecordTable([
                    ("drug", "Medicine", lambda r: Text(r.get("drug") or "")),
                    ("dose", "Dose", lambda r: Text(r.get("dose") or "")),
                    ("frequency", "How often", lambda r: Text(r.get("frequency") or "")),
                    ("doctor", "Prescribed by", lambda r: Short(
                        Text(r.get("doctor_name") or ""),
                        Text(short_doctor(r.get("doctor_name"))))),
                ], fit=Fit(flex=("frequency", "drug"), drop=("doctor",)), id="prescriptions")
                yield Static("", id="rx-empty", classes="muted empty")
            with Vertical(id="reports-box", classes="panel"):
                yield Static("Latest reports", classes="section-title")
                yield RecordTable([
                    ("date", "Date", lambda r: self._day(r.get("uploaded_at"))),
                    ("kind", "Kind", lambda r: Text(r.get("kind") or "")),
                    ("file", "File", lambda r: Text(r.get("filename") or "")),
                ], fit=Fit(flex=("file", "kind")), id="reports")
                yield Static("", id="reports-empty", classes="muted empty")

    def _admin(self) -> ComposeResult:
        with Horizontal(id="tiles"):
            for key, label in (("patients", "Patients"), ("doctor", "Doctors"),
                               ("patient", "Patient logins"), ("admin", "Admins"),
                               ("today", "Today's visits"), ("pending", "Waiting")):
                with Vertical(classes="tile", id=f"tile-{key}"):
                    yield Static("…", classes="tile-value", id=f"count-{key}")
                    yield Static(label, classes="tile-label")
        with Vertical(id="pending-box", classes="panel"):
            yield Static("Sign-ups waiting for approval (Enter: approve or reject)",
                         classes="section-title")
            yield RecordTable([
                ("username", "Username", lambda u: Text(u.get("username") or "")),
                ("name", "Name", lambda u: Text(u.get("full_name") or "")),
                ("role", "Role", lambda u: Text(u.get("role") or "")),
                ("specialty", "Specialty", lambda u: Text(u.get("specialty") or "")),
                ("requested", "Requested", lambda u: self._day(u.get("created_at"))),
            ], fit=Fit(flex=("name", "specialty"), drop=("specialty",)), id="pending")
            yield Static("", id="pending-empty", classes="muted empty")
        with Vertical(id="audit-box", classes="panel"):
            yield Static("Recent activity", classes="section-title")
            yield RecordTable([
                ("ts", "When", lambda e: Text(f"{e['ts']:%d %b %H:%M}"
                                              if isinstance(e.get("ts"), datetime) else "")),
                ("user", "User", lambda e: Text(e.get("username") or "")),
                ("action", "Action", lambda e: Text(e.get("action") or "")),
                ("outcome", "Outcome", self._outcome),
                ("detail", "Detail", lambda e: Text(e.get("detail") or "")),
            ], fit=Fit(flex=("detail", "action")), id="audit")

    def _day(self, moment: Any) -> Short:
        """A date cell: '04 Mar 2026', or '04 Mar' on a narrow table."""
        return Short(Text(_short(moment)), Text(short_day(moment, self.app.now())))

    def _alert_flag(self, patient: dict[str, Any]) -> Text:
        return styled(self, patient.get("vitals_alert_label") or "out of range", "error")

    def _outcome(self, entry: dict[str, Any]) -> Text:
        outcome = entry.get("outcome") or ""
        return styled(self, outcome_label(outcome), None if outcome == "ok" else "warning")

    # --- loading ---

    def is_relevant(self, message: DataChanged) -> bool:
        watched = ROLE_WATCHES.get(self.role, frozenset())
        if not watched & message.collections:
            return False
        if self.role == policy.PATIENT and self.session is not None:
            return any(message.touches(c, self.session.patient_id) for c in watched)
        return True

    def reload(self) -> None:
        session = self.session
        if session is None or self.role not in ROLE_WATCHES:
            return
        role = self.role
        show = {policy.DOCTOR: self._show_doctor, policy.PATIENT: self._show_patient,
                policy.ADMIN: self._show_admin}[role]
        body = {policy.DOCTOR: "#doctor-body", policy.PATIENT: "#patient-body",
                policy.ADMIN: "#pending-box"}[role]
        self.call_service(lambda s: getattr(s.dashboard, role)(session), show,
                          busy=None if self.loaded else self.query_one(body),
                          group="dashboard")

    def action_refresh(self) -> None:
        self.reload()

    def _empty(self, selector: str, text: str, rows: int) -> None:
        label = self.query_one(selector, Static)
        label.update(text if not rows else "")
        label.display = not rows

    # doctor

    def _show_doctor(self, data: dict[str, Any]) -> None:
        self.loaded = True
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
        session = self.session
        self.call_service(lambda s: s.patients.list(session, query=query, page_size=8),
                          lambda page: self._show_search(query, page.items),
                          group="dashboard-search")

    def _show_search(self, query: str, items: list[dict[str, Any]]) -> None:
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

    def action_find_patient(self) -> None:
        self.query_one("#patient-search", Input).focus()

    @on(DataTable.RowSelected, "#alerts, #search-results")
    def open_row(self, event: DataTable.RowSelected) -> None:
        table = event.data_table
        assert isinstance(table, RecordTable)
        record = table.records.get(str(event.row_key.value))
        if record:
            open_patient(self.app, record["id"])

    # patient

    def _show_patient(self, data: dict[str, Any]) -> None:
        self.loaded = True
        upcoming = data.get("upcoming", [])
        self.query_one("#upcoming", AppointmentTable).show(upcoming)
        self._empty("#upcoming-empty", "No upcoming appointments. Ctrl+N books one.",
                    len(upcoming))
        rx = data.get("prescriptions", [])
        self.query_one("#prescriptions", RecordTable).show(rx)
        self._empty("#rx-empty", "No active prescriptions.", len(rx))
        reports = data.get("reports", [])
        self.query_one("#reports", RecordTable).show(reports)
        self._empty("#reports-empty", "No reports yet.", len(reports))
        self._show_vitals(data.get("vitals", []))

    def _show_vitals(self, readings: list[dict[str, Any]]) -> None:
        latest_box = self.query_one("#vitals-latest", Static)
        trend = self.query_one("#systolic-trend", Sparkline)
        trend_title = self.query_one("#trend-title", Static)
        if not readings:
            latest_box.update("No readings yet.")
            trend.display = trend_title.display = False
            return
        latest = readings[0]  # newest first
        flags = {f["metric"]: f for f in latest.get("flags", [])}
        text = Text(f"{_short(latest.get('taken_at'))} {latest['taken_at']:%H:%M}"
                    if isinstance(latest.get("taken_at"), datetime) else "")
        if latest.get("source"):
            text.append(f" ({latest['source']})")
        for metric, label, fmt in METRICS:
            value = fmt(latest)
            if value is None:
                continue
            text.append(f"\n{label}: {value}")
            flag = flags.get(metric)
            if flag:
                text.append("  ")
                text.append_text(styled(self, flag["label"], FLAG_STYLES.get(flag["level"])))
        latest_box.update(text)
        systolic = [r["systolic"] for r in reversed(readings) if "systolic" in r]
        if systolic:
            trend.data = systolic
            trend_title.update(Text(f"Systolic, last {len(systolic)} readings: "
                                    f"{min(systolic)}–{max(systolic)} mmHg, "
                                    f"latest {systolic[-1]}"))
            trend.display = trend_title.display = True
        else:
            trend.display = trend_title.display = False

    # admin

    def _show_admin(self, data: dict[str, Any]) -> None:
        self.loaded = True
        by_role = data.get("users_by_role", {})
        pending = data.get("pending", [])
        counts = {
            "patients": data.get("patients", 0), "doctor": by_role.get(policy.DOCTOR, 0),
            "patient": by_role.get(policy.PATIENT, 0), "admin": by_role.get(policy.ADMIN, 0),
            "today": data.get("appointments_today", 0), "pending": len(pending),
        }
        for key, value in counts.items():
            self.query_one(f"#count-{key}", Static).update(str(value))
        self.query_one("#tile-pending").set_class(bool(pending), "attention")
        self.query_one("#pending", RecordTable).show(pending)
        self.query_one("#pending", RecordTable).display = bool(pending)  # no empty table
        self._empty("#pending-empty", "No sign-ups are waiting.", len(pending))
        self.query_one("#audit", RecordTable).show(data.get("recent_audit", []))
        self.refresh_bindings()

    def _selected_pending(self) -> dict[str, Any] | None:
        user = self.query_one("#pending", RecordTable).selected
        if user is None:
            self.notify("No sign-up is selected.", severity="warning", markup=False)
        return user

    @on(DataTable.RowSelected, "#pending")
    def decide(self) -> None:
        """Enter on a sign-up: a menu naming it, to approve or reject (each confirmed)."""
        user = self._selected_pending()
        if user is None:
            return
        name = f"{user.get('full_name') or user['username']} ({user['username']})"
        role = str(user.get("role") or "").capitalize()

        def chosen(action: str | None) -> None:
            if action == "approve":
                self.action_approve()
            elif action == "reject":
                self.action_reject()

        self.app.push_screen(ActionMenu(f"Sign-up of {name} · {role}", [
            ("approve", f"Approve: {user['username']} can log in"),
            ("reject", f"Reject: {user['username']} cannot log in"),
        ]), chosen)

    def action_approve(self) -> None:
        user = self._selected_pending()
        if user is None:
            return
        session, uid = self.session, user["id"]
        who = f"{user.get('full_name') or user['username']} ({user['username']})"
        reach = ("every patient's record" if user.get("role") == policy.DOCTOR
                 else "their own record")

        def answered(yes: bool | None) -> None:
            if yes:
                self.call_service(lambda s: s.users.approve(session, uid),
                                  lambda u: self._decided(u, "approved"),
                                  group="dashboard-approve")

        self.app.push_screen(ConfirmScreen(
            f"Approve the sign-up of {who} as {user.get('role') or 'user'}? They can log in "
            f"and read {reach}.", yes="Approve", no="Keep waiting"), answered)

    def action_reject(self) -> None:
        user = self._selected_pending()
        if user is None:
            return
        session, uid = self.session, user["id"]

        def answered(yes: bool | None) -> None:
            if yes:
                self.call_service(lambda s: s.users.reject(session, uid),
                                  lambda u: self._decided(u, "rejected"),
                                  group="dashboard-approve")

        self.app.push_screen(ConfirmScreen(
            f"Reject the sign-up of {user.get('full_name') or user['username']} "
            f"({user['username']})? They will not be able to log in.",
            yes="Reject", no="Keep waiting"), answered)

    def _decided(self, user: dict[str, Any], verb: str) -> None:
        self.notify(f"{user.get('full_name') or user['username']} ({user['username']}) {verb}.",
                    title="Sign-up", timeout=4, markup=False)
        self.reload()

    # --- keys and commands ---

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "book":
            return self.role in (policy.DOCTOR, policy.PATIENT) \
                and self.permissions.may("appointment.book")
        if action == "find_patient":
            return self.role == policy.DOCTOR
        if action in ("approve", "reject"):
            if self.role != policy.ADMIN:
                return False
            pending = self.query("#pending")
            return bool(pending) and bool(pending.first(RecordTable).row_count)
        return True

    def action_book(self) -> None:
        if role_of(self.app) == policy.DOCTOR:
            book_appointment(self, lambda _a: self.reload(), doctor_id=self.session.user_id,
                             day=self.app.now().date())
        else:
            book_appointment(self, lambda _a: self.reload())

    @on(AppointmentTable.AppointmentChanged)
    def appointment_changed(self) -> None:
        self.reload()

    def palette_commands(self) -> Iterable[SystemCommand]:
        yield SystemCommand("Refresh the dashboard", "Fetch it again (Ctrl+R)",
                            self.action_refresh)
        if self.check_action("book", ()):
            yield SystemCommand("Book an appointment", "Open the booking form (Ctrl+N)",
                                self.action_book)
        if self.role == policy.DOCTOR:
            yield SystemCommand("Find a patient", "Search by name or MRN (/)",
                                self.action_find_patient)
