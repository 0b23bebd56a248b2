"""Restoring a backup into an empty store, then checking what was restored."""

from __future__ import annotations

import hashlib
import io
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

from ..audit_chain import AuditKey, Report
from ..audit_chain import verify as verify_chain
from ..store.base import BACKUP_COLLECTIONS, EMBEDDED, Doc, FileInfo, Store
from ..store.rows import AuditHead
from .check import _lines, _read_member, check_members, open_backup, read_records, wrong_key_note
from .format import (
    BATCH,
    FILES_MEMBER,
    BackupDamaged,
    BackupError,
    _Hashing,
    decode_line,
    encode_line,
    file_member,
    record_member,
)

# --- restoring ---

@dataclass
class Restored:
    """What a restore did and found."""

    counts: dict[str, int]
    files: int
    problems: list[str]
    chain: Report | None
    chain_note: str | None

    @property
    def intact(self) -> bool:
        return not self.problems and self.chain is not None and self.chain.intact

    def lines(self) -> list[str]:
        held = ", ".join(f"{n} {name}" for name, n in self.counts.items())
        out = [f"Restored {held}, {self.files} report files.", *self.problems]
        if not self.problems:
            out.append("Every collection and report file matches the backup's counts and "
                       "SHA-256 sums.")
        if self.chain is not None:
            out += self.chain.lines()
        if self.chain_note:
            out.append(self.chain_note)
        return out


def _batches(items: Iterable[Doc]) -> Iterator[list[Doc]]:
    batch: list[Doc] = []
    for item in items:
        batch.append(item)
        if len(batch) >= BATCH:
            yield batch
            batch = []
    if batch:
        yield batch


def restore_backup(path: Path, store: Store, key: AuditKey | None, *,
                   no_key_note: str | None = None,
                   progress: Callable[[str], None] | None = None) -> Restored:
    """Restore a backup into ``store``, which must be empty, then check what was stored
    against the backup: each collection re-read gives the same records (SHA-256 of the
    same lines), each file its SHA-256, and (with ``key``) the audit chain verifies."""
    archive, manifest = open_backup(path)
    with archive:
        problems = check_members(archive, manifest)
        if problems:
            raise BackupDamaged("The backup is damaged, so nothing was restored: "
                              + " ".join(problems))
        found = store.holds_data()
        if found:
            raise BackupError(
                f"The target store is not empty (it holds {', '.join(found)}), so nothing "
                "was restored: a restore never mixes with or overwrites records. Restore "
                "into a new data directory (or an empty MongoDB database).")
        say = progress or (lambda text: None)
        # the embedded store takes it in one transaction: all of it or nothing
        with store.bulk() if store.info.kind == EMBEDDED else _nothing():
            for name in BACKUP_COLLECTIONS:
                say(f"Restoring {name}")
                for batch in _batches(read_records(archive, name)):
                    store.import_records(name, batch)
            say("Restoring report files")
            for line in _lines(archive, FILES_MEMBER):
                if not line.strip():
                    continue
                info: FileInfo = decode_line(line)
                data = b"".join(_read_member(archive, file_member(info["file_id"])))
                store.import_file(info, data)
            head: AuditHead | None = manifest.get("audit_head")
            if head is not None:
                store.import_audit_head(head)
    say("Checking what was restored")
    return check_restored(store, manifest, key, no_key_note=no_key_note)


class _nothing:
    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: object) -> None:
        return None


def check_restored(store: Store, manifest: dict[str, Any], key: AuditKey | None, *,
                   no_key_note: str | None = None) -> Restored:
    """Re-read everything from ``store`` and compare it with the manifest."""
    members: dict[str, Any] = manifest.get("members") or {}
    problems: list[str] = []
    counts: dict[str, int] = {}
    for name in BACKUP_COLLECTIONS:
        out = _Hashing(io.BytesIO())
        for doc in store.export_records(name):
            out.write(encode_line(doc))
        expected = members.get(record_member(name)) or {}
        counts[name] = out.lines
        if out.lines != expected.get("count"):
            problems.append(f"{name}: {out.lines} records restored, the backup holds "
                            f"{expected.get('count')}.")
        elif out.sha.hexdigest() != expected.get("sha256"):
            problems.append(f"{name}: the restored records differ from the backup's.")
    files = 0
    for info, data in store.export_files():
        files += 1
        expected = members.get(file_member(info["file_id"])) or {}
        if hashlib.sha256(data).hexdigest() != expected.get("sha256"):
            problems.append(f"report file {info['file_id']} ({info['filename']}) differs "
                            "from the backup's.")
    if files != manifest.get("files"):
        problems.append(f"{files} report files restored, the backup holds "
                        f"{manifest.get('files')}.")
    chain = None
    note = no_key_note
    if key is not None:
        chain = verify_chain(cast(Any, store.audit), key)
        note = wrong_key_note(store.audit, key, chain)
    return Restored(counts, files, problems, chain, note)
