"""The patient's dashboard: upcoming appointments, the latest vitals with a blood
pressure trend, active prescriptions and the latest reports."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Grid, Vertical
from textual.widgets import Sparkline, Static

from .appointment_table import AppointmentTable, RecordTable
from .cells import date_cell, short_date, styled
from .dashboard_panel import DashboardPanel
from .table import Fit, Short, short_doctor

FLAG_STYLES = {0: "success", 1: "warning", 2: "error", 3: "error"}
#: (flag metric, label, formatter)
METRICS: tuple[tuple[str, str, Callable[[dict[str, Any]], str | None]], ...] = (
    ("blood_pressure", "Blood pressure",
     lambda r: f"{r['systolic']}/{r['diastolic']} mmHg" if "systolic" in r else None),
    ("heart_rate", "Heart rate", lambda r: f"{r['heart_rate']} bpm" if "heart_rate" in r else None),
    ("glucose", "Glucose",
     lambda r: (f"{r['glucose_mg_dl']:g} mg/dL" + (" fasting" if r.get("glucose_fasting") else ""))
     if "glucose_mg_dl" in r else None),
    ("temperature_c", "Temperature",
     lambda r: f"{r['temperature_c']:g} °C" if "temperature_c" in r else None),
    ("spo2", "SpO2", lambda r: f"{r['spo2']} %" if "spo2" in r else None),
    ("weight_kg", "Weight", lambda r: f"{r['weight_kg']:g} kg" if "weight_kg" in r else None),
)



class PatientPanel(DashboardPanel, Grid):
    """A patient's summary, two by two."""

    def __init__(self) -> None:
        super().__init__(id="patient-body")

    def compose(self) -> ComposeResult:
        with Vertical(id="upcoming-box", classes="panel"):
            yield Static("Upcoming appointments", classes="section-title")
            yield AppointmentTable(("date", "time", "doctor", "reason"), id="upcoming")
            yield Static("", id="upcoming-empty", classes="muted empty")
        with Vertical(id="vitals-box", classes="panel"):
            yield Static("Latest vitals", classes="section-title")
            yield Static("", id="vitals-latest")
            yield Static("", id="trend-title", classes="muted")
            yield Sparkline([], id="systolic-trend")
        with Vertical(id="rx-box", classes="panel"):
            yield Static("Active prescriptions", classes="section-title")
            yield RecordTable([
                ("drug", "Medicine", lambda r: Text(r.get("drug") or "")),
                ("dose", "Dose", lambda r: Text(r.get("dose") or "")),
                ("frequency", "How often", lambda r: Text(r.get("frequency") or "")),
                ("doctor", "Prescribed by", lambda r: Short(
                    Text(r.get("doctor_name") or ""),
                    Text(short_doctor(r.get("doctor_name"))))),
            ], fit=Fit(flex=("frequency", "drug"), drop=("doctor",)), id="prescriptions")
            yield Static("", id="rx-empty", classes="muted empty")
        with Vertical(id="reports-box", classes="panel"):
            yield Static("Latest reports", classes="section-title")
            yield RecordTable([
                ("date", "Date", lambda r: self._day(r.get("uploaded_at"))),
                ("kind", "Kind", lambda r: Text(r.get("kind") or "")),
                ("file", "File", lambda r: Text(r.get("filename") or "")),
            ], fit=Fit(flex=("file", "kind")), id="reports")
            yield Static("", id="reports-empty", classes="muted empty")

    def _day(self, moment: Any) -> Short:
        """A date cell: '04 Mar 2026', or '04 Mar' on a narrow table."""
        return date_cell(moment, self.ctx.now())

    def show(self, data: dict[str, Any]) -> None:
        upcoming = data.get("upcoming", [])
        self.query_one("#upcoming", AppointmentTable).show(upcoming)
        self._empty("#upcoming-empty", "No upcoming appointments. Ctrl+N books one.",
                    len(upcoming))
        rx = data.get("prescriptions", [])
        self.query_one("#prescriptions", RecordTable).show(rx)
        self._empty("#rx-empty", "No active prescriptions.", len(rx))
        reports = data.get("reports", [])
        self.query_one("#reports", RecordTable).show(reports)
        self._empty("#reports-empty", "No reports yet.", len(reports))
        self._show_vitals(data.get("vitals", []))

    def _show_vitals(self, readings: list[dict[str, Any]]) -> None:
        latest_box = self.query_one("#vitals-latest", Static)
        trend = self.query_one("#systolic-trend", Sparkline)
        trend_title = self.query_one("#trend-title", Static)
        if not readings:
            latest_box.update("No readings yet.")
            trend.display = trend_title.display = False
            return
        latest = readings[0]  # newest first
        flags = {f["metric"]: f for f in latest.get("flags", [])}
        text = Text(f"{short_date(latest.get('taken_at'))} {latest['taken_at']:%H:%M}"
                    if isinstance(latest.get("taken_at"), datetime) else "")
        if latest.get("source"):
            text.append(f" ({latest['source']})")
        for metric, label, fmt in METRICS:
            value = fmt(latest)
            if value is None:
                continue
            text.append(f"\n{label}: {value}")
            flag = flags.get(metric)
            if flag:
                text.append("  ")
                text.append_text(styled(self, flag["label"], FLAG_STYLES.get(flag["level"])))
        latest_box.update(text)
        systolic = [r["systolic"] for r in reversed(readings) if "systolic" in r]
        if systolic:
            trend.data = systolic
            trend_title.update(Text(f"Systolic, last {len(systolic)} readings: "
                                    f"{min(systolic)}–{max(systolic)} mmHg, "
                                    f"latest {systolic[-1]}"))
            trend.display = trend_title.display = True
        else:
            trend.display = trend_title.display = False

