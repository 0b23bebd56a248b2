"""Range validation at the service boundary: every number a user can type is checked for
type, finiteness and a plausible range; dates keep to a clinic's window (and date
arithmetic never overflows); text refuses bidi controls and invisible-only values.

Before the fix these raised OverflowError ("Something went wrong") or were accepted.
"""

from __future__ import annotations

from datetime import datetime

import pytest

from meditrack_tui.errors import ValidationError
from meditrack_tui.validation import Checker, page_args
from tests.peek import Peek

# What a user (or a caller) can put into a whole-number field that used to overflow.
HUGE = ["inf", "-inf", "1e309", float("inf"), float("-inf"), 10**400, "9" * 30, "nan",
        float("nan"), "1" * 500]
INVISIBLE = ["\u202e", "\u200b", "\u200b\u200c\u2060", " \u202e\u200b ", "\ufeff"]
BIDI = ["Ann\u202eeveR", "\u2066Bob\u2069", "Li\u200fz", "Mo\u061cna", "\u202aX"]

NEW_PATIENT = {"first_name": "Vera", "last_name": "Range", "dob": "1980-01-02", "sex": "F"}


def fields_of(call) -> dict[str, str]:
    with pytest.raises(ValidationError) as info:
        call()
    return info.value.fields


# --- the Checker itself ---

@pytest.mark.parametrize("value", HUGE)
def test_number_refuses_infinite_nan_and_huge_values_with_the_range(value):
    check = Checker()
    assert check.number("heart_rate", value, low=20, high=300, integer=True,
                        label="heart rate", unit="bpm") is None
    message = check.errors["heart_rate"]
    assert message.startswith("Heart rate")
    assert "20 to 300 bpm" in message


def test_number_still_reads_ordinary_values():
    check = Checker()
    assert check.number("a", "72", low=20, high=300, integer=True) == 72
    assert check.number("b", 98.6, low=25, high=110) == 98.6
    assert check.number("c", " 7.0 ", low=1, high=10, integer=True) == 7
    assert check.number("d", "7.5", low=1, high=10, integer=True) is None
    assert "whole number" in check.errors["d"]
    assert not {"a", "b", "c"} & set(check.errors)


@pytest.mark.parametrize("page,size", [("inf", 25), (1, "1e309"), (10**400, 25), (1, 10**400),
                                       (float("nan"), 25), (2_000_000, 25), (1, 0)])
def test_page_args_refuse_what_cannot_be_a_page(page, size):
    with pytest.raises(ValidationError) as info:
        page_args(page, size)
    assert set(info.value.fields) <= {"page", "page_size"} and info.value.fields


@pytest.mark.parametrize("value", INVISIBLE)
def test_text_made_only_of_invisible_characters_is_refused(value):
    check = Checker()
    assert check.text("first_name", value, required=True) is None
    assert any(word in check.errors["first_name"]
               for word in ("invisible", "direction-changing"))
    optional = Checker()
    assert optional.text("note", value) is None
    assert "note" in optional.errors


@pytest.mark.parametrize("value", BIDI)
def test_text_with_bidi_controls_is_refused(value):
    check = Checker()
    assert check.text("last_name", value, required=True) is None
    assert "direction-changing" in check.errors["last_name"]


def test_text_keeps_joiners_inside_real_words_and_refuses_escapes():
    check = Checker()
    assert check.text("name", "Ana\u200dMaria") == "Ana\u200dMaria"  # a joiner in a word
    assert check.text("note", "line one\nline two") == "line one\nline two"
    assert check.text("name2", "evil\x1b[31mred") is None
    assert "control characters" in check.errors["name2"]


def test_dates_outside_the_window_are_refused_not_overflowed():
    check = Checker()
    for n, value in enumerate(("0001-01-01", "9999-12-31", "1899-12-31", "2101-01-01")):
        assert check.day(f"d{n}", value) is None
        assert "from 1900-01-01 to 2100-12-31" in check.errors[f"d{n}"]
    assert check.moment("m", "9999-12-31T23:50") is None
    assert check.day("ok", "2026-03-04") is not None and "ok" not in check.errors


# --- patients (and sign-up, which shares the patient fields) ---

@pytest.mark.parametrize("value", INVISIBLE + BIDI)
def test_patient_names_refuse_invisible_and_bidi_text(s, who, value):
    doctor = who["demo.doctor"]
    errors = fields_of(lambda: s.patients.create(doctor, dict(NEW_PATIENT, first_name=value,
                                                              last_name=value)))
    assert set(errors) == {"first_name", "last_name"}


@pytest.mark.parametrize("dob,words", [("0001-01-01", "from 1900-01-01 to today"),
                                       ("1899-12-31", "from 1900-01-01 to today"),
                                       ("9999-12-31", "from 1900-01-01 to today"),
                                       ("2026-03-05", "future")])
def test_dates_of_birth_run_from_1900_to_today(s, who, dob, words):
    errors = fields_of(lambda: s.patients.create(who["demo.doctor"],
                                                 dict(NEW_PATIENT, dob=dob)))
    assert words in errors["dob"]
    assert s.patients.create(who["demo.doctor"], dict(NEW_PATIENT, dob="1900-01-01"))["dob"] \
        == "1900-01-01"


def test_signup_fields_are_checked_the_same_way(s):
    errors = fields_of(lambda: s.auth.signup_patient(
        "vera.range", "a-long-password-1", first_name="\u200b", last_name="R\u202eange",
        dob="0001-01-01", sex="F", phone=None, email=None))
    assert {"first_name", "last_name", "dob"} <= set(errors)
    errors = fields_of(lambda: s.auth.signup_doctor("dr.range", "a-long-password-1",
                                                    full_name="\u202e\u200b"))
    assert "full_name" in errors


@pytest.mark.parametrize("age", HUGE)
def test_patient_search_ages_and_pages(s, who, age):
    doctor = who["demo.doctor"]
    assert "age_min" in fields_of(lambda: s.patients.list(doctor, age_min=age))
    assert "age_max" in fields_of(lambda: s.patients.list(doctor, age_max=age))
    assert "page" in fields_of(lambda: s.patients.list(doctor, page=age))
    assert "page_size" in fields_of(lambda: s.patients.list(doctor, page_size=age))


def test_lists_of_every_area_refuse_huge_pages(s, who):
    admin = who["demo.admin"]
    for call in (lambda: s.appointments.list(admin, page="1e309"),
                 lambda: s.users.list(admin, page_size=10**400),
                 lambda: s.audit.list(admin, page=float("inf"))):
        assert fields_of(call)


def test_user_fields_refuse_invisible_names(s, who):
    admin = who["demo.admin"]
    errors = fields_of(lambda: s.users.create(admin, username="vera.r", password="long-pass-1234",
                                              role="doctor", full_name="\u200b\u200b"))
    assert "full_name" in errors
    assert "full_name" in fields_of(lambda: s.users.update_profile(admin, full_name="\u202e"))


# --- vitals ---

@pytest.mark.parametrize("metric", ["systolic", "heart_rate", "spo2", "weight_kg",
                                    "temperature_c", "glucose_mg_dl"])
@pytest.mark.parametrize("value", ["inf", "1e309", 10**400, float("-inf")])
def test_vitals_values_refuse_infinite_and_huge(s, who, metric, value):
    patient = who["demo.patient"]
    data = {metric: value}
    if metric == "systolic":
        data["diastolic"] = 80
    errors = fields_of(lambda: s.vitals.add(who["demo.doctor"], patient.patient_id, data))
    assert metric in errors


@pytest.mark.parametrize("when", ["0001-01-01T00:00", "9999-12-31T23:50"])
def test_vitals_times_at_the_calendars_edges(s, who, when):
    patient = who["demo.patient"]
    errors = fields_of(lambda: s.vitals.add(who["demo.doctor"], patient.patient_id,
                                            {"heart_rate": 70, "taken_at": when}))
    assert "taken_at" in errors
    assert fields_of(lambda: s.vitals.series(who["demo.doctor"], patient.patient_id,
                                             since=when, until=when))


# --- appointments ---

def _book(s, session, patient_id, doctor_id, **over):
    data = {"patient_id": patient_id, "doctor_id": doctor_id, "date": "2026-04-13",
            "time": "10:00", "duration_min": 20, "reason": "Range check"}
    data.update(over)
    return s.appointments.book(session, data)


@pytest.mark.parametrize("date,time", [("9999-12-31", "23:50"), ("0001-01-01", "00:00"),
                                       ("2028-03-06", "10:00"), ("2026-02-20", "10:00")])
def test_bookings_keep_to_now_until_two_years_ahead(s, who, date, time):
    patient = who["demo.patient"]
    for session in (patient, who["demo.doctor"]):
        errors = fields_of(lambda session=session: _book(
            s, session, patient.patient_id, who["demo.doctor"].user_id, date=date, time=time))
        assert "date" in errors
        assert "up to two years ahead" in errors["date"]


def test_a_patient_cannot_book_in_year_9999_but_can_in_two_years(s, who):
    patient = who["demo.patient"]
    booked = _book(s, patient, patient.patient_id, who["demo.doctor"].user_id,
                   date="2028-03-03", time="10:00")
    assert booked["start"] == datetime(2028, 3, 3, 10, 0)


@pytest.mark.parametrize("duration", HUGE + [4, 241, 0, -20])
def test_durations_are_bounded(s, who, duration):
    patient = who["demo.patient"]
    errors = fields_of(lambda: _book(s, who["demo.doctor"], patient.patient_id,
                                     who["demo.doctor"].user_id, duration_min=duration))
    assert "duration_min" in errors


def test_reschedule_to_the_calendars_edge_is_refused(s, who):
    doctor = who["demo.doctor"]
    appt = _book(s, doctor, Peek(s.store).patient_id("MRN-000003"), doctor.user_id)
    for date, time in (("9999-12-31", "23:50"), ("0001-01-01", "00:00")):
        errors = fields_of(lambda date=date, time=time: s.appointments.reschedule(
            doctor, appt["id"], {"date": date, "time": time}, version=1))
        assert "date" in errors


@pytest.mark.parametrize("day", ["0001-01-01", "9999-12-31"])
def test_list_and_audit_date_filters_at_the_calendars_edges(s, who, day):
    admin = who["demo.admin"]
    assert "date_to" in fields_of(lambda: s.appointments.list(admin, date_to=day))
    assert "date_from" in fields_of(lambda: s.appointments.list(admin, date_from=day))
    assert "date_to" in fields_of(lambda: s.audit.list(admin, date_to=day))
    assert "date" in fields_of(lambda: s.appointments.day_agenda(admin, admin.user_id, day))


# --- prescriptions ---

@pytest.mark.parametrize("start", ["0001-01-01", "9999-12-31", "2015-01-01", "2027-06-01"])
def test_prescription_start_dates_keep_to_a_plausible_window(s, who, start):
    doctor = who["demo.doctor"]
    pid = who["demo.patient"].patient_id
    errors = fields_of(lambda: s.prescriptions.add(doctor, pid, {
        "drug": "Metformin", "dose": "500 mg", "frequency": "twice daily",
        "start_date": start}))
    assert "10 years back or a year ahead" in errors["start_date"]


def test_prescription_start_dates_inside_the_window_are_kept(s, who):
    doctor = who["demo.doctor"]
    pid = who["demo.patient"].patient_id
    for start in ("2016-03-04", "2027-03-04"):
        rx = s.prescriptions.add(doctor, pid, {"drug": "Metformin", "dose": "500 mg",
                                               "frequency": "twice daily", "start_date": start})
        assert rx["start_date"] == start
    assert "drug" in fields_of(lambda: s.prescriptions.add(doctor, pid, {
        "drug": "\u200b", "dose": "500 mg", "frequency": "daily"}))
    assert "notes" in fields_of(lambda: s.prescriptions.add(doctor, pid, {
        "drug": "Metformin", "dose": "500 mg", "frequency": "daily", "notes": "x\u202ey"}))
