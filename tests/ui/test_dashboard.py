"""The dashboard of each role: a doctor's day, a patient's summary, the admin's overview."""

from __future__ import annotations

from textual.widgets import Input, Sparkline, Static

from tests.conftest import sync

try:
    from tests.conftest import login_as, settle
except ImportError:  # tests/ is not a package
    from conftest import login_as, settle
from meditrack_tui.screens.dashboard import DashboardScreen
from meditrack_tui.screens.forms.booking import AppointmentForm
from meditrack_tui.screens.forms.confirm import ConfirmScreen
from meditrack_tui.screens.messages import DataChanged
from meditrack_tui.screens.patient_detail import PatientScreen
from meditrack_tui.screens.widgets.appointment_table import AppointmentTable, RecordTable

PASSWORD = "meditrack-demo"




def rows(table: RecordTable) -> list[dict]:
    return [table.records[str(row.key.value)] for row in table.ordered_rows]


def text_of(widget: Static) -> str:
    return str(widget.render()) if widget.display else ""


def call_as(backend, username: str, fn):
    """Run ``fn(services, session)`` as ``username`` straight on the store (outside the UI)."""
    return backend.call(lambda s: fn(s, s.auth.login(username, PASSWORD)))


async def pick(app, pilot, action: str) -> None:
    """Enter on the selected row opens its menu (no letter changes a record): run ``action``."""
    from meditrack_tui.screens.forms.confirm import ActionMenu
    from textual.widgets import OptionList

    await pilot.press("enter")
    await settle(app, pilot)
    menu = app.screen
    assert isinstance(menu, ActionMenu), menu
    menu.query_one(OptionList).highlighted = [a for a, _label in menu.actions].index(action)
    await pilot.pause()
    await pilot.press("enter")
    await settle(app, pilot)


async def open_dashboard(app, pilot, username: str) -> DashboardScreen:
    await login_as(app, pilot, username)
    await settle(app, pilot)
    assert isinstance(app.screen, DashboardScreen)
    app.clear_notifications()
    return app.screen


@sync
async def test_doctor_dashboard_agenda_and_check_in(make_app, demo_backend):
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_dashboard(app, pilot, "demo.doctor")
        agenda = screen.query_one("#dash-agenda", AppointmentTable)
        today = rows(agenda)
        assert len(today) == 7 and {a["day"] for a in today} == {"2026-03-04"}
        assert {a["doctor_name"] for a in today} == {"Dr. Maya Hartwell"}
        assert "Wednesday 04 March 2026" in text_of(screen.query_one("#dash-title", Static))
        assert "(7, 7 to see)" in text_of(screen.query_one("#agenda-title", Static))
        assert app.focused is agenda

        await pilot.press("down")
        await pick(app, pilot, "checked-in")
        assert rows(agenda)[1]["status"] == "checked-in"
        stored = call_as(demo_backend, "demo.doctor",
                         lambda s, me: s.appointments.get(me, today[1]["id"]))
        assert stored["status"] == "checked-in" and stored["version"] == today[1]["version"] + 1
        # a checked-in patient is not a no-show: not offered
        assert "no-show" not in [a for a, _l in agenda.actions_for(rows(agenda)[1])]
        await pick(app, pilot, "completed")
        assert rows(agenda)[1]["status"] == "completed"
        assert "(7, 6 to see)" in text_of(screen.query_one("#agenda-title", Static))

        # a change made elsewhere arrives as DataChanged: the dashboard re-fetches
        other = today[2]
        call_as(demo_backend, "demo.admin",
                lambda s, me: s.appointments.set_status(me, other["id"], "no-show",
                                                        version=other["version"]))
        screen.post_message(DataChanged(frozenset({"appointments"})))
        await settle(app, pilot)
        assert rows(agenda)[2]["status"] == "no-show"
        assert rows(agenda)[1]["status"] == "completed"  # the cursor row stays where it was
        assert agenda.selected["id"] == today[1]["id"]

        # Enter opens the selected patient's record
        await pilot.press("enter")
        await settle(app, pilot)
        assert isinstance(app.screen, PatientScreen)
        assert app.screen.patient_id == today[1]["patient_id"]


@sync
async def test_doctor_dashboard_alerts_and_quick_search(make_app, demo_backend):
    alerts = call_as(demo_backend, "demo.doctor",
                     lambda s, me: s.dashboard.doctor(me)["alerts"])
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_dashboard(app, pilot, "demo.doctor")
        table = screen.query_one("#alerts", RecordTable)
        assert [p["id"] for p in rows(table)] == [p["id"] for p in alerts] and alerts
        assert f"({len(alerts)})" in text_of(screen.query_one("#alerts-title", Static))
        table.focus()
        await pilot.press("enter")
        await settle(app, pilot)
        assert isinstance(app.screen, PatientScreen)
        assert app.screen.patient_id == alerts[0]["id"]
        await pilot.press("escape")
        await settle(app, pilot)
        assert app.screen is screen

        await pilot.press("slash")
        assert app.focused is screen.query_one("#patient-search", Input)
        await pilot.press(*"whit")
        await settle(app, pilot)
        results = screen.query_one("#search-results", RecordTable)
        names = [p["name"] for p in rows(results)]
        assert "Grace Whitaker" in names and all("whit" in n.lower() for n in names)
        await pilot.press("enter")
        assert app.focused is results
        await pilot.press("enter")
        await settle(app, pilot)
        assert isinstance(app.screen, PatientScreen)
        assert app.screen.patient_id == rows(results)[0]["id"]


@sync
async def test_patient_dashboard(make_app, demo_backend):
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_dashboard(app, pilot, "demo.patient")
        upcoming = rows(screen.query_one("#upcoming", AppointmentTable))
        assert [a["reason"] for a in upcoming] == ["Blood pressure follow-up"]
        assert upcoming[0]["patient_name"] == "Daniel Reyes"
        rx = rows(screen.query_one("#prescriptions", RecordTable))
        assert sorted(r["drug"] for r in rx) == ["Amlodipine", "Lisinopril"]
        reports = rows(screen.query_one("#reports", RecordTable))
        assert {r["filename"] for r in reports} == {"p01_lipid_panel.csv",
                                                     "p01_prescription_lisinopril.jpg"}
        latest = text_of(screen.query_one("#vitals-latest", Static))
        assert "Blood pressure: 127/85 mmHg  stage 1 hypertension" in latest
        assert "Heart rate: 73 bpm  normal" in latest
        trend = screen.query_one("#systolic-trend", Sparkline)
        assert trend.display and len(trend.data) == 30 and trend.data[-1] == 127
        assert "latest 127" in text_of(screen.query_one("#trend-title", Static))
        # only changes to this patient's own records make the dashboard re-fetch
        mine = frozenset({app.session.patient_id})
        assert screen.is_relevant(DataChanged(frozenset({"vitals"}), mine))
        assert not screen.is_relevant(DataChanged(frozenset({"vitals"}), frozenset({"other"})))
        assert not screen.is_relevant(DataChanged(frozenset({"users"}), mine))
        # what a patient may not do is not offered
        assert not screen.check_action("approve", ())
        assert not screen.check_action("find_patient", ())
        table = screen.query_one("#upcoming", AppointmentTable)
        # a patient's menu offers only cancelling their own appointment
        assert [a for a, _l in table.actions_for(rows(table)[0])] == ["cancel"]
        await pilot.press("i")
        await settle(app, pilot)
        assert app.screen is screen and rows(table)[0]["status"] == "scheduled"

        await pilot.press("ctrl+n")
        await settle(app, pilot)
        form = app.screen
        assert isinstance(form, AppointmentForm)
        assert str(form.query_one("#patient-fixed", Static).render()) == "Daniel Reyes"


@sync
async def test_admin_dashboard_counts_and_approvals(make_app, demo_backend):
    def signup(username: str, name: str) -> None:
        demo_backend.call(lambda s: s.auth.signup_doctor(username, "a-long-password-1",
                                                          full_name=name,
                                                          specialty="Cardiology"))

    signup("dr.newton", "Dr. Isaac Newton")
    signup("dr.curie", "Dr. Marie Curie")
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_dashboard(app, pilot, "demo.admin")

        def count(key: str) -> str:
            return text_of(screen.query_one(f"#count-{key}", Static))

        assert (count("patients"), count("doctor"), count("patient"), count("admin"),
                count("today"), count("pending")) == ("40", "3", "1", "1", "11", "2")
        pending = screen.query_one("#pending", RecordTable)
        assert [u["username"] for u in rows(pending)] == ["dr.newton", "dr.curie"]
        audit = rows(screen.query_one("#audit", RecordTable))
        assert audit and audit[0]["action"] == "login" and audit[0]["username"] == "demo.admin"
        assert app.focused is pending

        await pilot.press("a")  # no letter approves
        await settle(app, pilot)
        assert count("pending") == "2"
        await pick(app, pilot, "approve")
        assert isinstance(app.screen, ConfirmScreen)
        assert "dr.newton" in app.screen.question
        await pilot.press("enter")
        await settle(app, pilot)
        assert [u["username"] for u in rows(pending)] == ["dr.curie"]
        assert count("doctor") == "4" and count("pending") == "1"
        await pick(app, pilot, "reject")
        assert isinstance(app.screen, ConfirmScreen)
        await pilot.press("enter")
        await settle(app, pilot)
        assert rows(pending) == [] and count("pending") == "0"
        assert "No sign-ups are waiting." in text_of(screen.query_one("#pending-empty", Static))
        assert not screen.check_action("approve", ())

    users = call_as(demo_backend, "demo.admin",
                    lambda s, me: {u["username"]: u["status"]
                                   for u in s.users.list(me, role="doctor").items})
    assert users["dr.newton"] == "active" and users["dr.curie"] == "rejected"


def test_snapshot_doctor_dashboard(make_app, snap_compare):
    app = make_app()

    async def run_before(pilot) -> None:
        await open_dashboard(app, pilot, "demo.doctor")
        app.clear_notifications()
        await pilot.pause()

    assert snap_compare(app, terminal_size=(80, 24), run_before=run_before)


@sync
async def test_today_on_the_dashboard_opens_that_agenda(make_app, demo_backend):
    """The doctor's "Today's appointments" title and the admin's "Today's visits" tile
    open the Appointments screen on that day's agenda (OpenAgenda, routed by the App)."""
    from meditrack_tui.screens.appointments import AppointmentsScreen

    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_dashboard(app, pilot, "demo.doctor")
        today = app.backend.now().date()
        await pilot.click("#agenda-title")
        await settle(app, pilot)
        agenda = app.screen
        assert isinstance(agenda, AppointmentsScreen)
        assert agenda.agenda_doctor == app.session.user_id and agenda.day == today
        assert len(rows(agenda.query_one("#agenda-table", AppointmentTable))) == 7
        assert screen is not agenda

    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await open_dashboard(app, pilot, "demo.admin")
        await pilot.click("#tile-today")
        await settle(app, pilot)
        agenda = app.screen
        assert isinstance(agenda, AppointmentsScreen) and agenda.day == app.backend.now().date()
        assert rows(agenda.query_one("#agenda-table", AppointmentTable))  # a busy doctor
