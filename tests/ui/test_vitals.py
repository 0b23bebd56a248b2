"""The Vitals pane: the chart and table per metric and range, adding readings, role limits."""

from __future__ import annotations

from tests.conftest import sync


from textual.app import ComposeResult
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Input, Select, Static, TabbedContent, TabPane
from textual_plotext import PlotextPlot

try:  # tests/ is a package in some layouts, a plain folder in others
    from tests.conftest import login_as, settle
except ImportError:  # pragma: no cover
    from conftest import login_as, settle
from screens.vitals import AddReadingScreen, VitalsPane




class PaneHost(Screen):
    """A bare stand-in for the patient screen: a header line, one tab, the footer."""

    DEFAULT_CSS = "PaneHost TabPane { padding: 0 1; height: 1fr; } #host-banner { height: 1; }"

    def __init__(self, pane: VitalsPane) -> None:
        super().__init__()
        self.pane = pane

    def compose(self) -> ComposeResult:
        yield Static("Patient record (test host)", id="host-banner")
        with TabbedContent():
            with TabPane("Vitals", id="vitals"):
                yield self.pane
        yield Footer()

    def on_mount(self) -> None:
        self.query_one("#vitals-table", DataTable).focus()


def patient_id(app, name: str) -> str:
    """A demo patient's id, found by last name with the logged-in session."""
    session = app.session
    page = app.backend.call(lambda s: s.patients.list(session, query=name))
    return page.items[0]["id"]


async def open_vitals(app, pilot, username: str, last_name: str | None = None) -> VitalsPane:
    await login_as(app, pilot, username)
    pid = app.session.patient_id if last_name is None else patient_id(app, last_name)
    pane = VitalsPane(pid)
    await app.push_screen(PaneHost(pane))
    await settle(app, pilot)
    return pane


def rows(pane: VitalsPane) -> list[list[str]]:
    table = pane.query_one("#vitals-table", DataTable)
    return [[str(cell) for cell in table.get_row_at(i)] for i in range(table.row_count)]


def text_of(widget: Static) -> str:
    return str(widget.render())


@sync
async def test_patient_sees_own_blood_pressure_with_stage_2_flags(make_app):
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        pane = await open_vitals(app, pilot, "demo.patient")
        table = rows(pane)
        assert len(table) == 51  # p01's weekly home readings over the last year
        assert table[0][:2] == ["2026-03-03 08:10", "127/85"]
        stage2 = [r for r in table if r[2] == "stage 2 hypertension"]
        assert len(stage2) == 29
        summary = text_of(pane.query_one("#vitals-summary", Static))
        assert "51 readings, 51 out of range" in summary
        assert "ACC/AHA 2017" in summary
        caption = text_of(pane.query_one("#vitals-caption", Static))
        assert "normal 90–120/60–80" in caption
        chart = str(pane.query_one(PlotextPlot).render())
        assert "Mar 26" in chart and "Sep 25" in chart
        assert pane.query("#vitals-add")  # patients add their own home readings


@sync
async def test_doctor_switches_p02_to_glucose_with_the_key(make_app):
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        pane = await open_vitals(app, pilot, "demo.doctor", "Whitaker")
        assert len(rows(pane)) == 7  # blood pressure at clinic visits
        await pilot.press("m")
        await settle(app, pilot)
        assert pane.query_one("#vitals-metric", Select).value == "glucose"
        table = rows(pane)
        assert len(table) == 58
        assert table[0][:3] == ["2026-03-02 07:15", "115 fasting",
                                "fasting: prediabetes range (100-125)"]
        assert any(r[1] == "51 random" and r[2].startswith("level 2 hypoglycaemia")
                   for r in table)
        assert "ADA Standards of Care" in text_of(pane.query_one("#vitals-summary", Static))
        assert "fasting 70–99" in text_of(pane.query_one("#vitals-caption", Static))


@sync
async def test_range_switch_changes_the_rows(make_app):
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        pane = await open_vitals(app, pilot, "demo.doctor", "Reyes")
        counts = [len(rows(pane))]
        for _ in range(3):  # 1 year -> all -> 30 days -> 90 days
            await pilot.press("r")
            await settle(app, pilot)
            counts.append(len(rows(pane)))
        assert counts == [51, 51, 5, 15]
        assert pane.query_one("#vitals-range", Select).value == "90d"
        assert "15 readings" in text_of(pane.query_one("#vitals-summary", Static))


@sync
async def test_metric_without_readings_says_so(make_app):
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        pane = await open_vitals(app, pilot, "demo.patient")
        pane.query_one("#vitals-metric", Select).value = "glucose"
        await settle(app, pilot)
        assert rows(pane) == []
        empty = pane.query_one("#vitals-empty", Static)
        assert empty.display and "No glucose readings in the last year" in text_of(empty)
        assert not pane.query_one(PlotextPlot).display


async def fill_reading(app, pilot, **values: str) -> AddReadingScreen:
    await pilot.press("a")
    await settle(app, pilot)
    form = app.screen
    assert isinstance(form, AddReadingScreen)
    for name, value in values.items():
        form.query_one(f"#in-{name}", Input).value = value
    form.query_one("#in-systolic", Input).focus()
    await pilot.press("enter")
    await settle(app, pilot)
    return form


@sync
async def test_doctor_adds_a_valid_reading(make_app):
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        pane = await open_vitals(app, pilot, "demo.doctor", "Reyes")
        await fill_reading(app, pilot, systolic="150", diastolic="95", heart_rate="80")
        assert not isinstance(app.screen, AddReadingScreen)
        await settle(app, pilot)
        table = rows(pane)
        assert len(table) == 52
        assert table[0] == ["2026-03-04 10:00", "150/95", "stage 2 hypertension", "clinic"]


@sync
async def test_patient_reading_is_a_home_reading(make_app):
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        pane = await open_vitals(app, pilot, "demo.patient")
        await fill_reading(app, pilot, systolic="118", diastolic="76",
                           taken_at="2026-03-04 07:30", note="after breakfast")
        await settle(app, pilot)
        assert rows(pane)[0] == ["2026-03-04 07:30", "118/76", "normal", "home"]


@sync
async def test_impossible_systolic_is_refused_inline(make_app):
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        pane = await open_vitals(app, pilot, "demo.doctor", "Reyes")
        form = await fill_reading(app, pilot, systolic="500", diastolic="90",
                                  glucose_mg_dl="abc")
        assert app.screen is form  # still open, nothing saved
        err = form.query_one("#err-systolic", Static)
        assert err.display
        assert "Systolic of 500 mmHg is not possible" in text_of(err)
        assert not form.query_one("#err-diastolic", Static).display
        await pilot.press("escape")  # typed values: asks before discarding them
        await settle(app, pilot)
        assert type(app.screen).__name__ == "ConfirmScreen"
        await pilot.press("y")
        await settle(app, pilot)
        assert len(rows(pane)) == 51


@sync
async def test_admin_reads_vitals_but_is_not_offered_add(make_app):
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        pane = await open_vitals(app, pilot, "demo.admin", "Reyes")
        assert len(rows(pane)) == 51
        assert not pane.query("#vitals-add")
        await pilot.press("a")
        await settle(app, pilot)
        assert not isinstance(app.screen, AddReadingScreen)
        assert not [b for b in app.active_bindings.values()
                    if b.binding.action == "add_reading" and b.enabled]


@sync
async def test_vitals_tab_of_the_patient_screen(make_app):
    """The pane as the patient screen embeds it: the patient's own record, tab 2."""
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await login_as(app, pilot, "demo.patient")
        await pilot.press("f3")
        await settle(app, pilot)
        await pilot.press("2")
        await settle(app, pilot)
        pane = app.screen.query_one(VitalsPane)
        assert len(rows(pane)) == 51
        plot = pane.query_one(PlotextPlot)
        assert plot.size.height >= 6
        assert "Mar 26" in str(plot.render())  # drawn once its tab was shown


def test_snapshot_blood_pressure_chart(make_app, snap_compare):
    app = make_app()

    async def run_before(pilot) -> None:
        await open_vitals(app, pilot, "demo.patient")
        app.clear_notifications()
        await pilot.pause()

    assert snap_compare(app, terminal_size=(80, 24), run_before=run_before)


@sync
async def test_add_reading_form_asks_before_global_keys_discard_it(make_app):
    from screens.confirm import ConfirmScreen

    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await open_vitals(app, pilot, "demo.doctor", "Reyes")
        await pilot.press("a")
        await settle(app, pilot)
        form = app.screen
        assert isinstance(form, AddReadingScreen) and not form.has_unsaved_changes
        await pilot.press("escape")  # nothing typed: closes at once
        await settle(app, pilot)
        assert not isinstance(app.screen, AddReadingScreen)
        await pilot.press("a")
        await settle(app, pilot)
        form = app.screen
        await pilot.press(*"131")
        assert form.has_unsaved_changes
        for key in ("f10", "f3"):
            await pilot.press(key)
            await settle(app, pilot)
            assert isinstance(app.screen, ConfirmScreen)
            await pilot.press("n")
            await settle(app, pilot)
            assert app.screen is form and app.session is not None
            assert form.query_one("#in-systolic", Input).value == "131"
        await pilot.press("f10")
        await settle(app, pilot)
        await pilot.press("y")
        await settle(app, pilot)
        assert app.session is None and type(app.screen).__name__ == "LoginScreen"
