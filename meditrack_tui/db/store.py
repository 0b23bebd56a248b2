"""One connect function for real MongoDB and the embedded store, indexes, and the file bucket.

The embedded store (litemongo: mongomock on SQLite files) binds its SQLite
connections to the thread that opened them, so a :class:`Store` must only be
used from the thread that created it. :mod:`meditrack_tui.runtime` gives the
app one dedicated thread for that.
"""

from __future__ import annotations

import os
import threading
from contextlib import nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Iterator
from urllib.parse import urlsplit

from ..config import Config
from ..errors import StoreUnavailable

EMBEDDED = "embedded"
MONGODB = "mongodb"

# (collection, keys, options, on the embedded store): created idempotently at start-up.
# The embedded store keeps in-memory hash indexes that help only equality lookups and
# cost memory per document (about 0.1 KB per field when many documents share a value, 0.3 KB
# when each has its own), so there it gets just the equality keys its queries use
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
    # (embedded: a doctor_id path narrows a doctor's appointment list to their own; with
    # the compact index (db/compact_index.py) a key shared by many documents costs little)
    ("appointments", [("doctor_id", 1), ("day", 1)], {"name": "doctor_day"},
     [("doctor_id", 1)]),
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


class ProcessLock:
    """An exclusive lock shared by every process using one data directory (re-entrant).

    The embedded store reads a document, changes it in Python and writes it back, so two
    processes updating one document at once could lose a write or both pass a version
    check. Holding this lock around each write, and around check-then-write sequences
    such as a booking's overlap check, makes those atomic across processes.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self._fd: int | None = None
        self._depth = 0
        self._thread_lock = threading.RLock()

    def __enter__(self) -> "ProcessLock":
        self._thread_lock.acquire()
        if self._depth == 0:
            if self._fd is None:
                self._fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
            _lock_file(self._fd, True)
        self._depth += 1
        return self

    def __exit__(self, *exc: Any) -> None:
        self._depth -= 1
        if self._depth == 0 and self._fd is not None:
            _lock_file(self._fd, False)
        self._thread_lock.release()

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


def _lock_file(fd: int, lock: bool) -> None:
    try:
        import fcntl
    except ImportError:  # pragma: no cover - Windows
        import msvcrt

        os.lseek(fd, 0, os.SEEK_SET)
        msvcrt.locking(fd, msvcrt.LK_LOCK if lock else msvcrt.LK_UNLCK, 1)
        return
    fcntl.flock(fd, fcntl.LOCK_EX if lock else fcntl.LOCK_UN)


# Collection methods that write: on the embedded store each runs under the ProcessLock.
WRITE_METHODS = frozenset({
    "insert_one", "insert_many", "update_one", "update_many", "replace_one", "delete_one",
    "delete_many", "find_one_and_update", "find_one_and_replace", "find_one_and_delete",
    "bulk_write",
})


class LockedCollection:
    """A collection whose writes hold the store's ProcessLock; everything else passes through."""

    def __init__(self, collection: Any, lock: ProcessLock) -> None:
        self._collection = collection
        self._lock = lock

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self._collection, name)
        if name not in WRITE_METHODS:
            return attr
        lock = self._lock

        def locked(*args: Any, **kwargs: Any) -> Any:
            with lock:
                return attr(*args, **kwargs)

        return locked

    def __getitem__(self, name: str) -> "LockedCollection":
        return LockedCollection(self._collection[name], self._lock)


class LockedDatabase:
    """The embedded store's database with every collection's writes under the ProcessLock."""

    def __init__(self, db: Any, lock: ProcessLock) -> None:
        self._db = db
        self._lock = lock
        self._collections: dict[str, LockedCollection] = {}

    def __getitem__(self, name: str) -> LockedCollection:
        wrapped = self._collections.get(name)
        if wrapped is None:
            wrapped = self._collections[name] = LockedCollection(self._db[name], self._lock)
        return wrapped

    def __getattr__(self, name: str) -> Any:
        wrapped = self._collections.get(name)  # db.patients etc.: no new Collection each time
        if wrapped is not None:
            return wrapped
        attr = getattr(self._db, name)
        if hasattr(attr, "insert_one") and not name.startswith("_"):
            return self[name]
        return attr


class Store:
    """An open database: ``db`` speaks the pymongo API on both stores; ``files`` is GridFS."""

    def __init__(self, client: Any, db: Any, info: StoreInfo,
                 lock: ProcessLock | None = None) -> None:
        self.client = client
        self.raw_db = db
        self.db = LockedDatabase(db, lock) if lock is not None else db
        self.info = info
        self.owner_thread = threading.get_ident()
        self._lock = lock
        self._files: Any = None

    def __getitem__(self, name: str) -> Any:
        return self.db[name]

    def exclusive(self) -> Any:
        """Hold off other processes' writes for a check-then-write sequence (embedded store;
        on MongoDB single-document updates are atomic and this is a no-op)."""
        return self._lock if self._lock is not None else nullcontext()

    def scan(self, collection: str, fields: Iterable[str]) -> Iterator[dict[str, Any]]:
        """Every document of a collection with just ``fields`` (and ``_id``), in no order.

        For loading a whole collection into memory (the patient directory). On MongoDB a
        projected find; on the embedded store the stored documents are read directly,
        because its find() copies and projects each document in Python: 100,000 patients
        took over a minute that way and take about a second like this.
        """
        names = [name for name in fields if name != "_id"]
        if self.info.kind != EMBEDDED:
            yield from self.db[collection].find({}, {name: 1 for name in names})
            return
        for doc in self.raw_db[collection]._store.documents:
            yield {"_id": doc["_id"], **{name: doc[name] for name in names if name in doc}}

    def find_docs(self, collection: str, filt: dict[str, Any]) -> Iterator[dict[str, Any]]:
        """Every whole document matching ``filt``, in natural order, each the caller's own.

        On the embedded store each document is decoded afresh from its file, so find()'s
        deep copy of it (most of the time of reading a patient's 700 vitals readings) is
        skipped; on MongoDB a plain find.
        """
        if self.info.kind != EMBEDDED:
            yield from self.db[collection].find(filt)
            return
        yield from _matching(self.raw_db[collection]._store, _as_stored(filt))

    def find_page(self, collection: str, filt: dict[str, Any], sort: list[tuple[str, int]],
                  skip: int, limit: int, *, count: bool = True
                  ) -> tuple[int | None, list[dict[str, Any]]]:
        """How many documents match ``filt`` (None when ``count`` is False), and the
        ``limit`` of them after ``skip`` in ``sort`` order (sort keys are top-level fields).

        On MongoDB a count and a sorted, paged find. The embedded store's find() would copy
        every matching document and sort them with a Python comparison per pair (19,000
        appointments: about 2 s and 40 MB at once); here the matches are read once, only
        their sort keys kept, sorted natively, and just the page's documents read again.
        """
        if self.info.kind != EMBEDDED:
            coll = self.db[collection]
            total = coll.count_documents(filt) if count else None
            docs = list(coll.find(filt).sort(sort).skip(skip).limit(limit)) if limit else []
            return total, docs
        filt = _as_stored(filt)
        coll_store = self.raw_db[collection]._store
        fields = [name for name, _ in sort]
        rows = [(*(doc.get(name) for name in fields), doc["_id"])
                for doc in _matching(coll_store, filt)]
        total = len(rows)
        _sort_rows(rows, [direction for _, direction in sort])
        page = [row[-1] for row in rows[skip:skip + limit]] if limit else []
        # read again by key: another process may have changed one since (it then drops out)
        docs = list(_matching(coll_store, filt, coll_store._documents.get_many(page)))
        return (total if count else None), docs

    @property
    def files(self) -> Any:
        """The GridFS bucket that holds report files (created on first use)."""
        if self._files is None:
            import gridfs

            self._files = gridfs.GridFSBucket(self.raw_db, bucket_name="report_files")
        return self._files

    def ensure_indexes(self) -> None:
        """Create every index the app needs; safe to call on every start."""
        embedded = self.info.kind == EMBEDDED
        existing: dict[str, Any] = {}
        for collection, keys, options, embedded_keys in INDEXES:
            if embedded:
                if embedded_keys is False:
                    # also drop it where an older version created it (memory, no speed)
                    if collection not in existing:
                        existing[collection] = self.db[collection].index_information()
                    if options["name"] in existing[collection]:
                        self.db[collection].drop_index(options["name"])
                    continue
                keys = embedded_keys or keys
            self._create_index(self.db[collection], keys, options)

    @staticmethod
    def _create_index(coll: Any, keys: list[tuple[str, int]], options: dict[str, Any]) -> None:
        """Create an index; one left by an older version with other options or another name
        for the same keys is replaced (MongoDB refuses to change an index in place)."""
        from pymongo.errors import OperationFailure

        try:
            coll.create_index(keys, **options)
        except OperationFailure as exc:
            # IndexOptionsConflict, IndexKeySpecsConflict; the embedded store says the same
            # with no code ("Index with name: … already exists with different options")
            conflict = exc.code in (85, 86) or (exc.code is None
                                                and "already exists" in str(exc))
            if not conflict:
                raise
            for name, info in list(coll.index_information().items()):
                if name != "_id_" and (name == options.get("name")
                                       or list(info.get("key", [])) == list(keys)):
                    coll.drop_index(name)
            coll.create_index(keys, **options)

    def close(self) -> None:
        try:
            self.client.close()
        except Exception:  # pragma: no cover - closing is best effort
            pass
        if self._lock is not None:
            self._lock.close()


def _matching(coll_store: Any, filt: dict[str, Any],
              docs: Iterable[dict[str, Any]] | None = None) -> Iterator[dict[str, Any]]:
    """The embedded store's documents (by default its index's candidates) that match a
    filter already prepared with _as_stored, as its find() decides a match."""
    from litemongo._vendor.mongomock.filtering import filter_applies

    for doc in coll_store.find_candidates(filt) if docs is None else docs:
        if not filt or filter_applies(filt, doc):
            yield doc


def _as_stored(filt: dict[str, Any]) -> dict[str, Any]:
    """A filter's datetimes as the embedded store keeps them (naive UTC, milliseconds), as
    its own find() and count_documents() prepare a filter."""
    from litemongo._vendor.mongomock import helpers

    return helpers.patch_datetime_awareness_in_document(filt) if filt else filt


def _sort_rows(rows: list[tuple[Any, ...]], directions: list[int]) -> None:
    """Sort (key, ..., _id) rows in place as MongoDB orders documents by those keys
    (missing and None first ascending; ties keep the store's natural order)."""
    for position in range(len(directions) - 1, -1, -1):  # stable: least significant first
        reverse = directions[position] < 0

        def key(row: tuple[Any, ...], position: int = position) -> Any:
            value = row[position]
            return (0, 0) if value is None else (1, value)

        try:
            rows.sort(key=key, reverse=reverse)
        except TypeError:  # values of several types: MongoDB's cross-type order
            from litemongo._vendor.mongomock.filtering import BsonComparable

            rows.sort(key=lambda row, position=position: BsonComparable(row[position]),
                      reverse=reverse)


def _open_embedded(config: Config) -> Store:
    import litemongo
    from litemongo._vendor.mongomock import gridfs as mock_gridfs

    from .compact_index import install as compact_indexes

    compact_indexes()  # the store's in-memory query indexes at about a third of the memory
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
    return Store(client, db, StoreInfo(EMBEDDED, str(path)), ProcessLock(path / "write.lock"))


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
