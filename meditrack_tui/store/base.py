"""The repository seam: one interface per aggregate, typed queries, and the unit of work.

Services speak only these interfaces; ``store/sqlite`` and ``store/mongo`` implement
them and nothing else in the app knows a database. Conventions shared by every
implementation (the contract suite in ``tests/store`` holds each to them):

- A record is a plain ``dict`` of its fields with its id under ``"id"``: an opaque
  string (never an ObjectId). Each aggregate's fields are named by its row type
  (``PatientRow``, ``AppointmentRow``, ...: TypedDicts, so a type checker sees them).
  Values are str, int, float, bool, None, lists, dicts and
  naive ``datetime`` (microseconds dropped to milliseconds, as MongoDB keeps them).
  What a repository returns is the caller's own copy.
- ``add`` assigns an id (:func:`new_id`) unless the record has one, and returns the
  stored record. A clash on a unique field raises :class:`Duplicate` naming the field.
- ``update(id, fields, version=...)`` sets top-level fields; given a ``version`` it
  changes the record only while the stored version equals it; ``bump`` adds one to the
  stored version. It returns the record after the change, or None when no record
  matched (missing, or another version).
- Lists sort with None (and missing) before every value ascending, and break ties by id
  in the sort's direction, so pages never overlap.
- Writes belong in a unit of work: ``with store.unit_of_work():`` commits every write
  made inside it (record, audit entry, change event) together, or none of them when the
  block raises. Units of work nest (an inner one joins the outer). A write made outside
  one commits on its own.
"""

from __future__ import annotations

import os
import secrets
import time
from abc import ABC, abstractmethod
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, Generic, TypedDict, TypeVar

from .queries import AppointmentQuery, AuditQuery, PatientQuery, UserQuery
from .rows import (
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
    from ..audit_chain import AuditSeal

Doc = dict[str, Any]

# Kinds of store (StoreInfo.kind)
EMBEDDED = "embedded"
MONGODB = "mongodb"

# The store's schema version (both stores record it at open and refuse a newer one).
SCHEMA_VERSION = 5  # 4: the audit chain; 5: the clinic settings


class StoreError(Exception):
    """Base of the errors a store raises for the services to translate."""


class Duplicate(StoreError):
    """A unique field already has this value (``field`` names it: "username", "mrn")."""

    def __init__(self, field_name: str) -> None:
        super().__init__(f"duplicate {field_name}")
        self.field = field_name


_counter = int.from_bytes(os.urandom(3), "big")


def new_id() -> str:
    """A fresh record id: 24 hex characters that sort by creation time (like an ObjectId:
    seconds, then a per-process counter and randomness)."""
    global _counter
    _counter = (_counter + 1) % 0xFFFFFF
    return f"{int(time.time()):08x}{_counter:06x}{secrets.token_hex(5)}"


def is_id(value: Any) -> bool:
    """Whether ``value`` could be a record id (text of hex digits and dashes, not too long):
    anything else is never looked up, so it cannot reach a query as an operator."""
    return isinstance(value, str) and 0 < len(value) <= 64 and all(
        c in "0123456789abcdefABCDEF-" for c in value)


def prefix_end(prefix: str) -> str:
    """The smallest string above every string that starts with ``prefix`` (a range scan's
    upper bound: ``prefix <= key < prefix_end(prefix)``)."""
    return prefix + "\U0010ffff"


@dataclass(frozen=True)
class StoreInfo:
    """What kind of store this is and where it lives, for messages and the status bar."""

    kind: str
    location: str
    supports_change_streams: bool = False
    transactions: bool = False


R = TypeVar("R")


# --- queries ---

@dataclass
class Found(Generic[R]):
    """A page of records and how many matched in all (None when not counted)."""

    items: list[R]
    total: int | None = None


# --- repositories ---

class Records(ABC, Generic[R]):
    """What every aggregate of whole records offers (users, patients, appointments, ...);
    ``R`` is its row type."""

    @abstractmethod
    def get(self, record_id: str) -> R | None: ...

    @abstractmethod
    def get_many(self, record_ids: Sequence[str]) -> dict[str, R]:
        """The records with these ids that exist, by id, in one query (ids that are not
        strings, or not found, are left out)."""

    @abstractmethod
    def add(self, doc: R) -> R: ...

    @abstractmethod
    def update(self, record_id: str, fields: Mapping[str, Any], *, version: int | None = None,
               bump: bool = True) -> R | None: ...

    @abstractmethod
    def increment(self, record_id: str, name: str, by: int = 1) -> R | None:
        """Add ``by`` to a numeric field (missing counts as 0) in one step; the record after."""

    @abstractmethod
    def delete(self, record_id: str) -> bool: ...

    def add_many(self, docs: list[R]) -> list[R]:
        """Add several records (seeding); the same as ``add`` for each, in order."""
        return [self.add(doc) for doc in docs]


class UserRepo(Records[UserRow]):
    """Accounts; ``username_lc`` is unique ("username")."""

    @abstractmethod
    def by_username(self, username_lc: str) -> UserRow | None: ...

    @abstractmethod
    def by_patient(self, patient_id: str) -> UserRow | None: ...

    @abstractmethod
    def find(self, query: UserQuery) -> Found[UserRow]: ...

    @abstractmethod
    def count(self, *, role: str | None = None, status: str | None = None) -> int: ...


class SessionRepo(Records[SessionRow]):
    """Login sessions (id: the session id the token carries)."""

    @abstractmethod
    def revoke_user(self, user_id: str, *, keep: str | None = None) -> int:
        """Revoke every live session of a user but ``keep``; how many."""


class PatientRepo(Records[PatientRow]):
    """Patient records; ``mrn`` is unique ("mrn"). Name keys, phone digits and
    ``conditions_lc`` are kept by the service on the record and indexed by the store."""

    @abstractmethod
    def by_mrn(self, mrn: str) -> PatientRow | None: ...

    @abstractmethod
    def find(self, query: PatientQuery) -> Found[PatientRow]: ...

    @abstractmethod
    def alerts(self, limit: int) -> list[PatientRow]:
        """Unarchived patients whose latest vitals are out of range, latest alert first."""

    @abstractmethod
    def count(self, *, archived: bool | None = None) -> int: ...


class AppointmentRepo(Records[AppointmentRow]):
    """Appointments."""

    @abstractmethod
    def find(self, query: AppointmentQuery) -> Found[AppointmentRow]: ...

    @abstractmethod
    def count_day(self, day: str) -> int: ...


class PrescriptionRepo(Records[PrescriptionRow]):
    """Prescriptions."""

    @abstractmethod
    def for_patient(self, patient_id: str, *, status: str | None = None) -> list[PrescriptionRow]:
        """A patient's prescriptions, newest ``start_date`` first."""


class VitalsRepo(Records[ReadingRow]):
    """Vitals readings, one record each (``patient_id``, ``taken_at``, values)."""

    @abstractmethod
    def series(self, patient_id: str, since: datetime | None = None,
               until: datetime | None = None) -> list[ReadingRow]:
        """A patient's readings with since <= taken_at <= until, oldest first."""

    @abstractmethod
    def latest(self, patient_id: str, count: int) -> list[ReadingRow]:
        """A patient's newest readings, newest first."""


class ReportRepo(Records[ReportRow]):
    """Report metadata and the report files themselves."""

    @abstractmethod
    def for_patient(self, patient_id: str, *, kind: str | None = None, limit: int = 500,
                    deleted: bool | None = False) -> list[ReportRow]:
        """A patient's reports, newest upload first: the live ones (``deleted=False``), the
        deleted ones (True) or all (None)."""

    @abstractmethod
    def put_file(self, filename: str, data: bytes, metadata: Doc) -> str:
        """Store a file's content; returns its file id."""

    @abstractmethod
    def read_file(self, file_id: str) -> bytes:
        """A file's content; raises :class:`Corrupt` when it no longer matches its SHA-256."""

    @abstractmethod
    def delete_file(self, file_id: str) -> None: ...


class Corrupt(StoreError):
    """A stored file no longer matches the checksum taken when it was stored."""


class AuditRepo(ABC):
    """The audit trail: appended, never changed, chained (meditrack_tui.audit_chain).

    ``append`` gives the entry the next ``seq``, links it (``prev``) to the newest entry's
    hash and asks ``seal`` (which holds the key; the store never sees it) for its
    ``hash``, then moves the head record on, all in the caller's unit of work. Concurrent
    appends never share a seq: SQLite serialises writers; MongoDB's unique index on seq
    refuses the second (retried on a standalone server, StoreBusy in a transaction).
    """

    @abstractmethod
    def append(self, entry: AuditRow, seal: AuditSeal) -> AuditRow: ...

    @abstractmethod
    def find(self, query: AuditQuery) -> Found[AuditRow]: ...

    @abstractmethod
    def chain(self, after: tuple[int, str] | None, limit: int) -> list[AuditRow]:
        """Sealed entries after ``(seq, id)`` (from the start with None), in (seq, id)
        order, at most ``limit``."""

    @abstractmethod
    def head(self) -> AuditHead | None:
        """The head record (None before the first sealed entry)."""

    @abstractmethod
    def unsealed(self, after: datetime | None, limit: int
                 ) -> tuple[int, int, list[AuditRow]]:
        """Entries without a seq (written before the chain existed): how many in all, how
        many dated after ``after`` (None: none count as after), and the first ``limit``
        of those, oldest first."""


class FileInfo(TypedDict):
    """A stored report file's details, as a backup keeps them."""

    file_id: str
    filename: str
    length: int
    sha256: str
    metadata: Doc


#: the collections a backup holds, in restore order. Not kept: login sessions (a restore
#: signs everyone out: a session revoked after the backup must not come back to life) and
#: the change log (notifications to open screens, pruned by age: stale after a restore).
BACKUP_COLLECTIONS = ("users", "patients", "appointments", "prescriptions", "vitals",
                      "reports", "audit", "counters", "settings")


@dataclass(frozen=True)
class ChangeRow:
    """One change event as stored: its sequence number and fields."""

    seq: int
    ts: datetime
    coll: str
    op: str
    record_id: str | None = None
    patient_id: str | None = None
    by: str | None = None
    extra: Doc = field(default_factory=dict)


class ChangeRepo(ABC):
    """The change events (an outbox): each written in its operation's unit of work.

    Sequence numbers increase in commit order on the embedded store; on MongoDB without
    transactions two writers may commit out of order, so a reader re-reads a short window
    (``ChangeLogFeed``) and drops what it saw.
    """

    @abstractmethod
    def append(self, coll: str, op: str, *, ts: datetime, record_id: str | None = None,
               patient_id: str | None = None, by: str | None = None,
               extra: Doc | None = None) -> int: ...

    @abstractmethod
    def last_seq(self) -> int:
        """The newest sequence number (0 when there is none)."""

    @abstractmethod
    def after(self, seq: int, *, colls: Sequence[str] | None = None,
              patient_id: str | None = None, user_id: str | None = None,
              limit: int = 1000) -> list[ChangeRow]:
        """Events with a sequence number above ``seq``, oldest first. With ``patient_id``
        or ``user_id`` (a patient's scope), only events of that patient's records and of
        that user's account."""

    @abstractmethod
    def prune(self, before: datetime) -> int:
        """Drop events older than ``before``; how many."""


class CounterRepo(ABC):
    """Named counters (the MRN sequence)."""

    @abstractmethod
    def next(self, name: str, count: int = 1) -> int:
        """Add ``count`` (reserving that many numbers) and return the new value (1 the first
        time with count 1)."""


class SettingsRepo(ABC):
    """The clinic's settings: one versioned record, absent until an admin first saves it."""

    @abstractmethod
    def get(self) -> SettingsRow | None:
        """The stored settings (None when never saved)."""

    @abstractmethod
    def save(self, fields: Doc, *, version: int) -> SettingsRow | None:
        """Replace the settings with ``fields`` while the stored version is ``version`` (0:
        none stored yet); the stored record gets ``version + 1`` and id ``"clinic"``.
        Returns it, or None when the stored version differs (someone saved first)."""


class Store(ABC):
    """An open store: its repositories, units of work, and housekeeping."""

    info: StoreInfo
    users: UserRepo
    sessions: SessionRepo
    patients: PatientRepo
    appointments: AppointmentRepo
    prescriptions: PrescriptionRepo
    vitals: VitalsRepo
    reports: ReportRepo
    audit: AuditRepo
    changes: ChangeRepo
    counters: CounterRepo
    settings: SettingsRepo

    @abstractmethod
    def unit_of_work(self) -> AbstractContextManager[None]:
        """Commit every write inside the block together, or none of them."""

    @abstractmethod
    def is_empty(self) -> bool:
        """Whether the store holds no users and no patients."""

    @abstractmethod
    def bulk(self) -> AbstractContextManager[None]:
        """A unit of work for loading many records at once (seeding); the same guarantees."""

    def open_feed(self, scope: Any = None) -> Any:
        """The change feed for this store (see meditrack_tui.live)."""
        from ..live import ChangeLogFeed

        return ChangeLogFeed(self, scope=scope)

    @abstractmethod
    def close(self) -> None: ...

    def drop_all(self) -> None:
        """Delete every record and file (tests only: a MongoDB test database is dropped)."""
        raise NotImplementedError

    # --- backup and restore (meditrack_tui.backup): raw records, ids, versions, seals ---

    @abstractmethod
    def snapshot(self) -> AbstractContextManager[Store]:
        """A read view of the whole store at one moment, for a backup: the embedded store
        copies its database with SQLite's online backup API and opens the copy; MongoDB
        reads in a snapshot session on a replica set (a standalone server has none: the
        view is the live store, and :func:`meditrack_tui.backup.write_backup` checks that
        nothing was written while it read)."""

    @abstractmethod
    def export_records(self, name: str) -> Iterator[Doc]:
        """Every record of the collection ``name`` (one of :data:`BACKUP_COLLECTIONS`) as
        stored: id, version and, for the audit trail, ``seq``/``prev``/``hash``; sorted by
        id (the audit trail by seq, then id; unsealed entries first). Counters come as
        ``{"id": name, "value": n}``. Fields a store keeps only for its own queries are
        left out."""

    @abstractmethod
    def export_files(self) -> Iterator[tuple[FileInfo, bytes]]:
        """Every report file, by file id: its details and content (checked against its
        SHA-256; :class:`Corrupt` when it no longer matches)."""

    @abstractmethod
    def import_records(self, name: str, docs: Sequence[Doc]) -> None:
        """Insert records exactly as :meth:`export_records` gave them (ids, versions and
        audit seals kept). Only for restoring into an empty store."""

    @abstractmethod
    def import_file(self, info: FileInfo, data: bytes) -> None:
        """Store a report file under its original file id."""

    @abstractmethod
    def import_audit_head(self, head: AuditHead) -> None:
        """Put the audit chain's head record back as it was."""

    def holds_data(self) -> list[str]:
        """The backed-up collections that hold anything, then "report files" when any
        file is stored (empty: nothing to overwrite, a restore may proceed)."""
        found = [name for name in BACKUP_COLLECTIONS
                 if next(iter(self.export_records(name)), None) is not None]
        if self.audit.head() is not None and "audit" not in found:
            found.append("audit")
        if self.has_files():
            found.append("report files")
        return found

    @abstractmethod
    def has_files(self) -> bool:
        """Whether any report file is stored."""


def chunks(items: Iterable[Any], size: int) -> Iterator[list[Any]]:
    """``items`` in lists of at most ``size``."""
    batch: list[Any] = []
    for item in items:
        batch.append(item)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch
