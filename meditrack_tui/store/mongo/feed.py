"""Change streams (replica sets, sharded clusters): the MongoDB store's live feed.

MongoDB's change stream over the watched collections is polled with ``try_next`` and
resumed from its last token after an error. A patient's stream is filtered at the source
(the ``$match`` names their records and their own account). Ids are the store's string
ids, so ``documentKey._id`` and ``fullDocument.patient_id`` compare as text. Where the
server has no change streams the store offers ``live.ChangeLogFeed`` instead.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from ...live import PATIENT_SCOPED, WATCHED, ChangeEvent, Scope, resync_events

# Change-stream errors meaning the resume token is no longer in the oplog (the first is the
# ChangeStreamHistoryLost of MongoDB 4.2+, the second the ChangeStreamFatalError of older ones).
HISTORY_LOST = (286, 280)
OPERATIONS = ("insert", "update", "replace", "delete")


def event_from_change(change: dict[str, Any]) -> ChangeEvent | None:
    """Turn a MongoDB change-stream document (documented format) into a ChangeEvent."""
    ns = change.get("ns") or {}
    coll = ns.get("coll")
    op = change.get("operationType")
    if not coll or op not in OPERATIONS:
        return None
    key = (change.get("documentKey") or {}).get("_id")
    full = change.get("fullDocument") or {}
    patient = key if coll == "patients" else full.get("patient_id")
    extra: dict[str, Any] = {}
    for name in ("doctor_id", "day"):
        if full.get(name) is not None:
            extra[name] = str(full[name])
    return ChangeEvent(coll, op, str(key) if key is not None else None,
                       str(patient) if patient is not None else None,
                       full.get("updated_by") or full.get("recorded_by")
                       or full.get("uploaded_by") or full.get("username"), extra,
                       change.get("wallTime"))


def stream_pipeline(collections: Iterable[str], scope: Scope | None = None) -> list[dict[str, Any]]:
    """The change stream's $match: the watched collections, and for a patient only theirs."""
    colls = list(collections)
    match: dict[str, Any] = {"ns.coll": {"$in": colls},
                             "operationType": {"$in": list(OPERATIONS)}}
    if scope is not None:
        either: list[dict[str, Any]] = []
        if scope.patient_id:
            if "patients" in colls:
                either.append({"ns.coll": "patients", "documentKey._id": scope.patient_id})
            others = [c for c in colls if c in PATIENT_SCOPED and c != "patients"]
            if others:
                either.append({"ns.coll": {"$in": others},
                               "fullDocument.patient_id": scope.patient_id})
        if scope.user_id and "users" in colls:
            either.append({"ns.coll": "users", "documentKey._id": scope.user_id})
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


__all__ = ["HISTORY_LOST", "ChangeStreamFeed", "event_from_change", "stream_pipeline"]
