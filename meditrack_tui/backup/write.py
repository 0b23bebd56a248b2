"""Writing a backup from a live store (a consistent snapshot), and when it was made."""

from __future__ import annotations

import json
import os
import secrets
import zipfile
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from .. import __version__
from ..store.base import BACKUP_COLLECTIONS, EMBEDDED, FileInfo, Store
from .format import (
    CONSISTENCY_TRIES,
    FILES_MEMBER,
    FORMAT,
    FORMAT_VERSION,
    LAST_BACKUP,
    MANIFEST,
    BackupError,
    _default,
    _Hashing,
    encode_line,
    file_member,
    record_member,
)

# --- writing ---

@dataclass
class BackupSummary:
    """What a backup holds."""

    path: Path
    counts: dict[str, int]
    files: int
    consistency: str
    created_at: datetime

    def lines(self) -> list[str]:
        held = ", ".join(f"{n} {name}" for name, n in self.counts.items())
        return [f"Backup written to {self.path}: {held}, {self.files} report files.",
                f"Consistency: {self.consistency}."]


def _marks(store: Store) -> tuple[int, int | None]:
    """What moves whenever anything is written: the change log and the audit head."""
    head = store.audit.head()
    return store.changes.last_seq(), None if head is None else head["seq"]


def _dump(view: Store, archive: zipfile.ZipFile, manifest: dict[str, Any]) -> None:
    members: dict[str, Any] = manifest["members"]
    counts: dict[str, int] = manifest["collections"]
    for name in BACKUP_COLLECTIONS:
        member = record_member(name)
        with archive.open(member, "w", force_zip64=True) as raw:
            out = _Hashing(raw)
            for doc in view.export_records(name):
                out.write(encode_line(doc))
        members[member] = out.entry(lines=True)
        counts[name] = out.lines
    manifest["audit_head"] = view.audit.head()
    files: list[FileInfo] = []
    for info, data in view.export_files():
        member = file_member(info["file_id"])
        with archive.open(member, "w", force_zip64=True) as raw:
            out = _Hashing(raw)
            out.write(data)
        members[member] = out.entry(lines=False)
        files.append(info)
    with archive.open(FILES_MEMBER, "w") as raw:
        out = _Hashing(raw)
        for info in files:
            out.write(encode_line(info))
    members[FILES_MEMBER] = out.entry(lines=True)
    manifest["files"] = len(files)


def _private_temp(folder: Path, name: str) -> tuple[Path, int]:
    """A new file (0600) beside the backup, under a name nobody else uses."""
    tmp = folder / f".{name}.{os.getpid()}.{secrets.token_hex(4)}.tmp"
    return tmp, os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)


def write_backup(store: Store, path: Path, *, now: datetime | None = None) -> BackupSummary:
    """Write a backup of ``store`` to ``path`` (a new file: never overwritten), while other
    sessions keep working. Written whole under a temporary name (0600), then linked into
    place."""
    path = Path(path)
    if path.exists() or path.is_symlink():
        raise BackupError(f"{path} already exists; a backup never overwrites a file. "
                          "Choose a new file name.")
    folder = path.parent if str(path.parent) else Path(".")
    if not folder.is_dir():
        raise BackupError(f"The folder {folder} does not exist; create it first.")
    created = now or datetime.now().replace(microsecond=0)
    tmp, fd = _private_temp(folder, path.name)
    try:
        with os.fdopen(fd, "w+b") as handle:
            manifest: dict[str, Any] = {}
            for attempt in range(1, CONSISTENCY_TRIES + 1):
                handle.seek(0)
                handle.truncate()
                manifest = {
                    "format": FORMAT, "format_version": FORMAT_VERSION,
                    "meditrack_version": __version__, "store_kind": store.info.kind,
                    "schema_version": getattr(store, "schema_version", None),
                    "created_at": created.isoformat(timespec="seconds"),
                    "collections": {}, "members": {}}
                before = None if store.info.transactions else _marks(store)
                with zipfile.ZipFile(handle, "w", zipfile.ZIP_DEFLATED) as archive:
                    with store.snapshot() as view:
                        _dump(view, archive, manifest)
                    if before is None:
                        manifest["consistency"] = (
                            "one moment (SQLite online backup)" if store.info.kind == EMBEDDED
                            else "one moment (MongoDB snapshot read)")
                    elif _marks(store) == before:
                        manifest["consistency"] = ("one moment (standalone MongoDB: nothing "
                                                   "was written while it was read)")
                    elif attempt == CONSISTENCY_TRIES:
                        raise BackupError(
                            "The database kept changing while it was read, so no consistent "
                            f"backup could be made in {CONSISTENCY_TRIES} tries (a standalone "
                            "MongoDB server has no snapshot reads). Try again when the clinic "
                            "is quieter, or run MongoDB as a replica set.")
                    else:
                        continue
                    archive.writestr(MANIFEST, json.dumps(manifest, indent=1, sort_keys=True,
                                                          default=_default))
                break
            handle.flush()
            os.fsync(handle.fileno())
        try:
            os.link(tmp, path)  # refuses an existing file, unlike a rename
        except FileExistsError:
            raise BackupError(f"{path} appeared while the backup was written; it was left "
                              "as it is. Choose a new file name.") from None
    finally:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
    _sync_folder(folder)
    return BackupSummary(path, dict(manifest["collections"]), int(manifest["files"]),
                         str(manifest["consistency"]), created)


def _sync_folder(folder: Path) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def record_last_backup(data_dir: Path, summary: BackupSummary) -> None:
    """Note when (and where to) the last backup was made, for ``meditrack doctor``."""
    target = Path(data_dir) / LAST_BACKUP
    tmp, fd = _private_temp(Path(data_dir), LAST_BACKUP)
    try:
        with os.fdopen(fd, "w") as handle:
            json.dump({"at": summary.created_at.isoformat(timespec="seconds"),
                       "file": str(summary.path.resolve())}, handle)
        os.replace(tmp, target)
    finally:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass


def last_backup(data_dir: Path) -> datetime | None:
    """When the last backup recorded in the data directory was made (None: never)."""
    try:
        data = json.loads((Path(data_dir) / LAST_BACKUP).read_text())
        return datetime.fromisoformat(data["at"])
    except (OSError, ValueError, KeyError, TypeError):
        return None


