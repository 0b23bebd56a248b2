"""Keys that are safe to mistype (issue 12, item 1; DESIGN.md "The terminal").

Text typed where a table has the focus never changes a record: on every table screen a
whole name is typed and every collection is compared before and after; where the screen
has a search field the text lands there. Changes go through a menu or a confirmation
that names the record; Home/End move the cursor; a key pressed again while a form
opens never edits it; after a sign-up the cursor waits in the password field; the
footer keeps F2/F3/F4/F10 at 80x24.
"""

from __future__ import annotations

from typing import Any

import pytest
from meditrack_tui.screens.appointments import AppointmentsScreen
from meditrack_tui.screens.audit_log import AuditScreen
from meditrack_tui.screens.dashboard import DashboardScreen
from meditrack_tui.screens.forms.confirm import ActionMenu, ConfirmScreen
from meditrack_tui.screens.forms.patient import PatientFormScreen
from meditrack_tui.screens.login import LoginScreen
from meditrack_tui.screens.patient_detail import PatientScreen
from meditrack_tui.screens.patients import PatientListScreen
from meditrack_tui.screens.signup import SignupScreen
from meditrack_tui.screens.users import UsersScreen
from meditrack_tui.screens.widgets.appointment_table import AppointmentTable
from meditrack_tui.screens.widgets.footer import AppFooter
from textual.widgets import DataTable, Input, Select

from tests.conftest import login_as, settle, sync
from tests.peek import KINDS, Peek

TYPED = "dina dixie axe"
# what reading a screen writes to the audit: a search or a list is a read, never a change
READ_ACTIONS = ("read", "list", "search", "view", "open", "dashboard", "agenda")


def store_state(backend) -> dict[str, Any]:
    """Every record of every kind (the audit apart: reads are audited)."""
    return backend.call(lambda s: {kind: Peek(s.store).all(kind) for kind in KINDS
                                   if kind != "audit"})


def audit_entries(backend) -> list[dict[str, Any]]:
    return backend.call(lambda s: Peek(s.store).all("audit"))


def is_read(entry: dict[str, Any]) -> bool:
    action = str(entry.get("action") or "")
    return any(word in action for word in READ_ACTIONS)


async def wait_until(app, pilot, predicate, timeout: float = 5.0) -> None:
    await settle(app, pilot)
    for _ in range(int(timeout / 0.05)):
        if predicate():
            return
        await pilot.pause(0.05)
    assert predicate()


async def goto(app, pilot, area: str, cls: type):
    app.goto(area)
    await settle(app, pilot)
    assert isinstance(app.screen, cls)
    return app.screen


async def patient_tab(app, pilot, backend, tab: str, table_id: str):
    """Open the demo patient's record (the one with the most to show) on ``tab``."""
    pid = backend.call(lambda s: Peek(s.store).one("users", username="demo.patient"))[
        "patient_id"]
    app.push_screen(PatientScreen(pid))
    await settle(app, pilot)
    app.screen.action_show_tab(tab)
    for _ in range(60):
        await settle(app, pilot)
        if app.screen.query(table_id):
            break
    return app.screen


# (case, who logs in, how to reach the screen, the table, the search field or None)
CASES = [
    ("doctor dashboard agenda", "demo.doctor", None, "#dash-agenda", "#patient-search"),
    ("patient dashboard", "demo.patient", None, "#upcoming", None),
    ("admin dashboard activity", "demo.admin", None, "#audit", None),
    ("patient list", "demo.doctor", ("records", PatientListScreen), "#pl-table", "#pl-search"),
    ("appointments agenda", "demo.doctor", ("appointments", AppointmentsScreen),
     "#agenda-table", None),
    ("appointments list (staff)", "demo.admin", ("appointments", AppointmentsScreen),
     "#list-table", "#f-query"),
    ("appointments list (patient)", "demo.patient", ("appointments", AppointmentsScreen),
     "#list-table", None),
    ("vitals readings", "demo.doctor", ("tab", "vitals"), "#vitals-table", None),
    ("prescriptions", "demo.doctor", ("tab", "prescriptions"), "#rx-table", None),
    ("reports", "demo.doctor", ("tab", "reports"), "#reports-table", None),
    ("patient's appointments", "demo.doctor", ("tab", "appointments"), "#pane-table", None),
    ("admin users", "demo.admin", ("users", UsersScreen), "#users-table", "#filter-query"),
    ("audit log", "demo.admin", ("audit", AuditScreen), "#audit-table", None),
]


@pytest.mark.parametrize("case,username,route,table_id,search",
                         CASES, ids=[c[0] for c in CASES])
@sync
async def test_typing_a_name_on_a_table_changes_nothing(make_app, demo_backend, case, username,
                                                        route, table_id, search):
    # a sign-up waits, so the approvals are on the admin's screens too
    demo_backend.call(lambda s: s.auth.signup_doctor(
        "dr.dixie", "dixie-secret-1", full_name="Dr. Dina Dixie"))
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await login_as(app, pilot, username)
        await settle(app, pilot)
        if route is None:
            screen = app.screen
            assert isinstance(screen, DashboardScreen)
        elif route[0] == "tab":
            screen = await patient_tab(app, pilot, demo_backend, route[1], table_id)
        else:
            screen = await goto(app, pilot, *route)
        if table_id == "#list-table" and screen.staff:
            screen.query_one("#views").active = "list-tab"
            await settle(app, pilot)
        table = screen.query_one(table_id, DataTable)
        table.focus()
        await pilot.pause()
        if table.row_count > 1:
            table.move_cursor(row=1)
        assert table.row_count, f"{case}: the demo data shows rows here"
        before, audit_before = store_state(demo_backend), len(audit_entries(demo_backend))

        await pilot.press(*TYPED)
        await settle(app, pilot)

        assert store_state(demo_backend) == before, f"{case}: typing changed a record"
        new_entries = audit_entries(demo_backend)[audit_before:]
        assert all(is_read(e) for e in new_entries), \
            f"{case}: typing wrote {[e['action'] for e in new_entries]}"
        assert not isinstance(app.screen, (ConfirmScreen, ActionMenu))
        if search is not None:
            field = screen.query_one(search, Input)
            assert field.value == TYPED, f"{case}: the text did not reach the search"
            assert app.focused is field


@sync
async def test_home_and_end_move_the_table_cursor(make_app):
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await login_as(app, pilot, "demo.doctor")
        screen = await goto(app, pilot, "records", PatientListScreen)
        table = screen.query_one("#pl-table", DataTable)
        table.focus()
        await pilot.pause()
        assert table.row_count > 3
        table.move_cursor(row=2)
        await pilot.press("end")
        assert table.cursor_row == table.row_count - 1
        await pilot.press("home")
        assert table.cursor_row == 0


@sync
async def test_insert_opens_the_new_record_form_where_ctrl_n_does(make_app):
    """In a browser Ctrl+N opens a browser window: Insert does what Ctrl+N does."""
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await login_as(app, pilot, "demo.doctor")
        await goto(app, pilot, "records", PatientListScreen)
        await pilot.press("insert")
        await settle(app, pilot)
        assert isinstance(app.screen, PatientFormScreen)


def appointment(backend, appt_id: str) -> dict[str, Any]:
    return backend.call(lambda s: Peek(s.store).one("appointments", id=appt_id))


@sync
async def test_agenda_changes_go_through_a_menu_that_names_the_appointment(make_app,
                                                                           demo_backend):
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await login_as(app, pilot, "demo.doctor")
        await settle(app, pilot)
        table = app.screen.query_one("#dash-agenda", AppointmentTable)
        assert app.focused is table
        appt = table.selected
        assert appt["status"] == "scheduled"
        await pilot.press("i", "d", "x", "r")  # the old one-key status changes
        await settle(app, pilot)
        assert appointment(demo_backend, appt["id"])["status"] == "scheduled"
        assert app.focused is app.screen.query_one("#patient-search")  # they went there
        table.focus()
        await pilot.pause()

        await pilot.press("enter")
        await settle(app, pilot)
        menu = app.screen
        assert isinstance(menu, ActionMenu)
        assert appt["patient_name"] in menu.title_text
        assert f"{appt['start']:%H:%M}" in menu.title_text
        labels = [label for _action, label in menu.actions]
        assert labels[0] == f"Open the record of {appt['patient_name']}"
        assert "Check in" in labels and "Mark completed" in labels
        await pilot.press("escape")
        await settle(app, pilot)
        assert appointment(demo_backend, appt["id"])["status"] == "scheduled"

        await pilot.press("enter")
        await settle(app, pilot)
        await pilot.press("down", "enter")  # [open], check in
        await wait_until(app, pilot, lambda: appointment(
            demo_backend, appt["id"])["status"] == "checked-in")

        # Delete cancels, after a confirmation naming the patient; letters never answer it
        await pilot.press("delete")
        await settle(app, pilot)
        confirm = app.screen
        assert isinstance(confirm, ConfirmScreen)
        assert appt["patient_name"] in confirm.question
        await pilot.press("y")
        await settle(app, pilot)
        assert isinstance(app.screen, ConfirmScreen)
        await pilot.press("escape")
        await settle(app, pilot)
        assert appointment(demo_backend, appt["id"])["status"] == "checked-in"
        await pilot.press("delete")
        await settle(app, pilot)
        await pilot.press("enter")
        await wait_until(app, pilot, lambda: appointment(
            demo_backend, appt["id"])["status"] == "cancelled")


def user_status(backend, username: str) -> str:
    return backend.call(lambda s: Peek(s.store).one("users", username=username))["status"]


@sync
async def test_approving_a_doctor_asks_first_and_names_the_account(make_app, demo_backend):
    demo_backend.call(lambda s: s.auth.signup_doctor(
        "dr.novak", "novak-secret-1", full_name="Dr. Ivana Novak"))
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await login_as(app, pilot, "demo.admin")
        await settle(app, pilot)
        pending = app.screen.query_one("#pending", DataTable)
        assert app.focused is pending
        await pilot.press("a", "r")  # once approve and reject
        await settle(app, pilot)
        assert user_status(demo_backend, "dr.novak") == "pending"

        await pilot.press("enter")
        await settle(app, pilot)
        assert isinstance(app.screen, ActionMenu)
        assert "dr.novak" in app.screen.title_text
        await pilot.press("enter")  # approve
        await settle(app, pilot)
        confirm = app.screen
        assert isinstance(confirm, ConfirmScreen)
        assert "Dr. Ivana Novak (dr.novak)" in confirm.question
        assert "every patient's record" in confirm.question
        await pilot.press("escape")
        await settle(app, pilot)
        assert user_status(demo_backend, "dr.novak") == "pending"

        # on the users screen the same: Enter, the menu, then a confirmation
        users = await goto(app, pilot, "users", UsersScreen)
        user = next(u for u in users.rows.values() if u["username"] == "dr.novak")
        users.table.focus()
        users.table.move_cursor(row=users.table.get_row_index(user["id"]))
        await pilot.pause()
        await pilot.press("enter")
        await settle(app, pilot)
        assert isinstance(app.screen, ActionMenu)
        await pilot.press("enter")
        await settle(app, pilot)
        assert isinstance(app.screen, ConfirmScreen)
        assert "dr.novak" in app.screen.question
        await pilot.press("enter")
        await wait_until(app, pilot, lambda: user_status(demo_backend, "dr.novak") == "active")


async def open_edit_form(app, pilot, backend):
    await login_as(app, pilot, "demo.doctor")
    patients = backend.call(lambda s: Peek(s.store).all("patients"))
    patient = patients[0]
    app.push_screen(PatientScreen(patient["id"]))
    await settle(app, pilot)
    return patient


@sync
async def test_a_key_pressed_again_while_the_edit_form_opens_never_edits_it(make_app,
                                                                            demo_backend):
    app = make_app(key_settle=0.3)
    async with app.run_test(size=(80, 24)) as pilot:
        patient = await open_edit_form(app, pilot, demo_backend)
        await pilot.press("e")  # the old edit key: a letter does not open the form
        await settle(app, pilot)
        assert isinstance(app.screen, PatientScreen)
        await pilot.press("ctrl+e", "e", "e")  # the second press comes while it opens
        await pilot.pause()
        form = app.screen
        assert isinstance(form, PatientFormScreen)
        first = form.query_one("#f-first_name", Input)
        assert app.focused is first
        assert first.value == patient["first_name"]
        await pilot.pause(0.35)  # once it has settled, typing edits as usual
        await pilot.press("end", "x")
        assert first.value == patient["first_name"] + "x"
        # Escape is never held back: a form opened by mistake closes at once
        await pilot.press("escape")  # the "discard?" question: Enter (once it settled) discards
        await pilot.pause(0.35)
        await pilot.press("enter")
        await settle(app, pilot)
        assert isinstance(app.screen, PatientScreen)
        await pilot.press("ctrl+e", "escape")
        await settle(app, pilot)
        assert isinstance(app.screen, PatientScreen)


@sync
async def test_without_the_settle_time_the_second_key_overwrites_the_first_name(make_app,
                                                                                demo_backend):
    """The failure the guard prevents: a form focuses its first field, which selects its
    text, and the next key replaces it."""
    app = make_app(key_settle=0.0)
    async with app.run_test(size=(80, 24)) as pilot:
        await open_edit_form(app, pilot, demo_backend)
        await pilot.press("ctrl+e", "e")
        await pilot.pause()
        assert app.screen.query_one("#f-first_name", Input).value == "e"


@sync
async def test_after_sign_up_the_cursor_is_in_the_password_field(make_app):
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(app, pilot)
        await pilot.press("f5")
        await settle(app, pilot)
        assert isinstance(app.screen, SignupScreen)
        values = {"username": "jo.patient", "password": "my-secret-pass",
                  "password2": "my-secret-pass", "first_name": "Jo", "last_name": "Marsh",
                  "dob": "1988-02-29"}
        for name, value in values.items():
            app.screen.query_one(f"#{name}", Input).value = value
        app.screen.query_one("#sex", Select).value = "F"
        app.screen.query_one("#username", Input).focus()
        app.screen.query_one("#phone", Input).focus()
        await pilot.press("enter")
        await settle(app, pilot)
        await pilot.pause(0.1)
        login = app.screen
        assert isinstance(login, LoginScreen)
        assert login.query_one("#username", Input).value == "jo.patient"
        assert app.focused is login.query_one("#password", Input)
        await pilot.press(*"my-secret-pass")
        assert login.query_one("#username", Input).value == "jo.patient"


FOOTER_SCREENS = [
    ("demo.doctor", None), ("demo.patient", None), ("demo.admin", None),
    ("demo.doctor", ("records", PatientListScreen)),
    ("demo.doctor", ("appointments", AppointmentsScreen)),
    ("demo.patient", ("appointments", AppointmentsScreen)),
    ("demo.doctor", ("tab", "vitals")), ("demo.doctor", ("tab", "prescriptions")),
    ("demo.doctor", ("tab", "reports")), ("demo.doctor", ("tab", "appointments")),
    ("demo.admin", ("users", UsersScreen)), ("demo.admin", ("audit", AuditScreen)),
]


@sync
async def test_the_footer_keeps_the_main_keys_at_80_columns(make_app, demo_backend):
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        for username, route in FOOTER_SCREENS:
            if app.session is None or app.session.username != username:
                if app.session is not None:
                    app.action_logout()
                    await settle(app, pilot)
                await login_as(app, pilot, username)
                await settle(app, pilot)
            if route is not None and route[0] == "tab":
                await patient_tab(app, pilot, demo_backend, route[1], "DataTable")
            elif route is not None:
                await goto(app, pilot, *route)
            await settle(app, pilot)
            footer = app.screen.query_one(AppFooter)
            await pilot.pause()
            _compact, keys, _palette = footer._plan()
            shown = {key for key, *_rest in keys}
            assert {"f2", "f3", "f4", "f10"} <= shown, (username, route, shown)
            if route is not None and route[0] == "tab":
                app.pop_screen()
                await settle(app, pilot)


@sync
async def test_clicking_a_footer_key_presses_it(make_app):
    """The footer (our own, from the screen's public bindings) keeps Textual's behaviour:
    a click on a key does what the key does."""
    from meditrack_tui.screens.widgets.footer import FooterEntry

    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await login_as(app, pilot, "demo.doctor")
        await settle(app, pilot)
        [records] = [e for e in app.screen.query(FooterEntry) if e.key == "f3"]
        region = records.region
        await pilot.click(offset=(region.x + 1, region.y))
        await settle(app, pilot)
        assert type(app.screen).__name__ == "PatientListScreen"
