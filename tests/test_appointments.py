"""Appointments: booking, no double booking, reschedule, cancel, statuses, agenda and lists."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from meditrack_tui.errors import Conflict, NotFound, PermissionDenied, ValidationError
from meditrack_tui.store import new_id
from tests.peek import Peek

NOW = datetime(2026, 3, 4, 10, 0)  # the conftest clock
FREE_DAY = "2026-04-13"  # nobody has appointments this day in the demo data
TODAY = "2026-03-04"  # demo.doctor is free 08:00-08:30 and from 16:00 (clinic: 08:00-18:00)


def pid(s, mrn: str) -> str:
    return Peek(s.store).patient_id(mrn)


def book(s, session, doctor, mrn="MRN-000002", day=FREE_DAY, time="10:00", duration=30,
         reason="Review"):
    return s.appointments.book(session, {"patient_id": pid(s, mrn), "doctor_id": doctor.user_id,
                                         "date": day, "time": time, "duration_min": duration,
                                         "reason": reason})


def test_book(s, who):
    doctor = who["demo.doctor"]
    appt = book(s, doctor, doctor)
    assert appt["status"] == "scheduled" and appt["version"] == 1
    assert appt["start"] == datetime(2026, 4, 13, 10, 0)
    assert appt["end"] == datetime(2026, 4, 13, 10, 30)
    assert appt["day"] == FREE_DAY and appt["duration_min"] == 30
    assert appt["patient_name"] == "Grace Whitaker" and appt["mrn"] == "MRN-000002"
    assert appt["doctor_name"] == "Dr. Maya Hartwell"
    assert s.appointments.get(doctor, appt["id"])["id"] == appt["id"]
    entry = Peek(s.store).one("audit", action="appointment.book")
    assert entry["record_id"] == appt["id"] and entry["patient_id"] == appt["patient_id"]


def test_default_duration_is_twenty_minutes(s, who):
    doctor = who["demo.doctor"]
    appt = s.appointments.book(doctor, {"patient_id": pid(s, "MRN-000002"),
                                        "doctor_id": doctor.user_id, "date": FREE_DAY,
                                        "time": "09:00", "reason": "Quick check"})
    assert appt["end"] - appt["start"] == timedelta(minutes=20)


@pytest.mark.parametrize("time,duration", [("10:00", 30), ("10:15", 20), ("09:50", 20),
                                           ("10:29", 5), ("09:00", 240)])
def test_double_booking_is_refused(s, who, time, duration):
    doctor = who["demo.doctor"]
    book(s, doctor, doctor, time="10:00", duration=30)
    with pytest.raises(ValidationError) as info:
        book(s, doctor, doctor, mrn="MRN-000003", time=time, duration=duration)
    assert "already has an appointment 10:00-10:30" in info.value.fields["time"]
    assert Peek(s.store).count("appointments", day=FREE_DAY) == 1


@pytest.mark.parametrize("time,duration", [("09:40", 20), ("10:30", 20), ("08:00", 120)])
def test_adjacent_slots_are_allowed(s, who, time, duration):
    doctor = who["demo.doctor"]
    book(s, doctor, doctor, time="10:00", duration=30)
    book(s, doctor, doctor, mrn="MRN-000003", time=time, duration=duration)
    assert Peek(s.store).count("appointments", day=FREE_DAY) == 2


def test_same_time_with_another_doctor_is_fine(s, who):
    book(s, who["demo.doctor"], who["demo.doctor"], time="10:00")
    other = book(s, who["demo.doctor"], who["dr.okafor"], mrn="MRN-000003", time="10:00")
    assert other["doctor_name"] == "Dr. Chinedu Okafor"


def test_clash_across_midnight(s, who):
    """Opening hours end by 23:59, so no booking crosses midnight any more; one recorded
    before there were hours (in the store as it was) still blocks the next morning."""
    doctor = who["demo.doctor"]
    admin = who["demo.admin"]
    s.settings.update(admin, {"hours": {day: ["00:00", "23:59"] for day in
                                        ("mon", "tue", "wed", "thu", "fri", "sat", "sun")}},
                      version=0)
    with pytest.raises(ValidationError, match="outside those hours"):
        book(s, doctor, doctor, day="2026-04-13", time="23:30", duration=60)
    late = s.store.appointments.get(book(s, doctor, doctor, day="2026-04-13", time="23:30",
                                         duration=20)["id"])
    late.update(end=datetime(2026, 4, 14, 0, 30), duration_min=60)
    s.store.appointments.update(late["id"], {"end": late["end"], "duration_min": 60})
    with pytest.raises(ValidationError, match="23:30-00:30"):
        book(s, doctor, doctor, mrn="MRN-000003", day="2026-04-14", time="00:10", duration=20)
    book(s, doctor, doctor, mrn="MRN-000003", day="2026-04-14", time="00:30", duration=20)


def test_demo_schedule_is_respected(s, who):
    """demo.doctor sees p02 at 09:10-09:40 today; a 09:30 booking clashes with it."""
    doctor = who["demo.doctor"]
    with pytest.raises(ValidationError, match="09:10-09:40"):
        book(s, doctor, doctor, mrn="MRN-000003", day="2026-03-04", time="09:30", duration=20)


def test_reschedule(s, who):
    doctor = who["demo.doctor"]
    first = book(s, doctor, doctor, time="10:00")
    second = book(s, doctor, doctor, mrn="MRN-000003", time="11:00")
    with pytest.raises(ValidationError, match="10:00-10:30"):
        s.appointments.reschedule(doctor, second["id"], {"time": "10:20"}, version=1)
    assert s.appointments.get(doctor, second["id"])["start"] == datetime(2026, 4, 13, 11, 0)
    moved = s.appointments.reschedule(doctor, second["id"], {"time": "10:30", "reason": "Moved"},
                                      version=1)
    assert moved["start"] == datetime(2026, 4, 13, 10, 30) and moved["version"] == 2
    assert moved["reason"] == "Moved"
    # Moving an appointment onto its own old slot (a small shift) is not a clash with itself.
    s.appointments.reschedule(doctor, first["id"], {"time": "09:50"}, version=1)
    # Stale version.
    with pytest.raises(Conflict) as info:
        s.appointments.reschedule(who["demo.admin"], second["id"], {"time": "15:00"}, version=1)
    assert info.value.changed_by == "demo.doctor"
    # To another doctor at the same time is fine.
    other = s.appointments.reschedule(doctor, second["id"],
                                      {"doctor_id": who["dr.okafor"].user_id, "time": "10:00"},
                                      version=2)
    assert other["doctor_name"] == "Dr. Chinedu Okafor"
    assert Peek(s.store).count("audit", action="appointment.reschedule", outcome="ok") == 3
    # the stale attempt handed the current appointment back: on record as a failed write
    assert Peek(s.store).count("audit", action="appointment.reschedule",
                               outcome="failed") == 1


def test_cancel_and_rebook_the_slot(s, who):
    doctor = who["demo.doctor"]
    appt = book(s, doctor, doctor, time="10:00")
    cancelled = s.appointments.cancel(doctor, appt["id"], version=1)
    assert cancelled["status"] == "cancelled" and cancelled["updated_by"] == "demo.doctor"
    with pytest.raises(Conflict, match="already cancelled"):
        s.appointments.set_status(doctor, appt["id"], "checked-in", version=2)
    with pytest.raises(Conflict, match="cannot be moved"):
        s.appointments.reschedule(doctor, appt["id"], {"time": "12:00"}, version=2)
    again = book(s, doctor, doctor, mrn="MRN-000003", time="10:00")
    assert again["status"] == "scheduled"
    agenda = s.appointments.day_agenda(doctor, doctor.user_id, FREE_DAY)
    assert sorted(a["status"] for a in agenda) == ["cancelled", "scheduled"]


def test_status_flow(s, who):
    doctor = who["demo.doctor"]
    appt = book(s, doctor, doctor, day=TODAY, time="16:00")
    checked = s.appointments.set_status(doctor, appt["id"], "checked-in", version=1)
    assert checked["status"] == "checked-in"
    done = s.appointments.set_status(doctor, appt["id"], "completed", version=2)
    assert done["status"] == "completed"
    with pytest.raises(Conflict, match="already completed"):
        s.appointments.cancel(doctor, appt["id"], version=3)
    with pytest.raises(ValidationError) as info:
        s.appointments.set_status(doctor, appt["id"], "teleported", version=3)
    assert "status" in info.value.fields
    noshow = book(s, doctor, doctor, day=TODAY, time="08:00", duration=20)
    assert s.appointments.set_status(doctor, noshow["id"], "no-show", version=1)["status"] == \
        "no-show"
    # A no-show is closed, so its time can be booked again.
    book(s, doctor, doctor, mrn="MRN-000003", day=TODAY, time="08:00", duration=20)
    actions = [e["action"] for e in Peek(s.store).find("audit", record_type="appointment")]
    assert actions == ["appointment.book", "appointment.checked-in", "appointment.completed",
                       "appointment.book", "appointment.no-show", "appointment.book"]


def test_status_changes_follow_the_calendar_and_never_go_back(s, who):
    doctor = who["demo.doctor"]
    later = book(s, doctor, doctor)  # FREE_DAY, weeks ahead
    for status, words in (("checked-in", "checked in from that day"),
                          ("completed", "completed from that day"),
                          ("no-show", "once that time has passed")):
        with pytest.raises(Conflict, match=words):
            s.appointments.set_status(doctor, later["id"], status, version=1)
    today = book(s, doctor, doctor, day=TODAY, time="16:00")
    s.appointments.set_status(doctor, today["id"], "checked-in", version=1)
    with pytest.raises(Conflict, match="checked-in appointment cannot be marked scheduled"):
        s.appointments.set_status(doctor, today["id"], "scheduled", version=2)
    assert s.appointments.cancel(doctor, later["id"], version=1)["status"] == "cancelled"
    with pytest.raises(Conflict, match=r"already cancelled \(by demo.doctor at 10:00"):
        s.appointments.cancel(doctor, later["id"], version=2)


def test_patient_cannot_book_in_the_past_but_a_doctor_may_record_it(s, who):
    patient = who["demo.patient"]
    doctor = who["demo.doctor"]
    with pytest.raises(ValidationError) as info:
        s.appointments.book(patient, {"patient_id": patient.patient_id,
                                      "doctor_id": doctor.user_id, "date": "2026-03-03",
                                      "time": "16:00", "reason": "Late"})
    assert "past" in info.value.fields["date"]
    s.appointments.book(doctor, {"patient_id": patient.patient_id, "doctor_id": doctor.user_id,
                                 "date": "2026-03-03", "time": "16:00", "reason": "Recorded"})


@pytest.mark.parametrize("changes,field", [
    ({"date": "2026-02-30"}, "date"),
    ({"date": None}, "date"),
    ({"time": "25:00"}, "time"),
    ({"time": "9am"}, "time"),
    ({"duration_min": 4}, "duration_min"),
    ({"duration_min": 241}, "duration_min"),
    ({"duration_min": 12.5}, "duration_min"),
    ({"reason": "  "}, "reason"),
    ({"doctor_id": "nobody"}, "doctor_id"),
])
def test_booking_validation(s, who, changes, field):
    doctor = who["demo.doctor"]
    data = {"patient_id": pid(s, "MRN-000002"), "doctor_id": doctor.user_id, "date": FREE_DAY,
            "time": "10:00", "reason": "Review", **changes}
    with pytest.raises(ValidationError) as info:
        s.appointments.book(doctor, data)
    assert field in info.value.fields


def test_booking_with_a_non_doctor_or_unknown_patient(s, who):
    doctor = who["demo.doctor"]
    with pytest.raises(ValidationError) as info:
        s.appointments.book(doctor, {"patient_id": pid(s, "MRN-000002"),
                                     "doctor_id": who["demo.admin"].user_id, "date": FREE_DAY,
                                     "time": "10:00", "reason": "Review"})
    assert "doctor_id" in info.value.fields
    with pytest.raises(NotFound):
        s.appointments.book(doctor, {"patient_id": new_id(), "doctor_id": doctor.user_id,
                                     "date": FREE_DAY, "time": "10:00", "reason": "Review"})


def test_day_agenda(s, who):
    doctor = who["demo.doctor"]
    agenda = s.appointments.day_agenda(doctor, doctor.user_id, "2026-03-04")
    assert len(agenda) == 7
    starts = [a["start"] for a in agenda]
    assert starts == sorted(starts) and starts[0] == datetime(2026, 3, 4, 8, 30)
    assert {a["doctor_id"] for a in agenda} == {doctor.user_id}
    assert {a["day"] for a in agenda} == {"2026-03-04"}
    assert s.appointments.day_agenda(doctor, doctor.user_id, FREE_DAY) == []
    with pytest.raises(ValidationError):
        s.appointments.day_agenda(doctor, doctor.user_id, "tomorrow")


def test_list_filters(s, who):
    doctor = who["demo.doctor"]
    peek = Peek(s.store)
    everything = s.appointments.list(doctor, page_size=500)
    assert everything.total == peek.count("appointments") == 83
    mine = s.appointments.list(doctor, doctor_id=doctor.user_id, page_size=500)
    assert mine.total == peek.count("appointments", doctor_id=doctor.user_id)
    assert {a["doctor_id"] for a in mine.items} == {doctor.user_id}
    completed = s.appointments.list(doctor, status="completed", page_size=500)
    assert completed.total == peek.count("appointments", status="completed") > 0
    assert {a["status"] for a in completed.items} == {"completed"}
    week = s.appointments.list(doctor, date_from="2026-03-04", date_to="2026-03-10",
                               page_size=500)
    assert week.total == sum(1 for a in peek.all("appointments")
                             if datetime(2026, 3, 4) <= a["start"] < datetime(2026, 3, 11))
    assert all("2026-03-04" <= a["day"] <= "2026-03-10" for a in week.items)
    p02 = pid(s, "MRN-000002")
    for query in ("grace", "grace whit", "MRN-000002", "mrn-000002"):
        page = s.appointments.list(doctor, query=query, page_size=500)
        assert page.total == peek.count("appointments", patient_id=p02) > 0
        assert {a["patient_id"] for a in page.items} == {p02}, query
    by_reason = s.appointments.list(doctor, query="blood pressure", page_size=500)
    assert by_reason.total > 0
    assert by_reason.total == sum(1 for d in peek.all("appointments")
                                  if "blood pressure" in d["reason"].lower())
    assert all("blood pressure" in a["reason"].lower() for a in by_reason.items)
    with pytest.raises(ValidationError) as info:
        s.appointments.list(doctor, date_from="2026-03-10", date_to="2026-03-01")
    assert "date_to" in info.value.fields
    with pytest.raises(ValidationError):
        s.appointments.list(doctor, status="maybe")


def test_upcoming(s, who):
    doctor = who["demo.doctor"]
    page = s.appointments.list(doctor, upcoming=True, page_size=500)
    assert page.total > 0
    assert all(a["start"] >= NOW and a["status"] in ("scheduled", "checked-in")
               for a in page.items)
    starts = [a["start"] for a in page.items]
    assert starts == sorted(starts)
    cancelled = s.appointments.cancel(doctor, page.items[0]["id"], version=1)
    after = s.appointments.list(doctor, upcoming=True, page_size=500)
    assert after.total == page.total - 1
    assert cancelled["id"] not in {a["id"] for a in after.items}
    own = s.appointments.list(who["demo.patient"], upcoming=True)
    assert [a["day"] for a in own.items] == ["2026-03-18"]


@pytest.mark.parametrize("sort,key", [("start", "start"), ("patient", "patient_name"),
                                      ("doctor", "doctor_name"), ("status", "status"),
                                      ("reason", "reason")])
def test_list_sort(s, who, sort, key):
    doctor = who["demo.doctor"]
    asc = [a[key] for a in s.appointments.list(doctor, sort=sort, page_size=500).items]
    desc = [a[key] for a in s.appointments.list(doctor, sort=sort, descending=True,
                                                page_size=500).items]
    assert len(asc) == 83 and len(set(asc)) > 1
    assert asc == sorted(asc) and desc == sorted(asc, reverse=True)


def test_list_pagination(s, who):
    doctor = who["demo.doctor"]
    ids = []
    for page_no in range(1, 5):
        page = s.appointments.list(doctor, page=page_no, page_size=25)
        assert page.total == 83 and page.pages == 4
        ids += [a["id"] for a in page.items]
    assert len(ids) == len(set(ids)) == 83
    assert s.appointments.list(doctor, page=5, page_size=25).items == []


def test_admin_may_book_but_patient_only_for_self(s, who):
    book(s, who["demo.admin"], who["demo.doctor"])
    with pytest.raises(PermissionDenied):
        book(s, who["demo.patient"], who["demo.doctor"], time="12:00")


def test_upcoming_must_be_a_yes_or_no(s, who):
    with pytest.raises(ValidationError) as info:
        s.appointments.list(who["demo.doctor"], upcoming="no")
    assert "upcoming" in info.value.fields
