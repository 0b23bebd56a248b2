"""Health reports: files validated by content (not name) and size, kept in GridFS with SHA-256."""

from __future__ import annotations

import builtins
import csv
import hashlib
import io
import os
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from .. import files, policy
from ..errors import NotFound, ValidationError
from ..files import Folder, IncomingFile
from ..store import Corrupt, ReportRow
from ..validation import Checker
from .base import Service, Session, describe, public, ref
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
PREVIEWABLE = ("text/plain", "text/csv", "application/pdf")  # a PDF: a summary


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


def check_pdf(data: bytes) -> None:
    """A file that starts like a PDF must be one: it parses (strictly, with pypdf), every
    page's content resolves, and nothing follows its last end-of-file marker (a PDF with a
    web page or an archive appended to it is refused)."""
    import logging

    import pypdf
    from pypdf.errors import PyPdfError

    refused = ValidationError({"file": "The file starts like a PDF but is not a well-formed "
                                       "PDF document, or has other data appended to it. "
                                       "Export or scan it again as a PDF."})
    if not data.rstrip().endswith(b"%%EOF"):
        raise refused
    logging.getLogger("pypdf").setLevel(logging.CRITICAL)  # its warnings would hit the screen
    try:
        reader = pypdf.PdfReader(io.BytesIO(data), strict=True)
        if reader.is_encrypted:
            raise ValidationError({"file": "The PDF is password-protected. Save it without "
                                           "a password and upload it again."})
        if len(reader.pages) == 0:
            raise refused
        for page in reader.pages:
            page.get_contents()
        active = _active_content(reader)
        if active:
            raise ValidationError({"file": f"The PDF contains {active}, which a lab result "
                                           "or report does not need. Print it to a new PDF "
                                           "(or scan it) and upload that."})
    except ValidationError:
        raise
    except (PyPdfError, ValueError, KeyError, TypeError, AttributeError, IndexError,
            RecursionError, OSError, AssertionError, ZeroDivisionError):
        # pypdf reports a malformed file with its own errors and, deep inside a broken
        # object graph, with plain Python ones
        raise refused from None


def pdf_summary(data: bytes) -> str:
    """What the app can show of a PDF: its page count, title and the text of its first
    page (the layout, images and later pages need a PDF viewer: save a copy)."""
    import logging

    import pypdf

    logging.getLogger("pypdf").setLevel(logging.CRITICAL)
    try:
        reader = pypdf.PdfReader(io.BytesIO(data))
        pages = len(reader.pages)
        title = (reader.metadata.title if reader.metadata is not None else None) or ""
        first = (reader.pages[0].extract_text() or "").strip() if pages else ""
    except Exception:  # noqa: BLE001 - a damaged file is said as such, never a traceback
        return ("This PDF cannot be read here (it may be damaged). Save a copy to open it "
                "in a PDF viewer.")
    plural = "page" if pages == 1 else "pages"
    lines = [f"PDF document · {pages} {plural}"
             + (f" · title: {' '.join(str(title).split())}" if str(title).strip() else
                " · no title")]
    if first:
        lines += ["", "Text of page 1 (the layout, images"
                  + (", the other pages" if pages > 1 else "")
                  + " and the rest need a PDF viewer: save a copy with s):", "", first]
    else:
        lines += ["", "Page 1 has no text to show (it is probably a scanned image). Save a "
                      "copy with s to see it in a PDF viewer."]
    return "\n".join(lines)


def _active_content(reader: Any) -> str | None:
    """What in a PDF could act or carry other files: scripts, launch actions, forms that
    run scripts, attached files. None for a plain document."""
    if len(reader.attachments):
        return "attached files"
    root = reader.trailer["/Root"]
    names = root.get("/Names")
    names = names.get_object() if names is not None else {}
    if "/JavaScript" in names:
        return "scripts"
    if "/EmbeddedFiles" in names:
        return "attached files"
    acro = root.get("/AcroForm")
    if acro is not None and "/XFA" in acro.get_object():
        return "an XFA form"
    actions = [root.get("/OpenAction"), root.get("/AA")]
    for page in reader.pages:
        actions.append(page.get("/AA"))
        for annot in page.get("/Annots") or ():
            annot = annot.get_object()
            actions += [annot.get("/A"), annot.get("/AA")]
            if annot.get("/Subtype") == "/FileAttachment":
                return "attached files"
    for action in actions:
        kind = _action_kind(action)
        if kind:
            return kind
    return None


def _action_kind(action: Any, depth: int = 0) -> str | None:
    """'scripts' or 'commands' when an action (or a chain of them) runs one."""
    if action is None or depth > 8:
        return None
    action = action.get_object()
    if not hasattr(action, "get"):
        return None
    if action.get("/S") in ("/JavaScript", "/Rendition") or "/JS" in action:
        return "scripts"
    if action.get("/S") in ("/Launch", "/ImportData", "/SubmitForm"):
        return "commands that open programs or send data"
    if "/S" not in action:  # an additional-actions dictionary: each trigger's action
        for value in action.values():
            kind = _action_kind(value, depth + 1)
            if kind:
                return kind
    return _action_kind(action.get("/Next"), depth + 1)


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
    if mime == "application/pdf":
        check_pdf(data)
    if mime == "image/png" and not data.endswith(b"IEND\xaeB`\x82"):
        # a PNG ends with its IEND chunk; anything after it is another file riding along
        raise ValidationError({"file": "The PNG image has other data appended to it. Save "
                                       "the image again and upload that."})
    if ext not in extensions:
        if mime == "text/plain" and ext == ".csv":
            raise ValidationError({"file": "The file is named .csv but is not a table of "
                                           "comma-separated values."})
        raise ValidationError({"file": f"The file is named {ext or 'without an extension'} "
                                       f"but its content is {label}. Rename it or choose the "
                                       "right file."})
    return mime


class ReportService(Service):
    """Upload, list, read and delete report files as the role allows."""

    def _get(self, report_id: Any) -> ReportRow:
        """A report that is not deleted (a deleted one is 'not found' until restored)."""
        doc = self.store.reports.get(ref(report_id, "report"))
        if doc is None or doc.get("deleted_at"):
            raise NotFound("That report does not exist.")
        return doc

    # --- where files come from and go to ---

    def folders(self, session: Session) -> list[Folder]:
        """The folders this user may upload from: their own inbox (created 0700 on first
        use) and, for staff who upload, the scan folders the server's administrator set."""
        self.authorize(session, "report.upload", record_type="report")
        found = [Folder(files.INBOX, "Your inbox", files.user_folder(
            self.ctx.config.data_dir, files.INBOX, session.username))]
        if session.role != policy.PATIENT:
            for n, path in enumerate(self.ctx.config.scan_dirs, start=1):
                found.append(Folder(f"scan:{n}", f"Scans: {path.name or path}", path))
        return found

    def incoming(self, session: Session) -> list[IncomingFile]:
        """The files waiting in this user's upload folders, each with why it cannot be
        uploaded when it cannot (a link, a folder, too big, ...)."""
        out: list[IncomingFile] = []
        for folder in self.folders(session):
            try:
                out += files.list_files(folder, self.ctx.config.max_upload_bytes)
            except ValidationError:
                continue  # a scan folder that is missing is shown as empty
        return out

    def outbox(self, session: Session) -> str:
        """This user's outbox folder (created 0700 on first use), where copies are saved."""
        self.verify(session)
        return str(files.user_folder(self.ctx.config.data_dir, files.OUTBOX, session.username))

    def upload(self, session: Session, patient_id: Any, name: Any, *, kind: Any,
               note: Any = None, folder: Any = files.INBOX) -> dict[str, Any]:
        """Upload a file by its name from one of the user's folders (see :meth:`folders`).
        Nothing else on the server can be reached: no paths, links or special files."""
        pid = PatientService(self.ctx).require_visible(session, patient_id, "report.upload")
        chosen = next((f for f in self.folders(session) if f.key == folder), None)
        if chosen is None:
            raise ValidationError({"file": "Choose a file from your inbox."})
        filename, data = files.read_file(chosen, name, self.ctx.config.max_upload_bytes)
        return self._save_upload(session, pid, filename, data, kind, note)

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
        assert kind_v is not None  # a choice is required: done() refused a missing one
        mime = check_file(name, data, self.ctx.config.max_upload_bytes)
        digest = hashlib.sha256(data).hexdigest()
        now = self.ctx.now()
        with self.uow():
            # the same content (SHA-256) already on this patient's record is refused,
            # naming the earlier upload (a deleted one may be uploaded again)
            same = next((d for d in self.store.reports.for_patient(pid, limit=100000)
                         if d.get("sha256") == digest), None)
            if same is not None:
                raise ValidationError({"file": self._duplicate_text(same)})
            file_id = self.store.reports.put_file(
                name, data,
                {"sha256": digest, "size": len(data), "content_type": mime,
                 "uploaded_by": session.username, "patient_id": pid})
            doc = self.store.reports.add({
                "patient_id": pid, "file_id": file_id, "filename": name, "kind": kind_v,
                "note": note_v, "content_type": mime, "size": len(data), "sha256": digest,
                "uploaded_by": session.username, "uploader_role": session.role,
                "uploaded_at": now, "deleted_at": None, "version": 1})
            self.audit(session, "report.upload", record_type="report", record_id=doc["id"],
                       patient_id=pid, detail=f"{name} ({mime}, {len(data)} bytes)")
            self.changed("reports", "insert", doc["id"], patient_id=pid, session=session)
        return public(doc) or {}

    @staticmethod
    def _duplicate_text(earlier: Mapping[str, Any]) -> str:
        when = earlier.get("uploaded_at")
        at = f" on {when:%d %b %Y at %H:%M}" if isinstance(when, datetime) else ""
        return (f"This file is already on the patient's record: “{earlier.get('filename')}” "
                f"({earlier.get('kind') or 'report'}), uploaded{at} by "
                f"{earlier.get('uploaded_by') or 'someone'}, has the same content. "
                "Nothing was uploaded; open that report instead.")

    def list(self, session: Session, patient_id: Any, *, kind: Any = None
             ) -> list[dict[str, Any]]:
        """A patient's reports, newest first."""
        pid = PatientService(self.ctx).require_visible(session, patient_id, "report.read")
        kind_v = None
        if kind not in (None, ""):
            check = Checker()
            kind_v = check.choice("kind", kind, KINDS)
            check.done()
        with self.uow():
            rows = self.store.reports.for_patient(pid, kind=kind_v)
            self.audit_read(session, "report.list", record_type="report", patient_id=pid,
                            count=len(rows), query=describe(kind=kind_v))
        return [public(d) or {} for d in rows]

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
            raise ValidationError({"file": "Only text, CSV and PDF reports can be previewed "
                                           "here; save a copy to open it."})
        if info["content_type"] == "application/pdf":
            return pdf_summary(data)[:max_chars]
        return (decode_text(data) or data.decode("utf-8", errors="replace"))[:max_chars]

    def save_copy(self, session: Session, report_id: Any) -> str:
        """Write the report as a new file in the user's outbox (never replacing a file:
        a name already there gets " (2)" and so on); returns the path written."""
        info, data = self.read(session, report_id)
        folder = files.user_folder(self.ctx.config.data_dir, files.OUTBOX, session.username)
        dest = files.write_new(folder, info["filename"], data)
        self.audit(session, "report.save-copy", record_type="report", record_id=info["id"],
                   patient_id=info["patient_id"], detail=dest.name)
        return str(dest)

    def delete(self, session: Session, report_id: Any, reason: Any) -> dict[str, Any]:
        """Delete a report with a reason: its uploader or a doctor may. The report and its
        file are kept, out of every list, until an administrator restores it."""
        doc = self._get(report_id)
        self.authorize(session, "report.delete", patient_id=doc["patient_id"],
                       record_type="report", record_id=doc["id"])
        if session.role == policy.PATIENT and doc.get("uploaded_by") != session.username:
            self._deny(session, "report.delete", "report", doc["id"], doc["patient_id"],
                       "You can only delete reports you uploaded yourself.")
        check = Checker()
        why = check.text("reason", reason, required=True, max_len=300, min_len=3)
        check.done()
        if doc.get("deleted_at"):
            raise NotFound("That report was already deleted.")
        with self.uow():
            updated = self.store.reports.update(doc["id"], {
                "deleted_at": self.ctx.now(), "deleted_by": session.username,
                "delete_reason": why}, version=doc.get("version"))
            if updated is None:
                raise NotFound("That report was changed or deleted meanwhile; look again.")
            self.audit(session, "report.delete", record_type="report", record_id=doc["id"],
                       patient_id=doc["patient_id"], detail=f"{doc['filename']}: {why}")
            self.changed("reports", "delete", doc["id"], patient_id=doc["patient_id"],
                         session=session)
        return public(updated) or {}

    def deleted(self, session: Session, patient_id: Any) -> builtins.list[dict[str, Any]]:
        """A patient's deleted reports, for an administrator deciding what to restore."""
        pid = ref(patient_id, "patient")
        self.authorize(session, "report.restore", patient_id=pid, record_type="report")
        with self.uow():
            rows = [public(d) or {} for d in self.store.reports.for_patient(pid, deleted=True)]
            self.audit_read(session, "report.list-deleted", record_type="report",
                            patient_id=pid, count=len(rows))
        return rows

    def restore(self, session: Session, report_id: Any) -> dict[str, Any]:
        """Bring a deleted report back (administrators)."""
        doc = self.store.reports.get(ref(report_id, "report"))
        if doc is None:
            raise NotFound("That report does not exist.")
        self.authorize(session, "report.restore", patient_id=doc["patient_id"],
                       record_type="report", record_id=doc["id"])
        if not doc.get("deleted_at"):
            raise NotFound("That report is not deleted.")
        with self.uow():
            updated = self.store.reports.update(doc["id"], {
                "deleted_at": None, "deleted_by": None, "delete_reason": None},
                version=doc.get("version"))
            if updated is None:
                raise NotFound("That report was changed meanwhile; look again.")
            self.audit(session, "report.restore", record_type="report", record_id=doc["id"],
                       patient_id=doc["patient_id"],
                       detail=f"{doc['filename']} (deleted by {doc.get('deleted_by')}: "
                              f"{doc.get('delete_reason')})")
            self.changed("reports", "insert", doc["id"], patient_id=doc["patient_id"],
                         session=session)
        return public(updated) or {}
