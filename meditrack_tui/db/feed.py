"""The change feed: what other sessions changed, from a change stream or the change log.

On a replica set (or sharded cluster) MongoDB's change stream over the app's
collections is polled with ``try_next`` and resumed from its last token. Where
change streams are missing (the embedded store, a standalone mongod; detected
from the server's ``hello``), the ``changes`` collection that the service layer
appends to (:func:`append_change`) is polled instead. Both yield :class:`ChangeEvent`.

The change log is cheap to watch: the embedded store has no range index, so
reading the log itself decodes every entry. Every append therefore also pushes
the entry onto a short list of the latest ones and then stamps a small "mark"
document with a new unique value (both in ``counters``). A poll reads the mark
only; when it moved, the short list; the log only when the list no longer
reaches back to what the feed saw last. Any process that appends also prunes
the log, at most once per ``PRUNE_EVERY``, keeping ``keep``.
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
# An event that stands for "anything in this collection may have changed": re-fetch it all.
RESYNC = "resync"
# The documents in ``counters`` that every change-log append updates (see append_change):
# the mark, and the latest RECENT entries.
LOG_MARK = "change_log"
LOG_RECENT = "change_log_recent"
RECENT = 64
PRUNE_EVERY = timedelta(seconds=30)
# Change-stream errors meaning the resume token is no longer in the oplog (the first is the
# ChangeStreamHistoryLost of MongoDB 4.2+, the second the ChangeStreamFatalError of older ones).
HISTORY_LOST = (286, 280)


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


@dataclass(frozen=True)
class Scope:
    """A patient's session: hear only of that patient's records and of one's own user."""

    patient_id: str | None
    user_id: str | None = None


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
    if event.op == RESYNC:
        return True  # names no record: "re-fetch what you show"
    return patient_id is not None and event.patient_id == patient_id


def resync_events(collections: Iterable[str], patient_id: str | None = None) -> list[ChangeEvent]:
    """One RESYNC event per collection (events may have been missed: re-fetch everything)."""
    return [ChangeEvent(c, RESYNC, None, patient_id) for c in collections]


# --- the change log (written by the services, read where change streams are missing) ---

def append_change(db: Any, doc: dict[str, Any], *, keep: timedelta,
                  prune_every: timedelta = PRUNE_EVERY) -> None:
    """Append ``doc`` (with a ``ts`` from :func:`utcnow`) to the change log, push it onto
    the latest entries, and stamp the mark.

    Every write of the mark sets a new unique ``last``, so even a lost update (where
    writes are not serialized) cannot bring back a value a reader holds. The previous
    mark tells whether the log is due for pruning; the process that claims it deletes
    entries older than ``keep``.
    """
    from bson import ObjectId
    from pymongo import ReturnDocument
    from pymongo.errors import DuplicateKeyError

    db.changes.insert_one(doc)
    ts = doc["ts"]
    push = {"$push": {"entries": {"$each": [doc], "$slice": -RECENT}}, "$inc": {"n": 1}}
    try:
        db.counters.update_one({"_id": LOG_RECENT}, push, upsert=True)
    except DuplicateKeyError:  # another process created it at the same moment
        db.counters.update_one({"_id": LOG_RECENT}, push)
    stamp = {"$set": {"last": doc.get("_id") or ObjectId(), "ts": ts}}
    try:
        before = db.counters.find_one_and_update({"_id": LOG_MARK}, stamp, upsert=True,
                                                 projection={"pruned_at": 1},
                                                 return_document=ReturnDocument.BEFORE)
    except DuplicateKeyError:
        before = db.counters.find_one_and_update({"_id": LOG_MARK}, stamp,
                                                 projection={"pruned_at": 1},
                                                 return_document=ReturnDocument.BEFORE)
    pruned = (before or {}).get("pruned_at")
    if pruned is not None and timedelta(0) <= ts - pruned < prune_every:
        return
    # Claim the pruning (a conditional update: should two claims both win, the log is
    # merely pruned twice).
    claim = db.counters.update_one({"_id": LOG_MARK, "pruned_at": pruned},
                                   {"$set": {"pruned_at": ts, "last": ObjectId()}})
    if claim.modified_count:
        db.changes.delete_many({"ts": {"$lt": ts - keep}})


def read_mark(db: Any) -> Any:
    """The change log's mark: a value that changes on every append (None before the first)."""
    doc = db.counters.find_one({"_id": LOG_MARK}, {"last": 1})
    return doc.get("last") if doc else None


_UNREAD = object()


def read_recent(db: Any) -> tuple[list[dict[str, Any]], int]:
    """The latest change-log entries, oldest first (at most RECENT), and how many were ever
    pushed."""
    doc = db.counters.find_one({"_id": LOG_RECENT})
    return (list(doc.get("entries") or ()), int(doc.get("n") or 0)) if doc else ([], 0)


class ChangeLogFeed:
    """Polls the ``changes`` collection written by the services (any store).

    A poll reads the mark; only when it moved, the latest entries (``recent=True``) and,
    when they do not reach back to the last one seen, the log. As a safety net for
    writers that bypass :func:`append_change`, the log is also read every
    ``rescan_every`` seconds.
    """

    OVERLAP = timedelta(seconds=5)  # re-read a window so writers' clock skew loses nothing
    RESCAN_EVERY: float | None = 120.0  # seconds (monotonic); None: only when the mark moves

    def __init__(self, db: Any, *, start: datetime | None = None,
                 collections: Iterable[str] | None = None, scope: Scope | None = None,
                 mark: Any = _UNREAD, rescan_every: float | None = RESCAN_EVERY,
                 recent: bool = True) -> None:
        self.db = db
        self.rescan_every = rescan_every
        self.recent = recent
        self.collection = db["changes"]
        self.since = start or utcnow()
        self.only = list(collections) if collections else None
        self.scope = scope
        self._mark = mark
        # the newest of the latest entries (None: there were none) and the push count,
        # when last read
        self._last: Any = _UNREAD
        self._scanned_at = time.monotonic()
        self._seen: deque[Any] = deque(maxlen=5000)
        self._seen_set: set[Any] = set()
        if start is None:
            self.poll()  # what happened before the feed started is not news

    def _query(self) -> dict[str, Any] | None:
        query: dict[str, Any] = {"ts": {"$gt": self.since - self.OVERLAP}}
        if self.only:
            query["coll"] = {"$in": self.only}
        if self.scope is not None:
            either: list[dict[str, Any]] = []
            scoped = [c for c in (self.only or PATIENT_SCOPED) if c in PATIENT_SCOPED]
            if self.scope.patient_id and scoped:
                either.append({"coll": {"$in": scoped}, "patient_id": self.scope.patient_id})
            if self.scope.user_id and (self.only is None or "users" in self.only):
                either.append({"coll": "users", "record_id": self.scope.user_id})
            if not either:
                return None
            query["$or"] = either
        return query

    def _wanted(self, doc: dict[str, Any]) -> bool:
        """The query's filter (:meth:`_query`) in Python, for the latest entries."""
        coll = doc.get("coll")
        if self.only and coll not in self.only:
            return False
        if self.scope is None:
            return True
        if coll in PATIENT_SCOPED:
            return bool(self.scope.patient_id) and doc.get("patient_id") == self.scope.patient_id
        if coll == "users":
            return bool(self.scope.user_id) and doc.get("record_id") == self.scope.user_id
        return False

    def _take(self, doc: dict[str, Any]) -> ChangeEvent | None:
        """The entry as an event, unless it was seen already."""
        key = doc["_id"]
        if key in self._seen_set:
            return None
        if len(self._seen) == self._seen.maxlen:
            self._seen_set.discard(self._seen[0])
        self._seen.append(key)
        self._seen_set.add(key)
        extra = {k: v for k, v in doc.items()
                 if k not in ("_id", "ts", "coll", "op", "record_id", "patient_id", "by")}
        return ChangeEvent(doc.get("coll", "?"), doc.get("op", "?"), doc.get("record_id"),
                           doc.get("patient_id"), doc.get("by"), extra, doc["ts"])

    def _rescan_due(self) -> bool:
        return self.rescan_every is not None and \
            time.monotonic() - self._scanned_at >= self.rescan_every

    def pending(self) -> bool:
        """Whether a poll would read more than the mark (it moved, or a rescan is due)."""
        return self._rescan_due() or read_mark(self.db) != self._mark

    def poll(self) -> list[ChangeEvent]:
        mark = read_mark(self.db)
        due = self._rescan_due()
        if mark == self._mark and not due:
            return []  # nothing appended since the last read: the log is not touched
        self._mark = mark
        if self.recent:
            latest, pushed = read_recent(self.db)
            ids = [doc["_id"] for doc in latest]
            last, self._last = self._last, (ids[-1] if ids else None, pushed)
            start: int | None = None
            if last is _UNREAD or due:
                pass
            elif last[0] is not None and last[0] in ids:
                start = ids.index(last[0]) + 1
            elif last[0] is None and 0 <= pushed - last[1] <= len(latest):
                start = len(latest) - (pushed - last[1])  # the list was empty last time
            if start is not None:
                taken = (self._take(doc) for doc in latest[start:] if self._wanted(doc))
                return [event for event in taken if event is not None]
        return self._scan()

    def _scan(self) -> list[ChangeEvent]:
        """Read the log from just before the newest entry seen (an overlap, for skew)."""
        self._scanned_at = time.monotonic()
        query = self._query()
        if query is None:
            return []
        events = []
        newest = self.since
        for doc in self.collection.find(query).sort([("ts", 1), ("_id", 1)]):
            newest = max(newest, doc["ts"])
            event = self._take(doc)
            if event is not None:
                events.append(event)
        self.since = newest  # (the writers' clock: the overlap covers their skew)
        return events

    def close(self) -> None:
        pass


# --- change streams (replica sets, sharded clusters) ---

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


def _id_forms(value: str) -> list[Any]:
    """An id as stored (ObjectId) and as text, for matching either."""
    from bson import ObjectId
    from bson.errors import InvalidId

    try:
        return [ObjectId(value), value]
    except (InvalidId, TypeError):
        return [value]


def stream_pipeline(collections: Iterable[str], scope: Scope | None = None) -> list[dict]:
    """The change stream's $match: the watched collections, and for a patient only theirs."""
    colls = list(collections)
    match: dict[str, Any] = {"ns.coll": {"$in": colls},
                             "operationType": {"$in": ["insert", "update", "replace", "delete"]}}
    if scope is not None:
        either: list[dict[str, Any]] = []
        if scope.patient_id:
            ids = _id_forms(scope.patient_id)
            if "patients" in colls:
                either.append({"ns.coll": "patients", "documentKey._id": {"$in": ids}})
            others = [c for c in colls if c in PATIENT_SCOPED and c != "patients"]
            if others:
                either.append({"ns.coll": {"$in": others}, "fullDocument.patient_id": {"$in": ids}})
        if scope.user_id and "users" in colls:
            user = _id_forms(scope.user_id)
            either.append({"ns.coll": "users", "documentKey._id": {"$in": user}})
        match["$or"] = either or [{"_id": {"$exists": False}}]  # nothing to hear of
    return [{"$match": match}]


class ChangeStreamFeed:
    """Polls a MongoDB change stream with ``try_next``; resumes from its token after errors.

    An error closes the stream; the next poll reopens it after the last token seen (the
    caller backs off). When the token has fallen out of the oplog, the stream reopens
    from now and the poll returns RESYNC events for every watched collection.
    """

    def __init__(self, db: Any, collections: Iterable[str] = WATCHED, *,
                 scope: Scope | None = None) -> None:
        self.db = db
        self.collections = list(collections)
        self.scope = scope
        self.pipeline = stream_pipeline(self.collections, scope)
        self.token: Any = None
        self.stream: Any = None

    def _open(self) -> None:
        kwargs: dict[str, Any] = {"full_document": "updateLookup", "max_await_time_ms": 200}
        if self.token is not None:
            kwargs["resume_after"] = self.token
        self.stream = self.db.watch(self.pipeline, **kwargs)

    def poll(self) -> list[ChangeEvent]:
        """New events; raises the driver's error when it fails before any event arrived."""
        from pymongo.errors import OperationFailure, PyMongoError

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
        except OperationFailure as exc:
            self.close()
            if exc.code not in HISTORY_LOST or self.token is None:
                if events:
                    return events  # the next poll reopens (and reports a lasting error)
                raise
            # The oplog no longer reaches back to our token: start again from now, and
            # tell the screens to re-fetch what they show (events were lost).
            self.token = None
            try:
                self._open()
            except PyMongoError:
                pass  # the next poll opens it (or reports the error)
            patient = self.scope.patient_id if self.scope else None
            return events + resync_events(self.collections, patient)
        except PyMongoError:
            self.close()
            if not events:
                raise
        return events

    def close(self) -> None:
        if self.stream is not None:
            try:
                self.stream.close()
            except Exception:  # noqa: BLE001 - closing is best effort
                pass
            self.stream = None


def open_feed(store: Any, scope: Scope | None = None) -> ChangeFeed:
    """The right feed for a store: a change stream where the server has them, else the log.

    ``scope`` (a patient's session) filters at the source.
    """
    if getattr(store.info, "supports_change_streams", False):
        return ChangeStreamFeed(store.db, scope=scope)
    return ChangeLogFeed(store.db, scope=scope)
