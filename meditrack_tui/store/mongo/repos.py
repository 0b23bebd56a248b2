"""The repositories of the MongoDB store: one collection per aggregate.

Every ``_id`` is the record's opaque string id (``base.new_id()``), returned as ``"id"``.
Each call runs in the current unit of work's session (see store.py). Fields the store
keeps for its own queries (``phone_rev``, ``patient_words``, ``reason_words``) are written
beside the record and never returned.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Generic, TypeVar, cast

from ...live import PATIENT_SCOPED
from ..base import (
    AppointmentRepo,
    AuditRepo,
    ChangeRepo,
    ChangeRow,
    Corrupt,
    CounterRepo,
    Doc,
    Duplicate,
    Found,
    PatientRepo,
    PrescriptionRepo,
    Records,
    ReportRepo,
    SessionRepo,
    SettingsRepo,
    UserRepo,
    VitalsRepo,
    chunks,
    new_id,
)
from ..queries import (
    APPOINTMENT_SORTS,
    PATIENT_SORTS,
    AppointmentQuery,
    AuditQuery,
    NameSearch,
    PatientQuery,
    UserQuery,
)
from ..rows import (
    AppointmentRow,
    AuditHead,
    AuditRow,
    PatientRow,
    PrescriptionRow,
    ReadingRow,
    ReportRow,
    SessionRow,
    SettingsRow,
    UserRow,
)

if TYPE_CHECKING:
    from ...audit_chain import AuditSeal
    from .store import MongoStore

# unique index name -> the field a Duplicate names
UNIQUE_FIELDS = {"uniq_username": "username", "uniq_mrn": "mrn", "_id_": "id"}
UNIQUE_KEYS = {"username_lc": "username", "mrn": "mrn", "_id": "id"}
SEQ_COUNTER = "_changes_seq"

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


class Users(RecordRepo[UserRow], UserRepo):
    def by_username(self, username_lc: str) -> UserRow | None:
        if not isinstance(username_lc, str):
            return None
        return self.out(self.coll.find_one({"username_lc": username_lc}, session=self.s))

    def by_patient(self, patient_id: str) -> UserRow | None:
        if not isinstance(patient_id, str):
            return None
        return self.out(self.coll.find_one({"patient_id": patient_id}, session=self.s))

    def find(self, query: UserQuery) -> Found[UserRow]:
        filt: Doc = {}
        if query.role is not None:
            filt["role"] = query.role
        if query.status is not None:
            filt["status"] = query.status
        if query.username_prefix:
            filt["username_lc"] = prefix(query.username_prefix)
        return self.query(filt, sort_spec(("role", "username_lc"), 1), query.skip,
                          query.limit, query.count)

    def count(self, *, role: str | None = None, status: str | None = None) -> int:
        filt: Doc = {}
        if role is not None:
            filt["role"] = role
        if status is not None:
            filt["status"] = status
        return self.count_matching(filt)


class Sessions(RecordRepo[SessionRow], SessionRepo):
    def revoke_user(self, user_id: str, *, keep: str | None = None) -> int:
        filt: Doc = {"user_id": user_id, "revoked": {"$ne": True}}
        if keep is not None:
            filt["_id"] = {"$ne": keep}
        return int(self.coll.update_many(filt, {"$set": {"revoked": True}},
                                         session=self.s).modified_count)


def _flag(value: bool) -> Any:
    """A boolean filter where a missing field counts as False."""
    return True if value else {"$ne": True}


def name_clauses(search: NameSearch) -> list[Doc]:
    """The alternatives of a patient search (see NameSearch), each an indexed prefix."""
    text = search.text
    either: list[Doc] = []
    if search.pair:
        family, given = search.pair
        either.append({"last_key": prefix(family), "first_key": prefix(given)})
        # the full name "first last" starts with the text: the first name starts with it,
        # or is the text up to one of its spaces and the last name starts with the rest
        either.append({"first_key": prefix(text)})
        for at, char in enumerate(text):
            if char == " ":
                either.append({"first_key": text[:at], "last_key": prefix(text[at + 1:])})
    elif text:
        either += [{"last_key": prefix(text)}, {"first_key": prefix(text)}]
    if search.mrn:
        either.append({"mrn": search.mrn})
    if search.mrn_prefix:
        either.append({"mrn": prefix(search.mrn_prefix)})
    if search.phone:
        either.append({"phone_digits": prefix(search.phone)})
        either.append({"phone_rev": prefix(search.phone[::-1])})
    return either


class Patients(RecordRepo[PatientRow], PatientRepo):
    internal = ("phone_rev",)

    def derived(self, fields: Doc) -> Doc:
        if "phone_digits" not in fields:
            return {}
        digits = fields["phone_digits"]
        return {"phone_rev": digits[::-1] if isinstance(digits, str) else None}

    def by_mrn(self, mrn: str) -> PatientRow | None:
        if not isinstance(mrn, str):
            return None
        return self.out(self.coll.find_one({"mrn": mrn}, session=self.s))

    def find(self, query: PatientQuery) -> Found[PatientRow]:
        clauses: list[Doc] = []
        if query.only_id is not None:
            clauses.append({"_id": str(query.only_id)})
        if query.search is not None:
            either = name_clauses(query.search)
            clauses.append({"$or": either} if either else {"_id": {"$exists": False}})
        if query.sex is not None:
            clauses.append({"sex": query.sex})
        dob: Doc = {}
        if query.dob_max is not None:
            dob["$lte"] = query.dob_max
        if query.dob_min_excl is not None:
            dob["$gt"] = query.dob_min_excl
        if dob:
            clauses.append({"dob": dob})
        if query.primary_doctor_id is not None:
            clauses.append({"primary_doctor_id": query.primary_doctor_id})
        if query.condition is not None:
            clauses.append({"conditions_lc": query.condition})
        if query.archived is not None:
            clauses.append({"archived": _flag(query.archived)})
        if query.vitals_alert is not None:
            clauses.append({"vitals_alert": _flag(query.vitals_alert)})
        filt = {} if not clauses else clauses[0] if len(clauses) == 1 else {"$and": clauses}
        if query.sort not in PATIENT_SORTS:
            raise ValueError(f"unknown patient sort {query.sort!r}")
        fields = PATIENT_SORTS[query.sort]
        return self.query(filt, sort_spec(fields, -1 if query.descending else 1),
                          query.skip, query.limit, query.count)

    def alerts(self, limit: int) -> list[PatientRow]:
        return self.rows({"vitals_alert": True, "archived": {"$ne": True}},
                         sort_spec(("vitals_alert_at",), -1), limit)

    def count(self, *, archived: bool | None = None) -> int:
        filt = {} if archived is None else {"archived": _flag(archived)}
        return self.count_matching(filt)


def window(filt: Doc, name: str, low: Any, high: Any) -> None:
    """Add ``low <= name < high`` (either end optional) to a filter."""
    bounds: Doc = {}
    if low is not None:
        bounds["$gte"] = clean(low)
    if high is not None:
        bounds["$lt"] = clean(high)
    if bounds:
        filt[name] = bounds


def name_words(name: Any) -> list[str] | None:
    """Every run of a name's lower-case words to its end ("grace ann lee": "grace ann lee",
    "ann lee", "lee"): a prefix of one is text starting at the start of a word."""
    if not isinstance(name, str):
        return None
    words = name.lower().split()
    return [" ".join(words[at:]) for at in range(len(words))]


class Appointments(RecordRepo[AppointmentRow], AppointmentRepo):
    internal = ("patient_words", "reason_words")

    def derived(self, fields: Doc) -> Doc:
        extra: Doc = {}
        if "patient_name" in fields:
            extra["patient_words"] = name_words(fields["patient_name"])
        if "reason" in fields:
            extra["reason_words"] = name_words(fields["reason"])
        return extra

    def find(self, query: AppointmentQuery) -> Found[AppointmentRow]:
        filt: Doc = {}
        if query.patient_id is not None:
            filt["patient_id"] = query.patient_id
        if query.doctor_id is not None:
            filt["doctor_id"] = query.doctor_id
        if query.day is not None and query.days is not None:
            filt["$and"] = [{"day": query.day}, {"day": {"$in": list(query.days)}}]
        elif query.day is not None:
            filt["day"] = query.day
        elif query.days is not None:
            filt["day"] = {"$in": list(query.days)}
        if query.statuses is not None:
            filt["status"] = {"$in": list(query.statuses)}
        window(filt, "start", query.start_from, query.start_before)
        if query.text:
            text = query.text.lower()
            filt["$or"] = [{"patient_words": prefix(text)},
                           {"mrn": {"$regex": "^" + re.escape(query.text), "$options": "i"}},
                           {"reason_words": prefix(text)}]
        if query.sort not in APPOINTMENT_SORTS:
            raise ValueError(f"unknown appointment sort {query.sort!r}")
        return self.query(filt, sort_spec((query.sort, "start"),
                                          -1 if query.descending else 1),
                          query.skip, query.limit, query.count)

    def count_day(self, day: str) -> int:
        return self.count_matching({"day": day})


class Prescriptions(RecordRepo[PrescriptionRow], PrescriptionRepo):
    def for_patient(self, patient_id: str, *, status: str | None = None
                    ) -> list[PrescriptionRow]:
        filt: Doc = {"patient_id": patient_id}
        if status is not None:
            filt["status"] = status
        return self.rows(filt, sort_spec(("start_date",), -1))


class Vitals(RecordRepo[ReadingRow], VitalsRepo):
    def series(self, patient_id: str, since: datetime | None = None,
               until: datetime | None = None) -> list[ReadingRow]:
        filt: Doc = {"patient_id": patient_id}
        taken: Doc = {}
        if since is not None:
            taken["$gte"] = clean(since)
        if until is not None:
            taken["$lte"] = clean(until)
        if taken:
            filt["taken_at"] = taken
        return self.rows(filt, sort_spec(("taken_at",), 1))

    def latest(self, patient_id: str, count: int) -> list[ReadingRow]:
        if count <= 0:
            return []
        return self.rows({"patient_id": patient_id}, sort_spec(("taken_at",), -1), count)


class Reports(RecordRepo[ReportRow], ReportRepo):
    def for_patient(self, patient_id: str, *, kind: str | None = None, limit: int = 500,
                    deleted: bool | None = False) -> list[ReportRow]:
        filt: Doc = {"patient_id": patient_id}
        if kind is not None:
            filt["kind"] = kind
        if deleted is not None:
            filt["deleted_at"] = {"$ne": None} if deleted else None
        if limit <= 0:
            return []
        return self.rows(filt, sort_spec(("uploaded_at",), -1), limit)

    def put_file(self, filename: str, data: bytes, metadata: Doc) -> str:
        # GridFS takes no part in transactions: stored now, removed if the unit aborts
        meta = clean({**metadata, "sha256": hashlib.sha256(data).hexdigest()})
        bucket = self.store.files_bucket()
        file_id = bucket.upload_from_stream(filename, data, metadata=meta)
        self.store.defer(on_abort=lambda: bucket.delete(file_id))
        return str(file_id)

    def _oid(self, file_id: str) -> Any:
        from bson import ObjectId
        from bson.errors import InvalidId

        try:
            return ObjectId(file_id)
        except (InvalidId, TypeError):
            return None

    def read_file(self, file_id: str) -> bytes:
        from gridfs.errors import CorruptGridFile, NoFile

        oid = self._oid(file_id)
        if oid is None:
            raise Corrupt(f"no stored file has the id {file_id!r}")
        try:
            with self.store.files_bucket().open_download_stream(oid) as grid:
                expected = (grid.metadata or {}).get("sha256")
                data: bytes = grid.read()
        except NoFile as exc:
            raise Corrupt(f"the stored file {file_id} is missing") from exc
        except CorruptGridFile as exc:
            raise Corrupt(f"the stored file {file_id} is damaged: {exc}") from exc
        if expected is None or hashlib.sha256(data).hexdigest() != expected:
            raise Corrupt(f"the stored file {file_id} no longer matches its checksum")
        return data

    def delete_file(self, file_id: str) -> None:
        from gridfs.errors import NoFile

        oid = self._oid(file_id)
        if oid is None:
            return
        bucket = self.store.files_bucket()

        def delete() -> None:
            try:
                bucket.delete(oid)
            except NoFile:
                pass

        if not self.store.defer(on_commit=delete):  # in a unit: once it commits
            delete()


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


class Settings(Repo[SettingsRow], SettingsRepo):
    """The clinic's settings: one document (``_id`` "clinic") of the ``settings``
    collection; a save matches on the stored version."""

    ID = "clinic"

    def get(self) -> SettingsRow | None:
        return self.out(self.coll.find_one({"_id": self.ID}, session=self.s))

    def save(self, fields: Doc, *, version: int) -> SettingsRow | None:
        from pymongo import ReturnDocument
        from pymongo.errors import DuplicateKeyError

        body = clean({k: v for k, v in fields.items() if k not in ("id", "_id", "version")})
        body["version"] = int(version) + 1
        if version == 0:
            try:
                self.coll.insert_one({"_id": self.ID, **body}, session=self.s)
            except DuplicateKeyError:  # someone saved them first
                return None
            return self.out({"_id": self.ID, **body})
        doc = self.coll.find_one_and_replace({"_id": self.ID, "version": int(version)}, body,
                                             session=self.s,
                                             return_document=ReturnDocument.AFTER)
        return self.out(doc)
