"""The repository interfaces: one per aggregate (``store/base.py`` holds the Store).

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

from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any, Generic

from .base import ChangeRow, Doc, Found, R
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
