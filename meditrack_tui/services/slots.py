"""A doctor's free appointment times: inside the clinic's opening hours and the doctor's
working hours, long enough for the visit, clear of open bookings, not in the past.

Pure computation over what :class:`~meditrack_tui.services.appointments.AppointmentService`
reads; the booking itself still goes through ``book``/``reschedule``, which check again.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any

from .settings import WEEKDAYS

DEFAULT_STEP = 15      # minutes between the times offered
MAX_DAYS = 31          # days one call may ask for


@dataclass(frozen=True)
class FreeDay:
    """One day of a doctor's free times. ``hours`` is the span they can be seen that day
    ("08:00-18:00", inside both the clinic's and the doctor's hours) or None when either
    is closed; ``times`` are the free start times, earliest first."""

    day: date
    hours: str | None
    times: list[datetime] = field(default_factory=list)


def _clock(text: str) -> time:
    hours, minutes = text.split(":")
    return time(int(hours), int(minutes))


def open_span(clinic_hours: dict[str, Any], doctor_hours: dict[str, Any],
              day: date) -> tuple[time, time] | None:
    """When the doctor can be seen on ``day``: the overlap of both weekly hours, or None."""
    weekday = WEEKDAYS[day.weekday()]
    clinic, own = clinic_hours.get(weekday), doctor_hours.get(weekday)
    if not clinic or not own:
        return None
    begin = max(_clock(clinic[0]), _clock(own[0]))
    end = min(_clock(clinic[1]), _clock(own[1]))
    return (begin, end) if begin < end else None


def free_days(first: date, count: int, *, clinic_hours: dict[str, Any],
              doctor_hours: dict[str, Any], busy: Iterable[tuple[datetime, datetime]],
              duration: int, step: int, now: datetime) -> list[FreeDay]:
    """The free start times of ``count`` days from ``first``: every ``step`` minutes from
    the opening time, where ``[start, start + duration)`` ends by closing time, overlaps
    no ``busy`` interval and does not start before ``now``."""
    taken = sorted(busy)
    length = timedelta(minutes=duration)
    out = []
    for offset in range(count):
        day = first + timedelta(days=offset)
        span = open_span(clinic_hours, doctor_hours, day)
        if span is None:
            out.append(FreeDay(day, None))
            continue
        start, close = datetime.combine(day, span[0]), datetime.combine(day, span[1])
        times = []
        while start + length <= close:
            end = start + length
            if start >= now and not any(b < end and start < e for b, e in taken):
                times.append(start)
            start += timedelta(minutes=step)
        out.append(FreeDay(day, f"{span[0]:%H:%M}-{span[1]:%H:%M}", times))
    return out


__all__ = ["FreeDay", "free_days", "open_span", "DEFAULT_STEP", "MAX_DAYS"]
