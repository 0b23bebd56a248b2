"""The administrator's dashboard: the clinic's counts, the sign-ups waiting for approval
(each approved or rejected through a menu and a confirmation) and recent activity."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.message import Message
from textual.widgets import DataTable, Static

from meditrack_tui import policy
from meditrack_tui.domain import outcome_label

from ..forms.confirm import ActionMenu, ConfirmScreen
from ..messages import OpenAgenda
from .appointment_table import RecordTable
from .cells import date_cell, styled
from .dashboard_panel import DashboardPanel
from .table import Fit, Short


@dataclass
class SignupDecided(Message):
    """A sign-up was approved or rejected (``verb``): the account as stored now."""

    user: dict[str, Any]
    verb: str


class AdminPanel(DashboardPanel, Vertical):
    """The clinic's state for an administrator."""

    def __init__(self) -> None:
        super().__init__(id="admin-body")

    def compose(self) -> ComposeResult:
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

    @property
    def pending_count(self) -> int:
        """How many sign-ups are shown waiting."""
        return self.query_one("#pending", RecordTable).row_count

    def _day(self, moment: Any) -> Short:
        """A date cell: '04 Mar 2026', or '04 Mar' on a narrow table."""
        return date_cell(moment, self.ctx.now())

    def _outcome(self, entry: dict[str, Any]) -> Text:
        outcome = entry.get("outcome") or ""
        return styled(self, outcome_label(outcome), None if outcome == "ok" else "warning")

    def show(self, data: dict[str, Any]) -> None:
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
        self.screen.refresh_bindings()

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
        session, uid = self.ctx.session, user["id"]
        who = f"{user.get('full_name') or user['username']} ({user['username']})"
        reach = ("every patient's record" if user.get("role") == policy.DOCTOR
                 else "their own record")

        def answered(yes: bool | None) -> None:
            if yes:
                self.ask(lambda s: s.users.approve(session, uid),
                         lambda u: SignupDecided(u, "approved"), group="dashboard-approve")

        self.app.push_screen(ConfirmScreen(
            f"Approve the sign-up of {who} as {user.get('role') or 'user'}? They can log in "
            f"and read {reach}.", yes="Approve", no="Keep waiting"), answered)

    def action_reject(self) -> None:
        user = self._selected_pending()
        if user is None:
            return
        session, uid = self.ctx.session, user["id"]

        def answered(yes: bool | None) -> None:
            if yes:
                self.ask(lambda s: s.users.reject(session, uid),
                         lambda u: SignupDecided(u, "rejected"), group="dashboard-approve")

        self.app.push_screen(ConfirmScreen(
            f"Reject the sign-up of {user.get('full_name') or user['username']} "
            f"({user['username']})? They will not be able to log in.",
            yes="Reject", no="Keep waiting"), answered)

    def on_signup_decided(self, message: SignupDecided) -> None:
        message.stop()
        user = message.user
        self.notify(f"{user.get('full_name') or user['username']} ({user['username']}) "
                    f"{message.verb}.", title="Sign-up", timeout=4, markup=False)
        self.post_message(self.Stale())

    def on_click(self, event: Any) -> None:
        """A click on "Today's visits" opens today's agenda (a doctor with visits today)."""
        node = getattr(event, "widget", None)
        while node is not None and node is not self:
            if node.id == "tile-today":
                self.post_message(OpenAgenda(day=self.ctx.now().date()))
                return
            node = node.parent

