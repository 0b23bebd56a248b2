"""The Vitals pane: a patient's readings as a plotext trend with the normal band, and a table.

The pane fetches only the selected time range, keeps it, and redraws the chart
and refills the table in place when the metric changes (no widget is rebuilt).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, Protocol

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Container, Horizontal, Vertical
from textual.events import Resize
from textual.message import Message
from textual.widget import Widget
from textual.widgets import Button, Static

from meditrack_tui import policy, reference
from meditrack_tui.errors import MediTrackError, SessionExpired

from ..base import ServiceMixin
from ..forms.reading import AddReadingScreen
from ..messages import ServiceFailed
from .choice import Choice
from .table import Fit, Table, refilled
from .vitals_chart import (
    METRIC_BY_KEY,
    METRICS,
    ChartColors,
    Metric,
    TrendPlot,
    flag_of,
    has_metric,
    hex_style,
    legend,
    theme_colors,
    value_text,
)

if TYPE_CHECKING:
    from meditrack_tui.services import Services
    from meditrack_tui.services.base import Session

# (key, label, days back; None = everything)
RANGES: tuple[tuple[str, str, int | None], ...] = (
    ("30d", "30 days", 30),
    ("90d", "90 days", 90),
    ("1y", "1 year", 365),
    ("all", "All", None),
)
RANGE_DAYS = {key: days for key, _label, days in RANGES}
RANGE_PHRASES = {"30d": "in the last 30 days", "90d": "in the last 90 days",
                 "1y": "in the last year", "all": "in all records"}
DEFAULT_METRIC = "bp"
DEFAULT_RANGE = "1y"
TABLE_DELAY = 1.0  # seconds the table waits for the chart to be drawn first, at most
NARROW_WIDTH = 108  # below this (a terminal under ~110 columns) the table goes under the chart

TABLE_COLUMNS = (("taken", "Taken"), ("value", "Value"), ("flag", "Flag"), ("source", "Source"))

# a prefetched series older than this is fetched again when the tab opens (live updates
# drop it sooner when the readings change; this bounds it when they are off)
PREFETCH_FRESH_SECONDS = 60.0


class Clock(Protocol):
    """Anything that tells 'now' as the services see it (the App, a ScreenContext)."""

    def now(self) -> datetime: ...


@dataclass(frozen=True)
class Prefetched:
    """A range of readings as fetched: ahead of the pane by PatientScreen, or by the pane."""

    range_key: str
    since: datetime | None
    now: datetime
    rows: list[dict[str, Any]]
    fetched_at: float  # time.monotonic()


@dataclass
class ReadingsLoaded(Message):
    """The pane's range of readings, as the service answered."""

    series: Prefetched


def range_window(clock: Clock, range_key: str) -> tuple[datetime | None, datetime]:
    """The start (None: all) and end of a range, ending now."""
    now = clock.now()
    days = RANGE_DAYS[range_key]
    return (now - timedelta(days=days) if days else None), now


def prefetch_series(clock: Clock, session: Session, patient_id: str,
                    range_key: str = DEFAULT_RANGE) -> Callable[[Services], Prefetched]:
    """A service call fetching a range of a patient's readings (the pane's first one ahead
    of time, for PatientScreen)."""
    since, now = range_window(clock, range_key)

    def fetch(services: Services) -> Prefetched:
        rows = services.vitals.series(session, patient_id, since=since)
        return Prefetched(range_key, since, now, rows, time.monotonic())

    return fetch


class VitalsPane(ServiceMixin, Widget):
    """A patient's vitals: metric and range selectors, the trend chart and the readings table."""

    DEFAULT_CSS = """
    VitalsPane { height: 1fr; layout: vertical; }
    VitalsPane #vitals-bar { height: 1; }
    VitalsPane #vitals-bar Choice { margin-right: 2; }
    VitalsPane #vitals-add { min-width: 18; }
    VitalsPane #vitals-body { height: 1fr; layout: horizontal; }
    VitalsPane #vitals-chart-box { width: 1fr; height: 1fr; }
    VitalsPane PlotextPlot { height: 1fr; min-height: 6; }
    VitalsPane #vitals-empty { height: 1fr; content-align: center middle; color: $text-muted; }
    VitalsPane #vitals-caption { height: auto; }
    VitalsPane #vitals-table-box { width: 44%; min-width: 60; height: 1fr; padding-left: 1; }
    VitalsPane #vitals-summary { height: auto; }
    VitalsPane DataTable { height: 1fr; }
    VitalsPane.-narrow #vitals-body { layout: vertical; }
    VitalsPane.-narrow #vitals-chart-box { height: 2fr; min-height: 10; }
    VitalsPane.-narrow #vitals-table-box { width: 1fr; height: 1fr; min-height: 7;
                                           padding-left: 0; }
    """
    BINDINGS = [
        Binding("m", "next_metric", "Metric", id="vitals-metric"),
        Binding("r", "next_range", "Range", id="vitals-range"),
        Binding("ctrl+n", "add_reading", "Add reading", id="vitals-add"),
        Binding("insert", "add_reading", "Add reading", show=False),  # a browser keeps ctrl+n
    ]

    #: collections whose changes make the pane re-fetch
    WATCHES: frozenset[str] = frozenset({"vitals"})

    class Ready(Message):
        """The pane shows its first answer (the readings, or why they could not be
        loaded): posted once, so the patient screen can move the focus into it."""

    def __init__(self, patient_id: str, *, id: str | None = "vitals-pane",
                 classes: str | None = None, prefetched: Prefetched | None = None) -> None:
        super().__init__(id=id, classes=classes)
        self.patient_id = str(patient_id)
        self.prefetched = prefetched
        self.metric_key = DEFAULT_METRIC
        self.range_key = DEFAULT_RANGE
        self.readings: list[dict[str, Any]] = []  # the fetched range, every metric
        self.loaded_range: str | None = None
        self.start: datetime | None = None
        self.end: datetime | None = None
        self.loading_text = Text("Loading readings…", style="italic")
        self._table_due = False
        self._ready_sent = False

    @property
    def metric(self) -> Metric:
        return METRIC_BY_KEY[self.metric_key]

    @property
    def can_add(self) -> bool:
        return self.permissions.may("vitals.write")

    def compose(self) -> ComposeResult:
        # the layout for the terminal's width from the start (a later switch restyles it all)
        self.set_class(self.app.size.width < NARROW_WIDTH, "-narrow")
        with Horizontal(id="vitals-bar"):
            yield Choice("Metric (m)", [(m.label, m.key) for m in METRICS], self.metric_key,
                         id="vitals-metric")
            yield Choice("Range (r)", [(label, key) for key, label, _days in RANGES],
                         self.range_key, id="vitals-range")
            if self.can_add:
                yield Button("Add reading (^N)", id="vitals-add", compact=True)
        with Container(id="vitals-body"):
            with Vertical(id="vitals-chart-box"):
                yield TrendPlot(id="vitals-chart")
                empty = Static("", id="vitals-empty")
                empty.display = False
                yield empty
                yield Static("", id="vitals-caption")
            with Vertical(id="vitals-table-box"):
                yield Static(self.loading_text, id="vitals-summary")
                table = Table(id="vitals-table", cursor_type="row", zebra_stripes=True)
                table.fit = Fit(flex=("flag",), drop=("source",), minimum=20)
                for key, label in TABLE_COLUMNS:
                    table.add_column(label, key=key)
                yield table

    def on_mount(self) -> None:
        self.app.theme_changed_signal.subscribe(self, lambda _theme: self.redraw())
        fetched, self.prefetched = self.prefetched, None
        if (fetched is not None and fetched.range_key == self.range_key
                and time.monotonic() - fetched.fetched_at <= PREFETCH_FRESH_SECONDS):
            # drawn in the pane's first frame, no round trip to the store
            self.loaded(fetched.rows, fetched.range_key, fetched.since, fetched.now)
        else:
            self.reload()

    def on_resize(self, event: Resize) -> None:
        # a hidden tab has no size: keep the layout it will show with. The chart builds
        # itself again for a new size when it renders (TrendPlot), with no re-fetch.
        if event.size.width:
            self.set_class(event.size.width < NARROW_WIDTH, "-narrow")

    # --- data ---

    def reload(self) -> None:
        """Fetch the selected range (only that range) and redraw; a newer fetch (another
        range chosen meanwhile) drops the answer of an older one."""
        if not self.permissions.may("vitals.read"):
            return  # logged out meanwhile
        ctx = self.ctx
        # Progress is a word in the summary line: a loading overlay would take the chart
        # out of the layout and delay its first drawing by a frame or two.
        for summary in self.query("#vitals-summary").results(Static):
            summary.update(self.loading_text)
        self.ask(prefetch_series(ctx, ctx.session, self.patient_id, self.range_key),
                 ReadingsLoaded, group="vitals-series")

    def on_readings_loaded(self, message: ReadingsLoaded) -> None:
        message.stop()
        series = message.series
        self.loaded(series.rows, series.range_key, series.since, series.now)

    def on_service_failed(self, message: ServiceFailed) -> None:
        """Say in the summary line why the readings could not be shown (the old ones stay
        on screen); an expired session and unexpected failures go to the base handler."""
        exc = message.error
        if message.group != "vitals-series" or not isinstance(exc, MediTrackError) \
                or isinstance(exc, SessionExpired):
            return
        message.stop()
        message.prevent_default()
        self.query_one("#vitals-summary", Static).update(
            Text(f"Could not load the readings: {exc.message}", style="bold"))
        self.shown()

    def shown(self) -> None:
        """The first answer is on screen: tell the patient screen, once."""
        if not self._ready_sent:
            self._ready_sent = True
            self.post_message(self.Ready())

    def loaded(self, rows: list[dict[str, Any]], range_key: str, since: datetime | None,
               now: datetime) -> None:
        """Keep the fetched readings and show them."""
        self.readings, self.loaded_range = rows, range_key
        self.end = now
        self.start = since or (rows[0]["taken_at"] if rows else now - timedelta(days=30))
        self.redraw()

    def rows_for_metric(self) -> list[dict[str, Any]]:
        """The fetched readings that carry the selected metric, oldest first."""
        metric = self.metric
        return [r for r in self.readings if has_metric(r, metric)]

    def draw(self, rows: list[dict[str, Any]]) -> None:
        """Show the chart of these readings (built when it renders), or the empty message."""
        if self.start is None or self.end is None:
            return
        metric = self.metric
        plot = self.query_one(TrendPlot)
        empty = self.query_one("#vitals-empty", Static)
        if plot.display != bool(rows):
            plot.display = bool(rows)
            empty.display = not rows
        if not rows:
            empty.update(f"No {metric.label.lower()} readings {RANGE_PHRASES[self.range_key]}.")
            return
        plot.show(metric, rows, self.start, self.end)

    def redraw(self) -> None:
        """Redraw chart, caption and table from the fetched readings (no re-fetch).

        The table is filled once the chart has been drawn, so the chart shows first.
        """
        if self.loaded_range is None or self.start is None or self.end is None:
            return
        metric, rows = self.metric, self.rows_for_metric()
        colors = theme_colors(self.app.theme_variables)
        self.draw(rows)
        self.query_one("#vitals-caption", Static).update(legend(metric, rows, colors))
        flagged = sum(1 for r in rows if (flag_of(r, metric) or {}).get("level", 0) > 0)
        noun = "reading" if len(rows) == 1 else "readings"
        summary = Text(f"{len(rows)} {noun}", style="bold")
        if metric.flag:
            summary.append(f", {flagged} out of range", style="bold")
            summary.append(f" · {reference.SOURCES[metric.flag]}", style="not bold")
        self.query_one("#vitals-summary", Static).update(summary)
        self._table_due = True
        if rows and self.chart_shown:
            self.set_timer(TABLE_DELAY, self.table_due)  # in case the chart is never drawn
        else:
            self.table_due()

    @property
    def chart_shown(self) -> bool:
        """True when the chart is on the current screen (in no hidden tab): it will be drawn."""
        return self.screen.is_current and all(
            node.display for node in self.query_one(TrendPlot).ancestors_with_self
            if isinstance(node, Widget))

    @on(TrendPlot.Drawn)
    def chart_drawn(self, event: TrendPlot.Drawn) -> None:
        event.stop()
        self.table_due()

    def table_due(self) -> None:
        """Fill the table for what is selected now (however often it changed meanwhile)."""
        if self._table_due and self.is_attached:
            self._table_due = False
            self.fill_table(self.metric, self.rows_for_metric(),
                            theme_colors(self.app.theme_variables))

    def fill_table(self, metric: Metric, rows: list[dict[str, Any]],
                   colors: ChartColors) -> None:
        """Refill the table (newest first) with date, value, flag and source; the columns
        are measured again (a metric's values have their own widths)."""
        table = self.query_one("#vitals-table", Table)
        high = f"bold {hex_style(colors.high)}"
        styles = {1: hex_style(colors.mild), 2: high, 3: high}
        new_rows = []
        for reading in reversed(rows):
            flag = flag_of(reading, metric)
            if flag is None:
                flag_cell: Any = "—" if metric.flag is None else ""
            else:
                flag_cell = Text(flag["label"], style=styles.get(min(flag["level"], 3), ""))
            new_rows.append((reading.get("id"), [
                reading["taken_at"].strftime("%Y-%m-%d %H:%M"), value_text(reading, metric),
                flag_cell, reading.get("source") or ""]))
        table.fill_fitted(TABLE_COLUMNS, new_rows)
        refilled(table, 0)
        self.shown()

    # --- controls ---

    @on(Choice.Changed, "#vitals-metric")
    def metric_changed(self, event: Choice.Changed) -> None:
        event.stop()
        if event.value != self.metric_key:
            self.metric_key = event.value
            self.redraw()

    @on(Choice.Changed, "#vitals-range")
    def range_changed(self, event: Choice.Changed) -> None:
        event.stop()
        if event.value != self.range_key:
            self.range_key = event.value
            self.reload()

    def action_next_metric(self) -> None:
        """Cycle the metric (the selector follows)."""
        self.query_one("#vitals-metric", Choice).cycle()

    def action_next_range(self) -> None:
        """Cycle the time range (the selector follows)."""
        self.query_one("#vitals-range", Choice).cycle()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "add_reading":
            return self.can_add
        return True

    @on(Button.Pressed, "#vitals-add")
    def action_add_reading(self) -> None:
        """Open the add-reading form (roles allowed to record vitals only)."""
        if not self.can_add:
            return
        home = self.permissions.scope("vitals.write") == policy.OWN  # a patient's own
        self.app.push_screen(AddReadingScreen(self.patient_id, home=home), self.reading_added)

    def reading_added(self, reading: dict[str, Any] | None) -> None:
        if reading is None:
            return
        flags = [f["label"] for f in reading.get("flags", ()) if f["level"] > 0]
        text = "Reading saved." + (f" Out of range: {', '.join(flags)}." if flags else "")
        self.app.notify(text, title="Vitals", severity="warning" if flags else "information",
                        markup=False)
        self.reload()
