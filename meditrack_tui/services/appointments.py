"""Appointments: book, reschedule, cancel, status; no double booking of a doctor; lists."""

from __future__ import annotations

import builtins
from collections.abc import Mapping
from datetime import date, datetime, timedelta
from typing import Any

from .. import policy
from ..domain import APPOINTMENT_STATUSES, OPEN_STATUSES, may_follow
from ..errors import Conflict, NotFound, ValidationError
from ..store import AppointmentQuery, AppointmentRow
from ..validation import Checker, page_args
from .base import Page, Session, describe, public, ref
from .booking import BOOK_DAYS_AHEAD, MAX_DURATION, MIN_DURATION, BookingRules
from .patients import PatientService
from .settings import clinic_settings, doctor_hours
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


class AppointmentService(BookingRules):
    """Book, reschedule, cancel and list appointments as the role allows."""

    def _get(self, appointment_id: Any) -> AppointmentRow:
        doc = self.store.appointments.get(ref(appointment_id, "appointment"))
        if doc is None:
            raise NotFound("That appointment does not exist.")
        return doc

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
