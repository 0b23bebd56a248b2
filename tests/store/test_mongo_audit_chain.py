"""The audit chain on MongoDB only: several connections appending at once on a standalone
server (no transactions: the unique seq index refuses a taken place and the append reads
again), and a database from before the chain (schema 3, entries without seq).

Needs a server at MEDITRACK_TEST_MONGO_URI (.ci/mongo-stage starts one)."""

from __future__ import annotations

import threading
import uuid
from datetime import datetime, timedelta

import pytest

from meditrack_tui.audit_chain import INSERTED, AuditKey, verify
from meditrack_tui.store.base import SCHEMA_VERSION
from tests.conftest import make_config
from tests.store.conftest import MONGO_URI

pytestmark = [
    pytest.mark.mongo,
    pytest.mark.skipif(not MONGO_URI, reason="MEDITRACK_TEST_MONGO_URI not set: the MongoDB "
                                             "store's own tests need a server (.ci/mongo-stage "
                                             "starts one)"),
]

KEY = AuditKey("mongo-chain-key-" + "m" * 30)
T0 = datetime(2026, 3, 4, 10, 0)


@pytest.fixture
def db_name():
    import pymongo

    name = "mt_test_" + uuid.uuid4().hex[:12]
    yield name
    client = pymongo.MongoClient(MONGO_URI, serverSelectionTimeoutMS=4000)
    client.drop_database(name)
    client.close()


def open_store(tmp_path, db_name):
    from meditrack_tui.store.mongo import open_mongo

    cfg = make_config(tmp_path / "data")
    cfg.mongo_uri, cfg.db_name = MONGO_URI, db_name
    return open_mongo(cfg)


def test_connections_appending_at_once_make_one_unbroken_chain(tmp_path, db_name):
    writers, per = 4, 15
    stores = [open_store(tmp_path, db_name) for _ in range(writers)]
    if stores[0].info.transactions:
        pytest.skip("a replica set: concurrent appends collide in their transactions instead")
    errors: list[BaseException] = []
    start = threading.Barrier(writers)

    def write(store, n):
        try:
            start.wait(timeout=30)
            for i in range(per):
                with store.unit_of_work():
                    store.audit.append({"ts": T0 + timedelta(seconds=i), "username": f"w{n}",
                                        "action": "patient.read", "outcome": "ok"}, KEY)
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=write, args=(s, n)) for n, s in enumerate(stores)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    try:
        assert errors == []
        report = verify(stores[0].audit, KEY, batch=7)
        assert report.intact, report.lines()
        assert (report.entries, report.last_seq) == (writers * per, writers * per)
        assert stores[0].audit.head()["seq"] == writers * per
    finally:
        for store in stores:
            store.close()


def test_a_database_from_before_the_chain_opens_and_its_entries_predate_it(tmp_path, db_name):
    import pymongo

    client = pymongo.MongoClient(MONGO_URI, serverSelectionTimeoutMS=4000)
    raw = client[db_name]
    raw.meta.insert_one({"_id": "schema", "version": 3})
    raw.audit.insert_many([{"_id": f"old{n}", "ts": T0 - timedelta(days=n + 1),
                            "username": "ana", "action": "login", "outcome": "ok"}
                           for n in range(3)])
    store = open_store(tmp_path, db_name)
    try:
        assert raw.meta.find_one({"_id": "schema"})["version"] == SCHEMA_VERSION
        for n in range(2):
            store.audit.append({"ts": T0 + timedelta(minutes=n), "username": "bob",
                                "action": "login", "outcome": "ok"}, KEY)
        report = verify(store.audit, KEY)
        assert report.intact and report.predating == 3 and report.entries == 2, report.lines()
        raw.audit.insert_one({"_id": "late", "ts": T0 + timedelta(hours=1), "username": "x",
                              "action": "patient.delete", "outcome": "ok"})
        report = verify(store.audit, KEY)
        assert [(p.kind, p.entry["id"]) for p in report.problems] == [(INSERTED, "late")]
    finally:
        store.close()
        client.close()
