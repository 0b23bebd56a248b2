"""Domain rules defined once (meditrack_tui.domain): statuses with transitions and labels,
sex and account values, and the permissions object services and screens both ask."""

from __future__ import annotations

import itertools

import pytest

from meditrack_tui import policy
from meditrack_tui.domain import (
    APPOINTMENT_STATUSES,
    OPEN_STATUSES,
    SEX_LABELS,
    SEXES,
    AccountStatus,
    AppointmentStatus,
    Permissions,
    may_follow,
    sex_label,
    sources_of,
)
from meditrack_tui.services import appointments, patients, users


def test_appointment_transitions():
    allowed = {(a, b) for a, b in itertools.product(APPOINTMENT_STATUSES, repeat=2)
               if may_follow(a, b)}
    assert allowed == {
        ("scheduled", "checked-in"), ("scheduled", "completed"), ("scheduled", "cancelled"),
        ("scheduled", "no-show"), ("checked-in", "completed"), ("checked-in", "cancelled")}
    assert sources_of("cancelled") == ("scheduled", "checked-in")
    assert sources_of("no-show") == ("scheduled",)
    assert not may_follow("scheduled", "bogus") and not may_follow("bogus", "completed")
    assert OPEN_STATUSES == ("scheduled", "checked-in")
    assert [s.label for s in AppointmentStatus] == ["Scheduled", "Checked in", "Completed",
                                                    "Cancelled", "No-show"]
    assert AppointmentStatus.NO_SHOW.verb == "marked as a no-show"


def test_the_services_use_the_domain_values():
    assert appointments.STATUSES is APPOINTMENT_STATUSES
    assert patients.SEXES is SEXES and patients.SEX_LABELS is SEX_LABELS
    assert users.STATUSES == tuple(s.value for s in AccountStatus)
    assert sex_label("X") == "Other / not stated" and sex_label(None) == ""


@pytest.mark.parametrize("role", policy.ROLES)
def test_permissions_answer_from_the_policy_table(role):
    mine, other = "p-own", "p-other"
    may = Permissions(role, patient_id=mine if role == policy.PATIENT else None)
    for action, scopes in policy.POLICY.items():
        scope = scopes.get(role)
        assert may.scope(action) == scope
        assert may.may(action) is (scope is not None)
        assert may.may(action, patient_id=mine) is (scope is not None)
        assert may.may(action, patient_id=other) is (scope == policy.ANY)
    assert may.actions() == {a for a, s in policy.POLICY.items() if role in s}


def test_nobody_may_do_anything():
    assert Permissions.of(None).actions() == frozenset()
    assert not Permissions.of(None).may("patient.read")


def test_audit_outcomes_have_one_set_of_words():
    from meditrack_tui.domain import AUDIT_OUTCOMES, outcome_label

    assert [outcome_label(o) for o in AUDIT_OUTCOMES] == ["OK", "Denied", "Failed"]
    screens = __import__("pathlib").Path(__file__).resolve().parents[1] / "screens"
    assert not [p.name for p in screens.glob("*.py") if '"denied": "Denied"' in p.read_text()]
