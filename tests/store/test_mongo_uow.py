"""The MongoDB store's unit of work on a replica set, with no server (the wire test server
has no transactions): one transaction per outermost unit, every repository call in its
session, inner units joining, abort on error, the commit retried on
UnknownTransactionCommitResult, and a write conflict reported as StoreBusy."""

from __future__ import annotations

import threading

import pytest
from pymongo.errors import OperationFailure

from meditrack_tui.audit_chain import AuditKey
from meditrack_tui.errors import StoreBusy
from meditrack_tui.store.base import MONGODB, StoreInfo
from meditrack_tui.store.mongo.store import MongoStore

KEY = AuditKey("test-audit-key")


def labelled(label: str, code: int = 112) -> OperationFailure:
    return OperationFailure("write conflict", code=code, details={"errorLabels": [label]})


class FakeSession:
    def __init__(self, commit_errors=()):
        self.commit_errors = list(commit_errors)
        self.in_transaction = False
        self.log: list[str] = []

    def start_transaction(self, **kwargs):
        self.in_transaction = True
        self.log.append("start")

    def commit_transaction(self):
        self.log.append("commit")
        if self.commit_errors:
            raise self.commit_errors.pop(0)
        self.in_transaction = False

    def abort_transaction(self):
        self.log.append("abort")
        self.in_transaction = False

    def end_session(self):
        self.log.append("end")


class FakeResult:
    inserted_id = None
    deleted_count = 1
    matched_count = 0


class FakeCollection:
    def __init__(self, calls, name, fail=None):
        self.calls, self.name, self.fail = calls, name, fail

    def insert_one(self, doc, session=None):
        self.calls.append((self.name, "insert_one", session))
        if self.fail is not None:
            raise self.fail
        return FakeResult()

    def find_one(self, filt, projection=None, session=None, **kwargs):
        self.calls.append((self.name, "find_one", session))
        return None

    def update_one(self, filt, change, session=None, **kwargs):
        self.calls.append((self.name, "update_one", session))
        return FakeResult()

    def find_one_and_update(self, filt, change, session=None, **kwargs):
        self.calls.append((self.name, "find_one_and_update", session))
        return {"_id": filt["_id"], "value": 1}


class FakeDB:
    def __init__(self, fail=None):
        self.calls: list[tuple] = []
        self.fail = fail

    def __getitem__(self, name):
        return FakeCollection(self.calls, name, self.fail if name == "audit" else None)


class FakeClient:
    def __init__(self, *sessions):
        self.sessions = list(sessions)
        self.started: list[FakeSession] = []

    def start_session(self):
        session = self.sessions.pop(0)
        self.started.append(session)
        return session


def replica_store(client, db=None) -> MongoStore:
    return MongoStore(client, db or FakeDB(), StoreInfo(MONGODB, "rs", True, True))


def test_every_call_in_a_unit_of_work_uses_its_transaction_and_inner_units_join():
    session = FakeSession()
    store = replica_store(FakeClient(session))
    with store.unit_of_work():
        store.users.add({"username_lc": "ana"})
        with store.unit_of_work():
            store.audit.append({"action": "x"}, KEY)
            store.counters.next("mrn")
        assert store.session() is session
    assert session.log == ["start", "commit", "end"]
    calls = store.db.calls
    assert [c[:2] for c in calls if c[1] != "find_one"] == [
        ("users", "insert_one"), ("audit", "insert_one"), ("meta", "update_one"),
        ("meta", "insert_one"), ("counters", "find_one_and_update")]
    assert all(call[2] is session for call in calls)
    assert store.session() is None


def test_a_write_outside_a_unit_of_work_has_no_session():
    store = replica_store(FakeClient())
    store.users.add({"username_lc": "ana"})
    assert store.db.calls == [("users", "insert_one", None)]


def test_an_error_in_the_block_aborts_and_is_raised():
    session = FakeSession()
    store = replica_store(FakeClient(session))
    with pytest.raises(KeyError), store.unit_of_work():
        store.users.add({"username_lc": "ana"})
        raise KeyError("boom")
    assert session.log == ["start", "abort", "end"]
    assert store.session() is None


def test_a_write_conflict_inside_is_reported_as_store_busy():
    session = FakeSession()
    store = replica_store(FakeClient(session), FakeDB(fail=labelled("TransientTransactionError")))
    with pytest.raises(StoreBusy, match="try again"), store.unit_of_work():
        store.users.add({"username_lc": "ana"})
        store.audit.append({"action": "x"}, KEY)  # conflicts
    assert session.log == ["start", "abort", "end"]


def test_a_transient_error_at_commit_is_store_busy():
    session = FakeSession([labelled("TransientTransactionError", code=251)])
    store = replica_store(FakeClient(session))
    with pytest.raises(StoreBusy), store.unit_of_work():
        store.users.add({"username_lc": "ana"})
    assert session.log == ["start", "commit", "end"]


def test_an_unknown_commit_result_is_committed_again():
    session = FakeSession([labelled("UnknownTransactionCommitResult", code=50),
                           labelled("UnknownTransactionCommitResult", code=50)])
    store = replica_store(FakeClient(session))
    with store.unit_of_work():
        store.users.add({"username_lc": "ana"})
    assert session.log == ["start", "commit", "commit", "commit", "end"]


def test_other_commit_errors_are_raised():
    """Not retried; a refusal comes out as the store's sentence (the driver's error chained)."""
    from meditrack_tui.errors import StoreUnavailable

    session = FakeSession([OperationFailure("not authorized", code=13)])
    store = replica_store(FakeClient(session))
    with pytest.raises(StoreUnavailable) as caught, store.unit_of_work():
        store.users.add({"username_lc": "ana"})
    assert isinstance(caught.value.__cause__, OperationFailure)
    assert session.log.count("commit") == 1


def test_each_thread_has_its_own_unit_of_work():
    first, second = FakeSession(), FakeSession()
    store = replica_store(FakeClient(first, second))
    seen: list = []
    with store.unit_of_work():
        worker = threading.Thread(target=lambda: seen.append(store.session()))
        worker.start()
        worker.join()
        assert store.session() is first
    assert seen == [None]  # another thread's calls are not in this transaction


def test_a_standalone_server_has_no_transaction():
    store = MongoStore(FakeClient(), FakeDB(), StoreInfo(MONGODB, "standalone", False, False))
    with store.unit_of_work(), store.unit_of_work():
        store.users.add({"username_lc": "ana"})
    assert store.db.calls == [("users", "insert_one", None)]


def test_deferred_actions_run_after_the_commit_or_the_abort():
    store = replica_store(FakeClient(FakeSession(), FakeSession()))
    ran: list[str] = []
    assert store.defer(on_commit=lambda: ran.append("no unit")) is False
    with store.unit_of_work():
        assert store.defer(on_commit=lambda: ran.append("commit"),
                           on_abort=lambda: ran.append("not run"))
        assert ran == []
    with pytest.raises(RuntimeError), store.unit_of_work():
        store.defer(on_commit=lambda: ran.append("not run"),
                    on_abort=lambda: ran.append("abort"))
        raise RuntimeError
    assert ran == ["commit", "abort"]
