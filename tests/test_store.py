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


# --- find_page: the embedded store's paged, sorted reads ---

def _paged_store(tmp_path):
    import random
    from datetime import datetime, timedelta

    from meditrack_tui.config import Config
    from meditrack_tui.db.store import connect

    store = connect(Config(data_dir=tmp_path))
    rng = random.Random(3)
    docs = []
    for n in range(300):
        doc = {"n": n, "who": rng.choice(["ana", "Bo", "cy", "Émile", "zed"]),
               "status": rng.choice(["scheduled", "cancelled", "completed"]),
               "start": datetime(2026, 1, 1) + timedelta(hours=rng.randrange(2000))}
        if n % 7:
            doc["rank"] = rng.choice([1, 2, 3])
        elif n % 2:
            doc["rank"] = None  # None and missing both sort first
        docs.append(doc)
    store.db.items.insert_many(docs)
    store.db.items.create_index([("status", 1)])
    return store


@pytest.mark.parametrize("filt", [{}, {"status": "cancelled"}, {"who": {"$in": ["ana", "zed"]}},
                                  {"$or": [{"who": "Bo"}, {"rank": {"$gte": 3}}]}])
@pytest.mark.parametrize("sort", [[("start", 1)], [("start", -1)], [("who", 1), ("start", -1)],
                                  [("rank", -1), ("n", 1)], [("rank", 1), ("n", -1)]])
def test_find_page_matches_a_sorted_paged_find(tmp_path, filt, sort):
    store = _paged_store(tmp_path)
    try:
        coll = store.db.items
        expected_total = coll.count_documents(filt)
        for skip, limit in ((0, 10), (25, 50), (expected_total - 3, 10)):
            total, docs = store.find_page("items", filt, sort, max(skip, 0), limit)
            expected = list(coll.find(filt).sort(sort).skip(max(skip, 0)).limit(limit))
            assert total == expected_total
            assert [d["n"] for d in docs] == [d["n"] for d in expected]
            assert docs == expected  # whole documents
    finally:
        store.close()


def test_find_page_sorts_mixed_types_as_mongodb_does(tmp_path):
    from meditrack_tui.config import Config
    from meditrack_tui.db.store import connect

    store = connect(Config(data_dir=tmp_path))
    try:
        store.db.mixed.insert_many([{"v": "b"}, {"v": 2}, {"v": None}, {"v": "a"}, {"v": 1.5},
                                    {}])
        total, docs = store.find_page("mixed", {}, [("v", 1)], 0, 10)
        assert total == 6
        assert [d.get("v") for d in docs][2:] == [1.5, 2, "a", "b"]  # null/missing, numbers, text
    finally:
        store.close()


def test_a_store_with_an_older_two_field_doctor_day_index_still_opens(tmp_path):
    """An earlier version created doctor_day on (doctor_id, day) in the embedded store;
    the embedded store reports the name clash with no error code."""
    from meditrack_tui.config import Config
    from meditrack_tui.db.store import connect

    store = connect(Config(data_dir=tmp_path))
    coll = store.db.appointments
    coll.drop_index("doctor_day")
    coll.create_index([("doctor_id", 1), ("day", 1)], name="doctor_day")
    store.close()
    store = connect(Config(data_dir=tmp_path))
    try:
        keys = store.db.appointments.index_information()["doctor_day"]["key"]
        assert [tuple(k) for k in keys] == [("doctor_id", 1)]
    finally:
        store.close()


def test_find_page_prepares_datetimes_in_the_filter_as_find_does(tmp_path):
    from datetime import datetime, timezone

    from meditrack_tui.config import Config
    from meditrack_tui.db.store import connect

    store = connect(Config(data_dir=tmp_path))
    try:
        store.db.times.insert_many([{"t": datetime(2026, 1, 1, 10, 0, 0, 123000)},
                                    {"t": datetime(2026, 1, 1, 11, 0)}])
        for filt in ({"t": {"$gte": datetime(2026, 1, 1, 10, 0, 0, 123456)}},
                     {"t": {"$gte": datetime(2026, 1, 1, 10, 30, tzinfo=timezone.utc)}}):
            total, docs = store.find_page("times", filt, [("t", 1)], 0, 10)
            assert total == store.db.times.count_documents(filt) == len(docs)
            assert len(list(store.find_docs("times", filt))) == total
    finally:
        store.close()
