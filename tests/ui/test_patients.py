"""The patient records list: search as you type, filters, sorting, pages, opening and creating
records, the patient role's own record instead of the list, and a layout snapshot."""

from __future__ import annotations

import threading

from textual.widgets import DataTable, Input, Select, Static

from tests.conftest import sync

try:  # tests/ is a package in some layouts, a plain folder in others
    from tests.conftest import login_as, settle
except ImportError:  # pragma: no cover
    from conftest import login_as, settle
from meditrack_tui.screens.forms.confirm import ConfirmScreen
from meditrack_tui.screens.forms.patient import PatientFormScreen
from meditrack_tui.screens.messages import DataChanged
from meditrack_tui.screens.patient_detail import PatientScreen
from meditrack_tui.screens.patients import PatientListScreen

from meditrack_tui.services.patients import PatientService


async def sign_in(app, pilot, username: str) -> None:
    """Start a session through the auth service (quicker than the login screen and dashboard,
    which have their own tests)."""
    await pilot.pause()
    app.session = app.backend.call(lambda s: s.auth.login(username, "meditrack-demo"))
    app.refresh_bindings()


async def open_list(app, pilot, username: str = "demo.doctor") -> PatientListScreen:
    await sign_in(app, pilot, username)
    await pilot.press("f3")
    await settle(app, pilot)
    screen = app.screen
    assert isinstance(screen, PatientListScreen)
    return screen


async def typed(app, pilot, text: str) -> None:
    """Type into the focused input and wait past the search debounce."""
    await pilot.press(*text)
    await pilot.pause(0.3)
    await settle(app, pilot)


def column(screen: PatientListScreen, key: str) -> list[str]:
    table = screen.query_one("#pl-table", DataTable)
    return [str(value) for value in table.get_column(key)]


def status(screen: PatientListScreen) -> str:
    return str(screen.query_one("#pl-status", Static).render())


def admin_session(backend):
    return backend.call(lambda s: s.auth.login("demo.admin", "meditrack-demo"))


@sync
async def test_search_as_you_type_narrows_the_table(make_app):
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_list(app, pilot)
        assert app.focused is screen.query_one("#pl-search", Input)
        assert "40 patients" in status(screen)
        await typed(app, pilot, "whit")
        assert sorted(column(screen, "name")) == ["Eleanor Whitfield", "Grace Whitaker"]
        assert "Page 1 of 1 · 2 patients" in status(screen)
        await typed(app, pilot, "a")
        assert column(screen, "name") == ["Grace Whitaker"]
        await typed(app, pilot, "zz")
        assert column(screen, "name") == []
        assert "No patients match “whitazz”" in status(screen)

        await pilot.press("escape")  # clears the search
        await pilot.pause(0.3)
        await settle(app, pilot)
        assert "40 patients" in status(screen)

        screen.set_query("osei")  # as the dashboard's quick search does
        await settle(app, pilot)
        assert screen.query_one("#pl-search", Input).value == "osei"
        assert column(screen, "name") == ["Samuel Osei"]
        fresh = PatientListScreen()
        fresh.set_query("park")  # before it is mounted
        app.push_screen(fresh)
        await pilot.pause(0.2)
        await settle(app, pilot)
        assert column(fresh, "name") == ["Olivia Park"]


@sync
async def test_filter_by_sex_age_and_condition(make_app):
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_list(app, pilot)
        await pilot.press("ctrl+f")
        await pilot.pause()
        assert screen.query_one("#pl-filters").display
        assert app.focused is screen.query_one("#flt-sex", Select)
        screen.query_one("#flt-sex", Select).value = "F"
        await settle(app, pilot)
        assert set(column(screen, "sex")) == {"F"}
        assert "20 patients" in status(screen) and "filters: female" in status(screen)

        screen.query_one("#flt-age-min", Input).focus()
        await typed(app, pilot, "90")
        assert column(screen, "name") == ["Eleanor Whitfield"]
        screen.query_one("#flt-age-min", Input).value = ""
        screen.query_one("#flt-condition", Input).focus()
        await typed(app, pilot, "asthma")
        assert sorted(column(screen, "name")) == ["Aisha Rahman", "Amara Nwosu"]  # F with asthma

        screen.query_one("#flt-age-max", Input).focus()
        await typed(app, pilot, "3")
        screen.query_one("#flt-age-min", Input).focus()
        await typed(app, pilot, "9")
        assert "Maximum age must not be below the minimum age" in status(screen)


@sync
async def test_filter_by_primary_doctor_and_no_archive_filter_for_doctors(make_app):
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_list(app, pilot)
        assert not screen.query("#flt-archived")  # archived records are for admins
        assert screen.check_action("new_patient", ()) is True
        titles = [command.title for command in screen.palette_commands()]
        assert "New patient" in titles and "Show or hide filters" in titles
        doctors = {d["username"]: d["id"] for d in screen.doctors}
        screen.query_one("#flt-doctor", Select).value = doctors["dr.okafor"]
        await settle(app, pilot)
        assert set(column(screen, "doctor")) == {"Dr. Okafor"}
        assert "10 patients" in status(screen)


@sync
async def test_sort_keys_and_header_click(make_app):
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_list(app, pilot)
        assert column(screen, "name")[0] == "George Adeyemi"  # by last name
        await pilot.press("ctrl+o")  # next sort column: MRN
        await settle(app, pilot)
        assert column(screen, "mrn")[0] == "MRN-000001"
        assert "sorted by MRN ▲" in status(screen)
        await pilot.press("ctrl+t")  # reverse
        await settle(app, pilot)
        assert column(screen, "mrn")[0] == "MRN-000040"
        assert "sorted by MRN ▼" in status(screen)

        table = screen.query_one("#pl-table", DataTable)
        age_x = sum(w + 2 for k, w in screen.widths.items() if k in ("mrn", "name")) + 2
        await pilot.click("#pl-table", offset=(age_x, 0))  # the Age header
        await settle(app, pilot)
        ages = [int(a) for a in column(screen, "age")]
        assert screen.sort == "dob" and ages == sorted(ages) and ages[0] == 1
        await pilot.click("#pl-table", offset=(age_x, 0))
        await settle(app, pilot)
        assert column(screen, "age")[0] == "94"  # Eleanor Whitfield, born 1931-05-02
        assert table.row_count == screen.page_size


@sync
async def test_pages_and_the_cursor_through_reloads(make_app, demo_backend):
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_list(app, pilot)
        size = screen.page_size
        assert 10 <= size <= 25  # fits the table at 80x24
        pages = -(-40 // size)
        first_page = column(screen, "mrn")
        assert f"Page 1 of {pages} · 40 patients" in status(screen)
        await pilot.press("down")  # from the search box into the table
        assert app.focused is screen.query_one("#pl-table", DataTable)
        await pilot.press("pagedown")
        await settle(app, pilot)
        assert f"Page 2 of {pages}" in status(screen)
        second_page = column(screen, "mrn")
        assert len(second_page) == size and not set(first_page) & set(second_page)
        await pilot.press("pageup")
        await settle(app, pilot)
        assert column(screen, "mrn") == first_page
        for _ in range(pages + 2):  # past the end stays on the last page
            await pilot.press("pagedown")
            await settle(app, pilot)
        assert f"Page {pages} of {pages}" in status(screen)
        assert len(column(screen, "mrn")) == 40 - (pages - 1) * size

        # a live update re-fetches the page; the cursor stays on the same patient
        await pilot.press("home")
        for _ in range(pages):
            await pilot.press("pageup")
        await settle(app, pilot)
        table = screen.query_one("#pl-table", DataTable)
        table.move_cursor(row=3)
        await pilot.pause()
        chosen = screen._cursor_id()
        admin = admin_session(demo_backend)
        first = column(screen, "mrn")[0]
        first_id = demo_backend.call(lambda s: s.patients.list(admin, query=first).items[0]["id"])
        demo_backend.call(lambda s: s.patients.archive(admin, first_id))  # a row above goes
        screen.post_message(DataChanged(frozenset({"patients"}), frozenset({first_id})))
        await pilot.pause()
        await settle(app, pilot)
        assert first not in column(screen, "mrn")
        assert screen._cursor_id() == chosen and table.cursor_row == 2


@sync
async def test_from_the_dashboard_to_the_blood_pressure_chart_in_a_few_keys(make_app):
    """F3, type a name, Enter, v: the doctor sees the patient's vitals; Escape goes back."""
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await login_as(app, pilot, "demo.doctor")
        assert type(app.screen).__name__ == "DashboardScreen"
        await pilot.press("f3")
        await settle(app, pilot)
        screen = app.screen
        assert isinstance(screen, PatientListScreen)
        await pilot.press(*"reyes", "enter")  # Enter before the debounced search has run
        await settle(app, pilot)
        await settle(app, pilot)
        assert isinstance(app.screen, PatientScreen)
        assert app.screen.record["name"] == "Daniel Reyes"
        await pilot.press("v")
        await settle(app, pilot)
        assert app.screen.query_one("#pd-tabs").active == "vitals"
        assert app.screen.query_one("#vitals-pane").metric_key == "bp"
        await pilot.press("escape")
        await pilot.pause()
        assert app.screen is screen


@sync
async def test_create_a_patient_with_inline_errors(make_app, demo_backend):
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_list(app, pilot)
        await pilot.press("ctrl+n")
        await settle(app, pilot)
        await pilot.press(*"Nora")
        await pilot.press("escape")  # leaving a filled form asks first
        await pilot.pause()
        assert isinstance(app.screen, ConfirmScreen)
        await pilot.press("escape")
        await pilot.pause()
        form = app.screen
        assert isinstance(form, PatientFormScreen)
        assert form.query_one("#f-first_name", Input).value == "Nora"
        await pilot.press("escape", "enter")
        await pilot.pause()
        assert app.screen is screen

        await pilot.press("ctrl+n")
        await settle(app, pilot)
        form = app.screen
        assert isinstance(form, PatientFormScreen)
        form.query_one("#f-first_name", Input).value = "Nora"
        form.query_one("#f-last_name", Input).value = "Lindgren"
        form.query_one("#f-dob", Input).value = "2090-01-01"
        form.query_one("#f-allergies", Input).value = "penicillin, latex"
        form.query_one("#f-first_name", Input).focus()
        await pilot.press("enter")
        await settle(app, pilot)
        assert app.screen is form
        assert "future" in str(form.query_one("#err-dob", Static).render())
        assert "Choose one of" in str(form.query_one("#err-sex", Static).render())
        form.query_one("#f-dob", Input).value = "1990-02-03"
        form.query_one("#f-sex", Select).value = "F"
        form.query_one("#f-primary_doctor_id", Select).value = screen.doctors[0]["id"]
        await pilot.press("enter")
        await settle(app, pilot)
        await settle(app, pilot)
        assert isinstance(app.screen, PatientScreen)
        record = app.screen.record
        assert record["name"] == "Nora Lindgren" and record["allergies"] == ["penicillin", "latex"]
        assert record["mrn"] == "MRN-000041"
        admin = admin_session(demo_backend)
        assert demo_backend.call(lambda s: s.patients.list(admin, query="lindgren").total) == 1


@sync
async def test_admin_sees_archived_records_on_request(make_app, demo_backend):
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        admin = admin_session(demo_backend)
        pid = demo_backend.call(lambda s: s.patients.list(admin, query="osei").items[0]["id"])
        demo_backend.call(lambda s: s.patients.archive(admin, pid))
        screen = await open_list(app, pilot, "demo.admin")
        assert screen.check_action("new_patient", ()) is True
        assert "39 patients" in status(screen)
        screen.query_one("#flt-archived", Select).value = "archived"
        await settle(app, pilot)
        assert column(screen, "name") == ["Samuel Osei (arch.)"]
        screen.query_one("#flt-archived", Select).value = "all"
        await settle(app, pilot)
        assert "40 patients" in status(screen)


@sync
async def test_patient_gets_their_own_record_instead_of_the_list(make_app):
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await login_as(app, pilot, "demo.patient")
        await pilot.press("f3")
        await settle(app, pilot)
        screen = app.screen
        assert isinstance(screen, PatientScreen) and screen.own
        assert screen.patient_id == app.session.patient_id
        assert screen.record["name"] == "Daniel Reyes"
        app.goto("records")
        await settle(app, pilot)
        assert isinstance(app.screen, PatientScreen) and app.screen.own
        assert not any(isinstance(s, PatientListScreen) for s in app.screen_stack)


@sync
async def test_an_older_answer_arriving_late_is_dropped(make_app, monkeypatch):
    """A search still on its way when a newer one starts (a filter chosen meanwhile) is
    superseded: its answer is never drawn, only the newer one's."""
    gate = threading.Event()
    original = PatientService.list

    def slow_list(self, session, **kwargs):
        if kwargs.get("query") == "whita" and not kwargs.get("sex"):
            gate.wait(10)  # the older search answers late
        return original(self, session, **kwargs)

    app = make_app()
    async with app.run_test(size=(80, 40)) as pilot:
        screen = await open_list(app, pilot)
        await typed(app, pilot, "whit")
        drawn: list[int] = []
        show_page = screen.show_page
        monkeypatch.setattr(screen, "show_page",
                            lambda result: (drawn.append(result.total), show_page(result)))
        monkeypatch.setattr(PatientService, "list", slow_list)
        await pilot.press("a")  # "whita": Grace Whitaker, answered late
        await pilot.pause(0.1)
        screen.query_one("#flt-sex", Select).value = "M"  # searches again at once
        await pilot.pause(0.1)
        gate.set()
        for _ in range(100):
            await pilot.pause(0.02)
            if not screen.searching:
                break
        await settle(app, pilot)
        assert drawn == [0]  # only the newer answer: no man is called Whita...
        assert column(screen, "name") == []
        assert "No patients match" in status(screen)


@sync
async def test_columns_fit_the_width(make_app):
    for size in ((80, 24), (120, 40)):
        app = make_app()
        async with app.run_test(size=size) as pilot:
            screen = await open_list(app, pilot)
            table = screen.query_one("#pl-table", DataTable)
            widths = screen.widths
            assert sum(w + 2 for w in widths.values()) <= table.size.width
            assert "conditions" in widths and "name" in widths
            if size[0] == 120:
                assert "phone" in widths


def test_snapshot_patient_list(make_app, snap_compare):
    app = make_app()

    async def run_before(pilot) -> None:
        screen = await open_list(app, pilot)
        screen.query_one("#pl-table", DataTable).focus()
        app.clear_notifications()
        await pilot.pause()

    assert snap_compare(app, terminal_size=(80, 24), run_before=run_before)


@sync
async def test_footer_offers_prev_and_next_page_only_where_they_go(make_app):
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_list(app, pilot)
        assert screen.pages > 1 and screen.page_no == 1
        assert screen.check_action("page", (-1,)) is False
        assert screen.check_action("page", (1,)) is True
        await pilot.press("pagedown")
        await settle(app, pilot)
        assert screen.page_no == 2
        assert screen.check_action("page", (-1,)) is True
        await typed(app, pilot, "osei")  # one page: neither
        assert screen.check_action("page", (-1,)) is False
        assert screen.check_action("page", (1,)) is False
