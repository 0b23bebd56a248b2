"""User accounts: admin management and everyone's own profile and password."""

from __future__ import annotations

import pytest
from argon2 import PasswordHasher

from meditrack_tui.errors import (
    AccountInactive,
    AuthenticationFailed,
    Conflict,
    PermissionDenied,
    SessionExpired,
    ValidationError,
)
from meditrack_tui.seed import DEMO_PASSWORD
from tests.peek import Peek

NEW_PASSWORD = "brand-new-password-2"


@pytest.fixture
def s(demo_sessions):
    services = demo_sessions[0]
    # New hashes with tiny costs keep these tests fast; the demo hashes stay as they are.
    services.auth.hasher = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)
    return services


@pytest.fixture
def who(demo_sessions):
    return demo_sessions[1]


def test_admin_creates_accounts_of_each_role(s, who):
    admin = who["demo.admin"]
    p05 = s.store.patients.by_mrn("MRN-000005")["id"]
    doctor = s.users.create(admin, username="dr.new", password=NEW_PASSWORD, role="doctor",
                            full_name="Dr. New", email="new@example.org")
    patient = s.users.create(admin, username="pat.new", password=NEW_PASSWORD, role="patient",
                             full_name="Margaret O'Connell", patient_id=p05)
    assert doctor["status"] == "active" and doctor["patient_id"] is None
    assert patient["patient_id"] == p05 and "password_hash" not in patient
    session = s.auth.login("pat.new", NEW_PASSWORD)
    assert s.patients.get(session, p05)["mrn"] == "MRN-000005"
    with pytest.raises(ValidationError, match="already has an account"):
        s.users.create(admin, username="pat.again", password=NEW_PASSWORD, role="patient",
                       full_name="Margaret Again", patient_id=p05)
    with pytest.raises(ValidationError, match="already has an account"):
        s.users.create(admin, username="pat.again", password=NEW_PASSWORD, role="patient",
                       full_name="Margaret Again", patient_mrn="MRN-000005")
    with pytest.raises(ValidationError) as info:
        s.users.create(admin, username="DR.NEW", password=NEW_PASSWORD, role="doctor",
                       full_name="Dup")
    assert "taken" in info.value.fields["username"]
    with pytest.raises(ValidationError) as info:
        s.users.create(admin, username="x.y", password=NEW_PASSWORD, role="superuser",
                       full_name="X", email="no-at-sign", patient_id="nope")
    assert {"role", "email", "patient_id"} <= set(info.value.fields)


@pytest.mark.parametrize("call", [
    lambda s, u: s.users.list(u),
    lambda s, u: s.users.pending(u),
    lambda s, u: s.users.create(u, username="sneaky", password=NEW_PASSWORD, role="admin",
                                full_name="Sneaky"),
    lambda s, u: s.users.change_role(u, u.user_id, "admin"),
    lambda s, u: s.users.unlock(u, u.user_id),
    lambda s, u: s.users.reset_password(u, u.user_id, NEW_PASSWORD),
])
@pytest.mark.parametrize("username", ["demo.doctor", "demo.patient"])
def test_only_admins_manage_users(s, who, call, username):
    with pytest.raises(PermissionDenied):
        call(s, who[username])
    assert s.store.users.by_username("sneaky") is None
    assert Peek(s.store).count("users", username="sneaky") == 0
    assert s.store.users.by_username(username)["role"] != "admin"


def test_list_filters_and_pages(s, who):
    admin = who["demo.admin"]
    everyone = s.users.list(admin)
    assert everyone.total == 5
    doctors = s.users.list(admin, role="doctor")
    assert sorted(u["username"] for u in doctors.items) == ["demo.doctor", "dr.lindqvist",
                                                            "dr.okafor"]
    assert [u["username"] for u in s.users.list(admin, query="DR.").items] == \
        ["dr.lindqvist", "dr.okafor"]
    assert s.users.list(admin, query="dr.*").total == 0  # literal, not a pattern
    assert s.users.list(admin, status="pending").total == 0
    page = s.users.list(admin, page=2, page_size=2)
    assert page.total == 5 and page.pages == 3 and len(page.items) == 2
    for bad in ({"role": "root"}, {"status": "asleep"}, {"query": {"$gt": ""}}):
        with pytest.raises(ValidationError):
            s.users.list(admin, **bad)


def test_admin_cannot_demote_or_deactivate_self(s, who):
    admin = who["demo.admin"]
    with pytest.raises(ValidationError, match="own role"):
        s.users.change_role(admin, admin.user_id, "doctor")
    with pytest.raises(ValidationError, match="own account"):
        s.users.deactivate(admin, admin.user_id)
    with pytest.raises(ValidationError, match="already has that role"):
        s.users.change_role(admin, who["demo.doctor"].user_id, "doctor")


def test_deactivate_and_reactivate(s, who):
    admin, doctor = who["demo.admin"], who["demo.doctor"]
    s.users.deactivate(admin, doctor.user_id)
    with pytest.raises(SessionExpired):
        s.users.profile(doctor)
    with pytest.raises(AccountInactive):
        s.auth.login("demo.doctor", DEMO_PASSWORD)
    assert "demo.doctor" not in {d["username"] for d in s.users.doctors(admin)}
    with pytest.raises(Conflict):
        s.users.approve(admin, doctor.user_id)
    s.users.reactivate(admin, doctor.user_id)
    with pytest.raises(Conflict, match="not deactivated"):
        s.users.reactivate(admin, doctor.user_id)
    assert "demo.doctor" in {d["username"] for d in s.users.doctors(admin)}


def test_reset_password_ends_sessions(s, who):
    admin, doctor = who["demo.admin"], who["demo.doctor"]
    with pytest.raises(ValidationError) as info:
        s.users.reset_password(admin, doctor.user_id, "short")
    assert "new_password" in info.value.fields
    s.users.reset_password(admin, doctor.user_id, NEW_PASSWORD)
    with pytest.raises(SessionExpired):
        s.patients.list(doctor)
    with pytest.raises(AuthenticationFailed):
        s.auth.login("demo.doctor", DEMO_PASSWORD)
    s.auth.login("demo.doctor", NEW_PASSWORD)


def test_doctors_picker_for_everyone(s, who):
    names = [d["full_name"] for d in s.users.doctors(who["demo.patient"])]
    assert names == sorted(names, key=str.lower) and len(names) == 3
    assert all(set(d) == {"id", "full_name", "username", "specialty"}
               for d in s.users.doctors(who["demo.patient"]))


def test_profile_and_update(s, who):
    patient = who["demo.patient"]
    profile = s.users.profile(patient)
    assert profile["username"] == "demo.patient" and "password_hash" not in profile
    updated = s.users.update_profile(patient, full_name="Dan Reyes", email="dan@example.com")
    assert updated["full_name"] == "Dan Reyes" and updated["version"] == profile["version"] + 1
    with pytest.raises(ValidationError):
        s.users.update_profile(patient, email="not an email")
    with pytest.raises(ValidationError, match="Nothing to change"):
        s.users.update_profile(patient)
    with pytest.raises(ValidationError):
        s.users.update_profile(patient, full_name={"$set": "x"})


def test_change_password_keeps_this_session_and_ends_others(s, who):
    other = s.auth.login("demo.patient", DEMO_PASSWORD)
    patient = who["demo.patient"]
    with pytest.raises(ValidationError) as info:
        s.users.change_password(patient, "wrong-current", NEW_PASSWORD)
    assert "current_password" in info.value.fields
    with pytest.raises(ValidationError) as info:
        s.users.change_password(patient, DEMO_PASSWORD, DEMO_PASSWORD)
    assert "new_password" in info.value.fields
    with pytest.raises(ValidationError) as info:
        s.users.change_password(patient, DEMO_PASSWORD, "demo.patient")
    assert "new_password" in info.value.fields
    s.users.change_password(patient, DEMO_PASSWORD, NEW_PASSWORD)
    s.users.profile(patient)  # this session goes on
    with pytest.raises(SessionExpired):
        s.users.profile(other)
    with pytest.raises(AuthenticationFailed):
        s.auth.login("demo.patient", DEMO_PASSWORD)
    s.auth.login("demo.patient", NEW_PASSWORD)
    assert Peek(s.store).count("audit", action="user.change-password", outcome="failed") == 1


def test_admin_dashboard_counts(s, who):
    s.auth.signup_doctor("dr.waiting", NEW_PASSWORD, full_name="Dr. Waiting")
    board = s.dashboard.admin(who["demo.admin"])
    assert board["patients"] == 40 and board["archived_patients"] == 0
    assert board["users_by_role"] == {"patient": 1, "doctor": 3, "admin": 1}
    assert [u["username"] for u in board["pending"]] == ["dr.waiting"]
    assert all("password_hash" not in u for u in board["pending"])
    assert board["appointments_today"] == 11
    assert board["recent_audit"][0]["action"] == "signup.doctor"


def test_a_patient_login_is_linked_by_the_record_mrn(s, who):
    admin = who["demo.admin"]
    made = s.users.create(admin, username="pat.mrn", password=NEW_PASSWORD, role="patient",
                          full_name="Linked By MRN", patient_mrn=" mrn-000007 ")
    record = s.store.patients.by_mrn("MRN-000007")
    assert made["patient_id"] == record["id"]
    for mrn, role, message in (("MRN-999999", "patient", "No patient record has the MRN"),
                               ("MRN-000008", "doctor", "Only a patient account"),
                               ({"$gt": ""}, "patient", "text")):
        with pytest.raises(ValidationError, match=message) as info:
            s.users.create(admin, username="pat.bad", password=NEW_PASSWORD, role=role,
                           full_name="Bad Link", patient_mrn=mrn)
        assert "patient_mrn" in info.value.fields
    assert s.store.users.by_username("pat.bad") is None
