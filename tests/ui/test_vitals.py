"""The Vitals pane: the chart and table per metric and range, adding readings, role limits."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Input, OptionList, Static, TabbedContent, TabPane
from textual_plotext import PlotextPlot

from tests.conftest import notices, sync

try:  # tests/ is a package in some layouts, a plain folder in others
    from tests.conftest import answer_discard, login_as, open_own_record, open_own_vitals, settle
except ImportError:  # pragma: no cover
    from conftest import answer_discard, login_as, open_own_record, open_own_vitals, settle
from meditrack_tui.screens.forms.choice import ChoiceScreen
from meditrack_tui.screens.forms.reading import AddReadingScreen
from meditrack_tui.screens.widgets.choice import Choice
from meditrack_tui.screens.widgets.vitals import VitalsPane
from meditrack_tui.screens.widgets.vitals_chart import TrendPlot


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
        assert pane.query_one("#vitals-metric", Choice).value == "glucose"
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
        assert pane.query_one("#vitals-range", Choice).value == "90d"
        assert "15 readings" in text_of(pane.query_one("#vitals-summary", Static))


@sync
async def test_metric_without_readings_says_so(make_app):
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        pane = await open_vitals(app, pilot, "demo.patient")
        pane.query_one("#vitals-metric", Choice).value = "glucose"
        await settle(app, pilot)
        assert rows(pane) == []
        empty = pane.query_one("#vitals-empty", Static)
        assert empty.display and "No glucose readings in the last year" in text_of(empty)
        assert not pane.query_one(PlotextPlot).display


@sync
async def test_metric_picker_opens_on_enter_and_escape_keeps_the_metric(make_app):
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        pane = await open_vitals(app, pilot, "demo.doctor", "Whitaker")
        metric = pane.query_one("#vitals-metric", Choice)
        assert "Metric (m): Blood pressure" in str(metric.render())
        metric.focus()
        await pilot.press("enter")
        await settle(app, pilot)
        picker = app.screen
        assert isinstance(picker, ChoiceScreen)
        options = picker.query_one(OptionList)
        assert options.option_count == 6 and options.highlighted == 0  # the current metric
        await pilot.press("escape")
        await settle(app, pilot)
        assert app.screen is not picker and metric.value == "bp" and len(rows(pane)) == 7
        await pilot.press("enter")  # focus came back to the selector
        await settle(app, pilot)
        await pilot.press("down", "enter")  # glucose
        await settle(app, pilot)
        assert not isinstance(app.screen, ChoiceScreen)
        assert metric.value == "glucose" and pane.metric_key == "glucose"
        assert "Metric (m): Glucose" in str(metric.render())
        assert len(rows(pane)) == 58
        assert "fasting 70–99" in text_of(pane.query_one("#vitals-caption", Static))


@sync
async def test_range_picker_opens_on_click_and_fetches_the_range(make_app):
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        pane = await open_vitals(app, pilot, "demo.doctor", "Reyes")
        await pilot.click("#vitals-range")
        await settle(app, pilot)
        assert isinstance(app.screen, ChoiceScreen)
        assert app.screen.query_one(OptionList).highlighted == 2  # 1 year
        await pilot.press("up", "up", "enter")  # 30 days
        await settle(app, pilot)
        assert pane.range_key == "30d" and pane.loaded_range == "30d"
        assert len(rows(pane)) == 5
        assert "Range (r): 30 days" in str(pane.query_one("#vitals-range", Choice).render())


@sync
async def test_footer_offers_the_metric_and_range_keys(make_app):
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await open_vitals(app, pilot, "demo.doctor", "Reyes")
        shown = {b.binding.key: b.binding.description for b in app.active_bindings.values()
                 if b.binding.show}
        assert shown.get("m") == "Metric" and shown.get("r") == "Range"


@sync
async def test_chart_is_drawn_before_the_table_is_filled(make_app, monkeypatch):
    """The table waits for the chart's first drawing; the chart is built for its size."""
    builds: list[tuple[int, int]] = []
    order: list[str] = []
    original_build = TrendPlot._build

    def build(self):
        builds.append((self.size.width, self.size.height))
        order.append("chart")
        return original_build(self)

    original_fill = VitalsPane.fill_table

    def fill_table(self, *args):
        order.append("table")
        return original_fill(self, *args)

    monkeypatch.setattr(TrendPlot, "_build", build)
    monkeypatch.setattr(VitalsPane, "fill_table", fill_table)
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        pane = await open_vitals(app, pilot, "demo.patient")
        plot = pane.query_one(PlotextPlot)
        # drawn before the table is filled, and last for the size it has (this host's screen
        # may gain a scrollbar as the pane fills in: the chart is then built once more)
        assert order[0] == "chart" and order.count("table") == 1
        assert builds[-1] == (plot.size.width, plot.size.height)
        assert len(rows(pane)) == 51
        fetched = pane.readings
        await pilot.resize_terminal(120, 40)  # built again for the new size, not fetched again
        await settle(app, pilot)
        assert builds[-1] == (plot.size.width, plot.size.height) != builds[0]
        assert pane.readings is fetched and order.count("table") == 1


@sync
async def test_table_is_refilled_while_its_tab_is_hidden(make_app):
    """A pane whose tab is not shown has no chart drawing to wait for: the table still fills."""

    class TwoTabs(PaneHost):
        def compose(self) -> ComposeResult:
            yield Static("Patient record (test host)", id="host-banner")
            with TabbedContent():
                with TabPane("Vitals", id="vitals"):
                    yield self.pane
                with TabPane("Other", id="other"):
                    yield Static("another tab")
            yield Footer()

    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await login_as(app, pilot, "demo.doctor")
        pane = VitalsPane(patient_id(app, "Reyes"))
        await app.push_screen(TwoTabs(pane))
        await settle(app, pilot)
        assert len(rows(pane)) == 51
        app.screen.query_one(TabbedContent).active = "other"
        await settle(app, pilot)
        pane.query_one("#vitals-metric", Choice).value = "heart_rate"
        await settle(app, pilot)
        plot = pane.query_one(TrendPlot)
        assert plot._cache_key is not None and plot._cache_key[0] != plot.version  # not drawn
        heart = [r for r in pane.readings if r.get("heart_rate") is not None]
        table = rows(pane)
        assert len(table) == len(heart) and table[0][1] == str(heart[-1]["heart_rate"])


async def fill_reading(app, pilot, **values: str) -> AddReadingScreen:
    await pilot.press("ctrl+n")
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
        await pilot.press("enter")
        await settle(app, pilot)
        assert len(rows(pane)) == 51


@sync
async def test_admin_reads_vitals_but_is_not_offered_add(make_app):
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        pane = await open_vitals(app, pilot, "demo.admin", "Reyes")
        assert len(rows(pane)) == 51
        assert not pane.query("#vitals-add")
        await pilot.press("ctrl+n")
        await settle(app, pilot)
        assert not isinstance(app.screen, AddReadingScreen)
        assert not [b for b in app.active_bindings.values()
                    if b.binding.action == "add_reading" and b.enabled]


@sync
async def test_vitals_tab_of_the_patient_screen(make_app):
    """The pane as the patient screen embeds it: the patient's own record, tab 2."""
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        pane = await open_own_vitals(app, pilot)
        assert isinstance(pane, VitalsPane) and len(rows(pane)) == 51
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
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await open_vitals(app, pilot, "demo.doctor", "Reyes")
        await pilot.press("ctrl+n")
        await settle(app, pilot)
        form = app.screen
        assert isinstance(form, AddReadingScreen) and not form.has_unsaved_changes
        await pilot.press("escape")  # nothing typed: closes at once
        await settle(app, pilot)
        assert not isinstance(app.screen, AddReadingScreen)
        await pilot.press("ctrl+n")
        await settle(app, pilot)
        form = app.screen
        await pilot.press(*"131")
        assert form.has_unsaved_changes
        for key in ("f10", "f3"):
            await answer_discard(app, pilot, key, "n")
            assert app.screen is form and app.session is not None
            assert form.query_one("#in-systolic", Input).value == "131"
        await pilot.press("f10")
        await settle(app, pilot)
        await pilot.press("enter")
        await settle(app, pilot)
        assert app.session is None and type(app.screen).__name__ == "LoginScreen"


@sync
async def test_vitals_tab_draws_from_the_prefetch_without_asking_the_store_again(make_app):
    """The patient screen fetches the Vitals tab's first range while the overview is read;
    the tab then draws its chart from that, in its first frame."""
    from meditrack_tui.screens.patient_detail import PatientScreen

    app = make_app()
    calls: list[str] = []
    original = app.backend.call

    def counting(fn, **kwargs):
        calls.append(getattr(fn, "__qualname__", ""))
        return original(fn, **kwargs)

    app.backend.call = counting
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_own_record(app, pilot)
        assert isinstance(screen, PatientScreen)
        assert screen.vitals_prefetch is not None and len(screen.vitals_prefetch.rows) == 51
        before = len(calls)
        await pilot.press("2")
        await settle(app, pilot)
        pane = screen.query_one(VitalsPane)
        assert len(rows(pane)) == 51 and pane.loaded_range == "1y"
        assert "Mar 26" in str(pane.query_one(TrendPlot).render())
        # nothing fetched again (the login's background warm-up may still be running)
        assert not [c for c in calls[before:] if "Vitals" in c or "series" in c], calls
        assert screen.vitals_prefetch is None  # handed over, not kept


@sync
async def test_a_stale_prefetch_is_fetched_again(make_app, monkeypatch):
    from meditrack_tui.screens.widgets import vitals as vitals_module

    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_own_record(app, pilot)
        assert screen.vitals_prefetch is not None
        # a reading added meanwhile, and the prefetch too old to trust
        session = app.session
        app.backend.call(lambda s: s.vitals.add(session, session.patient_id,
                                                {"systolic": 121, "diastolic": 79}))
        monkeypatch.setattr(vitals_module, "PREFETCH_FRESH_SECONDS", -1.0)
        await pilot.press("2")
        await settle(app, pilot)
        assert len(rows(screen.query_one(VitalsPane))) == 52


class ReadyHost(PaneHost):
    """The test host, counting the pane's Ready messages."""

    def __init__(self, pane: VitalsPane) -> None:
        super().__init__(pane)
        self.ready: list[int] = []  # the table's row count when each Ready arrived

    def on_vitals_pane_ready(self, message: VitalsPane.Ready) -> None:
        self.ready.append(self.query_one("#vitals-table", DataTable).row_count)


@sync
async def test_the_pane_says_ready_once_its_first_readings_are_shown(make_app):
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await login_as(app, pilot, "demo.doctor")
        host = ReadyHost(VitalsPane(patient_id(app, "Reyes")))
        await app.push_screen(host)
        await settle(app, pilot)
        assert host.ready == [51]  # posted with the table filled
        await pilot.press("r")  # another range: shown, but the pane was ready already
        await settle(app, pilot)
        assert host.ready == [51]


@sync
async def test_an_older_range_answer_arriving_late_is_dropped(make_app, monkeypatch):
    """30 days then 90 days chosen quickly while the 30-day fetch is slow: only the 90-day
    answer is shown (the newer call of the group supersedes the older one)."""
    import time as time_module

    from meditrack_tui.services.vitals import VitalsService

    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        pane = await open_vitals(app, pilot, "demo.doctor", "Reyes")
        original = VitalsService.series

        def series(self, session, pid, since=None, until=None):
            if since is not None and (self.ctx.now() - since).days <= 31:
                time_module.sleep(0.5)  # the 30-day answer comes late
            return original(self, session, pid, since=since, until=until)

        monkeypatch.setattr(VitalsService, "series", series)
        shown: list[str] = []
        loaded = pane.loaded

        def spy(rows, range_key, since, now):
            shown.append(range_key)
            loaded(rows, range_key, since, now)

        monkeypatch.setattr(pane, "loaded", spy)
        choice = pane.query_one("#vitals-range", Choice)
        choice.value = "30d"
        await pilot.pause()
        choice.value = "90d"
        await settle(app, pilot)
        await pilot.pause(0.6)
        await settle(app, pilot)
        assert shown == ["90d"]
        assert len(rows(pane)) == 15 and pane.loaded_range == "90d"


@sync
async def test_readings_that_cannot_be_loaded_are_explained_in_the_pane(make_app, monkeypatch):
    from meditrack_tui.errors import StoreUnavailable
    from meditrack_tui.services.vitals import VitalsService

    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await login_as(app, pilot, "demo.doctor")
        pid = patient_id(app, "Reyes")

        def series(self, session, pid, since=None, until=None):
            raise StoreUnavailable("The database cannot be reached right now.")

        monkeypatch.setattr(VitalsService, "series", series)
        app.clear_notifications()
        host = ReadyHost(VitalsPane(pid))
        await app.push_screen(host)
        await settle(app, pilot)
        summary = text_of(host.pane.query_one("#vitals-summary", Static))
        assert "Could not load the readings: The database cannot be reached" in summary
        assert host.ready == [0]  # the pane has shown its answer
        assert not [n for n in notices(app) if "database" in n.message]  # inline only
