"""The vitals chart: the metrics a chart can show, their normal bands in numbers and words,
and the plotext trend widget (built when it renders, for its laid-out size)."""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from rich.text import Text
from textual.color import Color
from textual.message import Message
from textual_plotext import PlotextPlot

from meditrack_tui import reference

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
    def rgb(name: str, fallback: str) -> tuple[int, int, int]:
        return Color.parse(variables.get(name) or variables[fallback]).rgb

    return ChartColors(series=(rgb("primary", "foreground"), rgb("accent", "primary")),
                       band=rgb("success", "foreground"), mild=rgb("warning", "foreground"),
                       high=rgb("error", "foreground"))


def nice_ticks(low: float, high: float, count: int = 5) -> list[float]:
    """Round y ticks in [low, high] (steps of 1, 2 or 5 times a power of ten),
    as close to ``count`` of them as such steps allow."""
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
    # (marker, colour, the flag levels it marks: first, after the last)
    for marker, color, first, after in (("•", colors.mild, 1, 2), ("●", colors.high, 2, 99)):
        fx: list[float] = []
        fy: list[float] = []
        for x, reading in zip(xs, readings, strict=False):
            flag = flag_of(reading, metric)
            if flag and first <= flag["level"] < after:
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
