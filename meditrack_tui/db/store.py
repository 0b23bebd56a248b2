"""One connect function for real MongoDB and the embedded store, indexes, and the file bucket.

The embedded store (litemongo: mongomock on SQLite files) binds its SQLite
connections to the thread that opened them, so a :class:`Store` must only be
used from the thread that created it. :mod:`meditrack_tui.runtime` gives the
app one dedicated thread for that.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from ..config import Config
from ..errors import StoreUnavailable

EMBEDDED = "embedded"
MONGODB = "mongodb"

# (collection, keys, options, on the embedded store): created idempotently at start-up.
# The embedded store keeps in-memory hash indexes that help only equality lookups and
# cost memory per document, so there it gets just the equality keys its queries use
# (None: the same index; a list: those keys; False: not created — the in-memory
# patient directory serves name search, filters and sorts there).
INDEXES: list[tuple[str, list[tuple[str, int]], dict[str, Any], Any]] = [
    ("users", [("username_lc", 1)], {"unique": True, "name": "uniq_username"}, None),
    ("users", [("role", 1), ("status", 1)], {"name": "role_status"}, False),
    ("users", [("patient_id", 1)], {"name": "user_patient"}, False),
    ("sessions", [("user_id", 1)], {"name": "session_user"}, None),
    ("patients", [("mrn", 1)], {"unique": True, "name": "uniq_mrn"}, None),
    ("patients", [("last_key", 1), ("first_key", 1)], {"name": "name_keys"}, False),
    ("patients", [("first_key", 1)], {"name": "first_key"}, False),
    ("patients", [("full_key", 1)], {"name": "full_key"}, False),
    ("patients", [("phone_digits", 1)], {"name": "phone"}, False),
    ("patients", [("primary_doctor_id", 1)], {"name": "primary_doctor"}, False),
    ("patients", [("archived", 1), ("last_key", 1)], {"name": "archived_name"}, False),
    ("patients", [("vitals_alert", 1)], {"name": "vitals_alert"}, None),
    ("appointments", [("doctor_id", 1), ("day", 1)], {"name": "doctor_day"}, None),
    ("appointments", [("patient_id", 1), ("start", 1)], {"name": "patient_start"},
     [("patient_id", 1)]),
    ("appointments", [("day", 1)], {"name": "day"}, None),
    ("appointments", [("status", 1), ("start", 1)], {"name": "status_start"}, False),
    ("prescriptions", [("patient_id", 1), ("status", 1)], {"name": "patient_status"},
     [("patient_id", 1)]),
    # vitals: one document per patient and year (bucket pattern)
    # (not unique: two sessions creating a year's bucket at once both keep their readings)
    ("vitals", [("patient_id", 1), ("year", 1)], {"name": "patient_year_bucket"},
     [("patient_id", 1)]),
    ("reports", [("patient_id", 1), ("uploaded_at", -1)], {"name": "patient_uploaded"},
     [("patient_id", 1)]),
    ("audit", [("ts", -1)], {"name": "ts"}, False),
    ("audit", [("username", 1), ("ts", -1)], {"name": "user_ts"}, False),
    ("audit", [("action", 1)], {"name": "action"}, False),
    # The change log only needs the last minutes: TTL on MongoDB; the embedded store's TTL
    # scans the whole collection on every read, so there the services prune it instead.
    ("changes", [("ts", 1)], {"name": "ts_ttl", "expireAfterSeconds": 3600}, False),
    ("changes", [("coll", 1)], {"name": "coll"}, None),
]


@dataclass
class StoreInfo:
    """What kind of store this is and where it lives, for messages and the status bar."""

    kind: str
    location: str
    supports_change_streams: bool = False


class Store:
    """An open database: ``db`` speaks the pymongo API on both stores; ``files`` is GridFS."""

    def __init__(self, client: Any, db: Any, info: StoreInfo) -> None:
        self.client = client
        self.db = db
        self.info = info
        self.owner_thread = threading.get_ident()
        self._files: Any = None

    def __getitem__(self, name: str) -> Any:
        return self.db[name]

    @property
    def files(self) -> Any:
        """The GridFS bucket that holds report files (created on first use)."""
        if self._files is None:
            import gridfs

            self._files = gridfs.GridFSBucket(self.db, bucket_name="report_files")
        return self._files

    def ensure_indexes(self) -> None:
        """Create every index the app needs; safe to call on every start."""
        embedded = self.info.kind == EMBEDDED
        for collection, keys, options, embedded_keys in INDEXES:
            if embedded:
                if embedded_keys is False:
                    continue
                keys = embedded_keys or keys
            self.db[collection].create_index(keys, **options)

    def close(self) -> None:
        try:
            self.client.close()
        except Exception:  # pragma: no cover - closing is best effort
            pass


def _open_embedded(config: Config) -> Store:
    import litemongo
    from litemongo._vendor.mongomock import gridfs as mock_gridfs

    # Lets the real gridfs module accept the embedded store's Database objects.
    mock_gridfs.enable_gridfs_integration()
    path = Path(config.data_dir) / "db"
    try:
        path.mkdir(parents=True, exist_ok=True)
        client = litemongo.connect(str(path))
    except OSError as exc:
        raise StoreUnavailable(
            f"Cannot open the data directory {path}: {exc.strerror or exc}. "
            "Check that it exists and that you may write to it, or choose another with --data-dir."
        ) from exc
    db = client[config.db_name]
    _open_collections(db)
    return Store(client, db, StoreInfo(EMBEDDED, str(path)))


# Every collection the app uses (GridFS's two included).
COLLECTIONS = ("users", "sessions", "patients", "appointments", "prescriptions", "vitals",
               "reports", "audit", "changes", "counters", "report_files.files",
               "report_files.chunks")


def _open_collections(db: Any) -> None:
    """Open every collection of the embedded store now, retrying on a creation race.

    The embedded store creates a collection's file on first use; two processes doing that
    at the same moment collide (one gets an SQLite error). First use therefore happens
    here, at start-up, where a retry (the other process has created it by then) is safe.
    """
    import sqlite3
    import time

    for name in COLLECTIONS:
        for attempt in range(40):
            try:
                db[name].index_information()  # opens (creates) the file; reads no documents
                break
            except (sqlite3.IntegrityError, sqlite3.OperationalError):
                if attempt == 39:
                    raise
                time.sleep(0.05)


def describe_uri(uri: str) -> str:
    """The host part of a MongoDB URI, without credentials, for messages."""
    try:
        parts = urlsplit(uri)
        host = parts.netloc.rsplit("@", 1)[-1]
        return host or uri
    except ValueError:
        return "the configured server"


def _open_mongodb(config: Config, timeout_ms: int = 4000) -> Store:
    import pymongo
    from pymongo.errors import ConfigurationError, PyMongoError

    assert config.mongo_uri
    host = describe_uri(config.mongo_uri)
    # Short timeouts so an unreachable server is reported quickly; options the URI sets win
    # (keyword arguments would override them).
    try:
        query = urlsplit(config.mongo_uri).query.lower()
    except ValueError:
        query = ""  # pymongo reports what is wrong with the address below
    timeouts = {name: timeout_ms for name in ("serverSelectionTimeoutMS", "connectTimeoutMS")
                if name.lower() + "=" not in query}
    try:
        client: Any = pymongo.MongoClient(config.mongo_uri, tz_aware=False, **timeouts)
        hello = client.admin.command("hello")
    except (ConfigurationError, ValueError) as exc:  # pymongo raises both for a bad URI
        raise StoreUnavailable(
            f"The MongoDB address ({host}) is not valid: {exc}. Check MEDITRACK_MONGO_URI."
        ) from exc
    except PyMongoError as exc:
        raise StoreUnavailable(
            f"Cannot reach MongoDB at {host}. Check that the server is running, that this "
            "machine can reach it (host, port, firewall), and the user name and password "
            "in MEDITRACK_MONGO_URI."
        ) from exc
    # Change streams need a replica set or a sharded cluster; a standalone mongod has none.
    streams = bool(hello.get("setName")) or hello.get("msg") == "isdbgrid"
    return Store(client, client[config.db_name], StoreInfo(MONGODB, host, streams))


def connect(config: Config, *, ensure_indexes: bool = True) -> Store:
    """Open the configured store (MongoDB when a URI is set, else the embedded one)."""
    store = _open_mongodb(config) if config.mongo_uri else _open_embedded(config)
    if ensure_indexes:
        store.ensure_indexes()
    return store
