"""The change feed: what other sessions changed, as :class:`ChangeEvent`, with no UI.

Every unit of work writes a change event beside its record (the store's ``changes``
repository, an outbox). :class:`ChangeLogFeed` polls those events by sequence number:
an idle poll is one indexed read of the newest number. On a MongoDB replica set the
Mongo store offers a change-stream feed instead (``store/mongo/feed.py``); both yield
the same events. ``Store.open_feed(scope)`` picks the right one.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

WATCHED = ("users", "patients", "appointments", "prescriptions", "vitals", "reports", "audit")
# Collections whose records belong to one patient (a patient's feed shows only their own).
PATIENT_SCOPED = ("patients", "appointments", "prescriptions", "vitals", "reports")
# An event that stands for "anything in this collection may have changed": re-fetch it all.
RESYNC = "resync"
# How long change events are kept (any unit of work may prune older ones, see Changes).
CHANGE_LOG_KEEP = timedelta(minutes=5)
PRUNE_EVERY = timedelta(seconds=30)


def utcnow() -> datetime:
    """Naive UTC, the change log's time base (shared by processes in any time zone)."""
    return datetime.now(UTC).replace(tzinfo=None)


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


class ChangeLogFeed:
    """Polls the store's change events by sequence number.

    Starts after the newest event (what happened before is not news). Each poll asks for
    events after the newest one seen, less a small window (``overlap``): on MongoDB
    without transactions two writers can commit their numbers out of order, and the
    window catches the late one; events already delivered are dropped.
    """

    def __init__(self, store: Any, *, scope: Scope | None = None,
                 collections: Iterable[str] | None = None, overlap: int = 0) -> None:
        self.changes = store.changes
        self.scope = scope
        self.only = list(collections) if collections else None
        self.overlap = overlap or (0 if getattr(store.info, "kind", "") == "embedded" else 50)
        self.seq = self.changes.last_seq()
        self._seen: deque[int] = deque(maxlen=5000)
        self._seen_set: set[int] = set()

    def poll(self) -> list[ChangeEvent]:
        """New events since the last poll (oldest first)."""
        newest = self.changes.last_seq()
        if newest <= self.seq:
            return []  # nothing appended since: the log itself is not read
        scope = self.scope
        if scope is not None and not scope.patient_id and not scope.user_id:
            self.seq = newest
            return []
        rows = self.changes.after(max(0, self.seq - self.overlap), colls=self.only,
                                  patient_id=scope.patient_id if scope else None,
                                  user_id=scope.user_id if scope else None)
        events = []
        for row in rows:
            self.seq = max(self.seq, row.seq)
            if row.seq in self._seen_set:
                continue
            if len(self._seen) == self._seen.maxlen:
                self._seen_set.discard(self._seen[0])
            self._seen.append(row.seq)
            self._seen_set.add(row.seq)
            events.append(ChangeEvent(row.coll, row.op, row.record_id, row.patient_id, row.by,
                                      dict(row.extra), row.ts))
        self.seq = max(self.seq, newest) if not rows or len(rows) < 1000 else self.seq
        return events

    def close(self) -> None:
        pass


def open_feed(store: Any, scope: Scope | None = None) -> ChangeFeed:
    """The right feed for a store (a change stream on a replica set, else the log)."""
    feed: ChangeFeed = store.open_feed(scope)
    return feed


__all__ = ["ChangeEvent", "Scope", "ChangeFeed", "ChangeLogFeed", "visible_to",
           "resync_events", "open_feed", "utcnow", "WATCHED", "PATIENT_SCOPED", "RESYNC",
           "CHANGE_LOG_KEEP", "PRUNE_EVERY"]
