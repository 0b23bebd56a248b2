"""Health reports: files validated by content (not name) and size, kept in GridFS with SHA-256."""

from __future__ import annotations

import builtins
import hashlib
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
from .report_files import ALLOWED, PREVIEWABLE, check_file, decode_text, pdf_summary

KINDS = ("lab result", "test report", "prescription", "imaging", "other")


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


# the UI imports the accepted types from here
__all__ = ["ReportService", "KINDS", "ALLOWED", "PREVIEWABLE"]
