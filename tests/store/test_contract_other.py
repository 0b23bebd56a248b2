"""Contract: users, sessions, prescriptions, vitals, reports and their files, audit,
change events, counters, and units of work."""

from __future__ import annotations

import hashlib
from datetime import datetime, timedelta

import pytest

from meditrack_tui.audit_chain import AuditKey
from meditrack_tui.store.queries import AuditQuery, UserQuery

T0 = datetime(2026, 3, 4, 10, 0)
AUDIT_KEY = AuditKey("test-audit-key")  # the chain key audit.append seals with


# --- users and sessions ---

@pytest.fixture
def accounts(store):
    rows = [("carol", "admin", "active", None), ("bob", "doctor", "active", None),
            ("alice", "doctor", "pending", None), ("dave", "patient", "active", "p1"),
            ("ann", "doctor", "active", None), ("eve", "patient", "inactive", "p2")]
    return {name: store.users.add({"username": name.title(), "username_lc": name, "role": role,
                                   "status": status, "patient_id": pid})["id"]
            for name, role, status, pid in rows}


def names(found):
    return [d["username_lc"] for d in found.items]


def test_user_lookups(store, accounts):
    assert store.users.by_username("bob")["id"] == accounts["bob"]
    assert store.users.by_username("nobody") is None
    assert store.users.by_patient("p2")["id"] == accounts["eve"]
    assert store.users.by_patient("p9") is None


def test_user_find_sorts_by_role_then_username(store, accounts):
    found = store.users.find(UserQuery())
    assert names(found) == ["carol", "alice", "ann", "bob", "dave", "eve"]
    assert found.total == 6
    assert names(store.users.find(UserQuery(role="doctor"))) == ["alice", "ann", "bob"]
    assert names(store.users.find(UserQuery(status="active"))) == ["carol", "ann", "bob", "dave"]
    assert names(store.users.find(UserQuery(role="doctor", status="active"))) == ["ann", "bob"]
    assert names(store.users.find(UserQuery(username_prefix="a"))) == ["alice", "ann"]
    page = store.users.find(UserQuery(skip=2, limit=2, count=False))
    assert names(page) == ["ann", "bob"] and page.total is None
    assert len(store.users.find(UserQuery(limit=None)).items) == 6


def test_user_count(store, accounts):
    assert store.users.count() == 6
    assert store.users.count(role="doctor") == 3
    assert store.users.count(status="active") == 4
    assert store.users.count(role="patient", status="active") == 1


def test_revoke_user_sessions(store):
    keep = store.sessions.add({"user_id": "u1", "revoked": False})["id"]
    other = store.sessions.add({"user_id": "u1", "revoked": False})["id"]
    done = store.sessions.add({"user_id": "u1", "revoked": True})["id"]
    elsewhere = store.sessions.add({"user_id": "u2", "revoked": False})["id"]
    assert store.sessions.revoke_user("u1", keep=keep) == 1
    assert store.sessions.get(other)["revoked"] is True
    assert store.sessions.get(keep)["revoked"] is False
    assert store.sessions.get(done)["revoked"] is True
    assert store.sessions.get(elsewhere)["revoked"] is False
    assert store.sessions.revoke_user("u1") == 1
    assert store.sessions.get(keep)["revoked"] is True
    assert store.sessions.revoke_user("u1") == 0


# --- prescriptions, vitals, reports ---

def test_prescriptions_for_patient_newest_first(store):
    for code, pid, status, start in [("a", "p1", "active", "2026-01-01"),
                                     ("b", "p1", "stopped", "2026-02-01"),
                                     ("c", "p1", "active", "2026-03-01"),
                                     ("d", "p2", "active", "2026-03-02")]:
        store.prescriptions.add({"code": code, "patient_id": pid, "status": status,
                                 "start_date": start})
    assert [d["code"] for d in store.prescriptions.for_patient("p1")] == ["c", "b", "a"]
    assert [d["code"] for d in store.prescriptions.for_patient("p1", status="active")] == [
        "c", "a"]
    assert store.prescriptions.for_patient("p3") == []


@pytest.fixture
def readings(store):
    for hours, pid in [(0, "p1"), (1, "p1"), (2, "p1"), (3, "p2"), (4, "p1")]:
        store.vitals.add({"patient_id": pid, "taken_at": T0 + timedelta(hours=hours),
                          "pulse": 60 + hours})


def test_vitals_series_bounds_are_inclusive(store, readings):
    pulses = [r["pulse"] for r in store.vitals.series("p1")]
    assert pulses == [60, 61, 62, 64]
    bounded = store.vitals.series("p1", since=T0 + timedelta(hours=1),
                                  until=T0 + timedelta(hours=2))
    assert [r["pulse"] for r in bounded] == [61, 62]
    assert [r["pulse"] for r in store.vitals.series("p1", since=T0 + timedelta(hours=2))] == [
        62, 64]
    assert [r["pulse"] for r in store.vitals.series("p1", until=T0)] == [60]
    assert store.vitals.series("p9") == []


def test_vitals_latest_newest_first(store, readings):
    assert [r["pulse"] for r in store.vitals.latest("p1", 2)] == [64, 62]
    assert [r["pulse"] for r in store.vitals.latest("p2", 5)] == [63]


def test_reports_for_patient(store):
    for code, kind, day in [("a", "lab", 1), ("b", "imaging", 2), ("c", "lab", 3)]:
        store.reports.add({"code": code, "patient_id": "p1", "kind": kind,
                           "uploaded_at": T0 + timedelta(days=day)})
    store.reports.add({"code": "x", "patient_id": "p2", "kind": "lab", "uploaded_at": T0})
    assert [d["code"] for d in store.reports.for_patient("p1")] == ["c", "b", "a"]
    assert [d["code"] for d in store.reports.for_patient("p1", kind="lab")] == ["c", "a"]
    assert [d["code"] for d in store.reports.for_patient("p1", limit=1)] == ["c"]


@pytest.mark.parametrize("size", [0, 10, 600 * 1024 + 7])
def test_report_file_round_trip(store, size):
    data = bytes((i * 7) % 256 for i in range(size))
    file_id = store.reports.put_file("scan.pdf", data, {"patient_id": "p1"})
    assert isinstance(file_id, str)
    got = store.reports.read_file(file_id)
    assert got == data and hashlib.sha256(got).digest() == hashlib.sha256(data).digest()
    store.reports.delete_file(file_id)


def test_deleted_file_is_gone(store):
    file_id = store.reports.put_file("a.txt", b"hello", {})
    other = store.reports.put_file("b.txt", b"world", {})
    store.reports.delete_file(file_id)
    with pytest.raises(Exception):  # noqa: B017 - base.py names no error for a missing file
        store.reports.read_file(file_id)
    assert store.reports.read_file(other) == b"world"


# --- audit ---

@pytest.fixture
def trail(store):
    rows = [(0, "ann", "login", "ok", None), (1, "bob", "patient.read", "ok", "p1"),
            (2, "ann", "patient.update", "ok", "p1"), (3, "bob", "patient.read", "denied", "p2"),
            (4, "carol", "login", "failed", None), (4, "ann", "report.read", "ok", "p2")]
    return [store.audit.append({"ts": T0 + timedelta(minutes=m), "username": u, "action": a,
                                "outcome": o, "patient_id": p}, AUDIT_KEY)["id"]
            for m, u, a, o, p in rows]


def acts(found):
    return [(d["username"], d["action"]) for d in found.items]


def test_audit_newest_first_ties_by_id(store, trail):
    found = store.audit.find(AuditQuery())
    assert [d["id"] for d in found.items] == [trail[5], trail[4], trail[3], trail[2], trail[1],
                                              trail[0]]
    assert found.total == 6
    assert found.items[0]["ts"] == T0 + timedelta(minutes=4)


def test_audit_filters(store, trail):
    assert acts(store.audit.find(AuditQuery(username="ann"))) == [
        ("ann", "report.read"), ("ann", "patient.update"), ("ann", "login")]
    assert acts(store.audit.find(AuditQuery(action_prefix="patient."))) == [
        ("bob", "patient.read"), ("ann", "patient.update"), ("bob", "patient.read")]
    assert store.audit.find(AuditQuery(outcome="denied")).total == 1
    assert store.audit.find(AuditQuery(patient_id="p1")).total == 2
    window = store.audit.find(AuditQuery(ts_from=T0 + timedelta(minutes=1),
                                         ts_before=T0 + timedelta(minutes=3)))
    assert acts(window) == [("ann", "patient.update"), ("bob", "patient.read")]
    both = store.audit.find(AuditQuery(username="bob", outcome="ok"))
    assert acts(both) == [("bob", "patient.read")]


def test_audit_paging(store, trail):
    page = store.audit.find(AuditQuery(skip=4, limit=5, count=False))
    assert [d["id"] for d in page.items] == [trail[1], trail[0]] and page.total is None


# --- change events ---

def test_changes_append_and_read_after(store):
    assert store.changes.last_seq() == 0
    a = store.changes.append("patients", "update", ts=T0, record_id="r1", patient_id="p1",
                             by="ann", extra={"fields": ["phone"], "at": T0})
    b = store.changes.append("appointments", "insert", ts=T0, record_id="r2", patient_id="p2")
    c = store.changes.append("users", "update", ts=T0, record_id="u1")
    assert a < b < c == store.changes.last_seq()
    rows = store.changes.after(0)
    assert [r.seq for r in rows] == [a, b, c]
    first = rows[0]
    assert (first.coll, first.op, first.record_id, first.patient_id, first.by) == (
        "patients", "update", "r1", "p1", "ann")
    assert first.extra == {"fields": ["phone"], "at": T0} and first.ts == T0
    assert rows[2].extra == {}
    assert [r.seq for r in store.changes.after(a)] == [b, c]
    assert [r.seq for r in store.changes.after(0, limit=2)] == [a, b]
    assert [r.seq for r in store.changes.after(0, colls=["users", "patients"])] == [a, c]


def test_changes_scoped_to_a_patient_and_their_user(store):
    mine = store.changes.append("vitals", "insert", ts=T0, record_id="v1", patient_id="p1")
    store.changes.append("vitals", "insert", ts=T0, record_id="v2", patient_id="p2")
    store.changes.append("audit", "insert", ts=T0, record_id="x", patient_id="p1")
    own = store.changes.append("users", "update", ts=T0, record_id="u1")
    store.changes.append("users", "update", ts=T0, record_id="u2")
    assert [r.seq for r in store.changes.after(0, patient_id="p1", user_id="u1")] == [mine, own]
    assert [r.seq for r in store.changes.after(0, patient_id="p1")] == [mine]
    assert [r.seq for r in store.changes.after(0, user_id="u1")] == [own]


def test_changes_prune_by_time(store):
    store.changes.append("patients", "update", ts=T0)
    store.changes.append("patients", "update", ts=T0 + timedelta(minutes=1))
    last = store.changes.append("patients", "update", ts=T0 + timedelta(minutes=10))
    assert store.changes.prune(T0 + timedelta(minutes=5)) == 2
    assert [r.seq for r in store.changes.after(0)] == [last]
    assert store.changes.last_seq() == last
    assert store.changes.append("patients", "update", ts=T0) > last


# --- counters ---

def test_counters(store):
    assert [store.counters.next("mrn") for _ in range(3)] == [1, 2, 3]
    assert store.counters.next("other") == 1
    with store.unit_of_work():
        assert store.counters.next("mrn") == 4


# --- units of work ---

def test_unit_of_work_commits_everything_together(store):
    with store.unit_of_work():
        pid = store.patients.add({"mrn": "MRN-1", "last_key": "lee", "archived": False})["id"]
        store.audit.append({"ts": T0, "username": "ann", "action": "patient.create"},
                           AUDIT_KEY)
        store.changes.append("patients", "insert", ts=T0, record_id=pid, patient_id=pid)
    assert store.patients.get(pid) is not None
    assert store.audit.find(AuditQuery()).total == 1
    assert len(store.changes.after(0)) == 1


def needs_transactions(store) -> None:
    """Roll-back is promised where the store has transactions (SQLite, a MongoDB replica
    set); a standalone mongod writes in order and keeps what was written (DESIGN.md)."""
    if not store.info.transactions:
        pytest.skip("a standalone MongoDB server has no transactions: nothing rolls back")


def test_an_exception_rolls_back_record_audit_and_change(store):
    needs_transactions(store)
    kept = store.patients.add({"mrn": "MRN-0", "last_key": "kay", "archived": False,
                               "version": 1})["id"]
    with pytest.raises(RuntimeError), store.unit_of_work():
        pid = store.patients.add({"mrn": "MRN-1", "last_key": "lee",
                                  "archived": False})["id"]
        store.patients.update(kept, {"last_key": "changed"})
        store.audit.append({"ts": T0, "username": "ann", "action": "patient.create"},
                           AUDIT_KEY)
        store.changes.append("patients", "insert", ts=T0, record_id=pid, patient_id=pid)
        store.counters.next("mrn")
        raise RuntimeError("boom")
    assert store.patients.get(pid) is None
    assert store.patients.get(kept)["last_key"] == "kay"
    assert store.audit.find(AuditQuery()).total == 0
    assert store.changes.after(0) == []
    assert store.counters.next("mrn") == 1


def test_nested_units_join_the_outer_one(store):
    needs_transactions(store)
    with pytest.raises(RuntimeError), store.unit_of_work():
        with store.unit_of_work():
            pid = store.patients.add({"mrn": "MRN-1", "last_key": "lee"})["id"]
        assert store.patients.get(pid) is not None  # visible inside
        raise RuntimeError("outer fails")
    assert store.patients.get(pid) is None
    with store.unit_of_work(), store.unit_of_work():
        pid = store.patients.add({"mrn": "MRN-2", "last_key": "lee"})["id"]
    assert store.patients.get(pid) is not None


def test_bulk_is_a_unit_of_work(store):
    needs_transactions(store)
    with pytest.raises(RuntimeError), store.bulk():
        for i in range(20):
            store.vitals.add({"patient_id": "p1", "taken_at": T0 + timedelta(minutes=i)})
        raise RuntimeError("stop")
    assert store.vitals.series("p1") == []
    with store.bulk():
        for i in range(20):
            store.vitals.add({"patient_id": "p1", "taken_at": T0 + timedelta(minutes=i)})
    assert len(store.vitals.series("p1")) == 20


def test_duplicate_inside_a_unit_of_work_rolls_it_back(store):
    needs_transactions(store)
    from meditrack_tui.store.base import Duplicate

    store.patients.add({"mrn": "MRN-1", "last_key": "lee"})
    with pytest.raises(Duplicate), store.unit_of_work():
        store.patients.add({"mrn": "MRN-2", "last_key": "kay"})
        store.patients.add({"mrn": "MRN-1", "last_key": "dup"})
    assert store.patients.by_mrn("MRN-2") is None


def test_info_and_feed(store):
    assert store.info.transactions is True or store.info.kind == "mongodb"
    feed = store.open_feed()
    assert feed.poll() == []
    store.changes.append("patients", "update", ts=T0, record_id="r1", patient_id="p1")
    events = feed.poll()
    assert [(e.collection, e.op, e.record_id) for e in events] == [("patients", "update", "r1")]
    assert feed.poll() == []
    feed.close()
