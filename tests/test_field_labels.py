"""Validation messages name fields the way a clinic worker does ("Date of birth", not
"Dob") and say when a date is written correctly but is not a real day."""

from __future__ import annotations

import pytest

from meditrack_tui.errors import ValidationError
from meditrack_tui.validation import Checker, date_problem

NEW_PATIENT = {"first_name": "Vera", "last_name": "Label", "dob": "1980-01-02", "sex": "F"}


def refused(call) -> ValidationError:
    with pytest.raises(ValidationError) as info:
        call()
    return info.value


@pytest.mark.parametrize("field,words", [("dob", "Date of birth"), ("mrn", "MRN"),
                                         ("duration_min", "Duration (minutes)"),
                                         ("spo2", "SpO2"), ("date_from", "From date")])
def test_checker_names_fields_by_their_labels(field, words):
    check = Checker()
    check.text(field, None, required=True)
    assert check.errors[field] == f"{words} is required."


def test_the_whole_message_names_each_field_once_by_its_label():
    exc = ValidationError({"dob": "Date of birth is required.", "sex": "Choose one of: F, M, X."})
    assert "Dob" not in exc.message and "dob" not in exc.message
    assert exc.message == "Date of birth is required. Sex: Choose one of: F, M, X."


@pytest.mark.parametrize("text,why", [("2026-02-30", "February 2026 has 28 days"),
                                      ("2024-02-30", "February 2024 has 29 days"),
                                      ("2026-04-31", "April 2026 has 30 days"),
                                      ("2026-13-01", "there is no month 13")])
def test_a_day_that_does_not_exist_is_named_as_such(text, why):
    assert date_problem(text) == f"that day does not exist ({why})"
    check = Checker()
    check.day("dob", text)
    assert check.errors["dob"] == f"Date of birth {text}: that day does not exist ({why})."


def test_well_formed_and_other_text_are_not_called_missing_days():
    assert date_problem("2024-02-29") is None
    assert date_problem("04/03/2026") is None
    check = Checker()
    check.day("dob", "04/03/2026")
    assert check.errors["dob"] == "Date of birth must be a date like 2024-03-31."


def test_patient_create_and_signup_say_the_day_does_not_exist(s, who):
    exc = refused(lambda: s.patients.create(who["demo.doctor"], dict(NEW_PATIENT,
                                                                     dob="2026-02-30")))
    assert exc.fields["dob"].startswith("Date of birth 2026-02-30: that day does not exist")
    assert "Dob" not in exc.message and "dob:" not in exc.message
    exc = refused(lambda: s.auth.signup_patient(
        "vera.label", "a-long-password-1", first_name="Vera", last_name="Label",
        dob="2025-02-29", sex="F", phone=None, email=None))
    assert "that day does not exist (February 2025 has 28 days)" in exc.fields["dob"]


def test_vitals_time_on_a_missing_day(s, who):
    patient = s.patients.list(who["demo.doctor"], page_size=1).items[0]["id"]
    exc = refused(lambda: s.vitals.add(who["demo.doctor"], patient,
                                       {"heart_rate": 70, "taken_at": "2026-02-30 09:00"}))
    assert "that day does not exist" in exc.fields["taken_at"]
