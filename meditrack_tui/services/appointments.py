"""Appointments: book, reschedule, cancel, status; no double booking of a doctor; lists."""

from __future__ import annotations

import builtins
from collections.abc import Mapping
from datetime import date, datetime, timedelta
from typing import Any

from .. import policy
from ..domain import APPOINTMENT_STATUSES, OPEN_STATUSES, may_follow
from ..errors import Conflict, NotFound, ValidationError
from ..store import AppointmentQuery, AppointmentRow, UserRow
from ..validation import Checker, add_safely, page_args
from .base import Page, Service, Session, describe, public, ref
from .patients import PatientService
from .settings import clinic_settings, doctor_hours, fits, format_hours
from .slots import DEFAULT_STEP, MAX_DAYS, FreeDay, free_days

STATUSES = APPOINTMENT_STATUSES


def _by_whom(doc: Mapping[str, Any]) -> str:
    """' (by dr.x at 10:05 on 04 Mar 2026)' for messages about someone else's change."""
    who, when = doc.get("updated_by"), doc.get("updated_at")
    if not who:
        return ""
    return f" (by {who}" + (f" at {when:%H:%M on %d %b %Y})" if when else ")")
SORTS = {"start": "start", "patient": "patient_name", "doctor": "doctor_name",
         "status": "status", "reason": "reason"}
MIN_DURATION = 5
MAX_DURATION = 240
# Bookings reach at most two years ahead. Staff may also record a visit that already
# happened (a walk-in written up afterwards) up to a week back; patients book from now.
BOOK_DAYS_AHEAD = 730
RECORD_DAYS_BACK = 7


class AppointmentService(Service):
    """Book, reschedule, cancel and list appointments as the role allows."""

    def _get(self, appointment_id: Any) -> AppointmentRow:
        doc = self.store.appointments.get(ref(appointment_id, "appointment"))
        if doc is None:
            raise NotFound("That appointment does not exist.")
        return doc

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

    def book(self, session: Session, data: dict[str, Any]) -> dict[str, Any]:
        """Book an appointment; a doctor's overlapping booking is refused."""
        if not isinstance(data, dict):
            raise ValidationError("Appointment details must be a set of fields.")
        patients = PatientService(self.ctx)
        pid = patients.require_visible(session, data.get("patient_id"), "appointment.book")
        check = Checker()
        start, duration = self._when(check, data)
        doctor = self._doctor(data.get("doctor_id"), check)
        reason = check.text("reason", data.get("reason"), required=True, max_len=200)
        if start is not None and start < self.ctx.now() - timedelta(minutes=5) \
                and session.role == policy.PATIENT:
            check.fail("date", "Appointments cannot be booked in the past.")
        check.done()
        assert start and duration and doctor and reason
        end = start + timedelta(minutes=duration)
        self._check_hours(doctor, start, end)
        name, mrn = patients.name_of(pid)
        now = self.ctx.now()
        doc: AppointmentRow = {
            "patient_id": pid, "patient_name": name, "mrn": mrn,
            "patient_name_key": name.lower(),
            "doctor_id": doctor["id"], "doctor_name": doctor.get("full_name"),
            "start": start, "end": end, "day": start.date().isoformat(),
            "duration_min": duration, "reason": reason, "status": "scheduled",
            "created_by": session.username, "created_at": now,
            "updated_by": session.username, "updated_at": now, "version": 1,
        }
        # The overlap check and the insert are one unit of work. On the embedded store that
        # makes them one step for every process; in a MongoDB transaction, touching the
        # doctor's booking counter first makes two racing bookings conflict (one is retried
        # or refused). On a standalone mongod both can pass the check, so each re-checks
        # after its insert and the later one (by id) withdraws.
        # The patient's limit is kept the same way (their own counter, then the count).
        with self.uow():
            self._claim(doctor["id"])
            other = self._clash(doctor["id"], start, end)
            if other:
                raise self._clash_error(other)
            self._check_limit(session, pid, name, start)
            doc = self.store.appointments.add(doc)
            if self.store.info.transactions:
                self._booked(session, doc)
        if not self.store.info.transactions:
            other = self._clash(doctor["id"], start, end, exclude=doc["id"])
            if other is not None and other["id"] < doc["id"]:
                self.store.appointments.delete(doc["id"])
                raise self._clash_error(other)
            if start >= now:
                limit = int(clinic_settings(self.store)["max_upcoming"])
                held = [d["id"] for d in self._upcoming(pid)]
                if doc["id"] in held and held.index(doc["id"]) >= limit:
                    self.store.appointments.delete(doc["id"])
                    raise self._limit_error(session, name, limit)
            self._booked(session, doc)
        return public(doc) or {}

    def _claim(self, doctor_id: str) -> None:
        """Write the doctor's booking counter in this unit of work, so concurrent
        transactions booking the same doctor collide instead of both passing the check."""
        self.store.counters.next("bookings:" + doctor_id)

    def _booked(self, session: Session, doc: AppointmentRow) -> None:
        self.audit(session, "appointment.book", record_type="appointment", record_id=doc["id"],
                   patient_id=doc["patient_id"],
                   detail=f"{doc['start']:%Y-%m-%d %H:%M} with {doc['doctor_name']}")
        self.changed("appointments", "insert", doc["id"], patient_id=doc["patient_id"],
                     session=session, extra={"doctor_id": doc["doctor_id"], "day": doc["day"]})

    def _update(self, session: Session, doc: AppointmentRow, version: Any,
                fields: dict[str, Any], action: str, *, audit_stale: bool = True
                ) -> dict[str, Any]:
        if isinstance(version, bool) or not isinstance(version, int):
            raise ValidationError({"version": "The appointment version is missing; reopen it."})
        fields.update({"updated_by": session.username, "updated_at": self.ctx.now()})
        with self.uow():
            result = self.store.appointments.update(doc["id"], fields, version=version)
            if result is not None:
                self.audit(session, action, record_type="appointment", record_id=doc["id"],
                           patient_id=doc["patient_id"], detail=fields.get("status"))
                self.changed("appointments", "update", doc["id"],
                             patient_id=doc["patient_id"], session=session,
                             extra={"doctor_id": str(result["doctor_id"]),
                                    "day": result["day"]})
        if result is None:
            latest = self.store.appointments.get(doc["id"]) or {}
            who = latest.get("updated_by", "someone else")
            when = latest.get("updated_at")
            at = f" at {when:%H:%M on %d %b %Y}" if when else ""
            if latest and audit_stale:
                self.audit_stale(session, action, "appointment", doc["id"], doc["patient_id"])
            raise Conflict(f"{who} changed this appointment{at} after you opened it. "
                           "Reload to see their change.", changed_by=who, changed_at=when,
                           current=public(latest))
        return public(result) or {}

    def reschedule(self, session: Session, appointment_id: Any, data: dict[str, Any],
                   *, version: Any) -> dict[str, Any]:
        """Move an appointment (and optionally change doctor, duration or reason)."""
        doc = self._get(appointment_id)
        self.authorize(session, "appointment.update", patient_id=doc["patient_id"],
                       record_type="appointment", record_id=doc["id"])
        if doc["status"] not in OPEN_STATUSES:
            raise Conflict(f"This appointment is {doc['status']}{_by_whom(doc)} and cannot be "
                           "moved.")
        if not isinstance(data, dict):
            raise ValidationError("Appointment details must be a set of fields.")
        merged = {"date": doc["start"].date().isoformat(), "time": f"{doc['start']:%H:%M}",
                  "duration_min": doc["duration_min"], "doctor_id": str(doc["doctor_id"]),
                  "reason": doc["reason"]}
        merged.update({k: v for k, v in data.items() if k in merged})
        check = Checker()
        start, duration = self._when(check, merged)
        doctor = self._doctor(merged["doctor_id"], check)
        reason = check.text("reason", merged.get("reason"), required=True, max_len=200)
        check.done()
        assert start and duration and doctor
        end = start + timedelta(minutes=duration)
        self._check_hours(doctor, start, end)
        try:
            with self.uow():  # the overlap and limit checks and the move as one step
                self._claim(doctor["id"])
                other = self._clash(doctor["id"], start, end, exclude=doc["id"])
                if other:
                    raise self._clash_error(other)
                if doc["start"] < self.ctx.now():  # a past visit moved ahead takes a slot
                    self._check_limit(session, doc["patient_id"], doc.get("patient_name") or
                                      "This patient", start, exclude=doc["id"])
                return self._update(session, doc, version, {
                    "start": start, "end": end, "day": start.date().isoformat(),
                    "duration_min": duration, "doctor_id": doctor["id"],
                    "doctor_name": doctor.get("full_name"), "reason": reason,
                }, "appointment.reschedule", audit_stale=False)
        except Conflict as exc:
            if exc.current:  # recorded after the unit of work the Conflict rolled back
                self.audit_stale(session, "appointment.reschedule", "appointment", doc["id"],
                                 doc["patient_id"])
            raise

    def set_status(self, session: Session, appointment_id: Any, status: Any,
                   *, version: Any) -> dict[str, Any]:
        """Check in, complete, mark no-show (doctors, admins) or cancel (also patients, own)."""
        doc = self._get(appointment_id)
        check = Checker()
        new = check.choice("status", status, STATUSES)
        check.done()
        assert new is not None  # a choice is required: done() refused a missing one
        action = "appointment.cancel" if new == "cancelled" else "appointment.update"
        self.authorize(session, action, patient_id=doc["patient_id"],
                       record_type="appointment", record_id=doc["id"])
        if doc["status"] in ("cancelled", "completed", "no-show") or new == doc["status"]:
            raise Conflict(f"This appointment is already {doc['status']}"
                           f"{_by_whom(doc)}.")
        if not may_follow(doc["status"], new):
            raise Conflict(f"A {doc['status']} appointment cannot be marked {new}.")
        now = self.ctx.now()
        if new in ("checked-in", "completed") and doc["start"].date() > now.date():
            raise Conflict(f"This appointment is on {doc['start']:%d %b %Y}; it can be "
                           f"{'checked in' if new == 'checked-in' else 'completed'} "
                           "from that day.")
        if new == "no-show" and doc["start"] > now:
            raise Conflict(f"This appointment starts at {doc['start']:%H:%M on %d %b %Y}; "
                           "it can be marked a no-show once that time has passed.")
        return self._update(session, doc, version, {"status": new},
                            f"appointment.{new}")

    def cancel(self, session: Session, appointment_id: Any, *, version: Any) -> dict[str, Any]:
        return self.set_status(session, appointment_id, "cancelled", version=version)

    def free_slots(self, session: Session, doctor_id: Any, *, day: Any = None, days: Any = 1,
                   duration_min: Any = 20, step_min: Any = DEFAULT_STEP,
                   exclude: Any = None) -> list[FreeDay]:
        """A doctor's free start times for ``days`` days from ``day`` (default today):
        inside the clinic's and the doctor's hours, long enough for ``duration_min``, clear
        of open bookings (``exclude``: the appointment being moved), never in the past.
        Booking a time still goes through :meth:`book`, which checks everything again."""
        if exclude not in (None, ""):
            moving = self._get(exclude)
            self.authorize(session, "appointment.update", patient_id=moving["patient_id"],
                           record_type="appointment", record_id=moving["id"])
            exclude = moving["id"]
        else:
            self.authorize(session, "appointment.book", record_type="appointment")
            exclude = None
        now = self.ctx.now()
        last = now.date() + timedelta(days=BOOK_DAYS_AHEAD)
        check = Checker()
        first = check.day("date", day if day not in (None, "") else now.date(), low=now.date(),
                          high=last, window=f"from today to {last:%d %b %Y}")
        count = check.number("days", days, low=1, high=MAX_DAYS, integer=True, required=True,
                             label="number of days")
        duration = check.number("duration_min", duration_min, low=MIN_DURATION,
                                high=MAX_DURATION, integer=True, required=True)
        step = check.number("step_min", step_min, low=5, high=60, integer=True, required=True,
                            label="minutes between times")
        doctor = self._doctor(doctor_id, check)
        check.done()
        assert first and count and duration and step and doctor
        count = min(int(count), (last - first).days + 1)
        begin = datetime.combine(first, datetime.min.time())
        end = begin + timedelta(days=count)
        with self.uow():
            clinic = clinic_settings(self.store)
            found = self.store.appointments.find(AppointmentQuery(
                doctor_id=doctor["id"], statuses=OPEN_STATUSES, limit=None, count=False,
                start_from=begin - timedelta(minutes=MAX_DURATION), start_before=end))
        busy = [(d["start"], d["end"]) for d in found.items if d["id"] != exclude]
        return free_days(first, count, clinic_hours=clinic["hours"],
                         doctor_hours=doctor_hours(doctor, clinic), busy=busy,
                         duration=int(duration), step=int(step), now=now)

    def get(self, session: Session, appointment_id: Any) -> dict[str, Any]:
        doc = self._get(appointment_id)
        self.authorize(session, "appointment.read", patient_id=doc["patient_id"],
                       record_type="appointment", record_id=doc["id"])
        self.audit_read(session, "appointment.read", record_type="appointment",
                        record_id=doc["id"], patient_id=doc["patient_id"])
        return public(doc) or {}

    def day_agenda(self, session: Session, doctor_id: Any, day: Any
                   ) -> builtins.list[dict[str, Any]]:
        """One doctor's appointments on one day, in time order (cancelled included)."""
        scope = self.authorize(session, "appointment.read", record_type="appointment")
        check = Checker()
        when = check.day("date", day, required=True)
        check.done()
        assert when is not None  # required: done() refused a missing day
        doctor = ref(doctor_id, "doctor")
        own = self.own_patient(session, scope)
        with self.uow():
            found = self.store.appointments.find(AppointmentQuery(
                doctor_id=doctor, day=when.isoformat(), patient_id=own, limit=None,
                count=False))
            self.audit_read(session, "appointment.agenda", record_type="appointment",
                            patient_id=own or None, count=len(found.items),
                            query=describe(doctor_id=doctor, day=when.isoformat()))
        return [public(d) or {} for d in found.items]

    def list(
        self,
        session: Session,
        *,
        patient_id: Any = None,
        doctor_id: Any = None,
        status: Any = None,
        date_from: Any = None,
        date_to: Any = None,
        upcoming: bool = False,
        query: Any = None,
        sort: Any = "start",
        descending: Any = False,
        page: Any = 1,
        page_size: Any = 50,
    ) -> Page[dict[str, Any]]:
        """Appointments by patient, doctor, status and date range; searchable, sorted, paged."""
        scope = self.authorize(session, "appointment.read", record_type="appointment")
        page_no, size = page_args(page, page_size)
        check = Checker()
        spec: dict[str, Any] = {}
        if patient_id not in (None, ""):
            pid = ref(patient_id, "patient")
            if scope == policy.OWN and pid != session.patient_id:
                self._deny(session, "appointment.read", "appointment", None, pid,
                           "You can only see and change your own records.")
            spec["patient_id"] = pid
        own = self.own_patient(session, scope)
        if own is not None:
            spec["patient_id"] = own
        if doctor_id not in (None, ""):
            spec["doctor_id"] = ref(doctor_id, "doctor")
        if status not in (None, ""):
            spec["statuses"] = (check.choice("status", status, STATUSES),)
        start = check.day("date_from", date_from)
        end = check.day("date_to", date_to)
        if start and end and start > end:
            check.fail("date_to", "The end date must not be before the start date.")
        if start:
            spec["start_from"] = datetime.combine(start, datetime.min.time())
        if end:
            spec["start_before"] = datetime.combine(end + timedelta(days=1), datetime.min.time())
        if not isinstance(upcoming, bool):
            check.fail("upcoming", "Upcoming must be yes or no.")
        elif upcoming:
            spec["start_from"] = max(spec.get("start_from", datetime.min), self.ctx.now())
            spec["statuses"] = spec.get("statuses") or OPEN_STATUSES
        text = check.text("query", query, max_len=100)
        if text:
            spec["text"] = text.lower()
        sort_key = check.choice("sort", sort, SORTS)
        check.done()
        with self.uow():
            found = self.store.appointments.find(AppointmentQuery(
                sort=SORTS[sort_key or "start"], descending=bool(descending),
                skip=(page_no - 1) * size, limit=size, **spec))
            self.audit_read(session, "appointment.list", record_type="appointment",
                            patient_id=spec.get("patient_id"), count=found.total or 0,
                            query=describe(patient_id=spec.get("patient_id"),
                                           doctor_id=spec.get("doctor_id"), status=status,
                                           date_from=date_from, date_to=date_to,
                                           upcoming=upcoming, query=text, sort=sort_key,
                                           descending=descending, page=page_no))
        return Page([public(d) or {} for d in found.items], found.total or 0, page_no, size)


def today_str(now: datetime) -> str:
    return now.date().isoformat()


__all__ = ["AppointmentService", "FreeDay", "STATUSES", "date"]
