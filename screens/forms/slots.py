"""Choosing an appointment time from a doctor's free times: a day selector and the list
of that day's free start times (the booking form's "when").

The free times come from ``AppointmentService.free_slots`` (inside the clinic's and the
doctor's hours, long enough for the visit, clear of bookings, not in the past), four weeks
at a time; "Later dates" and "Earlier dates" move the window. The booking itself is still
checked by the service (someone may book the time first).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.containers import Horizontal
from textual.message import Message
from textual.widget import Widget
from textual.widgets import Label, OptionList, Select, Static
from textual.widgets.option_list import Option

from meditrack_tui.errors import MediTrackError, SessionExpired

from ..base import ServiceMixin
from ..messages import ServiceFailed

WINDOW_DAYS = 28
LATER, EARLIER = "later", "earlier"


def day_label(day: date, count: int, today: date) -> Text:
    """'Wed 04 Mar · 12 free (today)'."""
    when = " (today)" if day == today else (" (tomorrow)" if day == today + timedelta(days=1)
                                            else "")
    return Text(f"{day:%a %d %b} · {count} free{when}")


class SlotPicker(ServiceMixin, Widget):
    """A day with free times, then one of its free times. ``chosen`` is (day, "HH:MM")."""

    DEFAULT_CSS = """
    SlotPicker { height: auto; }
    SlotPicker #slot-row { height: 1; margin-top: 1; }
    SlotPicker #day { width: 36; }
    SlotPicker #slot-hours { width: 1fr; margin-left: 2; color: $text-muted; }
    SlotPicker #slot { height: auto; max-height: 5; margin-left: 9; }
    """

    @dataclass
    class Found(Message):
        """The doctor's free days for the window ``key`` asked about."""

        days: list[Any]
        key: tuple[Any, ...]

    def __init__(self, *, day: date | None = None, time: str | None = None,
                 exclude: str | None = None, id: str | None = None) -> None:
        super().__init__(id=id)
        self.wanted: tuple[date | None, str | None] = (day, time or None)
        self.exclude = exclude
        self.doctor_id: str | None = None
        self.duration = 20
        self.window: date | None = None
        self.days: dict[date, Any] = {}
        self.key: tuple[Any, ...] | None = None   # what the list shows (or is loading)
        self.auto: tuple[date, str] | None = None  # what the list chose by itself
        self.shown_day: date | None = None

    def compose(self) -> ComposeResult:
        with Horizontal(id="slot-row"):
            yield Label("Day", classes="form-label")
            yield Select([], prompt="choose a doctor first", id="day", compact=True,
                         allow_blank=True)
            yield Static("", id="slot-hours", markup=False)
        yield OptionList(id="slot", compact=True)

    # --- what was chosen ---

    @property
    def chosen(self) -> tuple[date, str] | None:
        day = self._day()
        times = self.query_one("#slot", OptionList)
        if day is None or times.highlighted is None or times.option_count == 0:
            return None
        option = times.get_option_at_index(times.highlighted)
        return (day, str(option.id)) if option.id else None

    @property
    def touched(self) -> bool:
        """True when the person chose a day or time other than the one offered first."""
        return self.chosen != self.auto

    def choose(self, day: date, time: str) -> bool:
        """Choose a free time (False when it is not one of the offered times)."""
        free = self.days.get(day)
        if free is None or time not in [f"{t:%H:%M}" for t in free.times]:
            return False
        self.query_one("#day", Select).value = day.isoformat()
        self._fill_times(day, time)
        return True

    def _day(self) -> date | None:
        select = self.query_one("#day", Select)
        if select.is_blank() or select.value in (LATER, EARLIER):
            return None
        return date.fromisoformat(str(select.value))

    # --- loading ---

    def request(self, doctor_id: str | None, duration: int) -> None:
        """Show ``doctor_id``'s free times for a visit of ``duration`` minutes."""
        if self.chosen is not None:
            self.wanted = self.chosen
        self.doctor_id, self.duration = doctor_id, duration
        self._load()

    def _load(self) -> None:
        today = self.ctx.now().date()
        if self.window is None:
            wanted = self.wanted[0]
            self.window = wanted if wanted and wanted > today + timedelta(WINDOW_DAYS - 1) \
                else today
        self.window = max(self.window, today)
        key = (self.doctor_id, self.duration, self.window)
        self.key = key
        if not self.doctor_id:
            self._show([], key)
            return
        session, doctor_id, duration = self.ctx.session, self.doctor_id, self.duration
        first, exclude = self.window.isoformat(), self.exclude
        self.query_one("#slot-hours", Static).update("looking for free times…")
        self.ask(lambda s: s.appointments.free_slots(session, doctor_id, day=first,
                                                     days=WINDOW_DAYS, duration_min=duration,
                                                     exclude=exclude),
                 lambda days: self.Found(list(days), key), group="free-slots")

    def on_slot_picker_found(self, message: SlotPicker.Found) -> None:
        message.stop()
        self._show(message.days, message.key)

    def on_service_failed(self, message: ServiceFailed) -> None:
        """No free times to show: the service's sentence where they would be."""
        exc = message.error
        if isinstance(exc, MediTrackError) and not isinstance(exc, SessionExpired):
            message.prevent_default()
            message.stop()
            self.query_one("#slot-hours", Static).update(exc.message)

    def _show(self, days: list[Any], key: tuple[Any, ...]) -> None:
        if key != self.key:
            return  # the doctor, duration or window changed while this was loading
        today = self.ctx.now().date()
        self.days = {d.day: d for d in days}
        options: list[tuple[Text, str]] = []
        if self.window and self.window > today:
            options.append((Text("◀ earlier dates"), EARLIER))
        options += [(day_label(d.day, len(d.times), today), d.day.isoformat())
                    for d in days if d.times]
        if days and self.window:
            options.append((Text("later dates ▶"), LATER))
        wanted_day, wanted_time = self.wanted
        free = [d.day for d in days if d.times]
        day = wanted_day if wanted_day in free else (free[0] if free else None)
        select = self.query_one("#day", Select)
        # the list's blank entry: "choose a doctor first" only while no doctor is chosen
        select.prompt = "choose a day" if self.doctor_id else "choose a doctor first"
        try:
            select.set_options(options)
            if day is not None:
                select.value = day.isoformat()
        finally:
            self.shown_day = None
        if day is None:
            self.query_one("#slot", OptionList).clear_options()
            self.auto = None
            hours = self.query_one("#slot-hours", Static)
            if not self.doctor_id:
                hours.update("")
            else:
                last = (self.window or today) + timedelta(days=WINDOW_DAYS - 1)
                hours.update(f"No free times up to {last:%d %b}: try later dates.")
            return
        self._fill_times(day, wanted_time if day == wanted_day else None)
        self.auto = self.chosen

    def _fill_times(self, day: date, time: str | None) -> None:
        free = self.days.get(day)
        times = self.query_one("#slot", OptionList)
        times.clear_options()
        self.shown_day = day
        if free is None:
            return
        for moment in free.times:
            end = moment + timedelta(minutes=self.duration)
            times.add_option(Option(f"{moment:%H:%M}-{end:%H:%M}", id=f"{moment:%H:%M}"))
        labels = [f"{t:%H:%M}" for t in free.times]
        times.highlighted = labels.index(time) if time in labels else 0
        self.query_one("#slot-hours", Static).update(
            f"hours {free.hours}" if free.hours else "")

    @on(Select.Changed, "#day")
    def _day_changed(self, event: Select.Changed) -> None:
        event.stop()
        if not isinstance(event.value, str):
            return  # blank (the options were replaced)
        if event.value in (LATER, EARLIER):
            assert self.window is not None
            step = timedelta(days=WINDOW_DAYS)
            self.window = self.window + step if event.value == LATER else self.window - step
            self.wanted = (self.window, None)
            self._load()
            return
        day = date.fromisoformat(str(event.value))
        if day == self.shown_day:
            return  # the list already shows it (the form set it)
        wanted = self.wanted[1] if self.wanted[0] == day else None
        self._fill_times(day, wanted)

    def moment(self) -> datetime | None:
        chosen = self.chosen
        if chosen is None:
            return None
        hours, minutes = (int(part) for part in chosen[1].split(":"))
        return datetime.combine(chosen[0], datetime.min.time()).replace(hour=hours,
                                                                         minute=minutes)


__all__ = ["SlotPicker", "WINDOW_DAYS"]
