"""Reproductions from the second attack on issue 11 (the review, done again against the
fixes): each test failed before the fix it names."""

from __future__ import annotations

import pytest

from meditrack_tui.errors import Conflict
from tests.peek import Peek


def trail(s) -> list[dict]:
    return sorted(Peek(s.store).all("audit"), key=lambda e: (e.get("seq") or 0, e["ts"]))


# --- a stale edit hands back the current record: that is a read, and it is recorded ---

STALE_EDITS = {
    "patient": lambda s, w, p: s.patients.update(w, p, {"phone": "555 0100"}, version=999),
    "prescription update": lambda s, w, p: s.prescriptions.update(
        w, s.prescriptions.list(w, p)[0]["id"], {"dose": "5 mg"}, version=999),
    "prescription stop": lambda s, w, p: s.prescriptions.stop(
        w, s.prescriptions.list(w, p)[0]["id"], "no longer needed", version=999),
    "appointment": lambda s, w, p: s.appointments.reschedule(
        w, s.appointments.list(w, patient_id=p, upcoming=True).items[0]["id"],
        {"notes": "x"}, version=999),
}


@pytest.mark.parametrize("name", sorted(STALE_EDITS))
def test_stale_edit_that_returns_the_record_is_audited(s, who, name):
    """patients.update(..., version=999) by a doctor raised Conflict carrying the whole
    current record and left no audit entry: a read of any record with nothing on record."""
    doctor = who["demo.doctor"]
    p01 = who["demo.patient"].patient_id
    call = STALE_EDITS[name]
    before = len(trail(s))
    with pytest.raises(Conflict) as caught:
        call(s, doctor, p01)
    new = [e for e in trail(s)[before:] if e["outcome"] != "ok" or "update" in e["action"]
           or "stop" in e["action"] or "reschedule" in e["action"]]
    if caught.value.current:
        assert [(e["username"], e["outcome"], e["patient_id"]) for e in new] == [
            ("demo.doctor", "failed", p01)], new
        assert "changed" in new[0]["detail"]


# --- lockout: an unknown name answers as an account does, over time and in parallel ---

from meditrack_tui.errors import AccountLocked, AuthenticationFailed  # noqa: E402
from tests.test_accounts_hardening import add_user, cheap_hasher  # noqa: E402


@pytest.fixture
def fast(services):
    services.auth.hasher = cheap_hasher()
    services.auth.create_first_admin("boss", "correct-horse-1", "Bo Boss")
    return services


def timeline(services, clock, username: str, steps) -> list[str]:
    """Wrong passwords at the given minute offsets; each answer as the person sees it."""
    start, out = clock.now, []
    for minutes in steps:
        clock.now = start + __import__("datetime").timedelta(minutes=minutes)
        try:
            services.auth.login(username, "wrong-password")
            out.append("in")
        except (AuthenticationFailed, AccountLocked) as exc:
            out.append(exc.message)
    clock.now = start
    return out


@pytest.mark.parametrize("steps", [
    pytest.param(range(8), id="one a minute: the lock ends at the same time"),
    pytest.param([0, 1, 2, 3, 30], id="four, then one after the lockout time"),
    pytest.param([0, 1, 2, 3, 4, 5, 25, 26, 27, 28, 29, 30], id="locked, expired, locked again"),
])
def test_unknown_names_answer_like_accounts_over_time(fast, clock, steps):
    """An unknown name's lock was counted from a sliding window: its 'try again after'
    time moved on with every attempt while an account's stayed put (10:15, 10:16, ... vs
    10:19), and four wrong tries, a pause, and a fifth locked an account but not an
    unknown name. Either way an attacker could tell which usernames exist."""
    add_user(fast, "doc.known")
    known = timeline(fast, clock, "doc.known", steps)
    unknown = timeline(fast, clock, "nobody.here", steps)
    assert known == unknown
    assert any("Try again after" in answer for answer in known)


PARALLEL_GUESS = """
import json, pathlib, sys, time
from argon2 import PasswordHasher
from meditrack_tui.config import Config
from meditrack_tui.errors import AccountLocked, AuthenticationFailed
from meditrack_tui.services import Services
from meditrack_tui.store import connect

data_dir, secret, name, together, target = sys.argv[1:6]
config = Config(data_dir=data_dir, secret=secret)
store = connect(config)
services = Services(store, config)
services.auth.hasher = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)
barrier = pathlib.Path(data_dir) / ("barrier-" + target)
barrier.mkdir(exist_ok=True)
(barrier / name).touch()
while len(list(barrier.iterdir())) < int(together):
    time.sleep(0.002)
try:
    services.auth.login(target, "guess-number-" + name)
    print(json.dumps("in"))
except (AccountLocked, AuthenticationFailed) as exc:
    print(json.dumps(type(exc).__name__))
store.close()
"""


def test_parallel_guessers_get_the_same_answers_for_unknown_names(tmp_path):
    """8 parallel guesses at an account: 4 'wrong' and 4 'locked'. At a name no account
    has, each guess read the unknown name's count before any wrote to it: 8 'wrong'."""
    import subprocess
    import sys

    from meditrack_tui.config import Config
    from meditrack_tui.services import Services
    from meditrack_tui.store import connect

    secret = "attack-secret-" + "b" * 40
    data_dir = tmp_path / "data"
    config = Config(data_dir=data_dir, secret=secret)
    store = connect(config)
    services = Services(store, config)
    services.auth.hasher = cheap_hasher()
    add_user(services, "doc.target")
    store.close()
    guessers = 8
    answers = {}
    for target in ("doc.target", "nobody.target"):
        procs = [subprocess.Popen([sys.executable, "-c", PARALLEL_GUESS, str(data_dir), secret,
                                   str(n), str(guessers), target], stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE, text=True) for n in range(guessers)]
        found = []
        for proc in procs:
            out, err = proc.communicate(timeout=120)
            assert proc.returncode == 0, err
            found.append(__import__("json").loads(out.strip().splitlines()[-1]))
        answers[target] = sorted(found)
    assert answers["doc.target"] == ["AccountLocked"] * 4 + ["AuthenticationFailed"] * 4
    assert answers["nobody.target"] == answers["doc.target"]


# --- the password change is no unlimited password oracle ---


def test_wrong_current_passwords_count_with_failed_logins(fast):
    """A session left open (or one taken over) could try any number of 'current
    passwords' in the change-password form: 30 wrong, then the right one, and the password
    was changed; nothing counted or locked. The idle lock was fixed for the same hole."""
    from meditrack_tui.errors import SessionExpired, ValidationError

    add_user(fast, "doc.open")
    session = fast.auth.login("doc.open", "correct-horse-1")
    for _ in range(4):
        with pytest.raises(ValidationError, match="current password"):
            fast.users.change_password(session, "wrong-password", "brand-new-pass-1")
    with pytest.raises(SessionExpired, match="logged out"):
        fast.users.change_password(session, "wrong-password", "brand-new-pass-1")
    with pytest.raises(SessionExpired):
        fast.users.change_password(session, "correct-horse-1", "brand-new-pass-1")
    with pytest.raises(AccountLocked):
        fast.auth.login("doc.open", "correct-horse-1")
    entries = Peek(fast.store).find("audit", action="user.change-password", outcome="failed")
    assert len(entries) == 5


def test_a_right_current_password_resets_the_count(fast):
    add_user(fast, "doc.typo")
    session = fast.auth.login("doc.typo", "correct-horse-1")
    for _ in range(3):
        with pytest.raises(__import__("meditrack_tui.errors").errors.ValidationError):
            fast.users.change_password(session, "wrong-password", "brand-new-pass-1")
    fast.users.change_password(session, "correct-horse-1", "brand-new-pass-1")
    assert fast.store.users.by_username("doc.typo")["failed_logins"] == 0
    assert Peek(fast.store).count("audit", action="user.change-password", outcome="ok") == 1
    fast.auth.login("doc.typo", "brand-new-pass-1")


# --- whole-number arguments of reads are checked like those of writes ---


@pytest.mark.parametrize("count", [float("inf"), "1e309", 10**400, -10**30, 1.5, True, -1, 0,
                                   "99999999999999999999999"])
def test_latest_vitals_count_is_checked(s, who, count):
    """vitals.latest(count=inf) raised sqlite's IntegrityError, a huge int OverflowError
    ('Something went wrong'), and -1 returned every reading (SQLite's LIMIT -1)."""
    from meditrack_tui.errors import ValidationError

    doctor = who["demo.doctor"]
    with pytest.raises(ValidationError, match="(?i)number of readings"):
        s.vitals.latest(doctor, who["demo.patient"].patient_id, count)
    assert len(s.vitals.latest(doctor, who["demo.patient"].patient_id, "3")) == 3


# --- names that are drawn as nothing ---


@pytest.mark.parametrize("value", ["\u3164", "\u2800\u2800", "\u115f\u1160", "\uffa0",
                                   "\u0301\u0301", " \u3164 \u200b"])
def test_names_of_blank_letters_are_refused(s, who, value):
    """U+3164 (Hangul filler) and U+2800 (blank Braille) are letters, not format
    characters, and were accepted as a patient's whole first name, shown as nothing."""
    from meditrack_tui.errors import ValidationError

    with pytest.raises(ValidationError) as caught:
        s.patients.create(who["demo.doctor"], {"first_name": value, "last_name": "Lee",
                                              "dob": "1980-01-01", "sex": "F"})
    assert "invisible" in caught.value.fields["first_name"]
    # a real name with a combining accent is still a name
    created = s.patients.create(who["demo.doctor"], {"first_name": "Rene\u0301",
                                                    "last_name": "Lee", "dob": "1980-01-01",
                                                    "sex": "M"})
    assert created["first_name"] == "Rene\u0301"


# --- sign-up switched off does not answer which usernames exist ---


def test_signup_switched_off_does_not_say_a_name_is_taken(s, who):
    """With self sign-up off, a patient sign-up for an existing name still answered
    'That username is already taken.' (and for a new one 'switched off'): a way to list
    the clinic's usernames that no limit counted."""
    from meditrack_tui.errors import PermissionDenied

    admin = who["demo.admin"]
    s.settings.update(admin, {"self_signup": False}, version=s.settings.get(admin)["version"])
    answers = []
    for name in ("demo.doctor", "fresh.name1"):
        with pytest.raises(PermissionDenied) as caught:
            s.auth.signup_patient(name, "long-password-1", first_name="Ann", last_name="Lee",
                                  dob="1980-01-01", sex="F")
        answers.append(caught.value.message)
    assert answers[0] == answers[1] and "switched off" in answers[0]
