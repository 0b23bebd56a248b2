"""Admin screens: user accounts (create, approve, role, deactivate, reset, unlock), the audit
log, and that other roles cannot reach either."""

from __future__ import annotations

import pytest
from textual.widgets import DataTable, Input, Select, Static

from tests.conftest import notices, sync

try:  # tests/ is a package in some layouts, a plain folder in others
    from tests.conftest import login_as, settle
except ImportError:  # pragma: no cover
    from conftest import login_as, settle
from meditrack_tui.screens.audit_log import AuditScreen
from meditrack_tui.screens.forms.accounts import NewUserScreen, PasswordPrompt, RoleScreen
from meditrack_tui.screens.forms.confirm import ActionMenu, ConfirmScreen
from meditrack_tui.screens.messages import DataChanged
from meditrack_tui.screens.users import UsersScreen

from meditrack_tui.errors import (
    AccountLocked,
    AccountPending,
    AuthenticationFailed,
    PermissionDenied,
    SessionExpired,
)

PASSWORD = "meditrack-demo"




async def open_area(app, pilot, key: str, cls: type):
    await login_as(app, pilot, "demo.admin")
    await pilot.press(key)
    await settle(app, pilot)
    assert isinstance(app.screen, cls)
    return app.screen


async def wait_for(app, pilot, predicate, timeout: float = 5.0) -> None:
    """Settle, then poll until ``predicate()`` holds (a modal closes after its service call)."""
    await settle(app, pilot)
    for _ in range(int(timeout / 0.05)):
        if predicate():
            return
        await pilot.pause(0.05)
    assert predicate()


def usernames(screen: UsersScreen) -> list[str]:
    return [user["username"] for user in screen.rows.values()]


async def select_user(pilot, screen: UsersScreen, username: str) -> dict:
    user = next(u for u in screen.rows.values() if u["username"] == username)
    table = screen.table
    table.focus()
    table.move_cursor(row=table.get_row_index(user["id"]))
    await pilot.pause()
    assert screen.selected["username"] == username
    return user


async def choose(app, pilot, action: str, *, confirm: bool = False) -> None:
    """Enter on the selected account opens its menu; pick ``action`` there (no letter acts
    on an account); ``confirm`` answers the confirmation that follows with Enter."""
    from textual.widgets import OptionList

    await pilot.press("enter")
    await settle(app, pilot)
    menu = app.screen
    assert isinstance(menu, ActionMenu), menu
    menu.query_one(OptionList).highlighted = [a for a, _label in menu.actions].index(action)
    await pilot.pause()
    await pilot.press("enter")
    await settle(app, pilot)
    if confirm:
        assert isinstance(app.screen, ConfirmScreen)
        await pilot.press("enter")


def row_of(screen: UsersScreen, username: str) -> dict:
    return next(u for u in screen.rows.values() if u["username"] == username)


def notified(app, text: str) -> bool:
    return any(text in n.message for n in notices(app))


def text_of(widget: Static) -> str:
    return str(widget.render())


@sync
async def test_users_list_filters_by_role_status_and_search(make_app):
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_area(app, pilot, "f7", UsersScreen)
        assert sorted(usernames(screen)) == sorted(
            ["demo.admin", "demo.doctor", "dr.okafor", "dr.lindqvist", "demo.patient"])
        assert screen.table.row_count == 5
        assert "5 accounts" in text_of(screen.query_one("#users-title", Static))

        screen.query_one("#filter-role", Select).value = "doctor"
        await settle(app, pilot)
        assert sorted(usernames(screen)) == ["demo.doctor", "dr.lindqvist", "dr.okafor"]

        await pilot.press("slash")
        assert app.focused is screen.query_one("#filter-query", Input)
        await pilot.press("d", "r", ".", "o", "enter")
        await settle(app, pilot)
        assert usernames(screen) == ["dr.okafor"]
        assert app.focused is screen.table

        screen.query_one("#filter-status", Select).value = "pending"
        await settle(app, pilot)
        assert screen.table.row_count == 0
        assert "No accounts match" in text_of(screen.query_one("#user-detail", Static))


@sync
async def test_users_pages_and_palette(make_app, monkeypatch):
    monkeypatch.setattr(UsersScreen, "PAGE_SIZE", 2)
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_area(app, pilot, "f7", UsersScreen)
        first = usernames(screen)
        assert len(first) == 2 and "page 1 of 3" in screen.title_text
        assert screen.check_action("page", (-1,)) is False
        await pilot.press("down", "pagedown")
        await settle(app, pilot)
        second = usernames(screen)
        assert len(second) == 2 and not set(first) & set(second)
        assert "page 2 of 3" in screen.title_text
        assert screen.table.cursor_row == 0
        await pilot.press("pagedown", "pagedown")
        await settle(app, pilot)
        assert len(screen.rows) == 1 and "page 3 of 3" in screen.title_text
        await pilot.press("pageup")
        await settle(app, pilot)
        assert usernames(screen) == second

        commands = {c.title for c in screen.palette_commands()}
        assert {"New user", "Sign-ups waiting for approval"} <= commands


async def open_new_user_form(app, pilot):
    """The users screen, and the new-user form opened on it with Ctrl+N."""
    screen = await open_area(app, pilot, "f7", UsersScreen)
    await pilot.press("ctrl+n")
    await pilot.pause()
    return screen, app.screen


async def fill_and_submit(app, pilot, form, username: str, full_name: str,
                          password: str) -> None:
    """Type the new-user form's name and password fields (twice) and press Enter."""
    form.query_one("#new-username", Input).value = username
    form.query_one("#new-full_name", Input).value = full_name
    form.query_one("#new-password", Input).value = password
    form.query_one("#new-password2", Input).value = password
    form.query_one("#new-password2", Input).focus()
    await pilot.press("enter")
    await settle(app, pilot)


@sync
async def test_admin_creates_a_user_with_inline_errors(make_app, demo_backend):
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        screen, form = await open_new_user_form(app, pilot)
        assert isinstance(form, NewUserScreen)

        await fill_and_submit(app, pilot, form, "demo.doctor", "Dr. Sam Patel", "short")
        assert app.screen is form
        errors = {s.id: text_of(s) for s in form.query(".field-error") if s.display}
        assert errors, "the refusal must show in the form"
        assert any("at least 10" in t or "taken" in t for t in errors.values())
        # shown in the form only: the one default handler does not also notify it
        assert not any(n.severity == "error" for n in notices(app))

        form.query_one("#new-username", Input).value = "dr.patel"
        form.query_one("#new-email", Input).value = "sam.patel@riverton-clinic.example"
        form.query_one("#new-password", Input).value = "patel-secret-1"
        form.query_one("#new-password2", Input).value = "patel-secret-2"
        await pilot.press("enter")
        await settle(app, pilot)
        assert "not the same" in text_of(form.query_one("#err-password2", Static))

        form.query_one("#new-password2", Input).value = "patel-secret-1"
        await pilot.press("enter")
        await wait_for(app, pilot, lambda: app.screen is screen)
        await wait_for(app, pilot, lambda: "dr.patel" in usernames(screen))
        assert row_of(screen, "dr.patel")["role"] == "doctor"
        assert notified(app, "Account dr.patel created")

    session = demo_backend.call(lambda s: s.auth.login("dr.patel", "patel-secret-1"))
    assert session.role == "doctor"


@sync
async def test_admin_creates_a_patient_login_linked_to_their_record(make_app, demo_backend):
    """The form asks a patient account for its record's MRN (only then), refuses an
    unknown one inline, and the new login opens that record."""
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        screen, form = await open_new_user_form(app, pilot)
        mrn_row = form.query_one("#new-patient_mrn", Input).parent
        assert not mrn_row.display  # a doctor account by default: no record to link
        form.query_one("#new-role", Select).value = "patient"
        await pilot.pause()
        assert mrn_row.display
        await fill_and_submit(app, pilot, form, "m.oconnell", "Margaret O'Connell",
                              "oconnell-secret-1")
        assert "Enter the MRN" in text_of(form.query_one("#err-patient_mrn", Static))

        form.query_one("#new-patient_mrn", Input).value = "MRN-999999"
        await pilot.press("enter")
        await settle(app, pilot)
        assert "No patient record has the MRN MRN-999999" in text_of(
            form.query_one("#err-patient_mrn", Static))

        form.query_one("#new-patient_mrn", Input).value = "mrn-000005"
        await pilot.press("enter")
        await wait_for(app, pilot, lambda: app.screen is screen)
        await wait_for(app, pilot, lambda: "m.oconnell" in usernames(screen))

    session = demo_backend.call(lambda s: s.auth.login("m.oconnell", "oconnell-secret-1"))
    record = demo_backend.call(lambda s: s.patients.get(session, session.patient_id))
    assert record["mrn"] == "MRN-000005"


@sync
async def test_admin_approves_and_rejects_pending_doctors(make_app, demo_backend):
    demo_backend.call(lambda s: s.auth.signup_doctor(
        "dr.novak", "novak-secret-1", full_name="Dr. Ivana Novak", specialty="Cardiology"))
    demo_backend.call(lambda s: s.auth.signup_doctor(
        "dr.mallory", "mallory-secret-1", full_name="Dr. Eve Mallory"))
    with pytest.raises(AccountPending):
        demo_backend.call(lambda s: s.auth.login("dr.novak", "novak-secret-1"))

    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_area(app, pilot, "f7", UsersScreen)
        assert "2 waiting for approval" in text_of(screen.query_one("#users-title", Static))
        await select_user(pilot, screen, "dr.novak")
        assert screen.check_action("approve", ()) is True
        assert screen.check_action("deactivate", ()) is False
        await choose(app, pilot, "approve", confirm=True)
        await wait_for(app, pilot, lambda: row_of(screen, "dr.novak")["status"] == "active")
        assert notified(app, "dr.novak is approved")

        # Enter opens the menu of what applies; reject asks first
        await select_user(pilot, screen, "dr.mallory")
        await pilot.press("enter")
        await pilot.pause()
        assert isinstance(app.screen, ActionMenu)
        await pilot.press("down", "enter")  # approve, [reject]
        await pilot.pause()
        assert isinstance(app.screen, ConfirmScreen)
        await pilot.press("enter")
        await wait_for(app, pilot, lambda: row_of(screen, "dr.mallory")["status"] == "rejected")
        assert "1 waiting" not in text_of(screen.query_one("#users-title", Static))

    assert demo_backend.call(lambda s: s.auth.login("dr.novak", "novak-secret-1")).role == "doctor"
    with pytest.raises(AccountPending):
        demo_backend.call(lambda s: s.auth.login("dr.mallory", "mallory-secret-1"))


@sync
async def test_admin_changes_a_role_and_their_session_ends(make_app, demo_backend):
    okafor = demo_backend.call(lambda s: s.auth.login("dr.okafor", PASSWORD))
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_area(app, pilot, "f7", UsersScreen)
        me = await select_user(pilot, screen, "demo.admin")
        assert me["id"] == app.session.user_id
        assert screen.check_action("change_role", ()) is False  # never one's own role

        await select_user(pilot, screen, "dr.okafor")
        await choose(app, pilot, "change_role")
        dialog = app.screen
        assert isinstance(dialog, RoleScreen)
        # the same role is refused inline
        assert app.focused is dialog.query_one("#role-select")
        await pilot.press("tab", "enter")
        await settle(app, pilot)
        assert "already has that role" in text_of(dialog.query_one("#err-role", Static))
        await pilot.pause(0.3)  # the button ignores presses during its press effect

        dialog.query_one("#role-select", Select).value = "admin"
        await pilot.pause()
        assert app.focused is dialog.query_one("#change")
        await pilot.press("enter")
        await wait_for(app, pilot, lambda: app.screen is not dialog)
        await wait_for(app, pilot, lambda: row_of(screen, "dr.okafor")["role"] == "admin")

    with pytest.raises(SessionExpired):
        demo_backend.call(lambda s: s.auth.verify(okafor))


@sync
async def test_deactivate_revokes_session_and_reactivate(make_app, demo_backend):
    lindqvist = demo_backend.call(lambda s: s.auth.login("dr.lindqvist", PASSWORD))
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_area(app, pilot, "f7", UsersScreen)
        await select_user(pilot, screen, "dr.lindqvist")
        await choose(app, pilot, "deactivate")
        assert isinstance(app.screen, ConfirmScreen)
        assert "dr.lindqvist" in app.screen.question
        await pilot.press("escape")  # cancelled: nothing happens
        await wait_for(app, pilot, lambda: row_of(screen, "dr.lindqvist")["status"] == "active")

        await choose(app, pilot, "deactivate", confirm=True)
        await wait_for(app, pilot, lambda: row_of(screen, "dr.lindqvist")["status"] == "inactive")
        assert screen.selected["username"] == "dr.lindqvist"  # cursor kept on re-fetch
        with pytest.raises(SessionExpired):
            demo_backend.call(lambda s: s.auth.verify(lindqvist))

        await choose(app, pilot, "reactivate")
        assert isinstance(app.screen, ConfirmScreen)
        await pilot.press("enter")
        await wait_for(app, pilot, lambda: row_of(screen, "dr.lindqvist")["status"] == "active")

    assert demo_backend.call(lambda s: s.auth.login("dr.lindqvist", PASSWORD)).role == "doctor"


@sync
async def test_reset_password_refuses_short_then_sets(make_app, demo_backend):
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_area(app, pilot, "f7", UsersScreen)
        await select_user(pilot, screen, "demo.patient")
        await choose(app, pilot, "reset_password")
        prompt = app.screen
        assert isinstance(prompt, PasswordPrompt)
        assert prompt.query_one("#prompt-input", Input).password
        await pilot.press(*"short", "enter")
        await wait_for(app, pilot, lambda: app.screen is not prompt and app.screen is not screen)
        again = app.screen
        assert isinstance(again, PasswordPrompt) and again is not prompt
        assert "at least 10" in text_of(again.query_one("#prompt-error", Static))
        await pilot.press(*"reyes-new-pass", "enter")
        await wait_for(app, pilot, lambda: notified(app, "New password set"))
        assert app.screen is screen
        assert notified(app, "New password set for demo.patient")

    assert demo_backend.call(lambda s: s.auth.login("demo.patient", "reyes-new-pass")).role \
        == "patient"


@sync
async def test_unlock_a_locked_account(make_app, demo_backend):
    for attempt in range(5):
        with pytest.raises(AccountLocked if attempt == 4 else AuthenticationFailed):
            demo_backend.call(lambda s: s.auth.login("dr.okafor", "not-the-password"))
    with pytest.raises(AccountLocked):
        demo_backend.call(lambda s: s.auth.login("dr.okafor", PASSWORD))

    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_area(app, pilot, "f7", UsersScreen)
        assert row_of(screen, "dr.okafor")["locked"]
        await select_user(pilot, screen, "dr.okafor")
        assert "locked" in text_of(screen.query_one("#user-detail", Static))
        await choose(app, pilot, "unlock", confirm=True)
        await wait_for(app, pilot, lambda: not row_of(screen, "dr.okafor")["locked"])
        assert screen.check_action("unlock", ()) is False

    assert demo_backend.call(lambda s: s.auth.login("dr.okafor", PASSWORD)).role == "doctor"


@sync
async def test_audit_log_lists_and_filters(make_app, demo_backend):
    demo_backend.call(lambda s: s.auth.login("demo.doctor", PASSWORD))
    for _ in range(2):
        with pytest.raises(AuthenticationFailed):
            demo_backend.call(lambda s: s.auth.login("demo.patient", "wrong-password"))
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_area(app, pilot, "f8", AuditScreen)
        entries = list(screen.rows.values())
        assert entries, "the audit log shows entries"
        # the newest: the admin's login and the dashboard it opened (audited reads)
        assert [(e["username"], e["action"]) for e in entries[:2]] == [
            ("demo.admin", "dashboard.admin"), ("demo.admin", "login")]
        assert [e["ts"] for e in entries] == sorted((e["ts"] for e in entries), reverse=True)

        user = screen.query_one("#filter-username", Input)
        user.value = "demo.patient"
        user.focus()
        await pilot.press("enter")
        await settle(app, pilot)
        rows = list(screen.rows.values())
        assert len(rows) == 2 and {e["username"] for e in rows} == {"demo.patient"}
        assert {e["outcome"] for e in rows} == {"failed"}

        await pilot.press("c")  # clear filters (the table has focus after Enter)
        await settle(app, pilot)
        assert len(screen.rows) == len(entries)

        action = screen.query_one("#filter-action", Input)
        action.value = "log"
        action.focus()
        await pilot.press("enter")
        await settle(app, pilot)
        assert screen.rows and all(e["action"].startswith("log") for e in screen.rows.values())

        screen.query_one("#filter-outcome", Select).value = "failed"
        await settle(app, pilot)
        assert {e["username"] for e in screen.rows.values()} == {"demo.patient"}

        # dates are checked inline before anything is fetched
        async def submit(name: str, value: str) -> None:
            box = screen.query_one(f"#filter-{name}", Input)
            box.value = value
            box.focus()
            await pilot.press("enter")
            await settle(app, pilot)

        before = dict(screen.rows)
        await submit("date_from", "2026-3-4")
        assert "YYYY-MM-DD" in text_of(screen.query_one("#err-date_from", Static))
        assert screen.rows == before
        await submit("date_from", "2026-02-30")
        assert "does not exist" in text_of(screen.query_one("#err-date_from", Static))
        await submit("date_from", "2026-03-05")
        assert screen.query_one("#err-date_from", Static).display is False
        assert screen.rows == {}
        await submit("date_from", "2026-03-04")
        await submit("date_to", "2026-03-01")
        assert "before the start" in text_of(screen.query_one("#err-date_to", Static))
        await submit("date_to", "2026-03-04")
        assert screen.query_one("#err-date_to", Static).display is False
        assert {e["username"] for e in screen.rows.values()} == {"demo.patient"}


@sync
async def test_audit_by_selected_user_and_cursor_kept_on_refetch(make_app, demo_backend):
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_area(app, pilot, "f8", AuditScreen)
        table = screen.query_one("#audit-table", DataTable)
        table.move_cursor(row=1)
        await pilot.pause()
        chosen = screen.selected
        # someone else acts: new entries arrive at the top, the feed says "audit"
        demo_backend.call(lambda s: s.auth.login("demo.doctor", PASSWORD))
        app.screen.post_message(DataChanged(collections=frozenset({"audit"})))
        await settle(app, pilot)
        assert next(iter(screen.rows.values()))["username"] == "demo.doctor"
        assert screen.selected["id"] == chosen["id"]

        await pilot.press("u")
        await settle(app, pilot)
        assert screen.query_one("#filter-username", Input).value == chosen["username"]
        assert {e["username"] for e in screen.rows.values()} == {chosen["username"]}


@pytest.mark.parametrize("username", ["demo.doctor", "demo.patient"])
@sync
async def test_other_roles_cannot_reach_users_or_audit(make_app, username):
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await login_as(app, pilot, username)
        start = app.screen
        for key in ("f7", "f8"):
            await pilot.press(key)
            await settle(app, pilot)
            assert app.screen is start
        app.goto("users")
        await settle(app, pilot)
        assert app.screen is start
        assert notified(app, "cannot open that screen")
        app.goto("audit")
        await settle(app, pilot)
        assert app.screen is start

        # reached anyway (e.g. by a bug): the service refuses and nothing is shown
        offered = {UsersScreen: ("new_user", "approve", "search", "page"),
                   AuditScreen: ("clear_filters", "by_user", "filter", "refresh", "page")}
        for cls, actions in offered.items():
            await app.push_screen(cls())
            await settle(app, pilot)
            screen = app.screen
            assert isinstance(screen, cls)
            denied = screen.query_one(".denied", Static)
            assert denied.display and "not allowed" in text_of(denied)
            assert screen.rows == {} and screen.table.row_count == 0
            assert not any(w.display for w in screen.query(".admin-content"))
            assert all(not screen.check_action(a, (1,)) for a in actions)
            app.pop_screen()
            await pilot.pause()


async def _admin_at(app, pilot, area: str) -> None:
    await login_as(app, pilot, "demo.admin")
    app.goto(area)
    await settle(app, pilot)
    app.clear_notifications()
    await pilot.pause()


def _some_activity(backend, failed_logins: int) -> None:
    """A pending doctor, failed logins (5 lock the account), a refused action (fixed clock)."""
    backend.call(lambda s: s.auth.signup_doctor(
        "dr.novak", "novak-secret-1", full_name="Dr. Ivana Novak", specialty="Cardiology"))
    for attempt in range(failed_logins):
        with pytest.raises(AccountLocked if attempt == 4 else AuthenticationFailed):
            backend.call(lambda s: s.auth.login("dr.okafor", "not-the-password"))
    patient = backend.call(lambda s: s.auth.login("demo.patient", PASSWORD))
    with pytest.raises(PermissionDenied):
        backend.call(lambda s: s.audit.list(patient))


def test_snapshot_users(make_app, demo_backend, snap_compare):
    _some_activity(demo_backend, failed_logins=5)
    app = make_app()
    assert snap_compare(app, terminal_size=(80, 24),
                        run_before=lambda pilot: _admin_at(app, pilot, "users"))


def test_snapshot_audit(make_app, demo_backend, snap_compare):
    _some_activity(demo_backend, failed_logins=1)
    app = make_app()
    assert snap_compare(app, terminal_size=(80, 24),
                        run_before=lambda pilot: _admin_at(app, pilot, "audit"))


@sync
async def test_audit_log_names_the_patient_and_mrn(make_app, demo_backend):
    """Entries about a patient show "Grace Whitaker (MRN-000002)", not an id's tail."""
    doctor = demo_backend.call(lambda s: s.auth.login("demo.doctor", PASSWORD))
    grace = demo_backend.call(
        lambda s: s.patients.list(doctor, query="whitaker", page_size=1).items[0]["id"])
    demo_backend.call(lambda s: s.patients.get(doctor, grace))
    for size in ((120, 40), (80, 24)):
        app = make_app()
        async with app.run_test(size=size) as pilot:
            screen = await open_area(app, pilot, "f8", AuditScreen)
            table = screen.query_one("#audit-table", DataTable)
            row = next(i for i, e in enumerate(screen.rows.values())
                       if e.get("patient_id") == grace)
            table.move_cursor(row=row)
            await settle(app, pilot)
            cells = [str(c) for c in table.get_row_at(row)]
            # the MRN too where the table has room (the detail line always names both)
            assert {"Grace Whitaker", "Grace Whitaker (MRN-000002)"} & set(cells)
            assert not any(c.startswith("…") for c in cells)
            detail = text_of(screen.query_one("#audit-detail", Static))
            assert "patient Grace Whitaker (MRN-000002)" in detail
            await pilot.press("p")
            await settle(app, pilot)
            title = text_of(screen.query_one("#audit-title", Static))
            assert "Grace Whitaker (MRN-000002)" in title
            assert {e["patient_id"] for e in screen.rows.values()} == {grace}


@sync
async def test_audit_log_says_actions_and_queries_in_words_with_one_time_format(
        make_app, demo_backend):
    """Actions read as labels (their code in the detail line), a search's recorded query
    with its terms named; one time format in the table and the detail line; at 80x24 no
    cell is cut; P on an entry about no patient says so (and filters nothing)."""
    doctor = demo_backend.call(lambda s: s.auth.login("demo.doctor", PASSWORD))
    demo_backend.call(lambda s: s.patients.list(doctor, query="whit", page_size=5))
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_area(app, pilot, "f8", AuditScreen)
        table = screen.query_one("#audit-table", DataTable)
        entries = list(screen.rows.values())
        index = next(i for i, e in enumerate(entries) if e["action"] == "patient.search")
        search = entries[index]
        assert AuditScreen.cells(search)[3].plain == "Search patients"
        assert AuditScreen.cells(search)[6].plain.startswith("search 'whit'")
        for row in range(table.row_count):
            cells = [str(c) for c in table.get_row_at(row)]
            assert not any(c.endswith("…") for c in cells), cells
            assert "login" not in cells and "patient.search" not in cells
        table.move_cursor(row=index)
        await settle(app, pilot)
        detail = text_of(screen.query_one("#audit-detail", Static))
        assert "Search patients (patient.search)" in detail
        assert "search 'whit'" in detail and "query=" not in detail
        when = str(table.get_row_at(index)[0])
        assert when == f"{search['ts']:%Y-%m-%d %H:%M}" and detail.startswith(when + ":")

        before = dict(screen.rows)
        await pilot.press("p")
        await settle(app, pilot)
        assert notified(app, "not about a patient")
        assert screen.rows == before and not screen.filters["patient_id"]
