"""Backup and restore for the embedded store: a consistent copy through SQLite's online
backup API, records read and written raw (ids, versions and audit seals kept)."""

from __future__ import annotations

import shutil
import sqlite3
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from ..base import BACKUP_COLLECTIONS, Doc, FileInfo
from ..rows import AuditHead
from .engine import DB_NAME, column, decode, encode
from .journal import SqliteAudit

if TYPE_CHECKING:
    from . import SqliteStore

BATCH = 500
# collection -> the table of whole JSON records (the audit trail, counters and settings
# have their own shapes)
RECORD_TABLES = {"users", "patients", "appointments", "prescriptions", "vitals", "reports"}


@contextmanager
def snapshot(store: SqliteStore) -> Iterator[SqliteStore]:
    """Copy the live database with ``sqlite3.Connection.backup`` (one step: SQLite reads
    the whole file in one read transaction, so the copy is one moment of it while other
    processes keep writing) into a private temporary folder inside the data directory,
    open the copy, and remove it afterwards."""
    from . import SqliteStore

    folder = Path(tempfile.mkdtemp(prefix=".backup-", dir=store.path.parent))
    try:
        target = sqlite3.connect(folder / DB_NAME)
        try:
            with store.db.errors():
                store.db.connection().backup(target)
        finally:
            target.close()
        copy = SqliteStore(folder)
        try:
            yield copy
        finally:
            copy.close()
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def export_records(store: SqliteStore, name: str) -> Iterator[Doc]:
    if name not in BACKUP_COLLECTIONS:
        raise ValueError(f"no collection {name!r} in a backup")
    db = store.db
    if name in RECORD_TABLES:
        after = ""
        while True:  # by id, a batch at a time (never the whole table in memory)
            rows = db.execute(f"SELECT id, doc FROM {name} WHERE id > ? ORDER BY id LIMIT ?",
                              (after, BATCH)).fetchall()
            for _, doc in rows:
                yield decode(doc)
            if len(rows) < BATCH:
                return
            after = rows[-1][0]
    elif name == "audit":
        # unsealed entries (older than the chain) first, then the chain in (seq, id) order
        for doc, seq in db.execute("SELECT doc, seq FROM audit ORDER BY seq IS NOT NULL, "
                                   "seq, id").fetchall():
            yield cast(Doc, SqliteAudit._entry(doc, seq))
    elif name == "counters":
        for counter, value in db.execute("SELECT name, value FROM counters ORDER BY name"
                                         ).fetchall():
            yield {"id": counter, "value": value}
    else:  # settings
        for (doc,) in db.execute("SELECT doc FROM settings ORDER BY id").fetchall():
            yield decode(doc)


def export_files(store: SqliteStore) -> Iterator[tuple[FileInfo, bytes]]:
    rows = store.db.execute("SELECT file_id, filename, length, sha256, metadata FROM "
                            "report_files ORDER BY file_id").fetchall()
    for file_id, filename, length, sha256, metadata in rows:
        info: FileInfo = {"file_id": file_id, "filename": filename, "length": length,
                          "sha256": sha256, "metadata": decode(metadata)}
        yield info, store.reports.read_file(file_id)


def import_records(store: SqliteStore, name: str, docs: Sequence[Doc]) -> None:
    if name not in BACKUP_COLLECTIONS:
        raise ValueError(f"no collection {name!r} in a backup")
    db = store.db
    with db.transaction():
        if name in RECORD_TABLES:
            repo: Any = getattr(store, name)
            repo.add_many(list(docs))  # keeps ids and versions, fills the side tables
        elif name == "audit":
            rows = []
            for entry in docs:
                body = {k: v for k, v in entry.items() if k != "seq"}
                seq = entry.get("seq")
                rows.append((body["id"], encode(body), *(column(body.get(k)) for k in (
                    "ts", "username", "action", "outcome", "patient_id")), seq))
            db.executemany("INSERT INTO audit (id, doc, ts, username, action, outcome, "
                           "patient_id, seq) VALUES (?, ?, ?, ?, ?, ?, ?, ?)", rows)
        elif name == "counters":
            db.executemany("INSERT INTO counters (name, value) VALUES (?, ?)",
                           [(doc["id"], int(doc["value"])) for doc in docs])
        else:  # settings
            db.executemany("INSERT INTO settings (id, version, doc) VALUES (?, ?, ?)",
                           [(doc["id"], int(doc.get("version") or 0), encode(doc))
                            for doc in docs])


def import_file(store: SqliteStore, info: FileInfo, data: bytes) -> None:
    from .clinical import CHUNK_SIZE

    with store.db.transaction():
        store.db.execute("INSERT INTO report_files (file_id, filename, length, sha256, "
                         "metadata) VALUES (?, ?, ?, ?, ?)",
                         (info["file_id"], info["filename"], len(data), info["sha256"],
                          encode(info["metadata"])))
        store.db.executemany(
            "INSERT INTO report_chunks (file_id, n, data) VALUES (?, ?, ?)",
            ((info["file_id"], n, data[at:at + CHUNK_SIZE])
             for n, at in enumerate(range(0, len(data), CHUNK_SIZE))))


def import_audit_head(store: SqliteStore, head: AuditHead) -> None:
    with store.db.transaction():
        store.db.execute("INSERT INTO audit_head (id, seq, hash, seal) VALUES (1, ?, ?, ?)",
                         (int(head["seq"]), head["hash"], head["seal"]))


def has_files(store: SqliteStore) -> bool:
    return bool(store.db.one("SELECT EXISTS (SELECT 1 FROM report_files)"))
