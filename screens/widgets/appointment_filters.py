"""The filter bar over the appointment list (status, doctor, a date range and, for staff,
a patient, MRN or reason search) and the lines under the list and the agenda."""

from __future__ import annotations

from datetime import date
from typing import Any

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Horizontal
from textual.widgets import Input, Select

from meditrack_tui.domain import AppointmentStatus
from meditrack_tui.services.base import Page

from .cells import parse_day


def pager_text(page: Page[dict[str, Any]], descending: bool) -> str:
    """'Page 1 of 3 · 120 appointments · newest first · PgUp/PgDn: pages'."""
    if not page.total:
        return "No appointments match these filters."
    order = "newest first" if descending else "earliest first"
    return (f"Page {page.page} of {page.pages} · {page.total} appointment"
            f"{'s' if page.total != 1 else ''} · {order}"
            + (" · PgUp/PgDn: pages" if page.pages > 1 else ""))


def agenda_summary(rows: list[dict[str, Any]], doctor: str) -> str:
    """'7 appointments: 5 scheduled, 1 checked in, 1 completed'."""
    if not rows:
        return f"No appointments for {doctor} on this day."
    counts = {status: sum(1 for row in rows if row["status"] == status)
              for status in AppointmentStatus}
    parts = [f"{n} {s.label.lower()}" for s, n in counts.items() if n]
    return f"{len(rows)} appointment{'s' if len(rows) != 1 else ''}: {', '.join(parts)}"


class AppointmentFilters(Horizontal):
    """The list's filters (``#list-filters``); :meth:`read` gives them to the service."""

    def __init__(self, *, today: date, search: bool) -> None:
        super().__init__(id="list-filters")
        self.today = today
        self.search = search

    def compose(self) -> ComposeResult:
        yield Select([(s.label, s.value) for s in AppointmentStatus],
                     prompt="Any status", id="f-status", compact=True)
        yield Select([], prompt="Any doctor", id="f-doctor", compact=True)
        yield Input(self.today.isoformat(), placeholder="from date", id="f-from",
                    max_length=10, compact=True)
        yield Input(placeholder="to date", id="f-to", max_length=10, compact=True)
        if self.search:
            yield Input(placeholder="patient, MRN, reason", id="f-query", compact=True)

    def set_doctors(self, doctors: list[dict[str, Any]]) -> None:
        # names as Text: never read as markup
        self.query_one("#f-doctor", Select).set_options(
            [(Text(d["full_name"]), d["id"]) for d in doctors])

    def read(self) -> tuple[dict[str, Any] | None, str]:
        """The filters for ``appointments.list``, or None and what is wrong with a date."""
        out: dict[str, Any] = {}
        status = self.query_one("#f-status", Select)
        doctor = self.query_one("#f-doctor", Select)
        out["status"] = None if status.is_blank() else status.value
        out["doctor_id"] = None if doctor.is_blank() else doctor.value
        for field_id, key, label in (("#f-from", "date_from", "From"), ("#f-to", "date_to", "To")):
            text = self.query_one(field_id, Input).value.strip()
            if text and parse_day(text) is None:
                return None, f"{label} date: enter it as YYYY-MM-DD, or leave it empty."
            out[key] = text or None
        out["query"] = None
        if self.search:
            out["query"] = self.query_one("#f-query", Input).value.strip() or None
        # without a start date the newest come first; from a date on, the earliest first
        out["descending"] = out["date_from"] is None
        return out, ""
