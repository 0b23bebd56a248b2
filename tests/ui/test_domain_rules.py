"""The screens ask the domain (issue 12, item 4): one permissions object built from the
session answers "may I?" for the App, the screens and the services, and the appointment
menu offers exactly the changes the domain's transitions allow."""

from __future__ import annotations

from meditrack_tui.screens.audit_log import AuditScreen
from meditrack_tui.screens.dashboard import DashboardScreen
from meditrack_tui.screens.widgets.appointment_table import AppointmentTable

from meditrack_tui import policy
from meditrack_tui.domain import AppointmentStatus, Permissions
from tests.conftest import login_as, settle, sync


@sync
async def test_screens_and_services_ask_the_same_permissions(make_app, monkeypatch):
    """Granting doctors the audit log in the one policy table offers them F8 and the
    screen opens with its rows (the service reads the same table): nothing in the UI
    keeps its own list of admin-only roles."""
    monkeypatch.setitem(policy.POLICY, "audit.read",
                        {policy.ADMIN: policy.ANY, policy.DOCTOR: policy.ANY})
    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await login_as(app, pilot, "demo.doctor")
        await settle(app, pilot)
        screen = app.screen
        assert isinstance(screen, DashboardScreen)
        assert app.permissions == Permissions.of(app.session)
        assert screen.permissions == app.permissions
        assert app.check_action("goto", ("audit",)) is True
        assert app.check_action("goto", ("users",)) is False  # user.manage: admins only
        await pilot.press("f8")
        await settle(app, pilot)
        assert isinstance(app.screen, AuditScreen) and app.screen.permitted
        assert app.screen.rows, "the audit service answered the doctor (same table)"


@sync
async def test_the_appointment_menu_follows_the_domain_transitions(make_app):
    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await login_as(app, pilot, "demo.doctor")
        await settle(app, pilot)
        table = app.screen.query_one("#dash-agenda", AppointmentTable)
        offered = {s: [a for a, _label in table.actions_for({"status": s.value})
                       if a != "open"] for s in AppointmentStatus}
        assert offered == {
            AppointmentStatus.SCHEDULED: ["checked-in", "completed", "no-show", "reschedule",
                                          "cancel"],
            AppointmentStatus.CHECKED_IN: ["completed", "reschedule", "cancel"],
            AppointmentStatus.COMPLETED: [],
            AppointmentStatus.CANCELLED: [],
            AppointmentStatus.NO_SHOW: [],
        }
