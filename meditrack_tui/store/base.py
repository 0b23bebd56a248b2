"""The store's seam: the open :class:`Store` (its repositories, units of work, backup and
restore), record ids, errors and pages shared by both implementations.

The repository interfaces and the conventions every implementation keeps are in
``store/repos.py``. Writes belong in a unit of work: ``with store.unit_of_work():``
commits every write made inside it (record, audit entry, change event) together, or
none of them when the block raises. Units of work nest (an inner one joins the outer).
"""

from __future__ import annotations

import os
import secrets
import time
from abc import ABC, abstractmethod
from collections.abc import Iterable, Iterator, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, Generic, TypedDict, TypeVar

from .rows import AuditHead

if TYPE_CHECKING:
    from .repos import (
        AppointmentRepo,
        AuditRepo,
        ChangeRepo,
        CounterRepo,
        PatientRepo,
        PrescriptionRepo,
        ReportRepo,
        SessionRepo,
        SettingsRepo,
        UserRepo,
        VitalsRepo,
    )

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


class Corrupt(StoreError):
    """A stored file no longer matches the checksum taken when it was stored."""


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
