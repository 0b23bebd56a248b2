"""The change feed: what other sessions changed, from a change stream or the change log.

On a replica set (or sharded cluster) MongoDB's change stream over the app's
collections is polled with ``try_next`` and resumed from its last token after
an error. Where change streams are missing (the embedded store, a standalone
mongod; detected from the server's ``hello``), the ``changes`` collection that
the service layer appends to is polled instead. Both yield :class:`ChangeEvent`.
"""

from __future__ import annotations

import time
from collections import deque
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any, Iterable, Protocol

WATCHED = ("users", "patients", "appointments", "prescriptions", "vitals", "reports", "audit")
# Collections whose records belong to one patient (a patient's feed shows only their own).
PATIENT_SCOPED = ("patients", "appointments", "prescriptions", "vitals", "reports")


def utcnow() -> datetime:
    """Naive UTC, the change log's time base (shared by processes in any time zone)."""
    return datetime.now(timezone.utc).replace(tzinfo=None)


@dataclass(frozen=True)
class ChangeEvent:
    """One change: the collection, the operation, the record and (when known) its patient."""

    collection: str
    op: str
    record_id: str | None = None
    patient_id: str | None = None
    by: str | None = None
    extra: dict[str, Any] = field(default_factory=dict, compare=False, hash=False)
    ts: datetime | None = field(default=None, compare=False, hash=False)


class ChangeFeed(Protocol):
    """What the app polls: new events since the last call (never blocking for long)."""

    def poll(self) -> list[ChangeEvent]: ...

    def close(self) -> None: ...


def visible_to(event: ChangeEvent, role: str, patient_id: str | None) -> bool:
    """Whether a session may hear of an event: a patient only of their own records."""
    if role != "patient":
        return True
    if event.collection not in PATIENT_SCOPED:
        return False
    return patient_id is not None and event.patient_id == patient_id


class ChangeLogFeed:
    """Polls the ``changes`` collection written by the services (any store)."""

    OVERLAP = timedelta(seconds=5)  # re-read a window so writers' clock skew loses nothing

    def __init__(self, db: Any, *, start: datetime | None = None,
                 collections: Iterable[str] | None = None) -> None:
        self.collection = db["changes"]
        self.since = start or utcnow()
        self.only = list(collections) if collections else None
        self._seen: deque[Any] = deque(maxlen=5000)
        self._seen_set: set[Any] = set()
        if start is None:
            self.poll()  # what happened before the feed started is not news

    def poll(self) -> list[ChangeEvent]:
        query: dict[str, Any] = {"ts": {"$gt": self.since - self.OVERLAP}}
        if self.only:
            query["coll"] = {"$in": self.only}
        cursor = self.collection.find(query).sort([("ts", 1), ("_id", 1)])
        events = []
        newest = self.since
        for doc in cursor:
            key = doc["_id"]
            if key in self._seen_set:
                continue
            if len(self._seen) == self._seen.maxlen:
                self._seen_set.discard(self._seen[0])
            self._seen.append(key)
            self._seen_set.add(key)
            newest = max(newest, doc["ts"])
            extra = {k: v for k, v in doc.items()
                     if k not in ("_id", "ts", "coll", "op", "record_id", "patient_id", "by")}
            events.append(ChangeEvent(doc.get("coll", "?"), doc.get("op", "?"),
                                      doc.get("record_id"), doc.get("patient_id"),
                                      doc.get("by"), extra, doc["ts"]))
        self.since = newest
        return events

    def close(self) -> None:
        pass


def event_from_change(change: dict[str, Any]) -> ChangeEvent | None:
    """Turn a MongoDB change-stream document (documented format) into a ChangeEvent."""
    ns = change.get("ns") or {}
    coll = ns.get("coll")
    op = change.get("operationType")
    if not coll or op not in ("insert", "update", "replace", "delete"):
        return None
    key = (change.get("documentKey") or {}).get("_id")
    full = change.get("fullDocument") or {}
    if coll == "patients":
        patient = key
    else:
        patient = full.get("patient_id")
    extra: dict[str, Any] = {}
    for name in ("doctor_id", "day"):
        if full.get(name) is not None:
            extra[name] = str(full[name])
    return ChangeEvent(coll, op, str(key) if key is not None else None,
                       str(patient) if patient is not None else None,
                       full.get("updated_by") or full.get("recorded_by")
                       or full.get("uploaded_by") or full.get("username"), extra)


class ChangeStreamFeed:
    """Polls a MongoDB change stream with ``try_next``; resumes from its token after errors."""

    def __init__(self, db: Any, collections: Iterable[str] = WATCHED) -> None:
        self.db = db
        self.pipeline = [{"$match": {"ns.coll": {"$in": list(collections)},
                                     "operationType": {"$in": ["insert", "update", "replace",
                                                               "delete"]}}}]
        self.token: Any = None
        self.stream: Any = None
        self.failures = 0

    def _open(self) -> None:
        kwargs: dict[str, Any] = {"full_document": "updateLookup", "max_await_time_ms": 200}
        if self.token is not None:
            kwargs["resume_after"] = self.token
        self.stream = self.db.watch(self.pipeline, **kwargs)

    def poll(self) -> list[ChangeEvent]:
        from pymongo.errors import PyMongoError

        events: list[ChangeEvent] = []
        try:
            if self.stream is None:
                self._open()
            while True:
                change = self.stream.try_next()
                if self.stream.resume_token is not None:
                    self.token = self.stream.resume_token
                if change is None:
                    break
                event = event_from_change(change)
                if event is not None:
                    events.append(event)
                if len(events) >= 500:
                    break
            self.failures = 0
        except PyMongoError:
            # Reconnect on the next poll, resuming after the last event we saw.
            self.failures += 1
            self.close()
            time.sleep(min(5.0, 0.2 * 2 ** min(self.failures, 5)))
        return events

    def close(self) -> None:
        if self.stream is not None:
            try:
                self.stream.close()
            except Exception:  # noqa: BLE001 - closing is best effort
                pass
            self.stream = None


def open_feed(store: Any) -> ChangeFeed:
    """The right feed for a store: a change stream where the server has them, else the log."""
    if getattr(store.info, "supports_change_streams", False):
        return ChangeStreamFeed(store.db)
    return ChangeLogFeed(store.db)
