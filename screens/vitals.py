"""The Vitals pane: a patient's readings as a plotext trend with the normal band, and a table.

The pane fetches only the selected time range, keeps it, and redraws the chart
and refills the table in place when the metric changes (no widget is rebuilt).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from rich.cells import cell_len
from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Container, Horizontal, Vertical, VerticalScroll
from textual.events import Click, Resize
from textual.message import Message
from textual.screen import ModalScreen
from textual.widget import Widget
from textual.widgets import Button, Checkbox, Input, Label, OptionList, Static
from textual.widgets.option_list import Option
from textual_plotext import PlotextPlot

from meditrack_tui import policy, reference

from .base import ServiceMixin
from .forms.confirm import ConfirmScreen
from .forms.fields import clear_field_errors, show_field_errors
from .widgets.table import Fit, Table, refilled

# The reference module's normal band, per plotted field.
NORMAL_BAND = reference.NORMAL_BAND


@dataclass(frozen=True)
class Metric:
    """One selectable chart: which reading fields it plots and which flag judges them."""

    key: str
    label: str
    unit: str
    fields: tuple[str, ...]
    flag: str | None  # the reference flag's metric name, None when there is no reference range
    decimals: int = 0


METRICS: tuple[Metric, ...] = (
    Metric("bp", "Blood pressure", "mmHg", ("systolic", "diastolic"), "blood_pressure"),
    Metric("glucose", "Glucose", "mg/dL", ("glucose_mg_dl",), "glucose"),
    Metric("heart_rate", "Heart rate", "bpm", ("heart_rate",), "heart_rate"),
    Metric("weight", "Weight", "kg", ("weight_kg",), None, 1),
    Metric("temperature", "Temperature", "°C", ("temperature_c",), "temperature_c", 1),
    Metric("spo2", "SpO2", "%", ("spo2",), "spo2"),
)
METRIC_BY_KEY = {m.key: m for m in METRICS}

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

_EPOCH = datetime(1970, 1, 1)
FIELD_LABELS = {"systolic": "systolic", "diastolic": "diastolic", "glucose_mg_dl": "glucose",
                "heart_rate": "heart rate", "weight_kg": "weight", "temperature_c": "temperature",
                "spo2": "SpO2"}


def day_number(moment: datetime) -> float:
    """A reading's time as a number of days (the chart's x axis)."""
    return (moment - _EPOCH).total_seconds() / 86400.0


def has_metric(reading: dict[str, Any], metric: Metric) -> bool:
    """True when the reading carries every value the metric plots."""
    return all(reading.get(name) is not None for name in metric.fields)


def flag_of(reading: dict[str, Any], metric: Metric) -> dict[str, Any] | None:
    """The reading's flag for the metric (label, level, source), if it has one."""
    if metric.flag is None:
        return None
    for flag in reading.get("flags") or ():
        if flag.get("metric") == metric.flag:
            return flag
    return None


def band_edges(metric: Metric, readings: Iterable[dict[str, Any]]) -> list[tuple[str, float]]:
    """The normal-band lines to draw: (field, value) for each edge, de-duplicated."""
    edges: list[tuple[str, float]] = []
    if metric.key == "glucose":
        rows = list(readings)
        keys = []
        if any(r.get("glucose_fasting") for r in rows) or not rows:
            keys.append("glucose_fasting")
        if any(not r.get("glucose_fasting") for r in rows):
            keys.append("glucose_mg_dl")
    else:
        keys = [f for f in metric.fields if f in NORMAL_BAND]
    seen: set[float] = set()
    for key in keys:
        for value in NORMAL_BAND[key]:
            if value not in seen:
                seen.add(value)
                edges.append((key, value))
    return edges


def band_text(metric: Metric, readings: list[dict[str, Any]]) -> str:
    """The normal range in words, e.g. 'normal 90–120/60–80' (the legend gives the unit)."""
    if metric.key == "glucose":
        parts = []
        if any(r.get("glucose_fasting") for r in readings) or not readings:
            low, high = NORMAL_BAND["glucose_fasting"]
            parts.append(f"fasting {low:g}–{high:g}")
        if any(not r.get("glucose_fasting") for r in readings):
            low, high = NORMAL_BAND["glucose_mg_dl"]
            parts.append(f"non-fasting {low:g}–{high:g}")
        return f"normal {', '.join(parts)}"
    bands = [NORMAL_BAND[f] for f in metric.fields if f in NORMAL_BAND]
    if not bands:
        return "no reference range"
    return "normal " + "/".join(f"{low:g}–{high:g}" for low, high in bands)


def value_text(reading: dict[str, Any], metric: Metric) -> str:
    """The reading's value for the table, e.g. '155/98' or '115 fasting'."""
    if metric.key == "bp":
        return f"{reading['systolic']}/{reading['diastolic']}"
    value = reading[metric.fields[0]]
    text = f"{value:.{metric.decimals}f}" if metric.decimals else f"{value:g}"
    if metric.key == "glucose":
        text += " fasting" if reading.get("glucose_fasting") else " random"
    return text


def date_ticks(start: float, end: float, count: int = 5) -> tuple[list[float], list[str]]:
    """Evenly spread x ticks between two day numbers, labelled as dates."""
    if end <= start:
        end = start + 1
    span = end - start
    fmt = "%d %b" if span <= 120 else "%b %y"
    ticks = [start + span * i / (count - 1) for i in range(count)]
    labels = [(_EPOCH + timedelta(days=t)).strftime(fmt) for t in ticks]
    return ticks, labels


@dataclass(frozen=True)
class ChartColors:
    """Plot colours as RGB, taken from the app theme (never literal colours)."""

    series: tuple[tuple[int, int, int], ...]
    band: tuple[int, int, int]
    mild: tuple[int, int, int]
    high: tuple[int, int, int]


def hex_style(rgb: tuple[int, int, int]) -> str:
    """A Rich colour for an RGB triple."""
    return "#{:02x}{:02x}{:02x}".format(*rgb)


def theme_colors(variables: dict[str, str]) -> ChartColors:
    """Chart colours from the Textual theme variables."""
    from textual.color import Color

    def rgb(name: str, fallback: str) -> tuple[int, int, int]:
        return Color.parse(variables.get(name) or variables[fallback]).rgb

    return ChartColors(series=(rgb("primary", "foreground"), rgb("accent", "primary")),
                       band=rgb("success", "foreground"), mild=rgb("warning", "foreground"),
                       high=rgb("error", "foreground"))


def nice_ticks(low: float, high: float, count: int = 5) -> list[float]:
    """Round y ticks in [low, high] (steps of 1, 2 or 5 times a power of ten),
    as close to ``count`` of them as such steps allow."""
    import math

    span = max(high - low, 1e-9)
    base = 10 ** math.floor(math.log10(span))
    best: list[float] = []
    for step in (m * base * scale for scale in (0.01, 0.1, 1) for m in (1, 2, 5)):
        first = math.ceil(low / step)
        ticks = [round(i * step, 6) for i in range(first, math.floor(high / step) + 1)]
        if len(ticks) >= 2 and (not best or abs(len(ticks) - count) <= abs(len(best) - count)):
            best = ticks
    return best or [round(low, 2), round(high, 2)]


def thin(xs: list[float], ys: list[float], buckets: int) -> tuple[list[float], list[float]]:
    """At most two points (the lowest and the highest, in time order) per x bucket.

    A chart a few dozen cells wide cannot show more; thinning keeps every peak and
    trough while plotext (pure Python) has far fewer segments to draw.
    """
    if len(xs) <= 2 * buckets or buckets < 1:
        return xs, ys
    left, width = xs[0], (xs[-1] - xs[0]) / buckets or 1.0
    groups: dict[int, list[int]] = {}
    for index, x in enumerate(xs):
        groups.setdefault(min(int((x - left) / width), buckets - 1), []).append(index)
    keep: list[int] = []
    for members in groups.values():
        low = min(members, key=lambda i: ys[i])
        high = max(members, key=lambda i: ys[i])
        keep.extend(sorted({low, high}))
    return [xs[i] for i in keep], [ys[i] for i in keep]


class TrendPlot(PlotextPlot):
    """A PlotextPlot that builds its chart when it renders, for its laid-out size, and
    builds it again only when the data, the size or the theme change."""

    class Drawn(Message):
        """The chart of new data has just been built for the screen."""

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.version = 0
        self._series: tuple[Metric, list[dict[str, Any]], datetime, datetime] | None = None
        self._cache_key: tuple[Any, ...] | None = None
        self._cache: Any = None

    def show(self, metric: Metric, rows: list[dict[str, Any]], start: datetime,
             end: datetime) -> None:
        """Chart these readings (time order) from the next render on."""
        self._series = (metric, rows, start, end)
        self.version += 1
        self.refresh()

    def render(self) -> Any:
        if self._series is None or not self.size.area:  # no data or no room: nothing to build
            return ""
        key = (self.version, self.size, self.app.theme, self.theme)
        if key != self._cache_key:
            metric, rows, start, end = self._series
            draw_chart(self.plt, metric, rows, start, end,
                       theme_colors(self.app.theme_variables), height=self.size.height,
                       width=self.size.width)
            self._cache = self._build()
            if self._cache_key is None or self._cache_key[0] != self.version:
                self.post_message(self.Drawn())
            self._cache_key = key
        return self._cache

    def _build(self) -> Any:
        """What PlotextPlot.render gives (plotext's output for this size and theme)."""
        return super().render()


def draw_chart(plt: Any, metric: Metric, readings: list[dict[str, Any]],
               start: datetime, end: datetime, colors: ChartColors, height: int = 12,
               width: int = 80) -> None:
    """Draw the metric's readings (time order) with normal-band lines and flagged points.

    There is no plotext legend (it would hide data on a small chart); the pane's
    caption explains the colours.
    """
    plt.clear_data()
    plt.clear_figure()
    xs = [day_number(r["taken_at"]) for r in readings]
    values: list[float] = []
    buckets = max(20, width - 8)  # about one bucket per character column of the plot area
    for index, name in enumerate(metric.fields):
        ys = [r[name] for r in readings]
        values.extend(ys)
        plt.plot(*thin(xs, ys, buckets), marker="braille",
                 color=colors.series[index % len(colors.series)])
    edges = band_edges(metric, readings)
    for _key, value in edges:
        plt.hline(value, colors.band)
    for marker, color, test in (("•", colors.mild, lambda lv: lv == 1),
                                ("●", colors.high, lambda lv: lv >= 2)):
        fx: list[float] = []
        fy: list[float] = []
        for x, reading in zip(xs, readings, strict=False):
            flag = flag_of(reading, metric)
            if flag and test(flag["level"]):
                for name in metric.fields:
                    fx.append(x)
                    fy.append(reading[name])
        if fx:
            order = sorted(range(len(fx)), key=lambda i: fx[i])
            plt.scatter(*thin([fx[i] for i in order], [fy[i] for i in order], buckets),
                        marker=marker, color=color)
    every = values + [value for _key, value in edges]
    low, high = (min(every), max(every)) if every else (0.0, 1.0)
    pad = max((high - low) * 0.08, 1.0 if metric.decimals == 0 else 0.2)
    plt.ylim(low - pad, high + pad)
    yticks = nice_ticks(low - pad, high + pad, count=max(3, min(8, (height - 3) // 2)))
    plt.yticks(yticks, [f"{t:g}" for t in yticks])
    left, right = day_number(start), day_number(end)
    plt.xlim(left, right)
    plt.xticks(*date_ticks(left, right))


def legend(metric: Metric, readings: list[dict[str, Any]], colors: ChartColors) -> Text:
    """The chart's key in the theme colours: series, flags and the normal band."""
    text = Text()
    for index, name in enumerate(metric.fields):
        label = FIELD_LABELS[name] if len(metric.fields) > 1 else metric.label.lower()
        text.append("━ ", style=f"bold {hex_style(colors.series[index % len(colors.series)])}")
        text.append(label + (f" ({metric.unit})  " if index == len(metric.fields) - 1 else "  "))
    if metric.flag:
        text.append("• ", style=f"bold {hex_style(colors.mild)}")
        text.append("mild  ")
        text.append("● ", style=f"bold {hex_style(colors.high)}")
        text.append("high  ")
    band = band_text(metric, readings)
    if band != "no reference range":
        text.append("─ ", style=f"bold {hex_style(colors.band)}")
    text.append(band)
    return text


class AddReadingScreen(ServiceMixin, ModalScreen[dict | None]):
    """The form for a new reading; the service's refusals show under each field."""

    DEFAULT_CSS = """
    AddReadingScreen { align: center middle; }
    AddReadingScreen > VerticalScroll {
        width: 76; max-width: 100%; height: auto; max-height: 100%;
        border: thick $primary; background: $surface; padding: 0 1;
    }
    AddReadingScreen .vt-title { text-style: bold; color: $accent; height: 1; }
    AddReadingScreen .vt-hint { color: $text-muted; height: auto; }
    AddReadingScreen .vt-row { height: auto; }
    AddReadingScreen .vt-cell { width: 1fr; height: auto; padding-right: 1; }
    AddReadingScreen .vt-cell Label { height: 1; }
    AddReadingScreen .vt-cell Input { width: 100%; }
    AddReadingScreen .vt-cell Checkbox { margin-top: 1; }
    AddReadingScreen .vt-error { color: $error; height: auto; padding: 0; margin: 0; }
    AddReadingScreen .vt-buttons { height: auto; margin-top: 1; }
    AddReadingScreen .vt-buttons Button { margin-right: 2; }
    """
    BINDINGS = [Binding("escape", "cancel", "Cancel", id="reading-cancel")]
    AUTO_FOCUS = "#in-systolic"

    # (field, label, input type, placeholder)
    LAYOUT: tuple[tuple[tuple[str, str, str, str], ...], ...] = (
        (("systolic", "Systolic (mmHg)", "integer", "e.g. 128"),
         ("diastolic", "Diastolic (mmHg)", "integer", "e.g. 82")),
        (("heart_rate", "Heart rate (bpm)", "integer", "e.g. 72"),
         ("spo2", "SpO2 (%)", "integer", "e.g. 97")),
        (("glucose_mg_dl", "Glucose (mg/dL)", "number", "e.g. 105"),
         ("glucose_fasting", "", "", "")),
        (("weight_kg", "Weight (kg)", "number", "e.g. 81.5"),
         ("temperature_c", "Temperature (°C)", "number", "e.g. 36.8")),
        (("taken_at", "Taken at (empty = now)", "text", "YYYY-MM-DD HH:MM"),
         ("note", "Note", "text", "optional")),
    )

    def __init__(self, patient_id: str, *, home: bool) -> None:
        super().__init__()
        self.patient_id = patient_id
        self.home = home

    def compose(self) -> ComposeResult:
        with VerticalScroll():
            yield Static("Add a reading", classes="vt-title")
            hint = ("Fill in what you measured; blood pressure needs both numbers. "
                    + ("It is saved as a home reading." if self.home else ""))
            yield Static(hint.strip(), classes="vt-hint")
            for row in self.LAYOUT:
                with Horizontal(classes="vt-row"):
                    for name, label, kind, placeholder in row:
                        with Vertical(classes="vt-cell"):
                            if name == "glucose_fasting":
                                yield Checkbox("Fasting glucose", id="in-glucose_fasting",
                                               compact=True)
                            else:
                                yield Label(label)
                                yield Input(id=f"in-{name}", type=kind, placeholder=placeholder,
                                            compact=True, max_length=300 if name == "note" else 20)
                            err = Static("", id=f"err-{name}", classes="vt-error",
                                         markup=False)
                            err.display = False
                            yield err
            err = Static("", id="err-form", classes="vt-error", markup=False)
            err.display = False
            yield err
            with Horizontal(classes="vt-buttons"):
                yield Button("Save reading", id="reading-save", variant="primary", compact=True)
                yield Button("Cancel (Esc)", id="reading-cancel", compact=True)

    def values(self) -> dict[str, Any]:
        """The form as the service expects it (empty fields left out)."""
        data: dict[str, Any] = {}
        for row in self.LAYOUT:
            for name, *_rest in row:
                if name == "glucose_fasting":
                    continue
                text = self.query_one(f"#in-{name}", Input).value.strip()
                if text:
                    data[name] = text
        if "glucose_mg_dl" in data:
            data["glucose_fasting"] = self.query_one("#in-glucose_fasting", Checkbox).value
        return data

    @property
    def has_unsaved_changes(self) -> bool:
        """True when something is typed or ticked (the app's guard asks before leaving)."""
        return bool(self.values()) or self.query_one("#in-glucose_fasting", Checkbox).value

    @on(Input.Submitted)
    @on(Button.Pressed, "#reading-save")
    def save(self) -> None:
        clear_field_errors(self)
        data, pid = self.values(), self.patient_id
        session = self.app.session
        self.query_one("#reading-save", Button).disabled = True
        self.call_service(lambda s: s.vitals.add(session, pid, data), self.saved,
                          error=self.failed, group="vitals-add")

    def saved(self, reading: dict[str, Any]) -> None:
        self.dismiss(reading)

    def failed(self, exc: BaseException) -> None:
        self.query_one("#reading-save", Button).disabled = False
        if not show_field_errors(self, exc):
            err = self.query_one("#err-form", Static)
            err.update(getattr(exc, "message", str(exc)))
            err.display = True
        first = next((w for w in self.query(".vt-error") if w.display), None)
        if first is not None:
            first.scroll_visible()

    @on(Button.Pressed, "#reading-cancel")
    def action_cancel(self) -> None:
        """Close the form, asking first when something typed would be lost."""
        if not self.has_unsaved_changes:
            self.dismiss(None)
            return
        self.app.push_screen(ConfirmScreen("Discard the reading you typed?", yes="Discard",
                                           no="Keep editing"),
                             lambda discard: self.dismiss(None) if discard else None)


class ChoiceScreen(ModalScreen[str | None]):
    """A short list to pick one value from: Enter or a click picks, Escape cancels."""

    DEFAULT_CSS = """
    ChoiceScreen { align: center middle; }
    ChoiceScreen > Vertical {
        width: auto; min-width: 30; max-width: 100%; height: auto; max-height: 100%;
        border: thick $primary; background: $surface; padding: 0 1;
    }
    ChoiceScreen #choice-title { text-style: bold; color: $accent; height: 1; }
    ChoiceScreen OptionList { width: auto; min-width: 100%; height: auto; max-height: 12; }
    ChoiceScreen #choice-hint { color: $text-muted; height: 1; }
    """
    BINDINGS = [Binding("escape", "cancel", "Cancel", id="choice-cancel")]

    def __init__(self, title: str, options: Sequence[tuple[str, str]], value: str) -> None:
        super().__init__()
        self.title_text, self.options, self.value = title, list(options), value

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Static(self.title_text, id="choice-title", markup=False)
            yield OptionList(*[Option(label, id=key) for label, key in self.options],
                             id="choice-list", compact=True)
            yield Static("Enter chooses, Esc cancels", id="choice-hint")

    def on_mount(self) -> None:
        keys = [key for _label, key in self.options]
        self.query_one(OptionList).highlighted = keys.index(self.value) \
            if self.value in keys else 0

    @on(OptionList.OptionSelected)
    def chosen(self, event: OptionList.OptionSelected) -> None:
        event.stop()
        self.dismiss(event.option.id)

    def action_cancel(self) -> None:
        """Close without changing the value."""
        self.dismiss(None)


class Choice(Widget, can_focus=True):
    """A one-line selector, e.g. 'Metric (m): Blood pressure ▾'.

    Enter, space or a click open the list of values (:class:`ChoiceScreen`);
    :meth:`cycle` steps to the next one. Setting :attr:`value` posts :class:`Changed`.
    One widget instead of a ``Select`` (a container of six) keeps the pane quick to open.
    """

    DEFAULT_CSS = """
    Choice { width: auto; height: 1; padding: 0 1; background: $boost; }
    Choice:hover { background: $panel; }
    Choice:focus { background: $block-cursor-background; color: $block-cursor-foreground;
                   text-style: $block-cursor-text-style; }
    """
    BINDINGS = [Binding("enter,space", "open", "Choose", show=False)]

    class Changed(Message):
        """The value of a :class:`Choice` changed."""

        def __init__(self, choice: Choice, value: str) -> None:
            super().__init__()
            self.choice, self.value = choice, value

        @property
        def control(self) -> Choice:
            return self.choice

    def __init__(self, prompt: str, options: Sequence[tuple[str, str]], value: str, *,
                 id: str | None = None) -> None:
        super().__init__(id=id)
        self.prompt, self.options = prompt, list(options)
        self.labels = {key: label for label, key in self.options}
        if value not in self.labels:
            raise ValueError(f"{value!r} is not one of the choices")
        self._value = value
        self._width = max(cell_len(label) for label, _key in self.options)

    @property
    def value(self) -> str:
        """The chosen key."""
        return self._value

    @value.setter
    def value(self, value: str) -> None:
        if value not in self.labels:
            raise ValueError(f"{value!r} is not one of the choices")
        if value != self._value:
            self._value = value
            self.refresh()
            self.post_message(self.Changed(self, value))

    def cycle(self, step: int = 1) -> None:
        """Choose the next value (the first after the last)."""
        keys = [key for _label, key in self.options]
        self.value = keys[(keys.index(self._value) + step) % len(keys)]

    def render(self) -> Text:
        label = self.labels[self._value]
        return Text.assemble(f"{self.prompt}: ", (label, "bold"),
                             " " * (self._width - cell_len(label)), " ▾")

    def action_open(self) -> None:
        """Open the list of values; the one picked becomes the value."""
        self.app.push_screen(ChoiceScreen(self.prompt, self.options, self._value), self.picked)

    def picked(self, value: str | None) -> None:
        if value is not None:
            self.value = value

    def on_click(self, event: Click) -> None:
        event.stop()
        self.action_open()


# a prefetched series older than this is fetched again when the tab opens (live updates
# drop it sooner when the readings change; this bounds it when they are off)
PREFETCH_FRESH_SECONDS = 60.0


@dataclass(frozen=True)
class Prefetched:
    """A range of readings fetched before the pane exists (see PatientScreen)."""

    range_key: str
    since: datetime | None
    now: datetime
    rows: list[dict[str, Any]]
    fetched_at: float  # time.monotonic()


def range_window(app: Any, range_key: str) -> tuple[datetime | None, datetime]:
    """The start (None: all) and end of a range, ending now."""
    now = app.now()
    days = RANGE_DAYS[range_key]
    return (now - timedelta(days=days) if days else None), now


def prefetch_series(app: Any, session: Any, patient_id: str,
                    range_key: str = DEFAULT_RANGE) -> Callable[[Any], Prefetched]:
    """A service call fetching the pane's first range ahead of time."""
    since, now = range_window(app, range_key)

    def fetch(services: Any) -> Prefetched:
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
    ]

    #: collections whose changes make the pane re-fetch
    WATCHES: frozenset[str] = frozenset({"vitals"})

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
        """Fetch the selected range (only that range) and redraw."""
        session, pid, range_key = self.app.session, self.patient_id, self.range_key
        if session is None:
            return
        since, now = range_window(self.app, range_key)
        # Progress is a word in the summary line: a loading overlay would take the chart
        # out of the layout and delay its first drawing by a frame or two.
        for summary in self.query("#vitals-summary").results(Static):
            summary.update(self.loading_text)
        self.call_service(lambda s: s.vitals.series(session, pid, since=since),
                          lambda rows: self.loaded(rows, range_key, since, now),
                          error=self.load_failed, group="vitals-series")

    def load_failed(self, exc: BaseException) -> None:
        """Say why the readings could not be shown (the old ones stay on screen)."""
        self.query_one("#vitals-summary", Static).update(
            Text(f"Could not load the readings: {getattr(exc, 'message', exc)}",
                 style="bold"))

    def loaded(self, rows: list[dict[str, Any]], range_key: str, since: datetime | None,
               now: datetime) -> None:
        """Keep the fetched readings and show them."""
        if range_key != self.range_key:  # the user moved on while this was loading
            return
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
        home = self.app.session.role == policy.PATIENT
        self.app.push_screen(AddReadingScreen(self.patient_id, home=home), self.reading_added)

    def reading_added(self, reading: dict[str, Any] | None) -> None:
        if reading is None:
            return
        flags = [f["label"] for f in reading.get("flags", ()) if f["level"] > 0]
        text = "Reading saved." + (f" Out of range: {', '.join(flags)}." if flags else "")
        self.app.notify(text, title="Vitals", severity="warning" if flags else "information",
                        markup=False)
        self.reload()
