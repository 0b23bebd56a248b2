"""The store layer's own rules: the cross-process write lock and index upgrades."""

from __future__ import annotations

import multiprocessing
import time
from pathlib import Path

import pytest
from pymongo.errors import OperationFailure

from meditrack_tui.db.store import LockedDatabase, ProcessLock, Store


class FakeCollection:
    """Refuses the first create_index as MongoDB does for an index with other options."""

    def __init__(self) -> None:
        self.indexes = {"_id_": {"key": [("_id", 1)]},
                        "old_ts": {"key": [("ts", 1)], "expireAfterSeconds": 60}}
        self.dropped: list[str] = []

    def create_index(self, keys, **options):
        for name, info in self.indexes.items():
            if info["key"] == list(keys) and name != options["name"]:
                raise OperationFailure("Index already exists with a different name", code=85)
        self.indexes[options["name"]] = {"key": list(keys), **options}

    def index_information(self):
        return self.indexes

    def drop_index(self, name):
        self.dropped.append(name)
        del self.indexes[name]


def test_an_older_index_on_the_same_keys_is_replaced():
    coll = FakeCollection()
    Store._create_index(coll, [("ts", 1)], {"name": "ts_ttl", "expireAfterSeconds": 3600})
    assert coll.dropped == ["old_ts"]
    assert coll.indexes["ts_ttl"]["expireAfterSeconds"] == 3600


def test_other_index_errors_are_not_swallowed():
    class Broken(FakeCollection):
        def create_index(self, keys, **options):
            raise OperationFailure("not authorized", code=13)

    with pytest.raises(OperationFailure):
        Store._create_index(Broken(), [("ts", 1)], {"name": "ts"})


def _hold(path: str, ready, seconds: float) -> None:
    with ProcessLock(Path(path)):
        ready.set()
        time.sleep(seconds)


def test_process_lock_excludes_another_process(tmp_path):
    """While one process holds the lock, another waits for it."""
    path = str(tmp_path / "write.lock")
    ctx = multiprocessing.get_context("spawn")
    ready = ctx.Event()
    holder = ctx.Process(target=_hold, args=(path, ready, 0.6))
    holder.start()
    try:
        assert ready.wait(30)
        started = time.monotonic()
        with ProcessLock(Path(path)):
            waited = time.monotonic() - started
    finally:
        holder.join(30)
    assert waited > 0.3, f"got the lock after {waited:.2f} s while another process held it"


def test_process_lock_is_reentrant_and_writes_take_it(tmp_path):
    lock = ProcessLock(tmp_path / "write.lock")
    taken = []

    class Coll:
        def insert_one(self, doc):
            taken.append(lock._depth)
            return doc

        def find_one(self, query):
            taken.append(("read", lock._depth))

    class Db:
        def __getitem__(self, name):
            return Coll()

    db = LockedDatabase(Db(), lock)
    with lock:
        db["x"].insert_one({})  # nested inside an explicit sequence: no deadlock
    db["x"].insert_one({})
    db["x"].find_one({})
    assert taken == [2, 1, ("read", 0)]
    lock.close()


def test_scan_matches_a_projected_find(demo_services):
    """The embedded store's direct scan gives what find() with a projection gives."""
    store = demo_services.store
    fields = ["mrn", "last_key", "archived", "conditions_lc", "no_such_field"]
    scanned = {d["_id"]: d for d in store.scan("patients", fields)}
    found = {d["_id"]: d for d in store.db.patients.find({}, {f: 1 for f in fields})}
    assert len(scanned) == 40
    assert scanned == found
