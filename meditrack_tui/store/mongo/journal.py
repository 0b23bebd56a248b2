"""The MongoDB store's journals: the audit trail (a chain with its head record in
``meta``), the change events and the named counters that number them."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

from ...live import PATIENT_SCOPED
from ..base import ChangeRow, Doc, Found, new_id
from ..queries import AuditQuery
from ..repos import AuditRepo, ChangeRepo, CounterRepo
from ..rows import AuditHead, AuditRow
from .records import Repo, clean, duplicate, prefix, sort_spec, window

if TYPE_CHECKING:
    from ...audit_chain import AuditSeal

SEQ_COUNTER = "_changes_seq"
AUDIT_HEAD = "audit_head"   # the chain's head record, in the meta collection
SEQ_CLASH_TRIES = 100       # appends that lost the race for a seq, before giving up


def _seq_clash(exc: Any) -> bool:
    """Whether a DuplicateKeyError is about the audit chain's seq (another appender took
    it first), not the id."""
    details = getattr(exc, "details", None) or {}
    keys = details.get("keyPattern") or details.get("keyValue") or {}
    if keys:
        return "seq" in keys
    return "uniq_seq" in str(exc) or "seq" in str(exc)


class Audit(Repo[AuditRow], AuditRepo):
    """The audit trail. Chain: the newest entry is the one with the highest ``seq`` (a
    sparse unique index, so entries older than the chain need none); an append that
    finds its seq taken read a stale newest entry: on a standalone server it reads again
    and retries, in a transaction (which the clash aborts) it is StoreBusy. The head
    record only moves forward and is written after the entry, so a crash between them
    leaves it one behind, never ahead of what is stored."""

    def append(self, entry: AuditRow, seal: AuditSeal) -> AuditRow:
        from pymongo.errors import DuplicateKeyError

        from ...audit_chain import GENESIS
        from ...errors import StoreBusy

        stored = clean({key: value for key, value in entry.items()
                        if key not in ("id", "_id", "seq", "prev", "hash")})
        record_id = entry.get("id") or new_id()
        content = {"id": record_id, **stored}
        for _ in range(SEQ_CLASH_TRIES):
            last = self.coll.find_one({"seq": {"$gt": 0}}, {"seq": 1, "hash": 1},
                                      sort=[("seq", -1)], session=self.s)
            seq = int(last["seq"]) + 1 if last else 1
            prev = str(last.get("hash", "")) if last else GENESIS
            digest = seal.seal(content, seq, prev)
            try:
                self.coll.insert_one({"_id": record_id, **stored, "seq": seq, "prev": prev,
                                      "hash": digest}, session=self.s)
                break
            except DuplicateKeyError as exc:
                if not _seq_clash(exc):
                    raise duplicate(exc) from exc
                if self.s is not None:  # the clash aborted the transaction
                    raise StoreBusy("Someone else wrote to the audit trail at the same "
                                    "moment, so nothing was saved. Please try again.") from exc
        else:
            raise StoreBusy("The audit trail is too busy to take this entry right now, so "
                            "nothing more was saved. Please try again.")
        self._move_head(seq, digest, seal.seal_head(seq, digest))
        return self.typed({**content, "seq": seq, "prev": prev, "hash": digest})

    def _move_head(self, seq: int, digest: str, head_seal: str) -> None:
        from pymongo.errors import DuplicateKeyError

        meta = self.store.db["meta"]
        values = {"seq": seq, "hash": digest, "seal": head_seal}
        moved = meta.update_one({"_id": AUDIT_HEAD, "seq": {"$lt": seq}}, {"$set": values},
                                session=self.s)
        if moved.matched_count:
            return
        if meta.find_one({"_id": AUDIT_HEAD}, {"_id": 1}, session=self.s) is not None:
            return  # a later entry's head is already there
        try:
            meta.insert_one({"_id": AUDIT_HEAD, **values}, session=self.s)
        except DuplicateKeyError:  # a concurrent first append made it; move it on
            meta.update_one({"_id": AUDIT_HEAD, "seq": {"$lt": seq}}, {"$set": values},
                            session=self.s)

    def chain(self, after: tuple[int, str] | None, limit: int) -> list[AuditRow]:
        placed: Doc = {"seq": {"$type": "number", "$gt": 0}}
        if after is None:
            filt: Doc = placed
        else:
            filt = {**placed, "$or": [{"seq": {"$gt": int(after[0])}},
                                      {"seq": int(after[0]), "_id": {"$gt": after[1]}}]}
        return self.rows(filt, [("seq", 1), ("_id", 1)], int(limit))

    def head(self) -> AuditHead | None:
        doc = self.store.db["meta"].find_one({"_id": AUDIT_HEAD}, session=self.s)
        if doc is None:
            return None
        return {"seq": doc.get("seq"), "hash": doc.get("hash"), "seal": doc.get("seal")}

    def unsealed(self, after: datetime | None, limit: int
                 ) -> tuple[int, int, list[AuditRow]]:
        # no seq, or not a positive number
        off_chain: Doc = {"$nor": [{"seq": {"$type": "number", "$gt": 0}}]}
        total = self.count_matching(off_chain)
        if after is None or not total:
            return total, 0, []
        filt = {**off_chain, "ts": {"$gt": clean(after)}}
        return total, self.count_matching(filt), self.rows(filt, [("ts", 1), ("_id", 1)],
                                                          int(limit))

    def find(self, query: AuditQuery) -> Found[AuditRow]:
        filt: Doc = {}
        if query.username is not None:
            filt["username"] = query.username
        if query.action_prefix:
            filt["action"] = prefix(query.action_prefix)
        if query.outcome is not None:
            filt["outcome"] = query.outcome
        if query.patient_id is not None:
            filt["patient_id"] = query.patient_id
        window(filt, "ts", query.ts_from, query.ts_before)
        return self.query(filt, sort_spec(("ts",), -1), query.skip, query.limit, query.count)


class Counters(Repo[Doc], CounterRepo):
    def next(self, name: str, count: int = 1) -> int:
        from pymongo import ReturnDocument
        from pymongo.errors import DuplicateKeyError

        for attempt in (1, 2):
            try:
                doc = self.coll.find_one_and_update(
                    {"_id": name}, {"$inc": {"value": int(count)}}, upsert=True,
                    session=self.s,
                    projection={"value": 1}, return_document=ReturnDocument.AFTER)
                return int(doc["value"])
            except DuplicateKeyError:  # a concurrent upsert created it first: it exists now
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")


class Changes(Repo[Doc], ChangeRepo):
    """Change events numbered from the ``counters`` collection, in the unit of work."""

    def append(self, coll: str, op: str, *, ts: datetime, record_id: str | None = None,
               patient_id: str | None = None, by: str | None = None,
               extra: Doc | None = None) -> int:
        seq = self.store.counters.next(SEQ_COUNTER)
        self.coll.insert_one({"_id": new_id(), "seq": seq, "ts": clean(ts), "coll": coll,
                              "op": op, "record_id": record_id, "patient_id": patient_id,
                              "by": by, "extra": clean(extra or {})}, session=self.s)
        return seq

    def last_seq(self) -> int:
        doc = self.coll.find_one({}, {"seq": 1, "_id": 0}, sort=[("seq", -1)], session=self.s)
        return int(doc["seq"]) if doc else 0

    def after(self, seq: int, *, colls: Sequence[str] | None = None,
              patient_id: str | None = None, user_id: str | None = None,
              limit: int = 1000) -> list[ChangeRow]:
        filt: Doc = {"seq": {"$gt": int(seq)}}
        if colls is not None:
            filt["coll"] = {"$in": list(colls)}
        if patient_id or user_id:
            either: list[Doc] = []
            scoped = [c for c in (colls if colls is not None else PATIENT_SCOPED)
                      if c in PATIENT_SCOPED]
            if patient_id and scoped:
                either.append({"coll": {"$in": scoped}, "patient_id": patient_id})
            if user_id and (colls is None or "users" in colls):
                either.append({"coll": "users", "record_id": user_id})
            if not either:
                return []
            filt["$or"] = either
        cursor = self.coll.find(filt, session=self.s).sort([("seq", 1)]).limit(limit)
        return [ChangeRow(seq=int(doc["seq"]), ts=doc["ts"], coll=doc["coll"], op=doc["op"],
                          record_id=doc.get("record_id"), patient_id=doc.get("patient_id"),
                          by=doc.get("by"), extra=dict(doc.get("extra") or {}))
                for doc in cursor]

    def prune(self, before: datetime) -> int:
        # Housekeeping outside the unit of work's transaction: two processes pruning at
        # once must not make a user's save fail with a write conflict.
        return int(self.coll.delete_many({"ts": {"$lt": clean(before)}}).deleted_count)
