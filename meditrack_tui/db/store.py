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

# (collection, keys, options): created idempotently at start-up.
INDEXES: list[tuple[str, list[tuple[str, int]], dict[str, Any]]] = [
    ("users", [("username_lc", 1)], {"unique": True, "name": "uniq_username"}),
    ("users", [("role", 1), ("status", 1)], {"name": "role_status"}),
    ("users", [("patient_id", 1)], {"name": "user_patient"}),
    ("sessions", [("user_id", 1)], {"name": "session_user"}),
    ("patients", [("mrn", 1)], {"unique": True, "name": "uniq_mrn"}),
    ("patients", [("last_key", 1), ("first_key", 1)], {"name": "name_keys"}),
    ("patients", [("search3", 1)], {"name": "search_prefix3"}),
    ("patients", [("first3", 1)], {"name": "first_prefix3"}),
    ("patients", [("phone_digits", 1)], {"name": "phone"}),
    ("patients", [("primary_doctor_id", 1)], {"name": "primary_doctor"}),
    ("patients", [("archived", 1)], {"name": "archived"}),
    ("appointments", [("doctor_id", 1), ("day", 1)], {"name": "doctor_day"}),
    ("appointments", [("patient_id", 1), ("start", 1)], {"name": "patient_start"}),
    ("appointments", [("day", 1)], {"name": "day"}),
    ("appointments", [("status", 1)], {"name": "status"}),
    ("prescriptions", [("patient_id", 1), ("status", 1)], {"name": "patient_status"}),
    ("vitals", [("patient_id", 1), ("taken_at", 1)], {"name": "patient_time"}),
    ("reports", [("patient_id", 1), ("uploaded_at", -1)], {"name": "patient_uploaded"}),
    ("audit", [("ts", -1)], {"name": "ts"}),
    ("audit", [("username", 1), ("ts", -1)], {"name": "user_ts"}),
    ("audit", [("action", 1)], {"name": "action"}),
    # The change log only needs the last few minutes; TTL keeps it small on both stores.
    ("changes", [("ts", 1)], {"name": "ts_ttl", "expireAfterSeconds": 3600}),
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
        for collection, keys, options in INDEXES:
            if "expireAfterSeconds" in options and self.info.kind == EMBEDDED:
                # The embedded store expires TTL documents by scanning the whole collection
                # on every read; there the service layer prunes the change log instead.
                options = {k: v for k, v in options.items() if k != "expireAfterSeconds"}
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
    return Store(client, client[config.db_name], StoreInfo(EMBEDDED, str(path)))


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
    try:
        client: Any = pymongo.MongoClient(
            config.mongo_uri,
            serverSelectionTimeoutMS=timeout_ms,
            connectTimeoutMS=timeout_ms,
            tz_aware=False,
        )
        hello = client.admin.command("hello")
    except ConfigurationError as exc:
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
