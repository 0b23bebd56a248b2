"""Backups: one portable file for both stores, written from a live store, checked
without restoring, and restored into an empty store with every record, file and audit
seal verified.

The file is a zip archive:

- ``manifest.json``: format and version, the store kind and schema version it came from,
  when it was made, how it was made consistent, the audit chain's head record, each
  collection's record count, and the SHA-256, size and line count of every other member;
- ``records/<collection>.jsonl``: one record a line (sorted-key JSON; datetimes as
  ``{"$date": "<ISO, milliseconds>"}``), ids, versions and audit seals as stored;
- ``records/report_files.jsonl``: each report file's details, and ``files/<file id>``
  its bytes.

Not in a backup: login sessions (a restore signs everyone out: a session revoked after
the backup must not come back to life), the change log (notifications for open screens,
pruned by age) and the signing secret (``secret.key``): the audit trail's seals and the
sessions' tokens are keyed with it, so a backup that carried it would let whoever holds
the file forge a trail that verifies. Keep a copy of ``secret.key`` apart from the
backups (it changes never); a restore on another machine needs it copied there.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import secrets
import zipfile
import zlib
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import IO, Any, cast

from . import __version__
from .audit_chain import AuditKey, Report
from .audit_chain import verify as verify_chain
from .errors import MediTrackError
from .store.base import BACKUP_COLLECTIONS, EMBEDDED, AuditHead, Doc, FileInfo, Store

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
