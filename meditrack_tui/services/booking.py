"""The booking rules every appointment write checks: when (the booking window and a
duration), the clinic's and the doctor's hours, the patient's limit of upcoming
appointments, and no double booking of a doctor."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

from .. import policy
from ..domain import OPEN_STATUSES
from ..errors import NotFound, ValidationError
from ..store import AppointmentQuery, AppointmentRow, UserRow
from ..validation import Checker, add_safely
from .base import Service, Session, ref
from .settings import clinic_settings, doctor_hours, fits, format_hours

MIN_DURATION = 5
MAX_DURATION = 240
# Bookings reach at most two years ahead. Staff may also record a visit that already
# happened (a walk-in written up afterwards) up to a week back; patients book from now.
BOOK_DAYS_AHEAD = 730
RECORD_DAYS_BACK = 7


class BookingRules(Service):
    """The checks of a booking (the base of AppointmentService)."""

    def _doctor(self, doctor_id: Any, check: Checker) -> UserRow | None:
        try:
            doc = self.store.users.get(ref(doctor_id, "doctor"))
        except NotFound:
            doc = None
        if doc is None or doc.get("role") != policy.DOCTOR or doc.get("status") != "active":
            doc = None
            check.fail("doctor_id", "Choose an active doctor.")
        return doc

    def _when(self, check: Checker, data: dict[str, Any]) -> tuple[datetime | None, int | None]:
        today = self.ctx.now().date()
        first = today - timedelta(days=RECORD_DAYS_BACK)
        last = today + timedelta(days=BOOK_DAYS_AHEAD)
        day = check.day("date", data.get("date"), required=True, low=first, high=last,
                        window=f"from {first:%d %b %Y} to {last:%d %b %Y} (appointments are "
                               "booked up to two years ahead)")
        at = check.clock("time", data.get("time"), required=True)
        duration = check.number("duration_min", data.get("duration_min", 20), low=MIN_DURATION,
                                high=MAX_DURATION, integer=True, required=True,
                                label="duration (minutes)")
        if day is None or at is None:
            return None, None
        return datetime.combine(day, at), int(duration) if duration is not None else None

    def _check_hours(self, doctor: Mapping[str, Any], start: datetime, end: datetime) -> None:
        """Refuse a slot that is not wholly inside the clinic's opening hours and the
        doctor's working hours, naming the hours."""
        clinic = clinic_settings(self.store)
        slot = f"{start:%a %d %b %Y} {start:%H:%M}-{end:%H:%M}"
        if not fits(clinic["hours"], start, end):
            raise ValidationError({"time": f"The clinic is open {format_hours(clinic['hours'])}; "
                                           f"{slot} is outside those hours."})
        hours = doctor_hours(doctor, clinic)
        if not fits(hours, start, end):
            name = doctor.get("full_name") or doctor.get("username") or "The doctor"
            raise ValidationError({"time": f"{name} works {format_hours(hours)}; {slot} is "
                                           "outside those hours."})

    def _upcoming(self, patient_id: str, exclude: str | None = None) -> list[AppointmentRow]:
        """A patient's upcoming appointments (open, not yet started), oldest booking first."""
        found = self.store.appointments.find(AppointmentQuery(
            patient_id=patient_id, statuses=OPEN_STATUSES, start_from=self.ctx.now(),
            limit=None, count=False))
        return sorted((d for d in found.items if d["id"] != exclude), key=lambda d: d["id"])

    def _limit_error(self, session: Session, name: str, limit: int) -> ValidationError:
        plural = "s" if limit != 1 else ""
        if session.role == policy.PATIENT:
            text = (f"You already have {limit} upcoming appointment{plural}, the most a "
                    "patient may hold at once. Cancel one, or wait until one has taken "
                    "place, before booking another.")
        else:
            text = (f"{name} already has {limit} upcoming appointment{plural}, the most a "
                    "patient may hold at once; the limit applies to bookings made by staff "
                    "too. Cancel or complete one of them first.")
        return ValidationError({"patient_id": text})

    def _check_limit(self, session: Session, patient_id: str, name: str, start: datetime,
                     exclude: str | None = None) -> None:
        """In the booking's unit of work: refuse when the patient already holds the most
        upcoming appointments the clinic allows. Writing the patient's booking counter
        first makes concurrent bookings for one patient collide (as for a doctor)."""
        if start < self.ctx.now():
            return  # recording a visit that already happened holds no future slot
        self.store.counters.next("patient-bookings:" + patient_id)
        limit = int(clinic_settings(self.store)["max_upcoming"])
        if len(self._upcoming(patient_id, exclude)) >= limit:
            raise self._limit_error(session, name, limit)

    def _clash(self, doctor_id: str, start: datetime, end: datetime,
               exclude: str | None = None) -> AppointmentRow | None:
        """An open appointment of the same doctor overlapping [start, end), if any."""
        earlier = add_safely(start, timedelta(minutes=-MAX_DURATION)) or start
        days = {start.date().isoformat(), (end - timedelta(seconds=1)).date().isoformat(),
                earlier.date().isoformat()}
        found = self.store.appointments.find(AppointmentQuery(
            doctor_id=doctor_id, days=tuple(sorted(days)), statuses=OPEN_STATUSES,
            limit=None, count=False))
        for doc in found.items:
            if doc["id"] == exclude:
                continue
            if doc["start"] < end and start < doc["end"]:
                return doc
        return None

    def _clash_error(self, other: Mapping[str, Any]) -> ValidationError:
        return ValidationError(
            {"time": f"{other.get('doctor_name', 'The doctor')} already has an appointment "
                     f"{other['start']:%H:%M}-{other['end']:%H:%M} on {other['start']:%d %b %Y}."}
        )
