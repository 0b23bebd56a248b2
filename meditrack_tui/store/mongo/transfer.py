"""Backup and restore for the MongoDB store: a dump through pymongo (in one snapshot
session on a replica set or sharded cluster) and raw inserts that keep ids, versions and
audit seals; report files through GridFS under their original ids."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from ...errors import StoreCorrupt
from ..base import BACKUP_COLLECTIONS, Doc, FileInfo
from ..rows import AuditHead
from .journal import AUDIT_HEAD
from .records import clean

if TYPE_CHECKING:
    from .store import MongoStore

BATCH = 500
RECORD_COLLECTIONS = {"users", "patients", "appointments", "prescriptions", "vitals",
                      "reports"}


@contextmanager
def snapshot(store: MongoStore) -> Iterator[MongoStore]:
    """On a replica set or sharded cluster, every read of the block runs in one snapshot
    session (``readConcern: snapshot``, MongoDB 5.0+): one moment of the whole database
    while others keep writing. A standalone server has no snapshot reads: the block reads
    the live database (the backup checks that nothing was written meanwhile)."""
    if not store.info.transactions:
        yield store
        return
    session = store.client.start_session(snapshot=True)
    store.set_read_session(session)
    try:
        yield store
    finally:
        store.set_read_session(None)
        session.end_session()


def export_records(store: MongoStore, name: str) -> Iterator[Doc]:
    if name not in BACKUP_COLLECTIONS:
        raise ValueError(f"no collection {name!r} in a backup")
    session = store.session()
    if name in RECORD_COLLECTIONS or name in ("counters", "settings"):
        repo: Any = getattr(store, name)
        cursor = store.db[name].find({}, session=session).sort([("_id", 1)])
        for doc in cursor.batch_size(BATCH):
            yield repo.out(doc)
    else:  # audit: unsealed entries (no seq) sort first, then the chain by seq, then id
        cursor = store.db["audit"].find({}, session=session).sort([("seq", 1), ("_id", 1)])
        for doc in cursor.batch_size(BATCH):
            yield store.audit.out(doc)  # type: ignore[attr-defined]


def export_files(store: MongoStore) -> Iterator[tuple[FileInfo, bytes]]:
    session = store.session()
    bucket = store.files_bucket()
    files = store.db["report_files.files"].find({}, session=session).sort([("_id", 1)])
    for doc in files.batch_size(BATCH):
        metadata = dict(doc.get("metadata") or {})
        expected = metadata.pop("sha256", None)
        with bucket.open_download_stream(doc["_id"], session=session) as grid:
            data = grid.read()
        digest = hashlib.sha256(data).hexdigest()
        if expected != digest:
            raise StoreCorrupt(f"The stored report file {doc['_id']} no longer matches its "
                               "checksum, so it cannot be backed up as it was. Restore it "
                               "from an earlier backup.")
        info: FileInfo = {"file_id": str(doc["_id"]), "filename": doc.get("filename") or "",
                          "length": len(data), "sha256": digest, "metadata": metadata}
        yield info, data


def import_records(store: MongoStore, name: str, docs: Sequence[Doc]) -> None:
    if name not in BACKUP_COLLECTIONS:
        raise ValueError(f"no collection {name!r} in a backup")
    if not docs:
        return
    if name in RECORD_COLLECTIONS:
        repo: Any = getattr(store, name)
        repo.add_many(list(docs))  # keeps ids and versions, adds the query fields
        return
    rows = [{"_id": doc["id"], **clean({k: v for k, v in doc.items() if k != "id"})}
            for doc in docs]
    store.db[name].insert_many(rows, ordered=True, session=store.session())


def import_file(store: MongoStore, info: FileInfo, data: bytes) -> None:
    from bson import ObjectId

    store.files_bucket().upload_from_stream_with_id(
        ObjectId(info["file_id"]), info["filename"], data,
        metadata=clean({**info["metadata"], "sha256": info["sha256"]}))


def import_audit_head(store: MongoStore, head: AuditHead) -> None:
    store.db["meta"].insert_one({"_id": AUDIT_HEAD, "seq": int(head["seq"]),
                                 "hash": head["hash"], "seal": head["seal"]},
                                session=store.session())


def has_files(store: MongoStore) -> bool:
    return store.db["report_files.files"].find_one({}, {"_id": 1},
                                                   session=store.session()) is not None
