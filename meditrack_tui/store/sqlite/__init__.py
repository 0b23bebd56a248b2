"""The embedded store: one SQLite file, ``<data dir>/meditrack.db``, through the standard
library's sqlite3 (WAL, ``synchronous=FULL``, ``BEGIN IMMEDIATE`` units of work).

Several processes share the file safely through SQLite's own locking; when another holds
it past the busy timeout, StoreBusy says so.
"""

from __future__ import annotations

import errno
import sqlite3
from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager
from pathlib import Path
from typing import TYPE_CHECKING

from ...errors import StoreCorrupt, StoreFull, StoreReadOnly, StoreUnavailable
from ..base import EMBEDDED, SCHEMA_VERSION, Doc, FileInfo, Store, StoreInfo
from ..rows import AuditHead
from .accounts import SqliteSessions, SqliteSettings, SqliteUsers
from .clinical import SqliteAppointments, SqlitePrescriptions, SqliteReports, SqliteVitals
from .engine import DB_NAME, Database, create_private, free_space, human_size, read_only_reason
from .journal import SqliteAudit, SqliteChanges, SqliteCounters
from .patients import SqlitePatients
from .schema import DATA_TABLES, MIGRATIONS, Migration, migrate

if TYPE_CHECKING:
    from ...config import Config

DB_FILE = DB_NAME


class SqliteStore(Store):
    """An open embedded store (see the module docstring)."""

    def __init__(self, data_dir: Path, *, busy_timeout: float = 5.0,
                 migrations: dict[int, Migration] | None = None,
                 schema_version: int = SCHEMA_VERSION) -> None:
        data_dir = Path(data_dir)
        path = data_dir / DB_FILE
        if (data_dir / "db").is_dir() and not path.exists():
            raise StoreUnavailable(
                f"The data directory {data_dir} was made by MediTrack 0.1, whose embedded "
                "format this version does not read (its records are left untouched). Start "
                "with a new data directory (--data-dir or MEDITRACK_DATA_DIR), or keep using "
                "MediTrack 0.1 with this one.")
        try:
            create_private(data_dir, path)
        except OSError as exc:
            raise _not_created(data_dir, path, exc) from exc
        self.db = Database(path, busy_timeout=busy_timeout)
        try:
            with self.db.errors():
                current = self._recorded_version()
                if current == schema_version:
                    # Up to date: opening takes no write lock, so the store opens (and
                    # serves reads) while another process holds the database.
                    self.schema_version = current
                else:
                    self.schema_version = migrate(
                        self.db.connection(), data_dir,
                        migrations=MIGRATIONS if migrations is None else migrations,
                        target=schema_version)
        except sqlite3.Error as exc:
            damaged = self._damaged()
            self.db.close()
            if damaged:
                raise StoreCorrupt(
                    f"The database file {path} is damaged ({damaged}). Stop MediTrack "
                    "everywhere it runs on this data and restore the file from a backup, or "
                    "start with an empty data directory.") from exc
            raise
        except BaseException:
            self.db.close()
            raise
        self.path = path
        self.info = StoreInfo(kind=EMBEDDED, location=str(path), transactions=True)
        self.users = SqliteUsers(self.db)
        self.sessions = SqliteSessions(self.db)
        self.patients = SqlitePatients(self.db)
        self.appointments = SqliteAppointments(self.db)
        self.prescriptions = SqlitePrescriptions(self.db)
        self.vitals = SqliteVitals(self.db)
        self.reports = SqliteReports(self.db)
        self.audit = SqliteAudit(self.db)
        self.changes = SqliteChanges(self.db)
        self.counters = SqliteCounters(self.db)
        self.settings = SqliteSettings(self.db)

    def _recorded_version(self) -> int | None:
        """The schema version recorded in the file (None: a new file, no schema yet)."""
        try:
            value = self.db.one("SELECT value FROM meta WHERE key = 'schema_version'")
        except sqlite3.OperationalError:  # no meta table: a new, empty file
            return None
        return None if value is None else int(value)

    def _damaged(self) -> str | None:
        """What SQLite's quick check finds wrong with the file (None: nothing)."""
        try:
            rows = self.db.connection().execute("PRAGMA quick_check(3)").fetchall()
        except sqlite3.Error as exc:
            return str(exc)
        found = "; ".join(str(row[0]) for row in rows)
        return None if found == "ok" else found

    def unit_of_work(self) -> AbstractContextManager[None]:
        """``BEGIN IMMEDIATE`` .. ``COMMIT`` on this thread's connection; nested ones join."""
        return self.db.transaction()  # type: ignore[return-value]

    def bulk(self) -> AbstractContextManager[None]:
        """The same as a unit of work (one transaction for a batch)."""
        return self.db.transaction()  # type: ignore[return-value]

    def is_empty(self) -> bool:
        return not self.db.one("SELECT EXISTS (SELECT 1 FROM users) "
                               "OR EXISTS (SELECT 1 FROM patients)")

    def drop_all(self) -> None:
        """Delete every row of every table (the schema stays)."""
        with self.db.transaction():
            for table in DATA_TABLES:
                self.db.execute(f"DELETE FROM {table}")

    def close(self) -> None:
        self.db.close()

    # --- backup and restore (store/sqlite/transfer.py) ---

    def snapshot(self) -> AbstractContextManager[Store]:
        from . import transfer

        return transfer.snapshot(self)

    def export_records(self, name: str) -> Iterator[Doc]:
        from . import transfer

        return transfer.export_records(self, name)

    def export_files(self) -> Iterator[tuple[FileInfo, bytes]]:
        from . import transfer

        return transfer.export_files(self)

    def import_records(self, name: str, docs: Sequence[Doc]) -> None:
        from . import transfer

        transfer.import_records(self, name, docs)

    def import_file(self, info: FileInfo, data: bytes) -> None:
        from . import transfer

        transfer.import_file(self, info, data)

    def import_audit_head(self, head: AuditHead) -> None:
        from . import transfer

        transfer.import_audit_head(self, head)

    def has_files(self) -> bool:
        from . import transfer

        return transfer.has_files(self)


def _not_created(data_dir: Path, path: Path, exc: OSError) -> StoreUnavailable:
    """The data directory or its database file could not be created: why, and what to do."""
    if exc.errno == errno.ENOSPC:
        left = free_space(data_dir)
        return StoreFull(
            f"The disk holding the data directory {data_dir} is full"
            f"{'' if left is None else f' ({human_size(left)} left)'}, so MediTrack cannot create "
            "its files there. Free space on that disk, then try again.")
    reason = read_only_reason(data_dir, path) if exc.errno in (
        errno.EROFS, errno.EACCES, errno.EPERM) else None
    if reason is None and exc.errno in (errno.EROFS, errno.EACCES, errno.EPERM):
        reason = exc.strerror.lower() if exc.strerror else "permission denied"
    if reason is not None:
        return StoreReadOnly(
            f"MediTrack cannot create its data directory {data_dir} or the files in it: "
            f"{reason}. Check the permissions of {data_dir} and the folders above it (the "
            "account that runs MediTrack must be able to write there) and that the disk is "
            "not mounted read-only.")
    return StoreUnavailable(f"The data directory {data_dir} cannot be created or written "
                            f"({exc.strerror}). Check that its path names a folder, not a "
                            "file, and that the account that runs MediTrack may write there.")


def open_sqlite(config: Config, *, busy_timeout: float = 5.0) -> SqliteStore:
    """Open (creating or migrating) the embedded store in ``config.data_dir``."""
    return SqliteStore(Path(config.data_dir), busy_timeout=busy_timeout)


__all__ = ["DB_FILE", "SqliteStore", "open_sqlite"]
