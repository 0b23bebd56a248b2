"""Accounts under attack (issue 11): the first admin only on an empty store and only once,
lockout that neither tells which names exist nor lets parallel guessers past the limit,
an idle lock that counts wrong passwords, unknown names never stored as typed, and the
display name taken from the account, not from what a caller's session says."""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from argon2 import PasswordHasher

from meditrack_tui.config import Config
from meditrack_tui.errors import AccountLocked, AuthenticationFailed, Conflict, SessionExpired
from tests.peek import Peek

PASSWORD = "correct-horse-1"
SECRET = "accounts-secret-" + "a" * 40


def cheap_hasher() -> PasswordHasher:
    return PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)


@pytest.fixture
def fast(services):
    services.auth.hasher = cheap_hasher()
    services.auth.create_first_admin("boss", PASSWORD, "Bo Boss")
    return services


def add_user(services, username: str, role: str = "doctor", **kwargs):
    doc = services.auth.new_user_doc(username, PASSWORD, role, full_name=f"Dr. {username}",
                                     **kwargs)
    with services.store.unit_of_work():
        return services.auth.insert_user(doc)


# --- the first administrator ---


def test_first_run_is_offered_only_on_an_empty_store(services):
    """The review became admin from the login screen of a store holding 2,000 patients."""
    services.auth.hasher = cheap_hasher()
    services.auth.signup_patient("early.bird", PASSWORD, first_name="Early", last_name="Bird",
                                 dob="1980-01-01", sex="F")
    assert services.auth.needs_first_admin() is False
    with pytest.raises(Conflict, match="already set up"):
        services.auth.create_first_admin("intruder", PASSWORD, "In Truder")
    assert services.auth.has_admin() is False
    # the server's shell is the way to recover a store without an administrator
    services.auth.create_first_admin("real.admin", PASSWORD, "Real Admin", from_shell=True)
    assert services.auth.has_admin() is True
    with pytest.raises(Conflict, match="already exists"):
        services.auth.create_first_admin("second", PASSWORD, "Second", from_shell=True)
    entry = Peek(services.store).one("audit", action="user.create-first-admin")
    assert entry["detail"] == "from the server's shell"


def test_a_pending_doctor_request_also_closes_the_first_run(services):
    services.auth.hasher = cheap_hasher()
    services.auth.signup_doctor("dr.early", PASSWORD, full_name="Dr. Early")
    assert services.auth.needs_first_admin() is False
    with pytest.raises(Conflict):
        services.auth.create_first_admin("intruder", PASSWORD, "In Truder")


# A child process: opens the store, waits until all its siblings are ready, then acts.
RACER = textwrap.dedent("""
    import json, pathlib, sys, time
    from argon2 import PasswordHasher
    from meditrack_tui.config import Config
    from meditrack_tui.errors import {errors}
    from meditrack_tui.services import Services
    from meditrack_tui.store import connect

    data_dir, secret, name, together = sys.argv[1:5]
    config = Config(data_dir=data_dir, secret=secret)
    store = connect(config)
    services = Services(store, config)
    services.auth.hasher = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)
    barrier = pathlib.Path(data_dir) / "barrier"
    barrier.mkdir(exist_ok=True)
    (barrier / name).touch()
    while len(list(barrier.iterdir())) < int(together):
        time.sleep(0.002)
""")


def racer(errors: str, body: str) -> str:
    """A racing child's script: the shared start, then ``body`` (dedented)."""
    return RACER.replace("{errors}", errors) + textwrap.dedent(body)


FIRST_ADMIN = racer("Conflict, StoreBusy", """
    try:
        services.auth.create_first_admin("admin." + name, "first-admin-pw1", "Admin " + name)
        print(json.dumps("created"))
    except (Conflict, StoreBusy) as exc:
        print(json.dumps(type(exc).__name__))
    store.close()
""")


def test_concurrent_first_runs_create_exactly_one_admin(tmp_path):
    """4 concurrent callers created 3 admins in the review."""
    from meditrack_tui.services import Services
    from meditrack_tui.store import connect

    data_dir = tmp_path / "data"
    connect(Config(data_dir=data_dir, secret=SECRET)).close()
    procs = [subprocess.Popen([sys.executable, "-c", FIRST_ADMIN, str(data_dir), SECRET,
                               str(n), "6"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True) for n in range(6)]
    outcomes = []
    for proc in procs:
        out, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err
        outcomes.append(json.loads(out.strip().splitlines()[-1]))
    assert outcomes.count("created") == 1, outcomes
    config = Config(data_dir=data_dir, secret=SECRET)
    store = connect(config)
    try:
        assert Services(store, config).store.users.count(role="admin") == 1
    finally:
        store.close()


# --- lockout: the same answers for every name, counted before the password is checked ---


def answers(services, username: str, password: str, times: int) -> list[tuple[str, str]]:
    out = []
    for _ in range(times):
        try:
            services.auth.login(username, password)
            out.append(("ok", ""))
        except (AuthenticationFailed, AccountLocked) as exc:
            out.append((type(exc).__name__, exc.message))
    return out


def test_known_and_unknown_names_get_the_same_answers(fast):
    """Only existing accounts got "2 attempts left" or "account locked"."""
    add_user(fast, "doc.known")
    known = answers(fast, "doc.known", "wrong-password", 7)
    unknown = answers(fast, "nobody.here", "wrong-password", 7)
    assert known == unknown
    assert [kind for kind, _ in known] == ["AuthenticationFailed"] * 4 + ["AccountLocked"] * 3
    assert not any("attempt" in text and "left" in text for _, text in known)
    # the right password during the lock gets the same answer as a wrong one
    assert answers(fast, "doc.known", PASSWORD, 1) == answers(fast, "nobody.here", PASSWORD, 1)


def test_unknown_names_are_never_stored_as_typed(fast):
    """People type their password into the username box; the audit showed it in clear."""
    typed = "My-Secret-Passw0rd!"
    with pytest.raises(AuthenticationFailed):
        fast.auth.login(typed, "anything")
    with pytest.raises(AuthenticationFailed):
        fast.auth.login(typed.lower(), "anything")
    failed = Peek(fast.store).find("audit", action="login", outcome="failed")
    names = {entry["username"] for entry in failed}
    assert len(names) == 1 and names.pop().startswith("unknown:")
    for entry in Peek(fast.store).all("audit"):
        assert typed.lower() not in json.dumps(entry, default=str).lower()


GUESSER = racer("AccountLocked, AuthenticationFailed", """
    try:
        services.auth.login("doc.target", "guess-number-" + name)
        print(json.dumps("in"))
    except (AccountLocked, AuthenticationFailed) as exc:
        print(json.dumps(type(exc).__name__))
    store.close()
""")


def test_parallel_guessers_get_no_more_checks_than_the_limit(tmp_path):
    """8 parallel guessers got 7 passwords checked against a limit of 5."""
    from meditrack_tui.services import Services
    from meditrack_tui.store import connect

    data_dir = tmp_path / "data"
    config = Config(data_dir=data_dir, secret=SECRET)
    store = connect(config)
    services = Services(store, config)
    services.auth.hasher = cheap_hasher()
    add_user(services, "doc.target")
    store.close()
    guessers = 8
    procs = [subprocess.Popen([sys.executable, "-c", GUESSER, str(data_dir), SECRET, str(n),
                               str(guessers)], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True) for n in range(guessers)]
    for proc in procs:
        _out, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err
    store = connect(config)
    try:
        entries = Peek(store).find("audit", action="login", outcome="failed")
        checked = [e for e in entries if e["detail"].startswith("wrong password")]
        assert len(entries) == guessers
        assert len(checked) <= config.max_failed_logins, [e["detail"] for e in entries]
        assert store.users.by_username("doc.target")["locked_until"] is not None
    finally:
        store.close()


# --- the idle lock counts wrong passwords ---


def test_the_idle_lock_has_an_attempt_limit(fast):
    """30 wrong guesses at the lock screen, then the right one, unlocked the terminal."""
    add_user(fast, "doc.idle")
    session = fast.auth.login("doc.idle", PASSWORD)
    for _ in range(4):
        assert fast.auth.confirm_password(session, "wrong-password") is False
    with pytest.raises(SessionExpired, match="logged out"):
        fast.auth.confirm_password(session, "wrong-password")
    with pytest.raises(SessionExpired):
        fast.auth.confirm_password(session, PASSWORD)  # the session is over
    with pytest.raises(SessionExpired):
        fast.patients.list(session)
    with pytest.raises(AccountLocked):
        fast.auth.login("doc.idle", PASSWORD)
    assert Peek(fast.store).count("audit", action="unlock-terminal", outcome="failed") == 5


def test_lock_screen_failures_count_with_login_failures(fast):
    add_user(fast, "doc.mixed")
    session = fast.auth.login("doc.mixed", PASSWORD)
    for _ in range(3):
        with pytest.raises(AuthenticationFailed):
            fast.auth.login("doc.mixed", "wrong-password")
    assert fast.auth.confirm_password(session, "wrong-password") is False
    with pytest.raises(SessionExpired):
        fast.auth.confirm_password(session, "wrong-password")


def test_a_right_unlock_resets_the_count(fast):
    add_user(fast, "doc.ok")
    session = fast.auth.login("doc.ok", PASSWORD)
    for _ in range(4):
        assert fast.auth.confirm_password(session, "wrong-password") is False
    assert fast.auth.confirm_password(session, PASSWORD) is True
    for _ in range(4):
        assert fast.auth.confirm_password(session, "wrong-password") is False


# --- what services take from a session comes from the verified session record ---


def test_a_changed_display_name_in_the_session_is_not_stored(demo_sessions):
    """A caller set another name and it was stored as doctor_name on a prescription."""
    s, who = demo_sessions
    forged = dataclasses.replace(who["demo.doctor"], full_name="Dr. Someone Else")
    rx = s.prescriptions.add(forged, Peek(s.store).patient_id("MRN-000002"), {
        "drug": "Metformin", "dose": "500 mg", "frequency": "twice daily", "route": "oral"})
    real = s.store.users.get(who["demo.doctor"].user_id)["full_name"]
    assert rx["doctor_name"] == real != "Dr. Someone Else"


def test_no_service_reads_the_display_name_a_caller_sent():
    services = Path(__file__).resolve().parents[1] / "meditrack_tui" / "services"
    offenders = [p.name for p in services.glob("*.py") if "session.full_name" in p.read_text()]
    assert offenders == []
