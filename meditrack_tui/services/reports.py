"""Health reports: files validated by content (not name) and size, kept in GridFS with SHA-256."""

from __future__ import annotations

import csv
import hashlib
import io
import os
from pathlib import Path
from typing import Any

from .. import policy
from ..errors import NotFound, ValidationError
from ..validation import Checker
from ..store import Corrupt
from .base import Service, Session, public, ref
from .patients import PatientService

KINDS = ("lab result", "test report", "prescription", "imaging", "other")
# detected type -> (label, extensions that may carry it)
ALLOWED = {
    "application/pdf": ("PDF", (".pdf",)),
    "image/png": ("PNG image", (".png",)),
    "image/jpeg": ("JPEG image", (".jpg", ".jpeg")),
    "text/plain": ("plain text", (".txt", ".text", ".log", ".md", "")),
    "text/csv": ("CSV table", (".csv",)),
}
PREVIEWABLE = ("text/plain", "text/csv")


def _looks_like_csv(text: str) -> bool:
    lines = [line for line in text.splitlines() if line.strip()][:50]
    if len(lines) < 2:
        return False
    try:
        rows = list(csv.reader(io.StringIO("\n".join(lines))))
    except csv.Error:
        return False
    widths = {len(row) for row in rows}
    return len(widths) == 1 and widths.pop() >= 2


_CONTROL = set(range(0, 32)) - {9, 10, 12, 13}


def decode_text(data: bytes) -> str | None:
    """Text of a plain-text file: UTF-8 (with or without BOM), UTF-16 with a BOM, or the
    Windows-1252/Latin-1 that older lab systems export; None when it is not text."""
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        try:
            text = data.decode("utf-16")
        except UnicodeDecodeError:
            return None
    else:
        if b"\x00" in data:
            return None
        try:
            text = data.decode("utf-8-sig")
        except UnicodeDecodeError:
            try:
                text = data.decode("cp1252")
            except UnicodeDecodeError:
                return None
    if any(ord(ch) in _CONTROL for ch in text[:65536]):
        return None
    return text


def detect_type(data: bytes, filename: str) -> str | None:
    """The content type by magic bytes (filetype) or, for text, by decoding; None if not allowed."""
    import filetype

    kind = filetype.guess(data[:8192])
    if kind is not None:
        return kind.mime if kind.mime in ALLOWED else None
    text = decode_text(data)
    if text is None:
        return None
    if filename.lower().endswith(".csv") or _looks_like_csv(text):
        return "text/csv" if _looks_like_csv(text) else "text/plain"
    return "text/plain"


def check_file(filename: str, data: bytes, max_bytes: int) -> str:
    """Validate a file's size and content type against its name; return the detected type."""
    if not data:
        raise ValidationError({"file": "The file is empty."})
    if len(data) > max_bytes:
        raise ValidationError({"file": f"The file is {len(data) / 1048576:.1f} MB; the limit is "
                                       f"{max_bytes / 1048576:.0f} MB."})
    mime = detect_type(data, filename)
    if mime is None:
        allowed = ", ".join(label for label, _ in ALLOWED.values())
        raise ValidationError({"file": f"This kind of file is not accepted. Allowed: {allowed}."})
    ext = os.path.splitext(filename)[1].lower()
    label, extensions = ALLOWED[mime]
    if ext not in extensions:
        if mime == "text/plain" and ext == ".csv":
            raise ValidationError({"file": "The file is named .csv but is not a table of "
                                           "comma-separated values."})
        raise ValidationError({"file": f"The file is named {ext or 'without an extension'} "
                                       f"but its content is {label}. Rename it or choose the "
                                       "right file."})
    return mime


def read_upload(path: Any, max_bytes: int) -> tuple[str, bytes]:
    """Read a file the user chose, with a clear message for every way that can fail."""
    if not isinstance(path, (str, os.PathLike)) or not str(path).strip():
        raise ValidationError({"path": "Choose a file to upload."})
    p = Path(str(path).strip()).expanduser()
    if not p.exists():
        raise ValidationError({"path": f"There is no file at {p}."})
    if p.is_dir():
        raise ValidationError({"path": f"{p} is a folder, not a file."})
    if not p.is_file():
        raise ValidationError({"path": f"{p} is not a regular file."})
    size = p.stat().st_size
    if size > max_bytes:
        raise ValidationError({"file": f"The file is {size / 1048576:.1f} MB; the limit is "
                                       f"{max_bytes / 1048576:.0f} MB."})
    try:
        with p.open("rb") as handle:
            data = handle.read(max_bytes + 1)
    except PermissionError:
        raise ValidationError({"path": f"You may not read {p} (permission denied)."}) from None
    except OSError as exc:
        raise ValidationError({"path": f"Cannot read {p}: {exc.strerror or exc}."}) from None
    return p.name, data


class ReportService(Service):
    """Upload, list, read and delete report files as the role allows."""

    def _get(self, report_id: Any) -> dict[str, Any]:
        doc = self.store.reports.get(ref(report_id, "report"))
        if doc is None:
            raise NotFound("That report does not exist.")
        return doc

    def upload(self, session: Session, patient_id: Any, path: Any, *, kind: Any,
               note: Any = None) -> dict[str, Any]:
        """Upload a file from a path on this machine."""
        pid = PatientService(self.ctx).require_visible(session, patient_id, "report.upload")
        name, data = read_upload(path, self.ctx.config.max_upload_bytes)
        return self._save_upload(session, pid, name, data, kind, note)

    def upload_bytes(self, session: Session, patient_id: Any, filename: Any, data: Any, *,
                     kind: Any, note: Any = None) -> dict[str, Any]:
        """Upload file content directly (the seed and tests use this)."""
        pid = PatientService(self.ctx).require_visible(session, patient_id, "report.upload")
        check = Checker()
        name = check.text("filename", filename, required=True, max_len=200)
        if not isinstance(data, (bytes, bytearray)):
            check.fail("file", "The file content is missing.")
        check.done()
        assert name
        return self._save_upload(session, pid, os.path.basename(name), bytes(data), kind, note)

    def _save_upload(self, session: Session, pid: Any, name: str, data: bytes, kind: Any,
               note: Any) -> dict[str, Any]:
        check = Checker()
        kind_v = check.choice("kind", kind, KINDS)
        note_v = check.text("note", note, max_len=500)
        check.done()
        mime = check_file(name, data, self.ctx.config.max_upload_bytes)
        digest = hashlib.sha256(data).hexdigest()
        now = self.ctx.now()
        with self.uow():
            file_id = self.store.reports.put_file(
                name, data,
                {"sha256": digest, "size": len(data), "content_type": mime,
                 "uploaded_by": session.username, "patient_id": pid})
            doc = self.store.reports.add({
                "patient_id": pid, "file_id": file_id, "filename": name, "kind": kind_v,
                "note": note_v, "content_type": mime, "size": len(data), "sha256": digest,
                "uploaded_by": session.username, "uploader_role": session.role,
                "uploaded_at": now})
            self.audit(session, "report.upload", record_type="report", record_id=doc["id"],
                       patient_id=pid, detail=f"{name} ({mime}, {len(data)} bytes)")
            self.changed("reports", "insert", doc["id"], patient_id=pid, session=session)
        return public(doc) or {}

    def list(self, session: Session, patient_id: Any, *, kind: Any = None
             ) -> list[dict[str, Any]]:
        """A patient's reports, newest first."""
        pid = PatientService(self.ctx).require_visible(session, patient_id, "report.read")
        kind_v = None
        if kind not in (None, ""):
            check = Checker()
            kind_v = check.choice("kind", kind, KINDS)
            check.done()
        return [public(d) or {} for d in self.store.reports.for_patient(pid, kind=kind_v)]

    def read(self, session: Session, report_id: Any) -> tuple[dict[str, Any], bytes]:
        """The report's details and content (audited as a download)."""
        doc = self._get(report_id)
        self.authorize(session, "report.read", patient_id=doc["patient_id"],
                       record_type="report", record_id=doc["id"])
        try:
            data = self.store.reports.read_file(doc["file_id"])
        except Corrupt:
            data = b""
        if hashlib.sha256(data).hexdigest() != doc["sha256"]:
            raise ValidationError({"file": "The stored file is damaged (checksum mismatch)."})
        self.audit(session, "report.download", record_type="report", record_id=doc["id"],
                   patient_id=doc["patient_id"])
        return public(doc) or {}, data

    def preview(self, session: Session, report_id: Any, max_chars: int = 20000) -> str:
        """The text of a text or CSV report, for showing inside the app."""
        info, data = self.read(session, report_id)
        if info["content_type"] not in PREVIEWABLE:
            raise ValidationError({"file": "Only text and CSV reports can be previewed here; "
                                           "save a copy to open it."})
        return (decode_text(data) or data.decode("utf-8", errors="replace"))[:max_chars]

    def save_copy(self, session: Session, report_id: Any, destination: Any,
                  *, overwrite: bool = False) -> str:
        """Write the report to a path; an existing file is never overwritten silently."""
        check = Checker()
        dest_text = check.text("destination", destination, required=True, max_len=1000)
        check.done()
        info, data = self.read(session, report_id)
        dest = Path(str(dest_text)).expanduser()
        if dest.is_dir():
            dest = dest / info["filename"]
        if dest.exists() and not overwrite:
            raise ValidationError({"destination": f"{dest} already exists. Choose another name "
                                                  "or confirm that it may be replaced."})
        if not dest.parent.is_dir():
            raise ValidationError({"destination": f"The folder {dest.parent} does not exist."})
        try:
            flags = os.O_WRONLY | os.O_CREAT | (os.O_TRUNC if overwrite else os.O_EXCL)
            fd = os.open(dest, flags, 0o600)
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
        except FileExistsError:
            raise ValidationError({"destination": f"{dest} already exists."}) from None
        except OSError as exc:
            raise ValidationError({"destination": f"Cannot write {dest}: "
                                                  f"{exc.strerror or exc}."}) from None
        self.audit(session, "report.save-copy", record_type="report", record_id=info["id"],
                   patient_id=info["patient_id"], detail=str(dest))
        return str(dest)

    def delete(self, session: Session, report_id: Any) -> None:
        """Delete a report (patients only what they uploaded themselves)."""
        doc = self._get(report_id)
        self.authorize(session, "report.delete", patient_id=doc["patient_id"],
                       record_type="report", record_id=doc["id"])
        if session.role == policy.PATIENT and doc.get("uploaded_by") != session.username:
            self._deny(session, "report.delete", "report", doc["id"], doc["patient_id"],
                       "You can only delete reports you uploaded yourself.")
        with self.uow():
            self.store.reports.delete(doc["id"])
            self.store.reports.delete_file(doc["file_id"])
            self.audit(session, "report.delete", record_type="report", record_id=doc["id"],
                       patient_id=doc["patient_id"], detail=doc["filename"])
            self.changed("reports", "delete", doc["id"], patient_id=doc["patient_id"],
                         session=session)
