"""The patient screen: header and overview, tab keys, editing with version conflicts, the
patient's own record, archive/restore, prescriptions with the allergy override, live updates."""

from __future__ import annotations

from textual.widgets import DataTable, Input, Select, Static, TabbedContent

from tests.conftest import sync

try:  # tests/ is a package in some layouts, a plain folder in others
    from tests.conftest import login_as, settle
except ImportError:  # pragma: no cover
    from conftest import login_as, settle
from meditrack_tui.screens.forms.confirm import ConfirmScreen, PromptScreen
from meditrack_tui.screens.forms.patient import PatientFormScreen
from meditrack_tui.screens.forms.prescription import PrescriptionFormScreen
from meditrack_tui.screens.messages import DataChanged
from meditrack_tui.screens.patient_detail import PatientScreen
from meditrack_tui.screens.patients import PatientListScreen
from meditrack_tui.screens.widgets.prescriptions import PrescriptionsPane

PASSWORD = "meditrack-demo"




def login(backend, username: str):
    return backend.call(lambda s: s.auth.login(username, PASSWORD))


_IDS: dict[str, str] = {}  # every test's store is a copy of one seeded template: same ids


def patient_id(backend, query: str) -> str:
    if query not in _IDS:
        admin = login(backend, "demo.admin")
        _IDS[query] = backend.call(lambda s: s.patients.list(admin, query=query).items[0]["id"])
    return _IDS[query]


async def sign_in(app, pilot, username: str) -> None:
    """Start a session through the auth service (quicker than the login screen and dashboard,
    which have their own tests)."""
    await pilot.pause()
    app.session = app.backend.call(lambda s: s.auth.login(username, PASSWORD))
    app.refresh_bindings()


async def open_patient(app, pilot, username: str, pid: str) -> PatientScreen:
    """Sign in, open the records list and push the patient's screen as Enter would."""
    await sign_in(app, pilot, username)
    await pilot.press("f3")
    await settle(app, pilot)
    assert isinstance(app.screen, PatientListScreen)
    app.screen.open_patient(pid)
    await settle(app, pilot)
    screen = app.screen
    assert isinstance(screen, PatientScreen) and screen.record is not None
    return screen


def text(widget: Static) -> str:
    return str(widget.render())


async def open_form(app, pilot, screen: PatientScreen) -> PatientFormScreen:
    screen.query_one("#pd-tabs", TabbedContent).query_one("Tabs").focus()
    await pilot.press("ctrl+e")
    await settle(app, pilot)
    form = app.screen
    assert isinstance(form, PatientFormScreen)
    return form


@sync
async def test_overview_header_and_tab_keys(make_app, demo_backend):
    app = make_app()
    pid = patient_id(demo_backend, "reyes")
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_patient(app, pilot, "demo.doctor", pid)
        assert text(screen.query_one("#pd-name", Static)) == "Daniel Reyes"
        assert "MRN-000001 · 57 y · M" in text(screen.query_one("#pd-meta", Static))
        allergies = screen.query_one("#pd-allergies", Static)
        assert "Allergies: penicillin" in text(allergies) and allergies.has_class("has-allergies")
        assert "1968-04-12 (57 years)" in text(screen.query_one("#ov-dob", Static))
        assert text(screen.query_one("#ov-doctor", Static)) == "Dr. Maya Hartwell"
        assert text(screen.query_one("#ov-conditions", Static)) == "Hypertension"

        tabs = screen.query_one("#pd-tabs", TabbedContent)
        await pilot.press("v")  # one key from the record to the blood pressure chart
        await settle(app, pilot)
        assert tabs.active == "vitals"
        assert screen.query_one("#vitals-pane").patient_id == pid
        for key, tab in (("3", "prescriptions"), ("4", "reports"), ("5", "appointments"),
                         ("1", "overview"), ("2", "vitals")):
            await pilot.press(key)
            await settle(app, pilot)
            assert tabs.active == tab
        await pilot.press("ctrl+pagedown")
        await settle(app, pilot)
        assert tabs.active == "prescriptions"
        assert isinstance(app.focused, DataTable)  # the pane's table, so its keys work
        await pilot.press("ctrl+pageup")
        await settle(app, pilot)
        assert tabs.active == "vitals"
        await pilot.press("escape")
        await pilot.pause()
        assert isinstance(app.screen, PatientListScreen)


@sync
async def test_edit_overview_and_save(make_app, demo_backend):
    app = make_app()
    pid = patient_id(demo_backend, "whitaker")
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_patient(app, pilot, "demo.doctor", pid)
        assert screen.check_action("archive", ()) is False  # archiving is for admins
        await pilot.press("ctrl+d")
        await pilot.pause()
        assert app.screen is screen

        form = await open_form(app, pilot, screen)
        await pilot.press("escape")  # nothing changed: closes at once
        await pilot.pause()
        assert app.screen is screen
        form = await open_form(app, pilot, screen)
        await pilot.press("X")  # focusing an input selects its text: typing replaces it
        await pilot.press("escape")  # unsaved changes: asks first
        await pilot.pause()
        assert isinstance(app.screen, ConfirmScreen)
        await pilot.press("escape")
        await pilot.pause()
        assert app.screen is form and form.query_one("#f-first_name", Input).value == "X"
        await pilot.press("escape", "enter")
        await pilot.pause()
        assert app.screen is screen
        assert text(screen.query_one("#ov-name", Static)) == "Grace Whitaker"

        form = await open_form(app, pilot, screen)
        assert form.query_one("#f-first_name", Input).has_focus
        assert form.query_one("#f-conditions", Input).value == \
            "Type 2 diabetes, Hyperlipidemia, Obesity"
        phone = form.query_one("#f-phone", Input)
        phone.value = "+1 555 0199"
        form.query_one("#f-allergies", Input).value = "sulfa"
        phone.focus()
        await pilot.press("enter")
        await settle(app, pilot)
        assert app.screen is screen
        assert text(screen.query_one("#ov-phone", Static)) == "+1 555 0199"
        assert "Allergies: sulfa" in text(screen.query_one("#pd-allergies", Static))
        assert "version 2" in text(screen.query_one("#ov-record", Static))
        doctor = login(demo_backend, "demo.doctor")
        saved = demo_backend.call(lambda s: s.patients.get(doctor, pid))
        assert saved["phone"] == "+1 555 0199" and saved["allergies"] == ["sulfa"]
        assert saved["version"] == 2


@sync
async def test_version_conflict_keeps_typed_values_and_reload_shows_latest(make_app,
                                                                            demo_backend):
    app = make_app()
    pid = patient_id(demo_backend, "whitaker")
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_patient(app, pilot, "demo.doctor", pid)
        form = await open_form(app, pilot, screen)
        form.query_one("#f-phone", Input).value = "+1 555 0177"
        form.query_one("#f-conditions", Input).value = "Type 2 diabetes"
        # meanwhile another doctor changes the same record
        okafor = login(demo_backend, "dr.okafor")
        demo_backend.call(lambda s: s.patients.update(
            okafor, pid, {"conditions": "Type 2 diabetes, Hypertension",
                          "email": "grace@example.org"}, version=1))
        form.query_one("#f-phone", Input).focus()
        await pilot.press("enter")
        await settle(app, pilot)
        assert app.screen is form
        conflict = form.query_one("#conflict", Static)
        assert conflict.display
        assert "dr.okafor changed this record at 10:00 on 04 Mar 2026" in text(conflict)
        assert form.query_one("#f-phone", Input).value == "+1 555 0177"
        assert form.query_one("#f-conditions", Input).value == "Type 2 diabetes"
        assert form.query_one("#reload").display

        await pilot.press("ctrl+r")
        await settle(app, pilot)
        # untouched field: now the latest value; touched ones: typed value kept, latest shown
        assert form.query_one("#f-email", Input).value == "grace@example.org"
        assert form.query_one("#f-phone", Input).value == "+1 555 0177"
        assert form.query_one("#f-conditions", Input).value == "Type 2 diabetes"
        latest = form.query_one("#latest-conditions", Static)
        assert latest.display and "Type 2 diabetes, Hypertension" in text(latest)
        assert not form.query_one("#latest-phone", Static).display

        form.query_one("#f-conditions", Input).value = "Type 2 diabetes, Hypertension"
        await pilot.press("enter")
        await settle(app, pilot)
        assert app.screen is screen
        doctor = login(demo_backend, "demo.doctor")
        saved = demo_backend.call(lambda s: s.patients.get(doctor, pid))
        assert saved["phone"] == "+1 555 0177" and saved["email"] == "grace@example.org"
        assert saved["conditions"] == ["Type 2 diabetes", "Hypertension"]
        assert saved["version"] == 3


@sync
async def test_patient_sees_own_record_and_edits_only_contact_details(make_app, demo_backend):
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await login_as(app, pilot, "demo.patient")
        await pilot.press("f3")
        await settle(app, pilot)
        screen = app.screen
        assert isinstance(screen, PatientScreen) and screen.own
        assert text(screen.query_one("#pd-own", Static)) == "My record"
        assert screen.check_action("edit", ()) is False
        assert screen.check_action("edit_contacts", ()) is True
        assert screen.check_action("archive", ()) is False
        titles = [command.title for command in screen.palette_commands()]
        assert "Show Vitals" in titles and "Edit my contact details" in titles
        assert "Edit this record" not in titles and "Archive this record" not in titles
        await pilot.press("escape")  # no list to go back to
        await pilot.pause()
        assert app.screen is screen

        form = await open_form(app, pilot, screen)
        assert form.fields == ["phone", "email", "address"]
        for clinical in ("first_name", "dob", "allergies", "conditions", "primary_doctor_id"):
            assert not form.query(f"#f-{clinical}")
        form.query_one("#f-phone", Input).value = "+1 555 0142"
        await pilot.press("enter")
        await settle(app, pilot)
        assert app.screen is screen
        assert text(screen.query_one("#ov-phone", Static)) == "+1 555 0142"

        # the prescriptions tab is read-only for a patient
        await pilot.press("3")
        await settle(app, pilot)
        pane = screen.query_one(PrescriptionsPane)
        assert pane.query_one("#rx-table", DataTable).row_count == 3
        assert pane.check_action("add", ()) is False
        await pilot.press("ctrl+n")
        await pilot.pause()
        assert app.screen is screen


@sync
async def test_admin_edits_archives_restores_and_reads_prescriptions(make_app, demo_backend):
    app = make_app()
    pid = patient_id(demo_backend, "osei")
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_patient(app, pilot, "demo.admin", pid)
        form = await open_form(app, pilot, screen)  # admins edit everything; errors inline
        assert form.query("#f-allergies")
        form.query_one("#f-email", Input).value = "not an email"
        await pilot.press("enter")
        await settle(app, pilot)
        assert app.screen is form
        error = form.query_one("#err-email", Static)
        assert error.display and "does not look right" in text(error)
        await pilot.press("escape", "enter")
        await pilot.pause()
        assert app.screen is screen

        assert screen.check_action("restore", ()) is False
        await pilot.press("ctrl+d")
        await pilot.pause()
        assert isinstance(app.screen, ConfirmScreen)
        await pilot.press("escape")
        await pilot.pause()
        assert not screen.record["archived"]
        await pilot.press("ctrl+d")
        await pilot.pause()
        await pilot.press("enter")
        await settle(app, pilot)
        assert screen.record["archived"]
        assert screen.query_one("#pd-archived", Static).display
        assert "Archived" in text(screen.query_one("#ov-record", Static))
        assert screen.check_action("archive", ()) is False
        await pilot.press("ctrl+d")  # now: restore
        await pilot.pause()
        assert "Restore" in app.screen.question
        await pilot.press("enter")
        await settle(app, pilot)
        assert not screen.record["archived"]
        assert not screen.query_one("#pd-archived", Static).display

        await pilot.press("3")  # admins read prescriptions but do not write them
        await settle(app, pilot)
        pane = screen.query_one(PrescriptionsPane)
        assert pane.query_one("#rx-table", DataTable).row_count == 2
        for action in ("add", "change", "stop"):
            assert pane.check_action(action, ()) is False
        await pilot.press("ctrl+n", "enter", "delete")
        await pilot.pause()
        assert app.screen is screen


@sync
async def test_prescribe_refused_for_allergy_then_overridden_with_reason(make_app, demo_backend):
    app = make_app()
    pid = patient_id(demo_backend, "reyes")  # allergic to penicillin
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_patient(app, pilot, "demo.doctor", pid)
        await pilot.press("3")
        await settle(app, pilot)
        pane = screen.query_one(PrescriptionsPane)
        assert pane.query_one("#rx-table", DataTable).has_focus
        await pilot.press("ctrl+n")
        await settle(app, pilot)
        form = app.screen
        assert isinstance(form, PrescriptionFormScreen)
        assert form.query_one("#f-route", Select).value == "oral"
        await pilot.press(*"Amoxicillin", "tab", *"500 mg", "tab", "tab", *"three times daily")
        await pilot.press("enter")
        await settle(app, pilot)
        assert app.screen is form
        warning = form.query_one("#allergy-warning", Static)
        assert form.query_one("#allergy-box").display
        assert "penicillin" in text(warning).lower() and "override" in text(warning)
        reason = form.query_one("#f-override_reason", Input)
        assert reason.has_focus
        await pilot.press("enter")  # no reason yet
        await settle(app, pilot)
        assert app.screen is form
        assert "Type why" in text(form.query_one("#err-override_reason", Static))
        await pilot.press(*"Tolerated amoxicillin in 2024 without reaction", "enter")
        await settle(app, pilot)
        await settle(app, pilot)
        assert app.screen is screen
        doctor = login(demo_backend, "demo.doctor")
        items = demo_backend.call(lambda s: s.prescriptions.list(doctor, pid))
        amox = next(rx for rx in items if rx["drug"] == "Amoxicillin")
        assert amox["allergy_override"]["reason"].startswith("Tolerated amoxicillin")
        table = pane.query_one("#rx-table", DataTable)
        assert any("Amoxicillin ⚠" in str(table.get_row_at(i)[0]) for i in range(table.row_count))


@sync
async def test_change_dose_and_stop_a_prescription(make_app, demo_backend):
    app = make_app()
    pid = patient_id(demo_backend, "reyes")
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_patient(app, pilot, "demo.doctor", pid)
        await pilot.press("3")
        await settle(app, pilot)
        pane = screen.query_one(PrescriptionsPane)
        first = pane.selected()
        assert first["status"] == "active"
        await pilot.press("enter")
        await settle(app, pilot)
        form = app.screen
        assert isinstance(form, PrescriptionFormScreen)
        assert not form.query("#f-drug")  # a different drug is a new prescription
        dose = form.query_one("#f-dose", Input)
        assert dose.value == first["dose"]
        dose.value = "10 mg"
        dose.focus()
        await pilot.press("enter")
        await settle(app, pilot)
        assert app.screen is screen
        await settle(app, pilot)
        assert pane.items[first["id"]]["dose"] == "10 mg"

        await pilot.press("delete")
        await pilot.pause()
        assert isinstance(app.screen, PromptScreen)
        await pilot.press(*"ankle swelling", "enter")
        await settle(app, pilot)
        await settle(app, pilot)
        stopped = pane.items[first["id"]]
        assert stopped["status"] == "stopped" and stopped["stop_reason"] == "ankle swelling"
        assert "Stopped 2026-03-04: ankle swelling" in text(pane.query_one("#rx-detail", Static))


@sync
async def test_live_changes_refresh_the_overview_and_open_panes(make_app, demo_backend):
    app = make_app()
    pid = patient_id(demo_backend, "reyes")
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_patient(app, pilot, "demo.doctor", pid)
        await pilot.press("3")
        await settle(app, pilot)
        okafor = login(demo_backend, "dr.okafor")
        demo_backend.call(lambda s: s.patients.update(okafor, pid, {"phone": "+1 555 0111"},
                                                      version=1))
        demo_backend.call(lambda s: s.prescriptions.add(
            okafor, pid, {"drug": "Atorvastatin", "dose": "20 mg", "frequency": "nightly"}))
        other = patient_id(demo_backend, "whitaker")
        screen.post_message(DataChanged(frozenset({"patients"}), frozenset({other})))
        await settle(app, pilot)
        assert text(screen.query_one("#ov-phone", Static)) == "+1 555 0101"  # not this patient
        screen.post_message(DataChanged(frozenset({"patients", "prescriptions"}),
                                        frozenset({pid})))
        await pilot.pause()
        await settle(app, pilot)
        assert text(screen.query_one("#ov-phone", Static)) == "+1 555 0111"
        pane = screen.query_one(PrescriptionsPane)
        assert pane.query_one("#rx-table", DataTable).row_count == 4


def test_snapshot_patient_overview(make_app, demo_backend, snap_compare):
    app = make_app()
    pid = patient_id(demo_backend, "reyes")

    async def run_before(pilot) -> None:
        await open_patient(app, pilot, "demo.doctor", pid)
        app.clear_notifications()
        await pilot.pause()

    assert snap_compare(app, terminal_size=(80, 24), run_before=run_before)


@sync
async def test_each_tab_puts_the_focus_on_its_table_even_while_it_loads(make_app, demo_backend,
                                                                        monkeypatch):
    """The Appointments tab's table shows a loading indicator (which cannot take focus)
    until its first page arrives; the focus still lands on it, ready for its keys."""
    import time as time_module

    from meditrack_tui.screens.widgets.patient_appointments import PatientAppointmentsPane
    from meditrack_tui.screens.widgets.reports import ReportsPane

    from meditrack_tui.runtime import Backend

    app = make_app()
    pid = patient_id(demo_backend, "reyes")
    async with app.run_test(size=(100, 30)) as pilot:
        screen = await open_patient(app, pilot, "demo.doctor", pid)
        original = Backend.call

        def slow(self, fn, **kwargs):  # the store answers slowly: the table still loads
            time_module.sleep(0.2)
            return original(self, fn, **kwargs)

        monkeypatch.setattr(Backend, "call", slow)
        for key, pane_type in (("5", PatientAppointmentsPane), ("3", PrescriptionsPane),
                               ("4", ReportsPane)):
            await pilot.press(key)
            await settle(app, pilot)
            await pilot.pause(0.3)
            pane = screen.query_one(pane_type)
            assert isinstance(app.focused, DataTable) and pane in app.focused.ancestors, key


@sync
async def test_a_pane_ready_takes_the_focus_from_the_tab_bar_only(make_app, demo_backend):
    """Panes post Ready once loaded: the screen then focuses the open tab's table, unless
    the user has put the focus elsewhere than the tab bar (no timer polls the pane)."""
    app = make_app()
    pid = patient_id(demo_backend, "reyes")
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_patient(app, pilot, "demo.doctor", pid)
        await pilot.press("3")
        await settle(app, pilot)
        pane = screen.query_one(PrescriptionsPane)
        table = pane.query_one("#rx-table", DataTable)
        bar = screen.query_one("#pd-tabs", TabbedContent).query_one("Tabs")
        bar.focus()
        await pilot.pause()
        pane.post_message(PrescriptionsPane.Ready())
        await settle(app, pilot)
        assert app.focused is table
        screen.query_one("#pd-overview").focus()  # somewhere else than the tab bar
        await pilot.pause()
        focused = app.focused
        pane.post_message(PrescriptionsPane.Ready())
        await settle(app, pilot)
        assert app.focused is focused


@sync
async def test_palette_action_on_a_tab_not_open_yet_runs_once_its_pane_is_in(make_app,
                                                                            demo_backend):
    app = make_app()
    pid = patient_id(demo_backend, "reyes")
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_patient(app, pilot, "demo.doctor", pid)
        assert "prescriptions" not in screen.panes
        screen.in_pane("prescriptions", "add")
        await settle(app, pilot)
        assert isinstance(app.screen, PrescriptionFormScreen)
        assert app.screen.patient_id == pid
