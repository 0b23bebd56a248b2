"""The collections of the MongoDB store: the generic repository (``Repo``, ``RecordRepo``)
and the helpers its aggregates share (accounts.py, patients.py, clinical.py, journal.py).

Every ``_id`` is the record's opaque string id (``base.new_id()``), returned as ``"id"``.
Each call runs in the current unit of work's session (see store.py). Fields the store
keeps for its own queries (``phone_rev``, ``patient_words``, ``reason_words``) are written
beside the record and never returned.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Generic, TypeVar, cast

from ..base import Doc, Duplicate, Found, chunks, new_id
from ..repos import Records

if TYPE_CHECKING:
    from .store import MongoStore

# unique index name -> the field a Duplicate names
UNIQUE_FIELDS = {"uniq_username": "username", "uniq_mrn": "mrn", "_id_": "id"}
UNIQUE_KEYS = {"username_lc": "username", "mrn": "mrn", "_id": "id"}

#: a collection's row type (base.UserRow, ...: TypedDicts, plain dicts at run time)
R = TypeVar("R", bound=Mapping[str, Any])


def clean(value: Any) -> Any:
    """A copy of a value as MongoDB keeps it: datetimes naive UTC to the millisecond,
    tuples as lists."""
    if isinstance(value, dict):
        return {key: clean(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [clean(item) for item in value]
    if isinstance(value, datetime):
        if value.tzinfo is not None:
            value = value.astimezone(UTC).replace(tzinfo=None)
        return value.replace(microsecond=value.microsecond // 1000 * 1000)
    return value


def prefix(text: str) -> dict[str, str]:
    """A case-sensitive prefix match (an anchored, escaped regex: it can use an index)."""
    return {"$regex": "^" + re.escape(text)}


def duplicate(exc: Any) -> Duplicate:
    """The Duplicate for a DuplicateKeyError (which unique index, by name or keys)."""
    details = getattr(exc, "details", None) or {}
    for key in (details.get("keyPattern") or details.get("keyValue") or {}):
        if key in UNIQUE_KEYS:
            return Duplicate(UNIQUE_KEYS[key])
    text = str(exc)
    for index, name in UNIQUE_FIELDS.items():
        if index in text:
            return Duplicate(name)
    for key, name in UNIQUE_KEYS.items():
        if key in text:
            return Duplicate(name)
    return Duplicate("id")


class Repo(Generic[R]):
    """A collection of the store, used in the current unit of work's session; ``R`` is the
    row type of its records (``Doc`` for collections that hold none: counters, changes)."""

    internal: tuple[str, ...] = ()  # stored for queries, never returned

    def __init__(self, store: MongoStore, name: str) -> None:
        self.store = store
        self.name = name
        self.coll = store.db[name]

    @property
    def s(self) -> Any:
        return self.store.session()

    @staticmethod
    def typed(record: Doc) -> R:
        """A record as this collection's row type: it holds what ``add`` and ``update``
        stored, the fields the row type names (a TypedDict: no check at run time)."""
        return cast(R, record)

    def row(self, doc: Doc) -> R:
        """A stored document as a record: ``id`` for ``_id``, internal fields dropped."""
        record = {"id": doc.pop("_id")}
        for name in self.internal:
            doc.pop(name, None)
        record.update(doc)
        return self.typed(record)

    def out(self, doc: Doc | None) -> R | None:
        """A stored document (or None: nothing found) as a record (see ``row``)."""
        return None if doc is None else self.row(doc)

    def derived(self, fields: Doc) -> Doc:
        """The internal fields that follow from ``fields`` (set beside them)."""
        return {}

    def count_matching(self, filt: Doc) -> int:
        """How many records match ``filt`` (one aggregation on the server)."""
        pipeline: list[Doc] = [{"$match": filt}, {"$group": {"_id": None, "n": {"$sum": 1}}}]
        for row in self.coll.aggregate(pipeline, session=self.s):
            return int(row["n"])
        return 0

    def query(self, filt: Doc, sort: list[tuple[str, int]], skip: int, limit: int | None,
              count: bool) -> Found[R]:
        """A page of ``filt`` in ``sort`` order, and the count of all matches when asked."""
        total = self.count_matching(filt) if count else None
        if limit == 0:
            return Found([], total)
        cursor = self.coll.find(filt, session=self.s).sort(sort)
        if skip:
            cursor = cursor.skip(skip)
        if limit is not None:
            cursor = cursor.limit(limit)
        return Found([self.row(doc) for doc in cursor], total)

    def rows(self, filt: Doc, sort: list[tuple[str, int]], limit: int | None = None
             ) -> list[R]:
        """The records of ``filt`` in ``sort`` order, at most ``limit``."""
        cursor = self.coll.find(filt, session=self.s).sort(sort)
        if limit is not None:
            cursor = cursor.limit(limit)
        return [self.row(doc) for doc in cursor]


def sort_spec(fields: Sequence[str], direction: int) -> list[tuple[str, int]]:
    """Each field once (pymongo merges a repeated key: "start descending, start" came back
    ascending), then ``_id`` as the tie-break, all in the query's direction."""
    spec: list[tuple[str, int]] = []
    for name in (*fields, "_id"):
        if name not in (key for key, _ in spec):
            spec.append((name, direction))
    return spec


class RecordRepo(Repo[R], Records[R]):
    """Whole records: get, add, update (optionally on a version), increment, delete."""

    def get(self, record_id: str) -> R | None:
        if not isinstance(record_id, str):
            return None
        return self.out(self.coll.find_one({"_id": record_id}, session=self.s))

    def get_many(self, record_ids: Sequence[str]) -> dict[str, R]:
        ids = sorted({i for i in record_ids if isinstance(i, str)})
        out: dict[str, R] = {}
        for batch in chunks(ids, 500):
            for raw in self.coll.find({"_id": {"$in": batch}}, session=self.s):
                record_id = raw["_id"]
                out[record_id] = self.row(raw)
        return out

    def _stored(self, doc: Mapping[str, Any]) -> tuple[str, Doc]:
        """A new record's id (its own, or a fresh one) and its fields as stored."""
        stored = clean({key: value for key, value in doc.items() if key not in ("id", "_id")})
        return doc.get("id") or doc.get("_id") or new_id(), stored

    def add(self, doc: R) -> R:
        from pymongo.errors import DuplicateKeyError

        record_id, stored = self._stored(doc)
        try:
            self.coll.insert_one({"_id": record_id, **stored, **self.derived(stored)},
                                 session=self.s)
        except DuplicateKeyError as exc:
            raise duplicate(exc) from exc
        return self.typed({"id": record_id, **stored})

    def add_many(self, docs: list[R]) -> list[R]:
        """Ordered inserts in batches (seeding); a clash stops at that record."""
        from pymongo.errors import BulkWriteError, DuplicateKeyError

        added: list[R] = []
        for batch in chunks(docs, 500):
            rows = []
            for doc in batch:
                record_id, stored = self._stored(doc)
                rows.append({"_id": record_id, **stored, **self.derived(stored)})
                added.append(self.typed({"id": record_id, **stored}))
            try:
                self.coll.insert_many(rows, ordered=True, session=self.s)
            except BulkWriteError as exc:
                errors = exc.details.get("writeErrors") or [{}]
                if errors[0].get("code") in (11000, 11001):
                    raise duplicate(DuplicateKeyError(errors[0].get("errmsg", ""), 11000,
                                                      errors[0])) from exc
                raise
        return added

    def update(self, record_id: str, fields: Mapping[str, Any], *, version: int | None = None,
               bump: bool = True) -> R | None:
        from pymongo import ReturnDocument
        from pymongo.errors import DuplicateKeyError

        if not isinstance(record_id, str):
            return None
        filt: Doc = {"_id": record_id}
        if version is not None:
            filt["version"] = version
        values = clean({key: value for key, value in fields.items() if key not in ("id", "_id")})
        change: Doc = {}
        if values:
            change["$set"] = {**values, **self.derived(values)}
        if bump and "version" not in values:
            change["$inc"] = {"version": 1}
        if not change:
            return self.out(self.coll.find_one(filt, session=self.s))
        try:
            doc = self.coll.find_one_and_update(filt, change, session=self.s,
                                                return_document=ReturnDocument.AFTER)
        except DuplicateKeyError as exc:
            raise duplicate(exc) from exc
        return self.out(doc)

    def increment(self, record_id: str, name: str, by: int = 1) -> R | None:
        from pymongo import ReturnDocument

        if not isinstance(record_id, str) or not isinstance(name, str) or name in ("_id", "id"):
            return None
        return self.out(self.coll.find_one_and_update(
            {"_id": record_id}, {"$inc": {name: by}}, session=self.s,
            return_document=ReturnDocument.AFTER))

    def delete(self, record_id: str) -> bool:
        if not isinstance(record_id, str):
            return False
        return bool(self.coll.delete_one({"_id": record_id}, session=self.s).deleted_count == 1)


def window(filt: Doc, name: str, low: Any, high: Any) -> None:
    """Add ``low <= name < high`` (either end optional) to a filter."""
    bounds: Doc = {}
    if low is not None:
        bounds["$gte"] = clean(low)
    if high is not None:
        bounds["$lt"] = clean(high)
    if bounds:
        filt[name] = bounds
