"""The change log on the embedded store: an idle poll reads one small document (never the log),
pruning is shared by every process (short sessions included), and a patient's feed is
filtered where it is read."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from collections import Counter
from datetime import timedelta
from pathlib import Path

import pytest
from bson import ObjectId

from meditrack_tui.db import feed as feed_mod
from meditrack_tui.db.feed import (
    LOG_MARK,
    PRUNE_EVERY,
    ChangeLogFeed,
    Scope,
    append_change,
    read_mark,
    utcnow,
)
from meditrack_tui.services.base import CHANGE_LOG_KEEP

ROOT = Path(__file__).resolve().parents[1]


class CountingCollection:
    """A collection that counts its find/find_one calls (everything else passes through)."""

    def __init__(self, coll, name: str, calls: Counter) -> None:
        self._coll, self._name, self._calls = coll, name, calls

    def find(self, *args, **kwargs):
        self._calls[f"{self._name}.find"] += 1
        return self._coll.find(*args, **kwargs)

    def find_one(self, *args, **kwargs):
        self._calls[f"{self._name}.find_one"] += 1
        return self._coll.find_one(*args, **kwargs)

    def __getattr__(self, name):
        return getattr(self._coll, name)


class CountingDB:
    def __init__(self, db) -> None:
        self._db = db
        self.calls: Counter = Counter()

    def __getitem__(self, name: str) -> CountingCollection:
        return CountingCollection(self._db[name], name, self.calls)

    def __getattr__(self, name: str) -> CountingCollection:
        return self[name]


def entry(coll: str = "vitals", patient_id: str | None = None, **fields) -> dict:
    return {"ts": utcnow(), "coll": coll, "op": "insert", "record_id": str(ObjectId()),
            "patient_id": patient_id, "by": "test", **fields}


def fill(db, count: int, *, age: timedelta = timedelta(0)) -> None:
    """``count`` log entries written directly (as an older version or a bulk tool would)."""
    ts = utcnow() - age
    db.changes.insert_many([{"ts": ts, "coll": "audit", "op": "insert", "record_id": None,
                             "patient_id": None, "by": "filler"} for _ in range(count)])


# --- idle polls ---

def test_an_idle_poll_reads_the_mark_and_never_the_log(services):
    db = services.store.db
    fill(db, 2000)
    append_change(db, entry(), keep=CHANGE_LOG_KEEP)
    counted = CountingDB(db)
    feed = ChangeLogFeed(counted, rescan_every=None)
    assert counted.calls["changes.find"] == 1  # the first poll, at start
    counted.calls.clear()
    for _ in range(100):
        assert feed.poll() == []
    assert counted.calls == Counter({"counters.find_one": 100})  # the mark, nothing else

    # A change anywhere moves the mark: the next poll reads the latest entries (not the
    # log), then idles again.
    pid = str(ObjectId())
    services.vitals.changed("vitals", "insert", ObjectId(), patient_id=pid)
    events = feed.poll()
    assert [(e.collection, e.patient_id, e.by) for e in events] == [("vitals", pid, None)]
    assert counted.calls["counters.find_one"] == 102
    for _ in range(20):
        assert feed.poll() == []
    assert counted.calls["changes.find"] == 0
    assert counted.calls["counters.find_one"] == 122


def test_a_feed_without_the_latest_entries_reads_the_log_when_the_mark_moves(services):
    db = services.store.db
    counted = CountingDB(db)
    feed = ChangeLogFeed(counted, rescan_every=None, recent=False)
    counted.calls.clear()
    for _ in range(10):
        assert feed.poll() == []
    assert counted.calls["changes.find"] == 0
    append_change(db, entry("patients", "p1"), keep=CHANGE_LOG_KEEP)
    assert [e.collection for e in feed.poll()] == ["patients"]
    assert counted.calls["changes.find"] == 1


def test_a_feed_that_fell_behind_the_latest_entries_reads_the_log_once(services):
    from meditrack_tui.db.feed import RECENT

    db = services.store.db
    counted = CountingDB(db)
    feed = ChangeLogFeed(counted, rescan_every=None)
    written = []
    for n in range(RECENT + 10):
        doc = entry("vitals", f"p{n}")
        append_change(db, doc, keep=CHANGE_LOG_KEEP)
        written.append(doc["patient_id"])
    counted.calls.clear()
    assert [e.patient_id for e in feed.poll()] == written  # all of them, in order, once
    assert counted.calls["changes.find"] == 1
    append_change(db, entry("vitals", "next"), keep=CHANGE_LOG_KEEP)
    assert [e.patient_id for e in feed.poll()] == ["next"]  # caught up: the short list again
    assert counted.calls["changes.find"] == 1


def test_the_mark_moves_on_every_append_and_never_repeats(services):
    db = services.store.db
    assert read_mark(db) is None
    marks = []
    for _ in range(5):
        append_change(db, entry(), keep=CHANGE_LOG_KEEP)
        marks.append(read_mark(db))
    assert len(set(marks)) == 5


def test_a_safety_rescan_finds_entries_written_without_the_mark(services):
    db = services.store.db
    feed = ChangeLogFeed(db, rescan_every=0.0)
    db.changes.insert_one(entry("patients", op="bulk"))  # a writer that bypasses the mark
    assert [e.op for e in feed.poll()] == ["bulk"]
    never = ChangeLogFeed(db, rescan_every=None)
    db.changes.insert_one(entry("patients", op="bulk"))
    assert never.poll() == []
    # The directory's feed reads the log whenever the mark moves: it sees such an entry
    # with the next ordinary append.
    directory_like = ChangeLogFeed(db, rescan_every=None, recent=False)
    db.changes.insert_one(entry("patients", op="bulk"))
    append_change(db, entry("vitals"), keep=CHANGE_LOG_KEEP)
    assert sorted(e.op for e in directory_like.poll()) == ["bulk", "insert"]


@pytest.mark.parametrize("recent", [True, False])
def test_a_write_between_mark_and_scan_is_not_lost(services, monkeypatch, recent):
    """The mark is read first: an append racing a poll shows up in that poll or the next."""
    db = services.store.db
    feed = ChangeLogFeed(db, rescan_every=None, recent=recent)
    real = feed_mod.read_mark

    def read_then_write(target):
        mark = real(target)
        append_change(db, entry("appointments"), keep=CHANGE_LOG_KEEP)
        return mark

    append_change(db, entry("vitals"), keep=CHANGE_LOG_KEEP)
    monkeypatch.setattr(feed_mod, "read_mark", read_then_write)
    first = [e.collection for e in feed.poll()]
    monkeypatch.setattr(feed_mod, "read_mark", real)
    second = [e.collection for e in feed.poll()]
    assert sorted(first + second) == ["appointments", "vitals"]


# --- pruning ---

def test_any_process_prunes_at_most_once_per_period(services):
    db = services.store.db
    fill(db, 300, age=CHANGE_LOG_KEEP + timedelta(minutes=1))
    append_change(db, entry(), keep=CHANGE_LOG_KEEP)  # no prune recorded yet: prunes now
    assert db.changes.count_documents({}) == 1
    pruned_at = db.counters.find_one({"_id": LOG_MARK})["pruned_at"]
    fill(db, 50, age=CHANGE_LOG_KEEP + timedelta(minutes=1))
    append_change(db, entry(), keep=CHANGE_LOG_KEEP)  # pruned moments ago: not again
    assert db.changes.count_documents({}) == 52
    assert db.counters.find_one({"_id": LOG_MARK})["pruned_at"] == pruned_at
    # Once the period has passed (seen from the mark), the next append prunes.
    db.counters.update_one({"_id": LOG_MARK},
                           {"$set": {"pruned_at": pruned_at - PRUNE_EVERY}})
    append_change(db, entry(), keep=CHANGE_LOG_KEEP)
    assert db.changes.count_documents({}) == 3


def test_many_short_sessions_keep_the_log_bounded(demo_dir, monkeypatch):
    """Every session starts afresh (a new process, a new connection); the log still stays
    within the retention, because the pruning state lives in the store."""
    from meditrack_tui.db import connect
    from meditrack_tui.services import Services
    from tests.conftest import make_config

    now = [utcnow()]
    monkeypatch.setattr(feed_mod, "utcnow", lambda: now[0])
    cfg = make_config(demo_dir)
    per_session, minutes = 4, 40
    for _ in range(minutes):
        store = connect(cfg)
        try:
            services = Services(store, cfg)
            for _ in range(per_session):
                services.vitals.changed("vitals", "insert", ObjectId(), patient_id="p")
        finally:
            store.close()
        now[0] += timedelta(minutes=1)
    store = connect(cfg)
    try:
        stamps = [d["ts"] for d in store.db.changes.find({}, {"ts": 1})]
    finally:
        store.close()
    newest = max(stamps)
    assert min(stamps) >= newest - CHANGE_LOG_KEEP - PRUNE_EVERY - timedelta(minutes=1)
    assert len(stamps) <= per_session * (CHANGE_LOG_KEEP // timedelta(minutes=1) + 2)
    assert len(stamps) < per_session * minutes / 4


SHORT_SESSION = textwrap.dedent("""
    import sys
    from meditrack_tui.config import Config
    from meditrack_tui.db import connect
    from meditrack_tui.services import Services
    cfg = Config(data_dir=sys.argv[1], secret="s" * 40)
    store = connect(cfg)
    Services(store, cfg).audit.changed("audit", "insert", None)
    store.close()
""")


def test_a_short_lived_process_prunes_what_others_left(demo_dir):
    """A log left to grow (by a process that never pruned) is pruned by the next process
    that writes once and exits."""
    from meditrack_tui.db import connect
    from tests.conftest import make_config

    cfg = make_config(demo_dir)
    store = connect(cfg)
    try:
        store.db.changes.delete_many({})
        fill(store.db, 400, age=CHANGE_LOG_KEEP + timedelta(minutes=2))
        fill(store.db, 5)  # recent entries stay
        assert store.db.changes.count_documents({}) == 405
    finally:
        store.close()
    for _ in range(2):
        subprocess.run([sys.executable, "-c", SHORT_SESSION, str(demo_dir)], cwd=ROOT,
                       check=True, timeout=60)
    store = connect(cfg)
    try:
        cutoff = utcnow() - CHANGE_LOG_KEEP
        assert store.db.changes.count_documents({"ts": {"$lt": cutoff}}) == 0
        assert store.db.changes.count_documents({}) == 5 + 2
    finally:
        store.close()


# --- a patient's scope, at the source ---

@pytest.mark.parametrize("recent", [True, False])
def test_a_patient_feed_reads_only_their_records_and_their_user(services, recent):
    db = services.store.db
    me, other, my_user, other_user = (str(ObjectId()) for _ in range(4))
    feed = ChangeLogFeed(db, scope=Scope(me, my_user), rescan_every=None, recent=recent)
    keep = CHANGE_LOG_KEEP
    for coll in ("patients", "vitals", "appointments", "prescriptions", "reports"):
        append_change(db, entry(coll, me), keep=keep)
        append_change(db, entry(coll, other), keep=keep)
    append_change(db, entry("vitals", None), keep=keep)  # patient unknown
    append_change(db, entry("audit", me), keep=keep)  # not a patient-scoped collection
    append_change(db, entry("users", None, record_id=my_user), keep=keep)
    append_change(db, entry("users", None, record_id=other_user), keep=keep)
    events = feed.poll()
    assert {(e.collection, e.patient_id) for e in events if e.collection != "users"} == {
        (c, me) for c in ("patients", "vitals", "appointments", "prescriptions", "reports")}
    assert [e.record_id for e in events if e.collection == "users"] == [my_user]


@pytest.mark.parametrize("recent", [True, False])
def test_a_patient_without_a_record_hears_only_of_their_user(services, recent):
    db = services.store.db
    user = str(ObjectId())
    feed = ChangeLogFeed(db, scope=Scope(None, user), rescan_every=None, recent=recent)
    append_change(db, entry("vitals", str(ObjectId())), keep=CHANGE_LOG_KEEP)
    append_change(db, entry("users", None, record_id=user), keep=CHANGE_LOG_KEEP)
    assert [(e.collection, e.record_id) for e in feed.poll()] == [("users", user)]


@pytest.mark.parametrize("scope", [None, Scope("p1", "u1")])
def test_open_feed_on_the_embedded_store_passes_the_scope(demo_services, scope):
    from meditrack_tui.db.feed import open_feed

    feed = open_feed(demo_services.store, scope)
    assert isinstance(feed, ChangeLogFeed) and feed.scope == scope


def test_a_feed_started_before_the_first_append_reads_only_the_latest_entries(services):
    db = services.store.db
    counted = CountingDB(db)
    feed = ChangeLogFeed(counted, rescan_every=None)
    counted.calls.clear()
    for name in ("a", "b", "c"):
        append_change(db, entry("vitals", name), keep=CHANGE_LOG_KEEP)
    assert [e.patient_id for e in feed.poll()] == ["a", "b", "c"]
    assert counted.calls["changes.find"] == 0
