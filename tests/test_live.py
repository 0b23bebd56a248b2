"""The change feed over the store's change events: who hears of what, polling by sequence
number (an idle poll reads only the newest number), pruning, and events from other
processes."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from datetime import timedelta
from pathlib import Path

from meditrack_tui.live import (
    CHANGE_LOG_KEEP,
    RESYNC,
    ChangeEvent,
    ChangeLogFeed,
    Scope,
    open_feed,
    utcnow,
    visible_to,
)

ROOT = Path(__file__).resolve().parents[1]


def test_patients_hear_only_of_their_own_records():
    mine = ChangeEvent("vitals", "insert", "1", "p1")
    other = ChangeEvent("vitals", "insert", "2", "p2")
    unknown = ChangeEvent("reports", "delete", "3", None)
    users = ChangeEvent("users", "update", "4", None)
    assert visible_to(mine, "patient", "p1")
    assert not visible_to(other, "patient", "p1")
    assert not visible_to(unknown, "patient", "p1")
    assert not visible_to(users, "patient", "p1")
    assert all(visible_to(e, "doctor", None) for e in (mine, other, unknown, users))


def test_a_resync_reaches_patients_only_for_their_kind_of_records():
    assert visible_to(ChangeEvent("vitals", RESYNC), "patient", "p1")
    assert not visible_to(ChangeEvent("users", RESYNC), "patient", "p1")
    assert not visible_to(ChangeEvent("audit", RESYNC), "patient", "p1")
    assert visible_to(ChangeEvent("audit", RESYNC), "admin", None)


def test_the_feed_sees_service_writes_once(demo_services):
    services = demo_services
    feed = ChangeLogFeed(services.store)
    doctor = services.auth.login("demo.doctor", "meditrack-demo")
    patient = services.patients.list(doctor, query="").items[0]
    services.vitals.add(doctor, patient["id"], {"heart_rate": 72})
    events = [e for e in feed.poll() if e.collection == "vitals"]
    assert len(events) == 1 and events[0].patient_id == patient["id"]
    assert events[0].by == "demo.doctor"
    assert [e for e in feed.poll() if e.collection == "vitals"] == []


def test_what_happened_before_the_feed_started_is_not_news(demo_services):
    doctor = demo_services.auth.login("demo.doctor", "meditrack-demo")
    patient = demo_services.patients.list(doctor, query="").items[0]
    demo_services.vitals.add(doctor, patient["id"], {"heart_rate": 72})
    assert ChangeLogFeed(demo_services.store).poll() == []


class CountingChanges:
    """The store's change events, counting which reads a feed makes."""

    def __init__(self, changes) -> None:
        self.changes = changes
        self.calls: list[str] = []

    def last_seq(self):
        self.calls.append("last_seq")
        return self.changes.last_seq()

    def after(self, *args, **kwargs):
        self.calls.append("after")
        return self.changes.after(*args, **kwargs)


class CountingStore:
    def __init__(self, store) -> None:
        self.info = store.info
        self.changes = CountingChanges(store.changes)


def test_an_idle_poll_reads_only_the_newest_sequence_number(demo_services):
    counted = CountingStore(demo_services.store)
    feed = ChangeLogFeed(counted)
    counted.changes.calls.clear()
    for _ in range(5):
        assert feed.poll() == []
    assert counted.changes.calls == ["last_seq"] * 5
    demo_services.auth.login("demo.admin", "meditrack-demo")
    counted.changes.calls.clear()
    assert feed.poll()  # the login's audit entry
    assert counted.changes.calls == ["last_seq", "after"]


def test_a_patient_feed_reads_only_their_records_and_their_user(demo_services):
    services = demo_services
    patient = services.auth.login("demo.patient", "meditrack-demo")
    doctor = services.auth.login("demo.doctor", "meditrack-demo")
    feed = ChangeLogFeed(services.store, scope=Scope(patient.patient_id, patient.user_id))
    others = [p for p in services.patients.list(doctor, page_size=50).items
              if p["id"] != patient.patient_id]
    services.vitals.add(doctor, others[0]["id"], {"heart_rate": 70})
    services.vitals.add(doctor, patient.patient_id, {"heart_rate": 71})
    services.users.update_profile(patient, full_name="Renamed Patient")
    services.users.update_profile(doctor, full_name="Dr. Renamed")
    heard = [(e.collection, e.patient_id or e.record_id) for e in feed.poll()]
    assert heard == [("vitals", patient.patient_id), ("users", patient.user_id)]


def test_a_patient_without_a_record_hears_only_of_their_user(demo_services):
    services = demo_services
    doctor = services.auth.login("demo.doctor", "meditrack-demo")
    feed = ChangeLogFeed(services.store, scope=Scope(None, "no-such-user"))
    patient = services.patients.list(doctor).items[0]
    services.vitals.add(doctor, patient["id"], {"heart_rate": 70})
    assert feed.poll() == []


def test_open_feed_on_the_embedded_store_is_the_log_with_the_scope(demo_services):
    scope = Scope("p1", "u1")
    feed = open_feed(demo_services.store, scope)
    assert isinstance(feed, ChangeLogFeed) and feed.scope == scope


def test_events_older_than_the_keep_period_are_pruned_by_any_writer(demo_services, clock):
    services = demo_services
    store = services.store
    old = (utcnow() - CHANGE_LOG_KEEP - timedelta(minutes=1)).replace(microsecond=0)
    with store.unit_of_work():
        for _ in range(30):
            store.changes.append("audit", "insert", ts=old)
    before = store.changes.after(0, limit=100000)
    assert sum(1 for row in before if row.ts == old) == 30
    services.ctx.pruned_at = None
    services.auth.login("demo.admin", "meditrack-demo")  # a write prunes when due
    after = store.changes.after(0, limit=100000)
    assert not [row for row in after if row.ts <= old]
    assert after and after[-1].seq > before[-1].seq  # the numbers go on


WRITER = textwrap.dedent("""
    import sys
    sys.path.insert(0, {root!r})
    from meditrack_tui.config import Config
    from meditrack_tui.services import Services
    from meditrack_tui.store import connect
    cfg = Config(data_dir={data!r}, secret="test-secret-" + "x" * 40)
    services = Services(connect(cfg), cfg)
    doctor = services.auth.login("demo.doctor", "meditrack-demo")
    services.vitals.add(doctor, {pid!r}, {{"heart_rate": 66}})
    services.store.close()
""")


def test_the_feed_hears_another_process(demo_dir):
    from meditrack_tui.services import Services
    from meditrack_tui.store import connect
    from tests.conftest import make_config

    cfg = make_config(demo_dir)
    store = connect(cfg)
    try:
        services = Services(store, cfg)
        doctor = services.auth.login("demo.doctor", "meditrack-demo")
        pid = services.patients.list(doctor).items[0]["id"]
        feed = ChangeLogFeed(store)
        code = WRITER.format(root=str(ROOT), data=str(demo_dir), pid=pid)
        result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                                timeout=120)
        assert result.returncode == 0, result.stderr
        vitals = [e for e in feed.poll() if e.collection == "vitals"]
        assert [(e.op, e.patient_id, e.by) for e in vitals] == [("insert", pid, "demo.doctor")]
    finally:
        store.close()


class FakeChanges:
    """Change events whose numbers can become visible out of order (a late commit)."""

    def __init__(self) -> None:
        self.rows: list = []

    def add(self, seq: int) -> None:
        from meditrack_tui.store.base import ChangeRow

        self.rows.append(ChangeRow(seq, utcnow(), "vitals", "insert", str(seq)))

    def last_seq(self) -> int:
        return max((row.seq for row in self.rows), default=0)

    def after(self, seq, **_scope):
        return sorted((row for row in self.rows if row.seq > seq), key=lambda r: r.seq)


class FakeStore:
    def __init__(self, kind: str) -> None:
        from meditrack_tui.store import StoreInfo

        self.info = StoreInfo(kind, "test")
        self.changes = FakeChanges()


def test_a_late_commit_inside_the_window_is_not_lost_on_mongodb():
    """MongoDB without transactions can commit sequence numbers out of order: the feed
    re-reads a window behind the newest number it saw and drops what it delivered."""
    store = FakeStore("mongodb")
    feed = ChangeLogFeed(store)
    for seq in (1, 2, 4):
        store.changes.add(seq)
    assert [e.record_id for e in feed.poll()] == ["1", "2", "4"]
    store.changes.add(3)  # committed after 4 was read
    store.changes.add(5)
    assert [e.record_id for e in feed.poll()] == ["3", "5"]
    assert feed.poll() == []


def test_the_embedded_store_reads_no_window():
    """SQLite commits in sequence order (one writer at a time), so no window is re-read."""
    store = FakeStore("embedded")
    feed = ChangeLogFeed(store)
    assert feed.overlap == 0
    store.changes.add(1)
    assert [e.record_id for e in feed.poll()] == ["1"]
