"""The MongoDB store's change-stream feed, with no server: change events in MongoDB's
documented format, the scoped $match, try_next polling, resuming from the token, and
lost history (codes 286/280) reopening from now with a RESYNC."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import pytest
from pymongo.errors import AutoReconnect, OperationFailure

from meditrack_tui.live import RESYNC, WATCHED, ChangeEvent, Scope
from meditrack_tui.store.base import new_id
from meditrack_tui.store.mongo.feed import ChangeStreamFeed, event_from_change, stream_pipeline

PID = new_id()
DOC = new_id()


def change(op: str, coll: str, full: dict | None = None, key: Any = DOC, token: int = 1) -> dict:
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


# --- event_from_change ---

def test_insert_of_a_patient_scoped_record():
    event = event_from_change(change("insert", "vitals", {"_id": DOC, "patient_id": PID,
                                                         "recorded_by": "dr.a"}))
    assert event == ChangeEvent("vitals", "insert", DOC, PID, "dr.a")
    assert event.ts == datetime(2026, 3, 4, 10, 0)


def test_update_with_update_lookup_carries_patient_and_agenda_keys():
    doctor = new_id()
    event = event_from_change(change("update", "appointments", {
        "_id": DOC, "patient_id": PID, "doctor_id": doctor, "day": "2026-03-04",
        "updated_by": "demo.doctor"}))
    assert event.patient_id == PID
    assert event.extra == {"doctor_id": doctor, "day": "2026-03-04"}
    assert event.by == "demo.doctor"


def test_patient_document_is_its_own_patient():
    event = event_from_change(change("replace", "patients", {"_id": PID}, key=PID))
    assert (event.collection, event.op, event.patient_id) == ("patients", "replace", PID)


def test_delete_has_no_full_document():
    event = event_from_change(change("delete", "reports"))
    assert (event.op, event.record_id, event.patient_id) == ("delete", DOC, None)


def test_an_update_whose_record_is_gone_has_no_patient():
    event = event_from_change({**change("update", "vitals"), "fullDocument": None})
    assert (event.record_id, event.patient_id, event.extra) == (DOC, None, {})


@pytest.mark.parametrize("op", ["drop", "rename", "dropDatabase", "invalidate"])
def test_other_operations_are_ignored(op):
    assert event_from_change({"operationType": op, "ns": {"db": "m", "coll": "vitals"}}) is None


# --- the $match: a small evaluator of the operators stream_pipeline uses ---

def _get(doc: Any, path: str) -> Any:
    for part in path.split("."):
        if not isinstance(doc, dict) or part not in doc:
            return _MISSING
        doc = doc[part]
    return doc


_MISSING = object()


def _holds(cond: dict, doc: dict) -> bool:
    for key, want in cond.items():
        if key == "$or":
            if not any(_holds(sub, doc) for sub in want):
                return False
            continue
        value = _get(doc, key)
        if isinstance(want, dict):
            for op, arg in want.items():
                if op == "$in" and value not in arg:
                    return False
                if op == "$exists" and (value is not _MISSING) != arg:
                    return False
                assert op in ("$in", "$exists"), op
        elif value != want:
            return False
    return True


def _matches(pipeline: list[dict], event: dict) -> bool:
    (stage,) = pipeline
    return _holds(stage["$match"], event)


def test_a_patient_stream_matches_only_their_records_and_their_user():
    me, other, user, other_user = new_id(), new_id(), new_id(), new_id()
    pipeline = stream_pipeline(WATCHED, Scope(me, user))
    mine = [change("update", "patients", {"_id": me}, key=me),
            change("insert", "vitals", {"_id": new_id(), "patient_id": me}),
            change("update", "appointments", {"_id": new_id(), "patient_id": me}),
            change("insert", "reports", {"_id": new_id(), "patient_id": me}),
            change("update", "users", {"_id": user}, key=user)]
    theirs = [change("update", "patients", {"_id": other}, key=other),
              change("insert", "vitals", {"_id": new_id(), "patient_id": other}),
              change("insert", "prescriptions", {"_id": new_id(), "patient_id": other}),
              change("delete", "reports"),
              change("update", "users", {"_id": other_user}, key=other_user),
              change("insert", "audit", {"_id": new_id(), "patient_id": me})]
    assert all(_matches(pipeline, e) for e in mine)
    assert not any(_matches(pipeline, e) for e in theirs)


def test_a_staff_stream_matches_every_watched_collection():
    pipeline = stream_pipeline(WATCHED)
    assert "$or" not in pipeline[0]["$match"]
    assert _matches(pipeline, change("insert", "vitals", {"_id": new_id(),
                                                          "patient_id": new_id()}))
    assert not _matches(pipeline, change("insert", "sessions", {"_id": new_id()}))
    assert not _matches(pipeline, change("drop", "vitals"))


def test_a_scope_with_nothing_to_hear_of_matches_nothing():
    pipeline = stream_pipeline(WATCHED, Scope(None, None))
    assert not _matches(pipeline, change("insert", "vitals", {"_id": new_id(),
                                                              "patient_id": PID}))


# --- polling a stream: try_next, resume token, lost history ---

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
    first = [change("insert", "vitals", {"_id": new_id(), "patient_id": PID}, token=n)
             for n in (1, 2)]
    later = [change("insert", "appointments", {"_id": new_id(), "patient_id": PID}, token=3)]
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


def test_an_idle_poll_returns_nothing_and_keeps_the_stream_open():
    stream = FakeStream([])
    feed = ChangeStreamFeed(FakeDB([stream]))
    assert feed.poll() == [] and feed.poll() == []
    assert feed.stream is stream and not stream.closed
    feed.close()
    assert stream.closed and feed.stream is None


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
    before = [change("insert", "vitals", {"_id": new_id(), "patient_id": PID}, token=1)]
    after = [change("insert", "reports", {"_id": new_id(), "patient_id": PID}, token=9)]
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
    first = [change("insert", "vitals", {"_id": new_id(), "patient_id": PID}, token=4)]
    db = FakeDB([FakeStream(first, fail_after=1), history_lost(286), FakeStream([])])
    feed = ChangeStreamFeed(db, ["vitals", "appointments"])
    feed.poll()
    events = feed.poll()  # watch(resume_after=token 4) itself fails
    assert [(e.collection, e.op) for e in events] == [("vitals", RESYNC),
                                                      ("appointments", RESYNC)]
    assert "resume_after" not in db.calls[2]


def test_a_patients_resync_names_the_patient():
    first = [change("insert", "vitals", {"_id": new_id(), "patient_id": PID}, token=4)]
    db = FakeDB([FakeStream(first, fail_after=1), history_lost(286), FakeStream([])])
    feed = ChangeStreamFeed(db, ["vitals"], scope=Scope(PID, None))
    feed.poll()
    assert feed.poll() == [ChangeEvent("vitals", RESYNC, None, PID)]


def test_other_operation_failures_are_raised_and_keep_the_token():
    first = [change("insert", "vitals", {"_id": new_id(), "patient_id": PID}, token=2)]
    db = FakeDB([FakeStream(first, fail_after=1), OperationFailure("not authorized", code=13)])
    feed = ChangeStreamFeed(db)
    feed.poll()
    with pytest.raises(OperationFailure):
        feed.poll()
    assert feed.token == {"_data": "8200000002"}


def test_a_scoped_stream_feed_opens_with_the_scoped_pipeline():
    db = FakeDB([FakeStream([])])
    feed = ChangeStreamFeed(db, scope=Scope(PID, None))
    feed.poll()
    assert db.pipelines[0] == stream_pipeline(WATCHED, Scope(PID, None))
    assert "$or" in db.pipelines[0][0]["$match"]


# --- which feed a store opens ---

class _Info:
    def __init__(self, streams: bool) -> None:
        self.kind = "mongodb"
        self.supports_change_streams = streams


def test_the_store_opens_a_change_stream_only_where_the_server_has_them():
    from meditrack_tui.live import ChangeLogFeed
    from meditrack_tui.store.mongo.store import MongoStore

    class Changes:
        def last_seq(self) -> int:
            return 7

    fake = MongoStore.__new__(MongoStore)  # no connection: only open_feed is exercised
    fake.db, fake.changes = object(), Changes()
    fake.info = _Info(True)
    assert isinstance(fake.open_feed(Scope(PID)), ChangeStreamFeed)
    fake.info = _Info(False)
    feed = fake.open_feed(Scope(PID))
    assert isinstance(feed, ChangeLogFeed) and feed.seq == 7 and feed.scope == Scope(PID)
