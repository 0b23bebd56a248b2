"""What only the MongoDB store does: indexes (idempotent, an older one replaced), GridFS
files and their checksum, ordered writes without a replica set, unique fields as
Duplicate, string ids, the schema version and the refusal of a 0.1 database.

Needs a server at MEDITRACK_TEST_MONGO_URI (CI starts a mongoeco wire server: see
.ci/mongo-stage); each test uses a database of its own, dropped at teardown.
"""

from __future__ import annotations

import hashlib
import uuid
from pathlib import Path

import pytest

from meditrack_tui.audit_chain import AuditKey
from tests.conftest import make_config
from tests.store.conftest import MONGO_URI

AUDIT_KEY = AuditKey("test-audit-key")  # the chain key audit.append seals with

needs_server = [
    pytest.mark.mongo,
    pytest.mark.skipif(not MONGO_URI, reason="MEDITRACK_TEST_MONGO_URI not set: the MongoDB "
                                             "store's own tests need a server (.ci/mongo-stage "
                                             "starts one)"),
]


def mongo_config(tmp_path: Path, db_name: str | None = None, uri: str | None = None):
    cfg = make_config(tmp_path / "data")
    cfg.mongo_uri = uri or MONGO_URI
    cfg.db_name = db_name or "mt_test_" + uuid.uuid4().hex[:12]
    return cfg


@pytest.fixture
def mstore(tmp_path):
    from meditrack_tui.store.mongo import open_mongo

    opened = open_mongo(mongo_config(tmp_path))
    yield opened
    opened.drop_all()
    opened.close()


@pytest.fixture
def raw_db(tmp_path):
    """A client and an empty database name, for preparing what a store then opens."""
    import pymongo

    client = pymongo.MongoClient(MONGO_URI, serverSelectionTimeoutMS=4000)
    name = "mt_test_" + uuid.uuid4().hex[:12]
    yield client[name]
    client.drop_database(name)
    client.close()


def is_mongoeco(db) -> bool:
    return db.client.admin.command("buildInfo").get("gitVersion") == "mongoeco"


# --- no server needed ---

def test_an_unreachable_server_is_reported_by_host_without_credentials(tmp_path):
    from meditrack_tui.errors import StoreUnavailable
    from meditrack_tui.store.mongo import open_mongo

    uri = "mongodb://alice:s3cret@127.0.0.1:1/?serverSelectionTimeoutMS=200"
    with pytest.raises(StoreUnavailable) as info:
        open_mongo(mongo_config(tmp_path, uri=uri))
    assert "127.0.0.1:1" in info.value.message
    assert "s3cret" not in info.value.message and "alice" not in info.value.message


def test_an_invalid_address_is_reported_as_such(tmp_path):
    from meditrack_tui.errors import StoreUnavailable
    from meditrack_tui.store.mongo import open_mongo

    with pytest.raises(StoreUnavailable, match="not valid"):
        open_mongo(mongo_config(tmp_path, uri="mongodb://bob:pw@host:notaport/"))


def test_importing_the_store_does_not_import_pymongo():
    import subprocess
    import sys

    code = ("import sys, meditrack_tui.store, meditrack_tui.store.mongo; "
            "print('pymongo' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, cwd=Path(__file__).parents[2])
    assert out.stdout.strip() == "False"


# --- with a server ---

class TestWithServer:
    pytestmark = needs_server

    def test_open_reports_a_mongodb_store_and_records_the_schema_version(self, mstore):
        from meditrack_tui.store.base import MONGODB, SCHEMA_VERSION

        assert mstore.info.kind == MONGODB
        assert mstore.schema_version == SCHEMA_VERSION
        assert mstore.db.meta.find_one({"_id": "schema"})["version"] == SCHEMA_VERSION
        assert mstore.is_empty()

    def test_indexes_are_created_idempotently(self, mstore):
        from meditrack_tui.store.mongo.schema import INDEXES, ensure_indexes

        ensure_indexes(mstore.db)
        ensure_indexes(mstore.db)
        for collection, keys, options in INDEXES:
            info = mstore.db[collection].index_information()
            assert options["name"] in info, (collection, options["name"])
            assert list(info[options["name"]]["key"]) == keys
            if options.get("unique"):
                assert info[options["name"]].get("unique") is True

    def test_an_index_left_with_other_options_or_name_is_replaced(self, mstore):
        from meditrack_tui.store.mongo.schema import ensure_indexes

        changes, users = mstore.db.changes, mstore.db.users
        changes.drop_index("ts")  # 0.1 left a TTL index on the same keys
        changes.create_index([("ts", 1)], name="ts_ttl", expireAfterSeconds=3600)
        users.drop_index("role_username")
        users.create_index([("role", 1), ("username_lc", 1)], name="role_username",
                           sparse=True)
        ensure_indexes(mstore.db)
        info = changes.index_information()
        assert "ts_ttl" not in info and "expireAfterSeconds" not in info["ts"]
        assert not users.index_information()["role_username"].get("sparse")

    def test_ids_are_strings_and_records_carry_no_underscore_id(self, mstore):
        with mstore.unit_of_work():
            user = mstore.users.add({"username": "ana", "username_lc": "ana", "version": 1})
        raw = mstore.db.users.find_one({})
        assert isinstance(raw["_id"], str) and raw["_id"] == user["id"]
        got = mstore.users.get(user["id"])
        assert "_id" not in got and got == user
        assert mstore.users.get({"$ne": None}) is None  # never reaches a query as an operator

    def test_unique_username_and_mrn_are_duplicates(self, mstore):
        from meditrack_tui.store.base import Duplicate

        mstore.users.add({"username": "ana", "username_lc": "ana"})
        bob = mstore.users.add({"username": "bob", "username_lc": "bob"})
        with pytest.raises(Duplicate) as info:
            mstore.users.add({"username": "ANA", "username_lc": "ana"})
        assert info.value.field == "username"
        with pytest.raises(Duplicate) as info:
            mstore.users.update(bob["id"], {"username_lc": "ana"})
        assert info.value.field == "username"
        mstore.patients.add({"mrn": "MRN-000001", "last_key": "lima"})
        with pytest.raises(Duplicate) as info:
            mstore.patients.add_many([{"mrn": "MRN-000002"}, {"mrn": "MRN-000001"}])
        assert info.value.field == "mrn"
        assert mstore.patients.by_mrn("MRN-000002") is not None  # ordered: the first went in

    def test_store_fields_for_queries_are_kept_and_never_returned(self, mstore):
        from meditrack_tui.store.queries import AppointmentQuery, NameSearch, PatientQuery

        patient = mstore.patients.add({"mrn": "M1", "first_key": "iris", "last_key": "okoro",
                                       "phone_digits": "15550420", "archived": False})
        assert "phone_rev" not in patient and "phone_rev" not in mstore.patients.get(patient["id"])
        assert mstore.db.patients.find_one({})["phone_rev"] == "02405551"
        mstore.patients.update(patient["id"], {"phone_digits": "4471"})
        found = mstore.patients.find(PatientQuery(search=NameSearch("x", phone="71")))
        assert [p["id"] for p in found.items] == [patient["id"]]
        appt = mstore.appointments.add({"patient_id": patient["id"], "patient_name": "Iris Okoro",
                                        "mrn": "M1", "reason": "Asthma review"})
        stored = mstore.db.appointments.find_one({})
        assert stored["patient_words"] == ["iris okoro", "okoro"]
        assert stored["reason_words"] == ["asthma review", "review"]
        assert set(mstore.appointments.get(appt["id"])) == set(appt)
        assert mstore.appointments.find(AppointmentQuery(text="ASTH")).total == 1
        mstore.appointments.update(appt["id"], {"reason": "Follow-up"})
        assert mstore.appointments.find(AppointmentQuery(text="asth")).total == 0

    def test_a_report_file_round_trips_through_gridfs(self, mstore):
        data = b"%PDF-1.4 tiny\n" * 3
        file_id = mstore.reports.put_file("lab.pdf", data, {"content_type": "application/pdf"})
        assert isinstance(file_id, str)
        assert mstore.reports.read_file(file_id) == data
        (meta,) = mstore.db["report_files.files"].find({})
        assert str(meta["_id"]) == file_id
        assert meta["metadata"]["sha256"] == hashlib.sha256(data).hexdigest()
        mstore.reports.delete_file(file_id)
        assert mstore.db["report_files.files"].count_documents({}) == 0
        mstore.reports.delete_file(file_id)  # already gone: nothing to do

    def test_a_changed_file_is_corrupt(self, mstore):
        from meditrack_tui.store.base import Corrupt

        file_id = mstore.reports.put_file("a.txt", b"the original", {})
        mstore.db["report_files.chunks"].update_one({}, {"$set": {"data": b"the tampered"}})
        with pytest.raises(Corrupt):
            mstore.reports.read_file(file_id)
        with pytest.raises(Corrupt):
            mstore.reports.read_file("0123456789abcdef01234567")  # no such file

    def test_without_a_replica_set_writes_commit_in_order_as_issued(self, mstore):
        from meditrack_tui.live import utcnow

        if mstore.info.transactions:
            pytest.skip("the server is a replica set: units of work are transactions")
        with pytest.raises(RuntimeError), mstore.unit_of_work():
            user = mstore.users.add({"username": "ana", "username_lc": "ana"})
            with mstore.unit_of_work():  # joins
                entry = mstore.audit.append({"ts": utcnow(), "action": "x"}, AUDIT_KEY)
            seq = mstore.changes.append("users", "insert", ts=utcnow(),
                                        record_id=user["id"])
            raise RuntimeError("after the writes")
        # standalone: each write committed on its own, in the order issued
        assert mstore.users.get(user["id"]) is not None
        assert mstore.db.audit.find_one({"_id": entry["id"]}) is not None
        assert [row.record_id for row in mstore.changes.after(seq - 1)] == [user["id"]]
        assert mstore.session() is None

    def test_on_a_replica_set_a_unit_of_work_commits_together_or_not_at_all(self, mstore):
        if not mstore.info.transactions:
            pytest.skip("the server is not a replica set (no transactions)")
        with pytest.raises(RuntimeError), mstore.unit_of_work():
            mstore.users.add({"username": "ana", "username_lc": "ana"})
            assert mstore.users.by_username("ana") is not None  # read own write
            raise RuntimeError
        assert mstore.users.by_username("ana") is None

    def test_change_events_number_from_the_counters(self, mstore):
        from datetime import timedelta

        from meditrack_tui.live import utcnow

        t0 = utcnow() - timedelta(minutes=10)
        assert mstore.changes.last_seq() == 0
        seqs = [mstore.changes.append("vitals", "insert", ts=t0 + timedelta(minutes=n),
                                      record_id=str(n), patient_id="p1") for n in range(3)]
        assert seqs == [1, 2, 3] and mstore.changes.last_seq() == 3
        assert mstore.db.counters.find_one({"_id": "_changes_seq"})["value"] == 3
        assert mstore.changes.prune(t0 + timedelta(minutes=1)) == 1
        assert [r.seq for r in mstore.changes.after(0)] == [2, 3]

    def test_a_database_from_a_newer_version_is_refused(self, tmp_path, raw_db):
        from meditrack_tui.errors import StoreUnavailable
        from meditrack_tui.store.base import SCHEMA_VERSION
        from meditrack_tui.store.mongo import open_mongo

        raw_db.meta.insert_one({"_id": "schema", "version": SCHEMA_VERSION + 1})
        with pytest.raises(StoreUnavailable, match="newer"):
            open_mongo(mongo_config(tmp_path, raw_db.name))

    def test_a_database_from_0_1_is_refused_with_a_clear_message(self, tmp_path, raw_db):
        from bson import ObjectId

        from meditrack_tui.errors import StoreUnavailable
        from meditrack_tui.store.mongo import open_mongo

        raw_db.users.insert_one({"_id": ObjectId(), "username": "admin",
                                 "username_lc": "admin"})
        with pytest.raises(StoreUnavailable) as info:
            open_mongo(mongo_config(tmp_path, raw_db.name))
        assert "0.1" in info.value.message and raw_db.name in info.value.message
        assert raw_db.meta.find_one({}) is None  # nothing written to it

    def test_reopening_keeps_the_data_and_the_schema(self, tmp_path, mstore):
        from meditrack_tui.store.mongo import open_mongo

        mstore.patients.add({"mrn": "MRN-9"})
        again = open_mongo(mongo_config(tmp_path, mstore.db.name))
        try:
            assert again.patients.by_mrn("MRN-9") is not None and not again.is_empty()
        finally:
            again.close()


@pytest.fixture
def txn_store(mstore):
    """The store taking units of work as transactions (as on a replica set), where the
    server accepts them without being one (mongoeco does; a standalone mongod does not)."""
    import dataclasses

    from pymongo.errors import OperationFailure

    session = mstore.client.start_session()
    try:
        session.start_transaction()
        mstore.db.counters.find_one({}, session=session)
        session.abort_transaction()
    except OperationFailure as exc:
        pytest.skip(f"the server takes no transactions: {exc}")
    finally:
        session.end_session()
    mstore.info = dataclasses.replace(mstore.info, transactions=True)
    return mstore


class TestTransactionsOverTheWire:
    pytestmark = needs_server

    def test_a_unit_of_work_commits_together(self, txn_store):
        from meditrack_tui.live import utcnow

        with txn_store.unit_of_work():
            pid = txn_store.patients.add({"mrn": "M1", "last_key": "lee"})["id"]
            assert txn_store.patients.get(pid) is not None  # reads its own writes
            txn_store.audit.append({"ts": utcnow(), "action": "patient.create"}, AUDIT_KEY)
            seq = txn_store.changes.append("patients", "insert", ts=utcnow(), record_id=pid)
        assert txn_store.patients.get(pid) is not None
        assert [r.record_id for r in txn_store.changes.after(seq - 1)] == [pid]

    def test_an_error_rolls_back_record_audit_change_and_counter(self, txn_store):
        from meditrack_tui.live import utcnow
        from meditrack_tui.store.base import Duplicate
        from meditrack_tui.store.queries import AuditQuery

        kept = txn_store.patients.add({"mrn": "M0", "last_key": "kay", "version": 1})["id"]
        with pytest.raises(RuntimeError), txn_store.unit_of_work():
            pid = txn_store.patients.add({"mrn": "M1", "last_key": "lee"})["id"]
            with txn_store.unit_of_work():  # joins
                txn_store.patients.update(kept, {"last_key": "changed"})
            txn_store.audit.append({"ts": utcnow(), "action": "x"}, AUDIT_KEY)
            txn_store.changes.append("patients", "insert", ts=utcnow(), record_id=pid)
            txn_store.counters.next("mrn")
            raise RuntimeError("boom")
        assert txn_store.patients.get(pid) is None
        assert txn_store.patients.get(kept)["last_key"] == "kay"
        assert txn_store.audit.find(AuditQuery()).total == 0
        assert txn_store.changes.last_seq() == 0 and txn_store.counters.next("mrn") == 1
        with pytest.raises(Duplicate), txn_store.unit_of_work():
            txn_store.patients.add({"mrn": "M2"})
            txn_store.patients.add({"mrn": "M0"})
        assert txn_store.patients.by_mrn("M2") is None
        assert txn_store.session() is None

    def test_a_report_file_is_part_of_the_transaction(self, txn_store):
        with txn_store.unit_of_work():
            file_id = txn_store.reports.put_file("a.txt", b"kept", {})
        assert txn_store.reports.read_file(file_id) == b"kept"
        with pytest.raises(RuntimeError), txn_store.unit_of_work():
            txn_store.reports.put_file("b.txt", b"dropped", {})
            raise RuntimeError
        assert txn_store.db["report_files.files"].count_documents({}) == 1

    def test_a_file_deleted_in_a_unit_goes_only_when_it_commits(self, txn_store):
        file_id = txn_store.reports.put_file("a.txt", b"kept", {})
        with pytest.raises(RuntimeError), txn_store.unit_of_work():
            txn_store.reports.delete_file(file_id)
            raise RuntimeError
        assert txn_store.reports.read_file(file_id) == b"kept"
        with txn_store.unit_of_work():
            txn_store.reports.delete_file(file_id)
            assert txn_store.reports.read_file(file_id) == b"kept"  # until the commit
        assert txn_store.db["report_files.files"].count_documents({}) == 0
