"""The SQLite connection layer: the JSON codec, one connection per thread, transactions,
and SQLite's errors turned into messages a clinic worker understands.

Every write runs inside ``BEGIN IMMEDIATE`` (the unit of work's, or a short one of its
own), so writers from any thread or process are serialized by SQLite's own locking.
"""

from __future__ import annotations

import json
import os
import sqlite3
import threading
import weakref
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from ...errors import StoreBusy, StoreCorrupt, StoreFull, StoreReadOnly, StoreUnavailable

DB_NAME = "meditrack.db"  # the database file in the data directory

# --- JSON codec: datetimes round-trip as {"$dt": "<ISO, milliseconds>"} ---


def trim(value: datetime) -> datetime:
    """``value`` with its microseconds dropped to milliseconds (as MongoDB keeps them)."""
    return value.replace(microsecond=value.microsecond // 1000 * 1000)


def iso(value: datetime) -> str:
    """A datetime as sortable ISO text to the millisecond (the form of datetime columns)."""
    return trim(value).isoformat(timespec="milliseconds")


def _default(value: Any) -> Any:
    if isinstance(value, datetime):
        return {"$dt": iso(value)}
    raise TypeError(f"cannot store a value of type {type(value).__name__}")


def _hook(obj: dict[str, Any]) -> Any:
    if len(obj) == 1 and "$dt" in obj:
        return datetime.fromisoformat(obj["$dt"])
    return obj


encode = json.JSONEncoder(default=_default, ensure_ascii=False, separators=(",", ":")).encode
decode = json.JSONDecoder(object_hook=_hook).decode


def column(value: Any) -> Any:
    """A field's value as an SQL column value: datetimes as ISO text, booleans as 0/1,
    lists and dicts as NULL (they live in the JSON only)."""
    if isinstance(value, datetime):
        return iso(value)
    if isinstance(value, (list, dict, tuple)):
        return None
    return value


# --- errors ---

_BUSY = {sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED}
_READONLY = {sqlite3.SQLITE_READONLY, sqlite3.SQLITE_PERM, sqlite3.SQLITE_AUTH}
_CORRUPT = {sqlite3.SQLITE_CORRUPT, sqlite3.SQLITE_NOTADB}
_DISK = {sqlite3.SQLITE_CANTOPEN, sqlite3.SQLITE_IOERR, sqlite3.SQLITE_FULL}
LOW_SPACE = 1024 * 1024  # bytes free below which a failed write is put down to a full disk


def human_size(count: int) -> str:
    for unit in ("bytes", "KB", "MB", "GB"):
        if count < 1024 or unit == "GB":
            return f"{count:.0f} {unit}" if unit == "bytes" else f"{count:.1f} {unit}"
        count /= 1024  # type: ignore[assignment]
    return f"{count} bytes"  # pragma: no cover


def free_space(folder: Path) -> int | None:
    """Bytes this account can still write on the disk holding ``folder`` (None: unknown)."""
    for candidate in (folder, *folder.parents):
        try:
            stat = os.statvfs(candidate)
        except OSError:
            continue
        blocks = stat.f_bfree if os.geteuid() == 0 else stat.f_bavail
        return blocks * stat.f_frsize
    return None


def read_only_reason(data_dir: Path, path: Path) -> str | None:
    """Why nothing can be written in the data directory (None: nothing found in the way)."""
    for candidate in (data_dir, *data_dir.parents):
        try:
            stat = os.statvfs(candidate)
        except OSError:
            continue
        if stat.f_flag & os.ST_RDONLY:
            return "the disk holding it is mounted read-only"
        break
    try:
        if data_dir.is_dir() and not os.access(data_dir, os.W_OK | os.X_OK):
            return "this account may not write in that directory"
        for name in (path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
            if name.exists() and not os.access(name, os.R_OK | os.W_OK):
                return f"this account may not write the file {name.name}"
    except OSError:
        return None
    return None


def _read_only(data_dir: Path, reason: str) -> StoreReadOnly:
    return StoreReadOnly(
        f"MediTrack cannot save anything in its data directory {data_dir}: {reason}. Check "
        f"the permissions of {data_dir} and of the files in it (the account that runs "
        "MediTrack must be able to write them) and that its disk is not mounted read-only.")


def _full(data_dir: Path, free: int | None) -> StoreFull:
    left = "" if free is None else f" ({human_size(free)} left)"
    return StoreFull(
        f"The disk holding the data directory {data_dir} is full{left}, so nothing can be "
        "saved. Free space on that disk (or move the data directory to a larger one), then "
        "try again.")


def translate(error: sqlite3.Error, data_dir: Path, timeout: float,
              path: Path | None = None) -> Exception | None:
    """The MediTrack error for an SQLite error about the database itself (None: a bug).

    SQLite's codes say what happened; the data directory is looked at to say why where the
    code alone does not (a file that cannot be opened: a read-only disk, missing
    permissions or no space left)."""
    code = getattr(error, "sqlite_errorcode", None)
    code = None if code is None else code & 0xFF
    path = path or data_dir / DB_NAME
    if code in _BUSY:
        return StoreBusy(
            f"Another MediTrack process is holding the database in {data_dir}: it did not "
            f"let go within {timeout:g} seconds. Please try again in a moment.")
    if code in _CORRUPT:
        return StoreCorrupt(
            f"The database file {path} is damaged or is not a MediTrack database ({error}). "
            "Stop MediTrack everywhere it runs on this data and restore the file from a "
            "backup, or start with an empty data directory.")
    if code in _READONLY or code in _DISK:
        reason = read_only_reason(data_dir, path)
        if reason is not None:
            return _read_only(data_dir, reason)
        free = free_space(data_dir)
        if code == sqlite3.SQLITE_FULL:
            if free is not None and free >= LOW_SPACE:  # a quota or a size limit
                return StoreFull(
                    f"The database in {data_dir} cannot grow any larger ({error}), although "
                    f"its disk has {human_size(free)} free. Check the disk quota of the account "
                    "that runs MediTrack, then try again.")
            return _full(data_dir, free)
        if free is not None and free < LOW_SPACE:
            return _full(data_dir, free)
        if code in _READONLY:
            return _read_only(data_dir, "the database file is read-only")
        if code == sqlite3.SQLITE_CANTOPEN:
            return StoreUnavailable(
                f"The database file {path} cannot be opened ({error}). Check that {data_dir} "
                "exists and that the account that runs MediTrack may read and write it and "
                "the files in it.")
        return StoreUnavailable(
            f"Reading or writing the database in {data_dir} failed ({error}). Check the disk "
            f"holding {data_dir} (free space, errors in the system log), then try again.")
    return None


class Cursor:
    """A cursor whose rows, fetched lazily, raise MediTrack errors too (a damaged page may
    only be met while the rows are read)."""

    __slots__ = ("_cursor", "_errors")

    def __init__(self, cursor: sqlite3.Cursor, errors: Any) -> None:
        self._cursor = cursor
        self._errors = errors

    def fetchone(self) -> Any:
        with self._errors():
            return self._cursor.fetchone()

    def fetchall(self) -> list[Any]:
        with self._errors():
            return self._cursor.fetchall()

    def fetchmany(self, size: int = 1) -> list[Any]:
        with self._errors():
            return self._cursor.fetchmany(size)

    def __iter__(self) -> Iterator[Any]:
        return iter(self.fetchall())

    @property
    def rowcount(self) -> int:
        return self._cursor.rowcount

    @property
    def lastrowid(self) -> int | None:
        return self._cursor.lastrowid

    @property
    def description(self) -> Any:
        return self._cursor.description

    def close(self) -> None:
        self._cursor.close()


class _Local(threading.local):
    conn: sqlite3.Connection | None = None
    depth: int = 0


@dataclass
class _Pooled:
    """A pooled connection and (weakly) the thread that owns it now."""

    owner: weakref.ref[threading.Thread]
    conn: sqlite3.Connection


class Database:
    """One database file: a connection per thread (opened lazily, reused from threads that
    have ended), transactions that nest by joining, SQLite errors as MediTrack errors."""

    def __init__(self, path: Path, *, busy_timeout: float = 5.0) -> None:
        self.path = path
        self.data_dir = path.parent
        self.busy_timeout = busy_timeout
        self._local = _Local()
        self._lock = threading.Lock()
        self._pool: list[_Pooled] = []
        self._closed = False

    # --- connections ---

    def connection(self) -> sqlite3.Connection:
        """This thread's connection."""
        conn = self._local.conn
        if conn is None:
            conn = self._local.conn = self._acquire()
        return conn

    def _acquire(self) -> sqlite3.Connection:
        me = threading.current_thread()
        with self._lock:
            if self._closed:
                raise StoreUnavailable(f"The database in {self.data_dir} has been closed.")
            for entry in self._pool:
                owner = entry.owner()
                if (owner is None or not owner.is_alive()) and not entry.conn.in_transaction:
                    entry.owner = weakref.ref(me)  # a finished thread's connection
                    return entry.conn
            conn = self._connect()
            self._pool.append(_Pooled(weakref.ref(me), conn))
            return conn

    def _connect(self) -> sqlite3.Connection:
        with self.errors():
            conn = sqlite3.connect(self.path, timeout=self.busy_timeout, isolation_level=None,
                                   check_same_thread=False)
            try:
                conn.execute("PRAGMA journal_mode=WAL")
                conn.execute("PRAGMA synchronous=FULL")
                conn.execute("PRAGMA foreign_keys=ON")
                # reads without copies through a 64 MB map (256 MB kept ~8 MB more of the
                # file resident after browsing: benchmarks/ui.py memory)
                conn.execute("PRAGMA mmap_size=67108864")
            except BaseException:
                conn.close()
                raise
        return conn

    @property
    def open_connections(self) -> int:
        """How many connections are open (one per live thread that used the store)."""
        with self._lock:
            return len(self._pool)

    def close(self) -> None:
        """Close every connection (later use raises StoreUnavailable)."""
        with self._lock:
            self._closed = True
            pool, self._pool = self._pool, []
        for entry in pool:
            try:
                entry.conn.close()
            except sqlite3.Error:
                pass
        self._local.conn = None

    # --- statements ---

    @contextmanager
    def errors(self) -> Iterator[None]:
        """Turn SQLite's busy, I/O and damage errors into StoreBusy / StoreUnavailable."""
        try:
            yield
        except sqlite3.Error as exc:
            mapped = translate(exc, self.data_dir, self.busy_timeout, self.path)
            if mapped is None:
                raise
            raise mapped from exc

    def execute(self, sql: str, params: Sequence[Any] = ()) -> Cursor:
        with self.errors():
            return Cursor(self.connection().execute(sql, params), self.errors)

    def executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> None:
        with self.errors():
            self.connection().executemany(sql, rows)

    def one(self, sql: str, params: Sequence[Any] = ()) -> Any:
        """The first column of the first row (None when there is no row)."""
        row = self.execute(sql, params).fetchone()
        return None if row is None else row[0]

    # --- transactions ---

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """``BEGIN IMMEDIATE`` .. ``COMMIT`` (rolled back when the block raises); inside
        another transaction of this thread, joins it."""
        local = self._local
        conn = self.connection()
        if local.depth:
            local.depth += 1
            try:
                yield conn
            finally:
                local.depth -= 1
            return
        with self.errors():
            conn.execute("BEGIN IMMEDIATE")
        local.depth = 1
        try:
            yield conn
        except BaseException:
            local.depth = 0
            self._rollback(conn)
            raise
        local.depth = 0
        try:
            with self.errors():
                conn.execute("COMMIT")
        except BaseException:
            self._rollback(conn)
            raise

    @staticmethod
    def _rollback(conn: sqlite3.Connection) -> None:
        if conn.in_transaction:
            try:
                conn.execute("ROLLBACK")
            except sqlite3.Error:
                pass


def create_private(data_dir: Path, path: Path) -> None:
    """The data directory (0700) and an empty database file (0600), created so from the
    start; SQLite gives its -wal and -shm files the database file's permissions."""
    data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    if not path.exists():
        fd = os.open(path, os.O_CREAT | os.O_RDWR, 0o600)
        os.close(fd)
