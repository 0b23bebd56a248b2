"""Authentication: argon2id hashes and rehash, lockout, sessions (expiry, revocation,
tampering), password rules, the first admin and sign-up."""

from __future__ import annotations

import dataclasses
from datetime import timedelta

import jwt
import pytest
from argon2 import PasswordHasher

from meditrack_tui.errors import (
    AccountInactive,
    AccountLocked,
    AccountPending,
    AuthenticationFailed,
    Conflict,
    SessionExpired,
    ValidationError,
)
from tests.peek import Peek

PASSWORD = "correct-horse-1"


def cheap_hasher() -> PasswordHasher:
    """argon2id with tiny costs: keeps tests fast where the hash parameters do not matter."""
    return PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)


@pytest.fixture
def fast(services):
    """The empty store with cheap hashing and a logged-in first admin."""
    services.auth.hasher = cheap_hasher()
    services.auth.create_first_admin("boss", PASSWORD, "Bo Boss")
    return services


@pytest.fixture
def admin(fast):
    return fast.auth.login("boss", PASSWORD)


def add_user(services, username: str, role: str = "doctor", **kwargs):
    doc = services.auth.new_user_doc(username, PASSWORD, role, full_name=username.title(),
                                     **kwargs)
    return services.auth.insert_user(doc)


def stored_hash(services, username: str) -> str:
    return services.store.users.by_username(username)["password_hash"]


# --- password hashing ---

def test_password_hash_is_argon2id_and_never_returned(services):
    created = services.auth.create_first_admin("root.admin", PASSWORD, "Root Admin")
    assert "password_hash" not in created
    digest = stored_hash(services, "root.admin")
    assert digest.startswith("$argon2id$")
    assert PASSWORD not in digest
    assert not services.auth.hasher.check_needs_rehash(digest)


def test_hash_is_upgraded_when_parameters_change(services):
    services.auth.hasher = cheap_hasher()
    add_user(services, "old.hash")
    old = stored_hash(services, "old.hash")
    assert "m=8,t=1,p=1" in old
    services.auth.hasher = PasswordHasher()  # the current (stronger) parameters
    services.auth.login("old.hash", PASSWORD)
    new = stored_hash(services, "old.hash")
    assert new != old and new.startswith("$argon2id$")
    assert not services.auth.hasher.check_needs_rehash(new)
    # The new hash still verifies the same password.
    services.auth.login("old.hash", PASSWORD)
    assert stored_hash(services, "old.hash") == new


def test_wrong_password_and_unknown_user_fail_the_same_way(fast):
    add_user(fast, "doc.one")
    with pytest.raises(AuthenticationFailed, match="Wrong username or password"):
        fast.auth.login("doc.one", "not-the-password")
    with pytest.raises(AuthenticationFailed, match="Wrong username or password"):
        fast.auth.login("nobody.here", PASSWORD)
    failed = Peek(fast.store).find("audit", action="login", outcome="failed")
    assert [e["username"] for e in failed] == ["doc.one", fast.auth.unknown_name("nobody.here")]
    assert failed[1]["username"].startswith("unknown:")  # never the text as typed


def test_unknown_username_costs_a_hash_check_like_a_known_one(fast):
    """The answer's timing does not tell which usernames exist: both paths verify a hash."""
    add_user(fast, "doc.timed")
    calls = []

    class CountingHasher(PasswordHasher):
        def verify(self, hash, password):  # noqa: A002 - argon2's own parameter name
            calls.append(hash)
            return super().verify(hash, password)

    fast.auth.hasher = CountingHasher(time_cost=1, memory_cost=8, parallelism=1)
    for username in ("doc.timed", "nobody.at.all"):
        calls.clear()
        with pytest.raises(AuthenticationFailed):
            fast.auth.login(username, "not-the-password")
        assert len(calls) == 1, username
        assert calls[0].startswith("$argon2id$")


def test_username_is_case_insensitive(fast):
    add_user(fast, "doc.case")
    assert fast.auth.login("  DOC.Case ", PASSWORD).username == "doc.case"


# --- lockout ---

def test_lockout_after_five_failures_and_expiry(fast, clock, config):
    add_user(fast, "doc.lock")
    assert config.max_failed_logins == 5 and config.lockout_minutes == 15
    messages = []
    for _ in range(4):
        with pytest.raises(AuthenticationFailed) as info:
            fast.auth.login("doc.lock", "wrong-password")
        messages.append(info.value.message)
    # never how many attempts are left: that would tell which names exist
    assert set(messages) == {"Wrong username or password."}
    with pytest.raises(AccountLocked) as info:
        fast.auth.login("doc.lock", "wrong-password")
    until = clock.now + timedelta(minutes=15)
    assert f"Try again after {until:%H:%M}" in info.value.message
    assert info.value.until == until
    # The right password does not get in while locked.
    with pytest.raises(AccountLocked, match=f"after {until:%H:%M}"):
        fast.auth.login("doc.lock", PASSWORD)
    clock.advance(minutes=14)
    with pytest.raises(AccountLocked, match=f"after {until:%H:%M}"):
        fast.auth.login("doc.lock", PASSWORD)
    clock.advance(minutes=2)
    session = fast.auth.login("doc.lock", PASSWORD)
    assert session.username == "doc.lock"
    user = fast.store.users.by_username("doc.lock")
    assert user["failed_logins"] == 0 and user["locked_until"] is None


def test_failures_reset_after_a_successful_login(fast):
    add_user(fast, "doc.reset")
    for _ in range(4):
        with pytest.raises(AuthenticationFailed):
            fast.auth.login("doc.reset", "wrong-password")
    fast.auth.login("doc.reset", PASSWORD)
    for _ in range(4):
        with pytest.raises(AuthenticationFailed):
            fast.auth.login("doc.reset", "wrong-password")


def test_admin_unlocks_a_locked_account(fast, admin):
    doc = add_user(fast, "doc.unlock")
    for _ in range(5):
        with pytest.raises((AuthenticationFailed, AccountLocked)):
            fast.auth.login("doc.unlock", "wrong-password")
    with pytest.raises(AccountLocked):
        fast.auth.login("doc.unlock", PASSWORD)
    listed = {u["username"]: u for u in fast.users.list(admin).items}
    assert listed["doc.unlock"]["locked"] is True
    fast.users.unlock(admin, doc["id"])
    assert fast.auth.login("doc.unlock", PASSWORD).username == "doc.unlock"
    assert Peek(fast.store).count("audit", action="user.unlock") == 1


# --- sessions ---

SESSION_CALLS = {
    "patients.list": lambda s, sess: s.patients.list(sess),
    "appointments.list": lambda s, sess: s.appointments.list(sess),
    "users.profile": lambda s, sess: s.users.profile(sess),
    "users.list": lambda s, sess: s.users.list(sess),
    "audit.list": lambda s, sess: s.audit.list(sess),
    "dashboard.admin": lambda s, sess: s.dashboard.admin(sess),
    "patients.create": lambda s, sess: s.patients.create(
        sess, {"first_name": "A", "last_name": "B", "dob": "2000-01-01", "sex": "F"}),
}


@pytest.mark.parametrize("call", sorted(SESSION_CALLS))
def test_expired_session_is_refused_on_any_call(fast, admin, clock, config, call):
    clock.advance(hours=config.session_hours, minutes=-1)
    SESSION_CALLS[call](fast, admin)  # still live a minute before expiry
    clock.advance(minutes=1)
    with pytest.raises(SessionExpired, match="expired"):
        SESSION_CALLS[call](fast, admin)


def test_logout_revokes_the_token(fast, admin):
    fast.users.profile(admin)
    fast.auth.logout(admin)
    with pytest.raises(SessionExpired, match="logged out"):
        fast.users.profile(admin)
    fast.auth.logout(admin)  # a second logout is harmless
    assert Peek(fast.store).count("audit", action="logout") == 1


def test_deactivation_revokes_and_blocks_login(fast, admin):
    doc = add_user(fast, "doc.gone")
    doctor = fast.auth.login("doc.gone", PASSWORD)
    fast.patients.list(doctor)
    fast.users.deactivate(admin, doc["id"])
    with pytest.raises(SessionExpired):
        fast.patients.list(doctor)
    with pytest.raises(AccountInactive, match="deactivated"):
        fast.auth.login("doc.gone", PASSWORD)
    fast.users.reactivate(admin, doc["id"])
    fast.auth.login("doc.gone", PASSWORD)


def test_role_change_revokes(fast, admin):
    doc = add_user(fast, "doc.promoted")
    doctor = fast.auth.login("doc.promoted", PASSWORD)
    fast.users.change_role(admin, doc["id"], "admin")
    with pytest.raises(SessionExpired):
        fast.patients.list(doctor)
    again = fast.auth.login("doc.promoted", PASSWORD)
    assert again.role == "admin"
    fast.users.list(again)


def test_tampered_tokens_are_refused(fast, admin, config):
    doc = add_user(fast, "doc.sneaky")
    doctor = fast.auth.login("doc.sneaky", PASSWORD)
    claims = jwt.decode(doctor.token, options={"verify_signature": False})
    forged_claims = dict(claims, role="admin")
    variants = {
        "role changed in the session only": dataclasses.replace(doctor, role="admin"),
        "other user in the session": dataclasses.replace(doctor, user_id=admin.user_id),
        "signed with another secret": dataclasses.replace(
            doctor, role="admin",
            token=jwt.encode(forged_claims, "not-the-secret-" + "y" * 40, algorithm="HS256")),
        "unsigned": dataclasses.replace(
            doctor, role="admin", token=jwt.encode(forged_claims, None, algorithm="none")),
        "signature bit flipped": dataclasses.replace(
            doctor, token=doctor.token[:-2] + ("A" if doctor.token[-2] != "A" else "B")
            + doctor.token[-1]),
        "garbage": dataclasses.replace(doctor, token="not-a-token"),
        "other username in the session": dataclasses.replace(doctor, username="boss"),
        "patient link added in the session": dataclasses.replace(
            doctor, patient_id=doc["id"]),
        "unknown session id": dataclasses.replace(
            doctor, session_id="0" * 32,
            token=jwt.encode(dict(claims, sid="0" * 32), config.signing_secret(),
                             algorithm="HS256")),
    }
    accepted = []
    for name, forged in variants.items():
        for call in (fast.users.list, fast.patients.list):
            try:
                call(forged)
            except SessionExpired:
                continue
            accepted.append(name)
    assert accepted == []
    with pytest.raises(SessionExpired):
        fast.patients.list({"token": doctor.token, "role": "admin"})  # not a Session at all
    assert doc["role"] == "doctor"


def test_sessions_carry_an_expiry_from_config(fast, admin, clock, config):
    assert admin.expires_at == clock.now + timedelta(hours=config.session_hours)
    row = fast.store.sessions.get(admin.session_id)
    assert row["user_id"] == admin.user_id and row["revoked"] is False


def test_confirm_password_for_the_idle_lock(fast, admin):
    assert fast.auth.confirm_password(admin, PASSWORD) is True
    assert fast.auth.confirm_password(admin, "wrong-password") is False
    assert fast.auth.confirm_password(admin, {"$ne": None}) is False
    assert Peek(fast.store).count("audit", action="unlock-terminal", outcome="failed") == 2


# --- password and username rules ---

@pytest.mark.parametrize("password,message", [
    ("short-pw", "at least 10 characters"),
    ("", "required"),
    (None, "required"),
    (1234567890123, "required"),
    ("x" * 300, "too long"),
    ("new.admin.one", "same as the username"),
    ("NEW.Admin.ONE ", "same as the username"),
])
def test_password_rules(services, password, message):
    with pytest.raises(ValidationError) as info:
        services.auth.create_first_admin("new.admin.one", password, "New Admin")
    assert message in info.value.fields["password"]
    assert services.auth.needs_first_admin()


@pytest.mark.parametrize("username", ["ab", "has space", "semi;colon", "a" * 41, None, 42])
def test_username_rules(services, username):
    with pytest.raises(ValidationError) as info:
        services.auth.create_first_admin(username, PASSWORD, "New Admin")
    assert "username" in info.value.fields


# --- first admin ---

def test_first_admin_flow(services):
    services.auth.hasher = cheap_hasher()
    assert services.auth.needs_first_admin() is True
    created = services.auth.create_first_admin("first.admin", PASSWORD, "First Admin",
                                               "first@example.org")
    assert created["role"] == "admin" and created["status"] == "active"
    assert services.auth.needs_first_admin() is False
    with pytest.raises(Conflict, match="already set up"):
        services.auth.create_first_admin("second.admin", PASSWORD, "Second Admin")
    assert services.store.users.count() == 1 == len(Peek(services.store).all("users"))
    session = services.auth.login("first.admin", PASSWORD)
    assert session.role == "admin"
    services.users.list(session)


def test_a_store_with_data_but_no_admin_is_recovered_from_the_shell(services):
    """Synthetic seed data or a pending doctor request before setup: not from the login
    screen (tests/test_accounts_hardening.py), but `meditrack create-admin` works."""
    services.auth.hasher = cheap_hasher()
    services.auth.signup_doctor("dr.early", PASSWORD, full_name="Dr. Early")
    assert services.auth.needs_first_admin() is False
    services.auth.create_first_admin("first.admin", PASSWORD, "First Admin", from_shell=True)
    assert services.auth.has_admin() is True


# --- sign-up ---

def test_patient_signup_creates_linked_record_and_can_log_in(fast, admin):
    user = fast.auth.signup_patient("new.patient", PASSWORD, first_name="Nia", last_name="Park",
                                    dob="1990-02-03", sex="F", phone="+1 555 0200",
                                    email="nia@example.org")
    assert user["role"] == "patient" and user["status"] == "active"
    patient = fast.store.patients.get(user["patient_id"])
    assert patient["mrn"].startswith("MRN-") and patient["first_name"] == "Nia"
    session = fast.auth.login("new.patient", PASSWORD)
    assert session.patient_id == user["patient_id"]
    own = fast.patients.get(session, session.patient_id)
    assert own["mrn"] == patient["mrn"] and own["name"] == "Nia Park"
    assert [p["id"] for p in fast.patients.list(session).items] == [session.patient_id]
    # Staff see the new record too.
    assert fast.patients.list(admin, query="park").total == 1


def test_patient_cannot_point_their_session_at_another_record(fast, admin):
    """The patient link is checked against the minted session, not taken from the caller."""
    fast.auth.signup_patient("pat.one", PASSWORD, first_name="Ann", last_name="One",
                             dob="1980-01-01", sex="F")
    other = fast.auth.signup_patient("pat.two", PASSWORD, first_name="Ben", last_name="Two",
                                     dob="1981-01-01", sex="M")
    session = fast.auth.login("pat.one", PASSWORD)
    forged = dataclasses.replace(session, patient_id=other["patient_id"])
    for call in (lambda: fast.patients.get(forged, other["patient_id"]),
                 lambda: fast.patients.list(forged),
                 lambda: fast.vitals.series(forged, other["patient_id"])):
        with pytest.raises(SessionExpired):
            call()


def test_patient_signup_refuses_taken_username_without_leaving_a_record(fast):
    with pytest.raises(ValidationError) as info:
        fast.auth.signup_patient("boss", PASSWORD, first_name="Ann", last_name="Other",
                                 dob="1980-01-01", sex="F")
    assert "taken" in info.value.fields["username"]
    assert Peek(fast.store).count("patients") == 0


def test_patient_signup_validates_fields(fast):
    with pytest.raises(ValidationError) as info:
        fast.auth.signup_patient("bad.patient", PASSWORD, first_name="", last_name="X",
                                 dob="2999-01-01", sex="Q")
    assert {"first_name", "dob", "sex"} <= set(info.value.fields)
    assert fast.store.users.by_username("bad.patient") is None
    assert Peek(fast.store).count("users", username="bad.patient") == 0


def test_signup_reports_the_password_rule_with_the_other_fields_at_once(fast):
    with pytest.raises(ValidationError) as info:
        fast.auth.signup_patient("new.patient", "short", first_name="", last_name="",
                                 dob="1980-01-01", sex="F")
    assert set(info.value.fields) == {"password", "first_name", "last_name"}
    assert "at least 10 characters" in info.value.fields["password"]
    with pytest.raises(ValidationError) as info:
        fast.auth.signup_doctor("dr.newcomer", "DR.NEWCOMER", full_name="")
    assert set(info.value.fields) == {"password", "full_name"}
    assert "same as the username" in info.value.fields["password"]
    assert [u["username"] for u in Peek(fast.store).all("users") if u["role"] != "admin"] == []
    assert Peek(fast.store).count("patients") == 0


def test_doctor_signup_is_pending_until_approved(fast, admin):
    user = fast.auth.signup_doctor("dr.pending", PASSWORD, full_name="Dr. Pen Ding",
                                   specialty="Cardiology")
    assert user["status"] == "pending" and user["role"] == "doctor"
    with pytest.raises(AccountPending, match="waiting for an administrator's approval"):
        fast.auth.login("dr.pending", PASSWORD)
    assert [u["username"] for u in fast.users.pending(admin)] == ["dr.pending"]
    fast.users.approve(admin, user["id"])
    session = fast.auth.login("dr.pending", PASSWORD)
    assert session.role == "doctor"
    assert fast.users.pending(admin) == []
    with pytest.raises(Conflict, match="not waiting for approval"):
        fast.users.approve(admin, user["id"])


def test_doctor_signup_rejected(fast, admin):
    user = fast.auth.signup_doctor("dr.rejected", PASSWORD, full_name="Dr. Re Jected")
    fast.users.reject(admin, user["id"])
    with pytest.raises(AccountPending, match="not approved"):
        fast.auth.login("dr.rejected", PASSWORD)
    assert Peek(fast.store).count("audit", action="user.reject") == 1
