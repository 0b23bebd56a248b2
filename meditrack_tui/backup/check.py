"""Reading a backup and checking it without restoring: members, counts, the audit chain."""

from __future__ import annotations

import hashlib
import json
import zipfile
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from ..audit_chain import AuditKey, Report
from ..audit_chain import verify as verify_chain
from ..store.base import Doc
from .format import (
    FORMAT,
    FORMAT_VERSION,
    MANIFEST,
    BackupDamaged,
    BackupError,
    decode_line,
    record_member,
)

# --- reading and checking ---

@dataclass
class Check:
    """What checking a backup found; ``problems`` name the member that fails."""

    manifest: dict[str, Any] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)
    chain: Report | None = None
    chain_note: str | None = None

    @property
    def intact(self) -> bool:
        return not self.problems and (self.chain is None or self.chain.intact)

    def lines(self) -> list[str]:
        out: list[str] = []
        m = self.manifest
        if m:
            counts = ", ".join(f"{n} {name}" for name, n in m.get("collections", {}).items())
            kind = {"embedded": "the embedded store", "mongodb": "MongoDB"}.get(
                str(m.get("store_kind")), str(m.get("store_kind")))
            out.append(f"Backup of {kind} made {m.get('created_at')} "
                       f"(schema {m.get('schema_version')}): {counts}, "
                       f"{m.get('files', 0)} report files.")
        out += self.problems
        if self.chain is not None:
            out += self.chain.lines()
        if self.chain_note:
            out.append(self.chain_note)
        if not self.problems:
            out.append("Every member matches its SHA-256 and count in the manifest.")
        return out


def _read_member(archive: zipfile.ZipFile, member: str) -> Iterator[bytes]:
    """A member's bytes in pieces; a damaged member raises BackupError naming it."""
    try:
        with archive.open(member) as raw:
            while piece := raw.read(1 << 16):
                yield piece
    except (zipfile.BadZipFile, zlib.error, EOFError, OSError) as exc:
        raise BackupDamaged(f"{member} is damaged ({exc}).") from exc


def _lines(archive: zipfile.ZipFile, member: str) -> Iterator[bytes]:
    rest = b""
    for piece in _read_member(archive, member):
        rest += piece
        *done, rest = rest.split(b"\n")
        yield from done
    if rest:
        yield rest


def open_backup(path: Path) -> tuple[zipfile.ZipFile, dict[str, Any]]:
    """The archive and its manifest; BackupError when it is not a readable backup."""
    path = Path(path)
    if not path.is_file():
        raise BackupError(f"There is no backup file {path}.")
    try:
        archive = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError) as exc:
        raise BackupDamaged(f"{path} is not a MediTrack backup, or it is damaged ({exc}).") from exc
    try:
        manifest = json.loads(b"".join(_read_member(archive, MANIFEST)))
    except KeyError:
        archive.close()
        raise BackupDamaged(f"{path} is not a MediTrack backup (it has no {MANIFEST}).") from None
    except (BackupError, ValueError) as exc:
        archive.close()
        raise BackupDamaged(f"{path}: its {MANIFEST} is damaged, so nothing in it can be "
                          "trusted.") from exc
    if manifest.get("format") != FORMAT:
        archive.close()
        raise BackupDamaged(f"{path} is not a MediTrack backup.")
    if int(manifest.get("format_version") or 0) > FORMAT_VERSION:
        archive.close()
        raise BackupError(f"{path} was written by a newer MediTrack (backup format "
                          f"{manifest.get('format_version')}); update MediTrack to read it.")
    return archive, manifest


def check_members(archive: zipfile.ZipFile, manifest: dict[str, Any]) -> list[str]:
    """Every member's SHA-256, size and line count against the manifest: one sentence per
    member that fails, naming it."""
    problems: list[str] = []
    listed: dict[str, Any] = manifest.get("members") or {}
    present = set(archive.namelist())
    for member, expected in listed.items():
        if member not in present:
            problems.append(f"{member} is missing from the backup.")
            continue
        sha, size, lines = hashlib.sha256(), 0, 0
        try:
            for piece in _read_member(archive, member):
                sha.update(piece)
                size += len(piece)
                lines += piece.count(b"\n")
        except BackupError as exc:
            problems.append(exc.message)
            continue
        if sha.hexdigest() != expected.get("sha256") or size != expected.get("size"):
            problems.append(f"{member} does not match its SHA-256 in the manifest: it was "
                            "changed or damaged after the backup was made.")
        elif "count" in expected and lines != expected["count"]:
            problems.append(f"{member} holds {lines} records; the manifest says "
                            f"{expected['count']}.")
    for member in sorted(present - set(listed) - {MANIFEST}):
        problems.append(f"{member} is in the backup but not in its manifest (added later).")
    for name, count in (manifest.get("collections") or {}).items():
        entry = listed.get(record_member(name)) or {}
        if entry.get("count") != count:
            problems.append(f"{record_member(name)}: the manifest's counts disagree.")
    return problems


class _ChainInBackup:
    """The audit trail of a backup as ``audit_chain.verify`` reads it."""

    def __init__(self, entries: list[Doc], head: Doc | None) -> None:
        self.sealed = sorted((e for e in entries if isinstance(e.get("seq"), int)
                              and e["seq"] > 0), key=lambda e: (e["seq"], e["id"]))
        self.loose = sorted((e for e in entries if not (isinstance(e.get("seq"), int)
                                                         and e["seq"] > 0)),
                            key=lambda e: (e.get("ts") or datetime.min, e["id"]))
        self._head = head

    def chain(self, after: tuple[int, str] | None, limit: int) -> list[dict[str, Any]]:
        rows = self.sealed if after is None else [
            e for e in self.sealed if (e["seq"], e["id"]) > after]
        return [dict(e) for e in rows[:limit]]

    def head(self) -> dict[str, Any] | None:
        return None if self._head is None else dict(self._head)

    def unsealed(self, after: datetime | None, limit: int
                 ) -> tuple[int, int, list[dict[str, Any]]]:
        if after is None or not self.loose:
            return len(self.loose), 0, []
        later = [e for e in self.loose if isinstance(e.get("ts"), datetime) and e["ts"] > after]
        return len(self.loose), len(later), [dict(e) for e in later[:limit]]


def read_records(archive: zipfile.ZipFile, name: str) -> Iterator[Doc]:
    for line in _lines(archive, record_member(name)):
        if line.strip():
            yield decode_line(line)


def verify_backup(path: Path, key: AuditKey | None = None, *,
                  no_key_note: str | None = None) -> Check:
    """Check a backup without restoring it: every member against the manifest, then (with
    ``key``) the audit trail inside against its seals."""
    archive, manifest = open_backup(path)
    with archive:
        result = Check(manifest, check_members(archive, manifest))
        if any(record_member("audit") in p for p in result.problems):
            return result
        if key is None:
            result.chain_note = no_key_note
        else:
            trail = _ChainInBackup(list(read_records(archive, "audit")),
                                   manifest.get("audit_head"))
            result.chain = verify_chain(trail, key)
            result.chain_note = wrong_key_note(trail, key, result.chain)
    return result


def wrong_key_note(source: Any, key: AuditKey, report: Report) -> str | None:
    """When a trail fails from its first seal and its head's, the secret is the likely
    cause (not tampering): say so."""
    if report.intact:
        return None
    head = source.head()
    first = source.chain(None, 1)
    if head is not None and first and not key.check_head(head) and not key.check(first[0]):
        return ("None of the audit seals match this secret: the secret here is not the one "
                "the clinic's trail was sealed with. Copy secret.key from the data directory "
                "of the server the backup was made on (or set MEDITRACK_SECRET to it) and "
                "check again.")
    return None


