"""The change feed: change-stream events in MongoDB's documented format, the change log,
resuming after errors, and role filtering."""

from __future__ import annotations

import os
import uuid
from datetime import datetime

import pytest
from bson import ObjectId
from pymongo.errors import AutoReconnect, OperationFailure

from meditrack_tui.db.feed import (
    RESYNC,
    WATCHED,
    ChangeEvent,
    ChangeLogFeed,
    ChangeStreamFeed,
    Scope,
    event_from_change,
    open_feed,
    stream_pipeline,
    visible_to,
)

PID = ObjectId()
DOC = ObjectId()


def change(op: str, coll: str, full: dict | None = None, key=DOC, token: int = 1) -> dict:
    """A change event shaped as MongoDB documents it (operationType, ns, documentKey, ...)."""
    event = {
        "_id": {"_data": f"82{token:08d}"},
        "operationType": op,
        "clusterTime": None,
        "wallTime": datetime(2026, 3, 4, 10, 0),
        "ns": {"db": "meditrack", "coll": coll},
        "documentKey": {"_id": key},
    }
    if full is not None:
        event["fullDocument"] = full
    if op == "update":
        event["updateDescription"] = {"updatedFields": {"status": "checked-in"},
                                      "removedFields": [], "truncatedArrays": []}
    return event


def test_insert_of_a_patient_scoped_record():
    event = event_from_change(change("insert", "vitals", {"_id": DOC, "patient_id": PID,
                                                         "recorded_by": "dr.a"}))
    assert event == ChangeEvent("vitals", "insert", str(DOC), str(PID), "dr.a")


def test_update_with_update_lookup_carries_patient_and_agenda_keys():
    doctor = ObjectId()
    event = event_from_change(change("update", "appointments", {
        "_id": DOC, "patient_id": PID, "doctor_id": doctor, "day": "2026-03-04",
        "updated_by": "demo.doctor"}))
    assert event.patient_id == str(PID)
    assert event.extra == {"doctor_id": str(doctor), "day": "2026-03-04"}
    assert event.by == "demo.doctor"


def test_patient_document_is_its_own_patient():
    event = event_from_change(change("replace", "patients", {"_id": PID}, key=PID))
    assert (event.collection, event.op, event.patient_id) == ("patients", "replace", str(PID))


def test_delete_has_no_full_document():
    event = event_from_change(change("delete", "reports"))
    assert (event.op, event.record_id, event.patient_id) == ("delete", str(DOC), None)


@pytest.mark.parametrize("op", ["drop", "rename", "dropDatabase", "invalidate"])
def test_other_operations_are_ignored(op):
    assert event_from_change({"operationType": op, "ns": {"db": "m", "coll": "vitals"}}) is None


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


class FakeStream:
    """A change stream double: hands out queued events, then None; can fail once."""

    def __init__(self, events, fail_after: int | None = None, error: Exception | None = None):
        self.events = list(events)
        self.resume_token = None
        self.fail_after = fail_after
        self.error = error or AutoReconnect("connection reset")
        self.closed = False

    def try_next(self):
        if self.fail_after is not None and self.fail_after <= 0:
            raise self.error
        if self.fail_after is not None:
            self.fail_after -= 1
        if not self.events:
            return None
        event = self.events.pop(0)
        self.resume_token = event["_id"]
        return event

    def close(self):
        self.closed = True


class FakeDB:
    def __init__(self, streams):
        self.streams = list(streams)
        self.calls = []
        self.pipelines = []

    def watch(self, pipeline, **kwargs):
        self.calls.append(kwargs)
        self.pipelines.append(pipeline)
        stream = self.streams.pop(0)
        if isinstance(stream, Exception):
            raise stream
        return stream


def test_stream_feed_polls_with_try_next_and_resumes_after_an_error():
    first = [change("insert", "vitals", {"_id": ObjectId(), "patient_id": PID}, token=n)
             for n in (1, 2)]
    later = [change("insert", "appointments", {"_id": ObjectId(), "patient_id": PID}, token=3)]
    db = FakeDB([FakeStream(first, fail_after=2), FakeStream(later)])
    feed = ChangeStreamFeed(db)
    got = feed.poll()  # two events, then the connection breaks: keep them, close the stream
    assert [e.collection for e in got] == ["vitals", "vitals"]
    assert feed.stream is None
    again = feed.poll()  # reconnects, resuming after the last token seen
    assert [e.collection for e in again] == ["appointments"]
    assert "resume_after" not in db.calls[0]
    assert db.calls[1]["resume_after"] == {"_data": "8200000002"}
    assert db.calls[1]["full_document"] == "updateLookup"


def test_a_failure_before_any_event_is_raised_for_the_caller_to_back_off():
    db = FakeDB([FakeStream([], fail_after=0), FakeStream([])])
    feed = ChangeStreamFeed(db)
    with pytest.raises(AutoReconnect):
        feed.poll()
    assert feed.stream is None
    assert feed.poll() == []  # reopened


def history_lost(code: int) -> OperationFailure:
    return OperationFailure("resume point may no longer be in the oplog", code=code)


@pytest.mark.parametrize("code", [286, 280])
def test_history_lost_reopens_from_now_and_asks_for_a_resync(code):
    before = [change("insert", "vitals", {"_id": ObjectId(), "patient_id": PID}, token=1)]
    after = [change("insert", "reports", {"_id": ObjectId(), "patient_id": PID}, token=9)]
    db = FakeDB([FakeStream(before, fail_after=1, error=AutoReconnect("reset")),
                 FakeStream([], fail_after=0, error=history_lost(code)),
                 FakeStream(after)])
    feed = ChangeStreamFeed(db)
    assert [e.collection for e in feed.poll()] == ["vitals"]  # then the connection drops
    events = feed.poll()  # resuming after token 1: the oplog no longer has it
    assert db.calls[1]["resume_after"] == {"_data": "8200000001"}
    assert "resume_after" not in db.calls[2]  # reopened at once, from now
    assert feed.token is None and feed.stream is not None
    assert [(e.collection, e.op) for e in events] == [(c, RESYNC) for c in WATCHED]
    assert [e.collection for e in feed.poll()] == ["reports"]
    assert feed.token == {"_data": "8200000009"}


def test_history_lost_when_reopening_with_the_token():
    first = [change("insert", "vitals", {"_id": ObjectId(), "patient_id": PID}, token=4)]
    db = FakeDB([FakeStream(first, fail_after=1), history_lost(286), FakeStream([])])
    feed = ChangeStreamFeed(db, ["vitals", "appointments"])
    feed.poll()
    events = feed.poll()  # watch(resume_after=token 4) itself fails
    assert [(e.collection, e.op) for e in events] == [("vitals", RESYNC),
                                                      ("appointments", RESYNC)]
    assert "resume_after" not in db.calls[2]


def test_other_operation_failures_are_raised_and_keep_the_token():
    first = [change("insert", "vitals", {"_id": ObjectId(), "patient_id": PID}, token=2)]
    db = FakeDB([FakeStream(first, fail_after=1), OperationFailure("not authorized", code=13)])
    feed = ChangeStreamFeed(db)
    feed.poll()
    with pytest.raises(OperationFailure):
        feed.poll()
    assert feed.token == {"_data": "8200000002"}


# --- a patient's scope in the change stream's $match ---

def _matches(pipeline: list[dict], event: dict) -> bool:
    from litemongo._vendor.mongomock.filtering import filter_applies

    (stage,) = pipeline
    return filter_applies(stage["$match"], event)


def test_a_patient_stream_matches_only_their_records_and_their_user():
    me, other, user, other_user = ObjectId(), ObjectId(), ObjectId(), ObjectId()
    pipeline = stream_pipeline(WATCHED, Scope(str(me), str(user)))
    mine = [change("update", "patients", {"_id": me}, key=me),
            change("insert", "vitals", {"_id": ObjectId(), "patient_id": me}),
            change("update", "appointments", {"_id": ObjectId(), "patient_id": me}),
            change("insert", "reports", {"_id": ObjectId(), "patient_id": str(me)}),
            change("update", "users", {"_id": user}, key=user)]
    theirs = [change("update", "patients", {"_id": other}, key=other),
              change("insert", "vitals", {"_id": ObjectId(), "patient_id": other}),
              change("insert", "prescriptions", {"_id": ObjectId(), "patient_id": other}),
              change("delete", "reports"),
              change("update", "users", {"_id": other_user}, key=other_user),
              change("insert", "audit", {"_id": ObjectId(), "patient_id": me})]
    assert all(_matches(pipeline, e) for e in mine)
    assert not any(_matches(pipeline, e) for e in theirs)


def test_a_staff_stream_matches_every_watched_collection():
    pipeline = stream_pipeline(WATCHED)
    assert "$or" not in pipeline[0]["$match"]
    assert _matches(pipeline, change("insert", "vitals", {"_id": ObjectId(),
                                                          "patient_id": ObjectId()}))
    assert not _matches(pipeline, change("insert", "sessions", {"_id": ObjectId()}))


def test_a_scoped_stream_feed_opens_with_the_scoped_pipeline():
    db = FakeDB([FakeStream([])])
    feed = ChangeStreamFeed(db, scope=Scope(str(PID), None))
    feed.poll()
    assert db.pipelines[0] == stream_pipeline(WATCHED, Scope(str(PID), None))
    assert "$or" in db.pipelines[0][0]["$match"]


def test_change_log_feed_sees_service_writes_once(demo_services):
    services = demo_services
    feed = ChangeLogFeed(services.store.db)
    doctor = services.auth.login("demo.doctor", "meditrack-demo")
    patient = services.patients.list(doctor, query="").items[0]
    services.vitals.add(doctor, patient["id"], {"heart_rate": 72})
    events = [e for e in feed.poll() if e.collection == "vitals"]
    assert len(events) == 1 and events[0].patient_id == patient["id"]
    assert events[0].by == "demo.doctor"
    assert [e for e in feed.poll() if e.collection == "vitals"] == []


def test_embedded_store_uses_the_change_log(demo_services):
    assert isinstance(open_feed(demo_services.store), ChangeLogFeed)


MONGO_URI = os.environ.get("MEDITRACK_TEST_MONGO_URI")


@pytest.mark.skipif(not MONGO_URI, reason="MEDITRACK_TEST_MONGO_URI not set: change streams "
                                          "need a real MongoDB replica set")
def test_change_stream_on_a_real_replica_set(tmp_path):
    from meditrack_tui.config import Config
    from meditrack_tui.db import connect

    config = Config(data_dir=tmp_path, mongo_uri=MONGO_URI, secret="s" * 40,
                    db_name=f"meditrack_test_{uuid.uuid4().hex[:8]}")
    store = connect(config)
    try:
        if not store.info.supports_change_streams:
            pytest.skip("the server at MEDITRACK_TEST_MONGO_URI is not a replica set")
        feed = open_feed(store)
        assert isinstance(feed, ChangeStreamFeed)
        feed.poll()
        store.db.vitals.insert_one({"patient_id": PID, "heart_rate": 70})
        events = []
        for _ in range(20):
            events += feed.poll()
            if events:
                break
        assert events and events[0].collection == "vitals"
        assert events[0].patient_id == str(PID)
        feed.close()
    finally:
        store.client.drop_database(config.db_name)
        store.close()
