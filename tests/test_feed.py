"""The change feed: change-stream events in MongoDB's documented format, the change log,
resuming after errors, and role filtering."""

from __future__ import annotations

import os
import uuid
from datetime import datetime

import pytest
from bson import ObjectId
from pymongo.errors import AutoReconnect

from meditrack_tui.db.feed import (
    ChangeEvent,
    ChangeLogFeed,
    ChangeStreamFeed,
    event_from_change,
    open_feed,
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


class FakeStream:
    """A change stream double: hands out queued events, then None; can fail once."""

    def __init__(self, events, fail_after: int | None = None):
        self.events = list(events)
        self.resume_token = None
        self.fail_after = fail_after
        self.closed = False

    def try_next(self):
        if self.fail_after is not None and self.fail_after <= 0:
            raise AutoReconnect("connection reset")
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

    def watch(self, pipeline, **kwargs):
        self.calls.append(kwargs)
        return self.streams.pop(0)


def test_stream_feed_polls_with_try_next_and_resumes_after_an_error(monkeypatch):
    monkeypatch.setattr("meditrack_tui.db.feed.time.sleep", lambda _s: None)
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
