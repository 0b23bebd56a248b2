"""The backup file's format: its members, records as JSON lines, hashing."""

from __future__ import annotations

import hashlib
import json
from datetime import datetime
from typing import IO, Any

from ..errors import MediTrackError

FORMAT = "meditrack-backup"
FORMAT_VERSION = 1
MANIFEST = "manifest.json"
FILES_MEMBER = "records/report_files.jsonl"
LAST_BACKUP = "last-backup.json"   # in the data directory: when the last backup was made
BATCH = 500
CONSISTENCY_TRIES = 3              # dumps of a standalone MongoDB before giving up


class BackupError(MediTrackError):
    """A backup could not be written, read or restored (the message says why)."""

    title = "Backup"


class BackupDamaged(BackupError):
    """The backup file is damaged or not a backup (a member fails its check)."""


# --- records as JSON lines ---

def _default(value: Any) -> Any:
    if isinstance(value, datetime):
        return {"$date": value.replace(microsecond=value.microsecond // 1000 * 1000)
                .isoformat(timespec="milliseconds")}
    if isinstance(value, tuple):
        return list(value)
    raise TypeError(f"a record holds a value of type {type(value).__name__}")


def _hook(obj: dict[str, Any]) -> Any:
    if len(obj) == 1 and "$date" in obj and isinstance(obj["$date"], str):
        return datetime.fromisoformat(obj["$date"])
    return obj


_encoder = json.JSONEncoder(sort_keys=True, ensure_ascii=False, separators=(",", ":"),
                            allow_nan=False, default=_default)
_decoder = json.JSONDecoder(object_hook=_hook)


def encode_line(doc: Any) -> bytes:
    """A record as one line of the backup (the same record gives the same bytes)."""
    return (_encoder.encode(doc) + "\n").encode("utf-8")


def decode_line(line: bytes) -> Any:
    return _decoder.decode(line.decode("utf-8"))


def record_member(name: str) -> str:
    return f"records/{name}.jsonl"


def file_member(file_id: str) -> str:
    return f"files/{file_id}"


class _Hashing:
    """Counts lines and hashes what passes through to a zip member."""

    def __init__(self, out: IO[bytes]) -> None:
        self.out = out
        self.sha = hashlib.sha256()
        self.size = 0
        self.lines = 0

    def write(self, data: bytes) -> None:
        self.out.write(data)
        self.sha.update(data)
        self.size += len(data)
        self.lines += data.count(b"\n")

    def entry(self, *, lines: bool) -> dict[str, Any]:
        info: dict[str, Any] = {"sha256": self.sha.hexdigest(), "size": self.size}
        if lines:
            info["count"] = self.lines
        return info


