"""The repository seam (see base.py) and the one function that opens the configured store.

``connect(config)``: MongoDB when ``config.mongo_uri`` is set, else the embedded
SQLite store in ``config.data_dir``. Nothing connects at import.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .base import EMBEDDED, MONGODB, Corrupt, Doc, Duplicate, Found, Store, StoreInfo, is_id, new_id
from .queries import AppointmentQuery, AuditQuery, NameSearch, PatientQuery, UserQuery
from .rows import (
    AppointmentRow,
    AuditRow,
    PatientRow,
    PrescriptionRow,
    ReadingRow,
    ReportRow,
    SessionRow,
    UserRow,
)

if TYPE_CHECKING:
    from ..config import Config


def connect(config: Config) -> Store:
    """Open (creating or migrating as needed) the configured store."""
    if config.mongo_uri:
        from .mongo import open_mongo

        return open_mongo(config)
    from .sqlite import open_sqlite

    return open_sqlite(config)


__all__ = ["connect", "Store", "StoreInfo", "Doc", "Duplicate", "Corrupt", "Found",
           "NameSearch", "PatientQuery", "AppointmentQuery", "AuditQuery", "UserQuery",
           "EMBEDDED", "MONGODB", "new_id", "is_id", "UserRow", "SessionRow", "PatientRow",
           "AppointmentRow", "PrescriptionRow", "ReadingRow", "ReportRow", "AuditRow"]
