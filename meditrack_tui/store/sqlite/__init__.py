"""The embedded store: one SQLite file, ``<data dir>/meditrack.db``, through the standard
library's sqlite3 (WAL, ``synchronous=FULL``, ``BEGIN IMMEDIATE`` units of work).

Several processes share the file safely through SQLite's own locking; when another holds
it past the busy timeout, StoreBusy says so.
"""

from __future__ import annotations

from contextlib import AbstractContextManager
from pathlib import Path
from typing import TYPE_CHECKING

from ...errors import StoreUnavailable
from ..base import EMBEDDED, SCHEMA_VERSION, Store, StoreInfo
from .engine import Database, create_private
from .repos import (SqliteAppointments, SqliteAudit, SqliteChanges, SqliteCounters,
                    SqlitePatients, SqlitePrescriptions, SqliteReports, SqliteSessions,
                    SqliteSettings, SqliteUsers, SqliteVitals)
from .schema import DATA_TABLES, MIGRATIONS, Migration, migrate

if TYPE_CHECKING:
    from ...config import Config

DB_FILE = "meditrack.db"


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
            raise StoreUnavailable(f"The data directory {data_dir} cannot be created or "
                                   f"written ({exc.strerror}).") from exc
        self.db = Database(path, busy_timeout=busy_timeout)
        try:
            with self.db.errors():
                self.schema_version = migrate(
                    self.db.connection(), data_dir,
                    migrations=MIGRATIONS if migrations is None else migrations,
                    target=schema_version)
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


def open_sqlite(config: Config, *, busy_timeout: float = 5.0) -> SqliteStore:
    """Open (creating or migrating) the embedded store in ``config.data_dir``."""
    return SqliteStore(Path(config.data_dir), busy_timeout=busy_timeout)


__all__ = ["DB_FILE", "SqliteStore", "open_sqlite"]
