"""Clinic settings (hours, appointment limit, sign-up switches) and the booking rules they
drive: opening hours, each doctor's working hours, and how many upcoming appointments a
patient may hold.

Before: a patient booked 24 four-hour slots of one doctor, and 03:00 on a Sunday was
accepted.
"""

from __future__ import annotations

from datetime import datetime

import pytest

from meditrack_tui.errors import Conflict, PermissionDenied, ValidationError
from meditrack_tui.services.settings import DEFAULT_HOURS, format_hours
from tests.peek import Peek

MONDAY = "2026-04-13"     # nobody has appointments this day in the demo data
SATURDAY = "2026-04-18"
SUNDAY = "2026-04-19"


def book(s, session, patient_id, doctor, day=MONDAY, time="10:00", duration=20):
    return s.appointments.book(session, {"patient_id": patient_id, "doctor_id": doctor.user_id,
                                         "date": day, "time": time, "duration_min": duration,
                                         "reason": "Check"})


def refused(call) -> dict[str, str]:
    with pytest.raises(ValidationError) as info:
        call()
    return info.value.fields


# --- the settings ---

def test_defaults_before_any_save(s, who):
    for name in ("demo.patient", "demo.doctor", "demo.admin"):
        got = s.settings.get(who[name])
        assert got["version"] == 0 and got["max_upcoming"] == 3
        assert got["self_signup"] is True and got["signups_per_hour"] == 5
        assert got["hours"] == DEFAULT_HOURS
        assert got["hours_text"] == "Mon-Fri 08:00-18:00, Sat 09:00-13:00; closed Sun"


def test_only_admins_change_settings_and_each_change_is_audited(s, who):
    for name in ("demo.patient", "demo.doctor"):
        with pytest.raises(PermissionDenied, match="change the clinic settings"):
            s.settings.update(who[name], {"max_upcoming": 10}, version=0)
    admin = who["demo.admin"]
    changes_before = s.store.changes.last_seq()
    saved = s.settings.update(admin, {"max_upcoming": 5, "self_signup": False,
                                      "signups_per_hour": 2,
                                      "hours": {"sat": "closed", "mon": "09:00-17:00"}},
                              version=0)
    assert saved["version"] == 1 and saved["max_upcoming"] == 5
    assert saved["self_signup"] is False and saved["signups_per_hour"] == 2
    assert saved["hours"]["sat"] is None and saved["hours"]["mon"] == ["09:00", "17:00"]
    assert saved["hours"]["tue"] == ["08:00", "18:00"]
    assert s.settings.get(who["demo.patient"])["max_upcoming"] == 5
    peek = Peek(s.store)
    assert peek.count("audit", action="settings.update", outcome="ok") == 1
    assert peek.count("audit", action="settings.manage", outcome="denied") == 2
    events = [e for e in s.store.changes.after(changes_before) if e.coll == "settings"]
    assert len(events) == 1 and events[0].by == "demo.admin"


def test_a_stale_save_is_a_conflict(s, who):
    admin = who["demo.admin"]
    s.settings.update(admin, {"max_upcoming": 4}, version=0)
    with pytest.raises(Conflict, match="demo.admin changed the clinic settings"):
        s.settings.update(admin, {"max_upcoming": 6}, version=0)
    assert s.settings.get(admin)["max_upcoming"] == 4


@pytest.mark.parametrize("changes,field", [
    ({"max_upcoming": 0}, "max_upcoming"),
    ({"max_upcoming": 51}, "max_upcoming"),
    ({"max_upcoming": "inf"}, "max_upcoming"),
    ({"max_upcoming": 2.5}, "max_upcoming"),
    ({"signups_per_hour": 10**400}, "signups_per_hour"),
    ({"self_signup": "yes"}, "self_signup"),
    ({"hours": {"mon": "18:00-08:00"}}, "hours_mon"),
    ({"hours": {"tue": ["09:00", "09:00"]}}, "hours_tue"),
    ({"hours": {"wed": "9am-5pm"}}, "hours_wed"),
    ({"hours": {"thu": ["25:00", "26:00"]}}, "hours_thu"),
    ({"hours": {"funday": "09:00-10:00"}}, "hours"),
    ({"hours": "always"}, "hours"),
    ({"colour": "blue"}, "colour"),
])
def test_settings_are_validated_per_field(s, who, changes, field):
    fields = refused(lambda: s.settings.update(who["demo.admin"], changes, version=0))
    assert field in fields


def test_format_hours_groups_days():
    assert format_hours({"mon": ["09:00", "17:00"], "tue": ["09:00", "17:00"],
                         "wed": ["09:00", "17:00"], "thu": ["09:00", "17:00"],
                         "fri": ["09:00", "17:00"]}) == "Mon-Fri 09:00-17:00; closed Sat, Sun"
    assert format_hours({"mon": ["08:00", "12:00"], "wed": ["08:00", "12:00"]}) == \
        "Mon 08:00-12:00, Wed 08:00-12:00; closed Tue, Thu-Sun"


# --- opening hours and working hours ---

@pytest.mark.parametrize("day,time,duration", [
    (SUNDAY, "03:00", 20),      # the review's reproduction
    (SUNDAY, "10:00", 20),      # closed all day
    (MONDAY, "07:40", 30),      # starts before opening
    (MONDAY, "17:50", 20),      # runs past closing
    (SATURDAY, "12:50", 20),    # Saturday closes at 13:00
])
def test_bookings_outside_the_clinics_hours_are_refused(s, who, day, time, duration):
    patient = who["demo.patient"]
    for session in (patient, who["demo.doctor"]):
        fields = refused(lambda session=session: book(
            s, session, patient.patient_id, who["demo.doctor"], day, time, duration))
        assert fields["time"].startswith(
            "The clinic is open Mon-Fri 08:00-18:00, Sat 09:00-13:00; closed Sun")


def test_bookings_inside_the_hours_are_kept(s, who):
    patient = who["demo.patient"]
    doctor = who["demo.doctor"]
    assert book(s, doctor, patient.patient_id, doctor, MONDAY, "08:00", 20)
    assert book(s, doctor, patient.patient_id, doctor, MONDAY, "17:40", 20)
    other = Peek(s.store).patient_id("MRN-000003")
    assert book(s, doctor, other, doctor, SATURDAY, "12:40", 20)


def test_a_doctors_own_hours_are_kept_too(s, who):
    admin, doctor = who["demo.admin"], who["demo.doctor"]
    patient = who["demo.patient"]
    shown = s.settings.set_doctor_hours(admin, doctor.user_id, {
        "mon": "09:00-17:00", "tue": "09:00-17:00", "wed": "09:00-17:00",
        "thu": "09:00-17:00", "fri": "09:00-17:00", "sat": None})
    assert shown["hours_text"] == "Mon-Fri 09:00-17:00; closed Sat, Sun"
    fields = refused(lambda: book(s, patient, patient.patient_id, doctor, MONDAY, "08:30"))
    assert fields["time"].startswith("Dr. Maya Hartwell works Mon-Fri 09:00-17:00; closed "
                                     "Sat, Sun; Mon 13 Apr 2026 08:30-08:50 is outside")
    refused(lambda: book(s, patient, patient.patient_id, doctor, SATURDAY, "10:00"))
    # another doctor still follows the clinic's hours
    assert book(s, patient, patient.patient_id, who["dr.okafor"], MONDAY, "08:30")
    # reschedules are held to the same hours
    appt = book(s, patient, patient.patient_id, doctor, MONDAY, "09:00")
    fields = refused(lambda: s.appointments.reschedule(doctor, appt["id"], {"time": "16:50"},
                                                       version=1))
    assert "Dr. Maya Hartwell works" in fields["time"]
    # back to the clinic's hours
    assert s.settings.set_doctor_hours(admin, doctor.user_id, None)["own_hours"] is False
    assert book(s, doctor, Peek(s.store).patient_id("MRN-000003"), doctor, MONDAY, "08:00")
    assert Peek(s.store).count("audit", action="settings.doctor-hours") == 2
    with pytest.raises(PermissionDenied):
        s.settings.set_doctor_hours(doctor, doctor.user_id, None)
    listed = {d["full_name"]: d for d in s.settings.doctors(admin)}
    assert listed["Dr. Maya Hartwell"]["own_hours"] is False


def test_the_clinics_changed_hours_apply_at_once(s, who):
    admin, doctor, patient = who["demo.admin"], who["demo.doctor"], who["demo.patient"]
    s.settings.update(admin, {"hours": {"sun": "10:00-12:00"}}, version=0)
    assert book(s, patient, patient.patient_id, doctor, SUNDAY, "10:00")
    fields = refused(lambda: book(s, patient, patient.patient_id, doctor, SUNDAY, "12:00"))
    assert "Sun 10:00-12:00" in fields["time"]


# --- the limit of upcoming appointments ---

def test_a_patient_holds_at_most_three_upcoming_appointments(s, who):
    """The review's reproduction: 24 four-hour slots of one doctor, one after another."""
    patient, doctor = who["demo.patient"], who["demo.doctor"]
    held = len(s.appointments.list(patient, upcoming=True).items)
    assert held == 1  # the demo patient's follow-up in two weeks
    weekdays = [f"2026-04-{d:02d}" for d in (13, 14, 15, 16, 17, 20, 21, 22, 23, 24, 27, 28)]
    booked, refusals = [], []
    for n in range(24):
        try:
            booked.append(book(s, patient, patient.patient_id, doctor, weekdays[n // 2],
                               "08:00" if n % 2 == 0 else "12:00", 240))
        except ValidationError as exc:
            refusals.append(exc.fields)
    assert len(booked) == 2  # 1 + 2 = the default limit of 3
    assert all(f.get("patient_id", "").startswith("You already have 3 upcoming appointments")
               for f in refusals)
    # a cancelled or past appointment frees a place
    s.appointments.cancel(patient, booked[0]["id"], version=1)
    assert book(s, patient, patient.patient_id, doctor, "2026-04-20", "10:00")


def test_staff_are_held_to_the_same_limit_and_told_so(s, who):
    doctor, patient = who["demo.doctor"], who["demo.patient"]
    book(s, doctor, patient.patient_id, doctor, MONDAY, "10:00")
    book(s, doctor, patient.patient_id, doctor, MONDAY, "11:00")
    fields = refused(lambda: book(s, doctor, patient.patient_id, doctor, MONDAY, "12:00"))
    assert fields["patient_id"] == (
        "Daniel Reyes already has 3 upcoming appointments, the most a patient may hold at "
        "once; the limit applies to bookings made by staff too. Cancel or complete one of "
        "them first.")
    # recording a visit that already happened takes no future place
    assert book(s, doctor, patient.patient_id, doctor, "2026-03-04", "08:00")


def test_the_limit_is_configurable(s, who):
    admin, doctor, patient = who["demo.admin"], who["demo.doctor"], who["demo.patient"]
    s.settings.update(admin, {"max_upcoming": 1}, version=0)
    fields = refused(lambda: book(s, patient, patient.patient_id, doctor))
    assert "You already have 1 upcoming appointment," in fields["patient_id"]
    s.settings.update(admin, {"max_upcoming": 5}, version=1)
    for hour in range(10, 14):
        book(s, patient, patient.patient_id, doctor, MONDAY, f"{hour}:00")
    refused(lambda: book(s, patient, patient.patient_id, doctor, MONDAY, "15:00"))


def test_moving_a_past_visit_ahead_counts_against_the_limit(s, who):
    doctor, patient = who["demo.doctor"], who["demo.patient"]
    past = book(s, doctor, patient.patient_id, doctor, "2026-03-04", "08:00")
    book(s, doctor, patient.patient_id, doctor, MONDAY, "10:00")
    book(s, doctor, patient.patient_id, doctor, MONDAY, "11:00")
    fields = refused(lambda: s.appointments.reschedule(doctor, past["id"],
                                                       {"date": MONDAY, "time": "12:00"},
                                                       version=1))
    assert "already has 3 upcoming" in fields["patient_id"]
    assert s.store.appointments.get(past["id"])["start"] == datetime(2026, 3, 4, 8, 0)
