"""Contract: the audit chain on each store (SQLite always, MongoDB when
MEDITRACK_TEST_MONGO_URI is set). The app writes entries through real service calls; the
tests then edit, delete and insert entries directly in the store (tests/tamper.py: raw
sqlite3 / raw pymongo) and expect ``verify`` to name exactly those entries."""

from __future__ import annotations

from datetime import timedelta

import pytest

from meditrack_tui.audit_chain import EDITED, GENESIS, INSERTED, REMOVED
from meditrack_tui.errors import PermissionDenied
from meditrack_tui.store import new_id
from tests.conftest import Clock, make_config
from tests.tamper import Tamper

PASSWORD = "chain-test-password-1"


@pytest.fixture
def services(store, tmp_path):
    from argon2 import PasswordHasher

    from meditrack_tui.services import Services

    services = Services(store, make_config(tmp_path / "data"), clock=Clock())
    services.auth.hasher = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)
    return services


@pytest.fixture
def trail(services):
    """A clinic's first minutes, every entry written by a service call."""
    s = services
    s.auth.create_first_admin("ch.admin", PASSWORD, "Chain Admin")
    admin = s.auth.login("ch.admin", PASSWORD)
    s.users.create(admin, username="ch.doctor", password=PASSWORD, role="doctor",
                   full_name="Dr. Chain")
    doctor = s.auth.login("ch.doctor", PASSWORD)
    patient = s.patients.create(doctor, {"first_name": "Ada", "last_name": "Byron",
                                         "dob": "1980-12-10", "sex": "F"})
    s.patients.get(doctor, patient["id"])
    s.vitals.add(doctor, patient["id"], {"heart_rate": 71})
    with pytest.raises(PermissionDenied):
        s.users.list(doctor)
    s.auth.logout(doctor)
    return s


def problems(report):
    return [(p.kind, p.seq, p.entry["id"] if p.entry else None) for p in report.problems]


def test_an_untouched_trail_verifies_clean(trail):
    report = trail.audit.verify_chain()
    n = Tamper(trail.store).last_seq()
    assert n >= 8 and report.intact and report.problems == []
    assert report.summary() == f"audit trail intact: {n} entries, chain 1..{n}"
    first, last = Tamper(trail.store).entry(1), Tamper(trail.store).entry(n)
    assert first["prev"] == GENESIS and len(last["hash"]) == 64
    assert Tamper(trail.store).head()["seq"] == n
    # read in small batches: the same answer
    assert trail.audit.verify_chain(batch=3).summary() == report.summary()


def test_seq_runs_without_gaps_and_each_entry_links_to_the_one_before(trail):
    tamper = Tamper(trail.store)
    n = tamper.last_seq()
    entries = [tamper.entry(k) for k in range(1, n + 1)]
    assert [e["seq"] for e in entries] == list(range(1, n + 1))
    assert all(b["prev"] == a["hash"] for a, b in zip(entries, entries[1:], strict=False))


def test_edited_removed_and_inserted_entries_are_named(trail):
    tamper = Tamper(trail.store)
    n = tamper.last_seq()
    edited, removed = tamper.entry(3), tamper.entry(5)
    tamper.edit(3, detail="nothing happened here", username="someone.else")
    tamper.delete(5)
    forged_id = new_id()
    last = tamper.entry(n)
    tamper.insert({"id": forged_id, "seq": n + 1, "prev": last["hash"], "hash": "f" * 64,
                   "ts": last["ts"] + timedelta(minutes=1), "user_id": None,
                   "username": "ch.admin", "role": "admin", "action": "login",
                   "outcome": "ok"})
    report = trail.audit.verify_chain(batch=4)
    assert not report.intact
    assert problems(report) == [(EDITED, 3, edited["id"]), (REMOVED, 5, None),
                                (INSERTED, n + 1, forged_id)]
    lines = report.lines()
    assert lines[0].startswith("audit trail NOT intact: 3 problems")
    assert f"entry seq 3 (id {edited['id']}" in lines[1] and "EDITED" in lines[1]
    assert "user someone.else" in lines[1]
    assert lines[2].startswith("entry seq 5 REMOVED")
    assert f"entry seq {n + 1} (id {forged_id}" in lines[3] and "INSERTED" in lines[3]
    assert removed["id"] not in "\n".join(lines)  # it is gone: only its place is known


def test_entries_cut_off_the_end_are_removed_per_the_head(trail):
    tamper = Tamper(trail.store)
    n = tamper.last_seq()
    tamper.delete(n)
    tamper.delete(n - 1)
    assert problems(trail.audit.verify_chain()) == [(REMOVED, n - 1, None)]
    assert f"entries seq {n - 1}..{n} REMOVED" in trail.audit.verify_chain().lines()[1]


def test_a_head_rewritten_to_hide_a_cut_off_end_is_caught(trail):
    tamper = Tamper(trail.store)
    n = tamper.last_seq()
    tamper.delete(n)
    tamper.set_head(seq=n - 1, hash=tamper.entry(n - 1)["hash"])  # no key: old seal kept
    report = trail.audit.verify_chain()
    assert [(p.kind, p.seq) for p in report.problems] == [(EDITED, None)]
    assert "head record" in report.lines()[1]
    tamper.delete_head()
    assert [(p.kind, p.seq) for p in trail.audit.verify_chain().problems] == [(REMOVED, None)]


def test_the_last_entry_edited_is_edited_not_inserted(trail):
    tamper = Tamper(trail.store)
    n = tamper.last_seq()
    last = tamper.entry(n)
    tamper.edit(n, action="patient.read")
    assert problems(trail.audit.verify_chain()) == [(EDITED, n, last["id"])]


def test_an_entry_rewritten_with_a_new_hash_shows_as_replaced(trail):
    tamper = Tamper(trail.store)
    target = tamper.entry(4)
    tamper.edit(4, detail="rewritten", hash="e" * 64)
    assert problems(trail.audit.verify_chain()) == [(INSERTED, 4, target["id"]),
                                                    (REMOVED, 4, None)]


def test_a_second_entry_at_one_place_is_inserted(trail):
    tamper = Tamper(trail.store)
    tamper.allow_duplicate_seq()
    original = tamper.entry(2)
    forged_id = "f" * 24  # sorts after every real id at that place
    tamper.insert({**original, "id": forged_id, "detail": "forged"})
    assert problems(trail.audit.verify_chain()) == [(INSERTED, 2, forged_id)]


def test_an_unsealed_entry_after_the_chain_began_is_inserted(trail):
    tamper = Tamper(trail.store)
    first = tamper.entry(1)
    forged_id = new_id()
    tamper.insert({"id": forged_id, "ts": first["ts"] + timedelta(seconds=30),
                   "user_id": None, "username": "ch.admin", "role": "admin",
                   "action": "patient.delete", "outcome": "ok"})
    report = trail.audit.verify_chain()
    assert problems(report) == [(INSERTED, None, forged_id)]
    assert f"entry without seq (id {forged_id}" in report.lines()[1]


@pytest.mark.parametrize("seq", [0, -3, "seven"])
def test_an_entry_with_a_place_outside_the_chain_is_inserted(trail, seq):
    tamper = Tamper(trail.store)
    last = tamper.entry(tamper.last_seq())
    forged_id = new_id()
    tamper.insert({"id": forged_id, "seq": seq, "prev": last["hash"], "hash": "d" * 64,
                   "ts": last["ts"] + timedelta(minutes=5), "username": "ch.admin",
                   "action": "login", "outcome": "ok"})
    assert problems(trail.audit.verify_chain()) == [(INSERTED, None, forged_id)]


def test_appending_goes_on_after_verify(trail):
    before = Tamper(trail.store).last_seq()
    trail.auth.login("ch.admin", PASSWORD)
    report = trail.audit.verify_chain()
    assert report.intact and report.last_seq == before + 1 == Tamper(trail.store).last_seq()


def test_a_rollback_to_an_old_head_is_caught_by_a_checkpoint(trail):
    """The review's rollback: an older copy of the head record written back after the
    newer entries were deleted verifies as intact on its own (nothing in the database
    remembers more); a checkpoint printed earlier and kept elsewhere catches it."""
    from meditrack_tui.audit_chain import parse_checkpoint

    tamper = Tamper(trail.store)
    early = tamper.last_seq()
    old_head = tamper.head()
    trail.auth.login("ch.admin", PASSWORD)
    trail.auth.login("ch.admin", PASSWORD)
    later = trail.audit.verify_chain()
    checkpoint = later.checkpoint
    assert later.intact and checkpoint.startswith(f"{early + 2}:")
    assert any(line.startswith(f"checkpoint: {checkpoint}") for line in later.lines())
    since = parse_checkpoint(checkpoint)
    assert trail.audit.verify_chain(since=since).intact
    # cut back to the earlier end, with the head record as it was then
    tamper.delete(early + 2)
    tamper.delete(early + 1)
    tamper.set_head(**{k: v for k, v in old_head.items() if k not in ("_id", "id")})
    assert trail.audit.verify_chain().intact  # what cannot be seen without a checkpoint
    report = trail.audit.verify_chain(since=since)
    assert [(p.kind, p.seq) for p in report.problems] == [(REMOVED, early + 1)]
    assert "ends before the checkpoint" in report.lines()[1]


def test_a_checkpoint_names_one_entry(trail):
    from meditrack_tui.audit_chain import parse_checkpoint

    seq, digest = parse_checkpoint(trail.audit.verify_chain().checkpoint)
    report = trail.audit.verify_chain(since=(seq, "0" * len(digest)))
    assert [(p.kind, p.seq) for p in report.problems] == [(EDITED, seq)]
    for bad in ("", "12", "x:abc", "0:" + "a" * 24, "3:" + "g" * 24, "3:abc"):
        with pytest.raises(ValueError):
            parse_checkpoint(bad)
