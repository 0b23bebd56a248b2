"""A doctor's free appointment times (AppointmentService.free_slots): inside the clinic's
and the doctor's hours, duration-aware, clear of open bookings, never in the past; and
every time offered can be booked."""

from __future__ import annotations

from datetime import date, datetime, timedelta

import pytest

from meditrack_tui.errors import PermissionDenied, ValidationError
from tests.peek import Peek

TODAY = date(2026, 3, 4)      # the conftest clock: Wednesday 10:00
FREE_DAY = date(2026, 4, 13)  # a Monday nobody has appointments on in the demo data


def times(day) -> list[str]:
    return [f"{t:%H:%M}" for t in day.times]


def test_a_free_day_offers_every_step_within_the_clinics_hours(s, who):
    doctor = who["demo.doctor"]
    [day] = s.appointments.free_slots(doctor, doctor.user_id, day=FREE_DAY.isoformat(),
                                      duration_min=30)
    assert day.day == FREE_DAY and day.hours == "08:00-18:00"
    assert times(day)[0] == "08:00" and times(day)[-1] == "17:30"   # ends by closing time
    assert len(day.times) == (18 * 60 - 30 - 8 * 60) // 15 + 1


def test_today_skips_the_past_and_every_booked_overlap(s, who):
    doctor = who["demo.doctor"]
    [day] = s.appointments.free_slots(doctor, doctor.user_id, duration_min=20)
    booked = s.appointments.day_agenda(doctor, doctor.user_id, TODAY.isoformat())
    open_ones = [a for a in booked if a["status"] in ("scheduled", "checked-in")]
    assert day.times and all(t >= datetime(2026, 3, 4, 10, 0) for t in day.times)
    for start in day.times:
        end = start + timedelta(minutes=20)
        assert not any(a["start"] < end and start < a["end"] for a in open_ones)
    # bookings 10:20-10:40, 11:15-11:35, 13:30-14:00 and 14:40-15:00 are left free of
    assert times(day)[:8] == ["10:00", "10:45", "11:45", "12:00", "12:15", "12:30", "12:45",
                              "13:00"]
    assert times(day)[8:10] == ["14:00", "14:15"] and times(day)[-1] == "17:30"


def test_a_longer_visit_needs_a_longer_gap(s, who):
    doctor = who["demo.doctor"]
    patient = Peek(s.store).patient_id("MRN-000002")
    s.appointments.book(doctor, {"patient_id": patient, "doctor_id": doctor.user_id,
                                 "date": FREE_DAY.isoformat(), "time": "09:00",
                                 "duration_min": 30, "reason": "Review"})
    later = s.appointments.book(doctor, {"patient_id": patient, "doctor_id": doctor.user_id,
                                         "date": FREE_DAY.isoformat(), "time": "10:00",
                                         "duration_min": 20, "reason": "Review"})
    [day] = s.appointments.free_slots(doctor, doctor.user_id, day=FREE_DAY.isoformat(),
                                      duration_min=30)
    assert "08:30" in times(day) and "08:45" not in times(day)          # would run into 09:00
    assert "09:30" in times(day) and "09:45" not in times(day)          # 10:00-10:20 is taken
    assert "10:15" not in times(day) and "10:30" in times(day)
    [short] = s.appointments.free_slots(doctor, doctor.user_id, day=FREE_DAY.isoformat(),
                                        duration_min=15, step_min=15)
    assert "08:45" in times(short) and "09:00" not in times(short)
    # a cancelled booking frees its time again
    s.appointments.cancel(doctor, later["id"], version=later["version"])
    [day] = s.appointments.free_slots(doctor, doctor.user_id, day=FREE_DAY.isoformat(),
                                      duration_min=30)
    assert "09:45" in times(day) and "10:00" in times(day)


def test_the_doctors_own_hours_and_closed_days(s, who):
    admin, doctor = who["demo.admin"], who["demo.doctor"]
    hours = {"mon": "10:00-12:00", "tue": "closed", "wed": "13:00-19:00", "thu": "closed",
             "fri": "closed", "sat": "closed", "sun": "closed"}
    s.settings.set_doctor_hours(admin, doctor.user_id, hours)
    week = s.appointments.free_slots(doctor, doctor.user_id, day=FREE_DAY.isoformat(), days=7,
                                     duration_min=60, step_min=30)
    assert [d.day for d in week] == [FREE_DAY + timedelta(days=n) for n in range(7)]
    monday, tuesday, wednesday = week[0], week[1], week[2]
    assert times(monday) == ["10:00", "10:30", "11:00"]
    assert tuesday.hours is None and tuesday.times == []
    # the doctor works until 19:00 but the clinic closes at 18:00
    assert wednesday.hours == "13:00-18:00" and times(wednesday)[-1] == "17:00"
    assert all(d.times == [] for d in week[3:])  # closed Thu to Sun


def test_every_offered_time_can_be_booked(s, who):
    patient_session = who["demo.patient"]
    doctors = s.users.doctors(patient_session)
    doctor_id = doctors[0]["id"]
    days = s.appointments.free_slots(patient_session, doctor_id, day="2026-03-09", days=3)
    first = next(t for d in days for t in d.times)
    booked = s.appointments.book(patient_session, {
        "patient_id": patient_session.patient_id, "doctor_id": doctor_id,
        "date": first.date().isoformat(), "time": f"{first:%H:%M}", "reason": "Check-up"})
    again = s.appointments.free_slots(patient_session, doctor_id, day="2026-03-09", days=3)
    assert first not in [t for d in again for t in d.times]
    assert booked["start"] == first


def test_rescheduling_offers_the_appointments_own_time(s, who):
    doctor = who["demo.doctor"]
    patient = Peek(s.store).patient_id("MRN-000002")
    appt = s.appointments.book(doctor, {"patient_id": patient, "doctor_id": doctor.user_id,
                                        "date": FREE_DAY.isoformat(), "time": "09:00",
                                        "reason": "Review"})
    [plain] = s.appointments.free_slots(doctor, doctor.user_id, day=FREE_DAY.isoformat())
    [moving] = s.appointments.free_slots(doctor, doctor.user_id, day=FREE_DAY.isoformat(),
                                         exclude=appt["id"])
    assert "09:00" not in times(plain) and "09:00" in times(moving)


def test_bad_arguments_are_refused_with_the_fields_named(s, who):
    doctor = who["demo.doctor"]
    with pytest.raises(ValidationError) as info:
        s.appointments.free_slots(doctor, doctor.user_id, day="2026-03-03", days=0,
                                  duration_min="inf")
    assert set(info.value.fields) == {"date", "days", "duration_min"}
    with pytest.raises(ValidationError) as info:
        s.appointments.free_slots(doctor, who["demo.patient"].user_id)
    assert "doctor_id" in info.value.fields
    with pytest.raises(ValidationError) as info:
        s.appointments.free_slots(doctor, doctor.user_id, day="2026-02-30")
    assert "that day does not exist" in info.value.fields["date"]


def test_a_patient_cannot_look_through_someone_elses_appointment(s, who):
    doctor = who["demo.doctor"]
    other = Peek(s.store).patient_id("MRN-000002")
    appt = s.appointments.book(doctor, {"patient_id": other, "doctor_id": doctor.user_id,
                                        "date": FREE_DAY.isoformat(), "time": "09:00",
                                        "reason": "Review"})
    if who["demo.patient"].patient_id == other:
        pytest.skip("the demo patient is MRN-000002")
    with pytest.raises(PermissionDenied):
        s.appointments.free_slots(who["demo.patient"], doctor.user_id,
                                  day=FREE_DAY.isoformat(), exclude=appt["id"])
