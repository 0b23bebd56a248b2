"""The audit log: admins list and filter it. Nothing in the app edits or deletes entries."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

from ..audit_chain import Report, verify
from ..domain import AUDIT_OUTCOMES
from ..store import AuditQuery
from ..validation import Checker, page_args
from .base import Page, Service, Session, public


def _name(patient: Mapping[str, Any]) -> str:
    return " ".join(p for p in (patient.get("first_name"), patient.get("last_name")) if p) \
        or "(no name)"


class AuditService(Service):
    """Read-only access to the audit trail."""

    def list(self, session: Session, *, username: Any = None, action: Any = None,
             outcome: Any = None, date_from: Any = None, date_to: Any = None,
             patient_id: Any = None, page: Any = 1, page_size: Any = 50) -> Page[dict[str, Any]]:
        """Entries newest first, filtered by user, action (prefix), outcome and date range."""
        self.authorize(session, "audit.read", record_type="audit")
        page_no, size = page_args(page, page_size)
        check = Checker()
        user = check.text("username", username, max_len=60)
        act = check.text("action", action, max_len=60)
        result = None
        if outcome not in (None, ""):
            result = check.choice("outcome", outcome, AUDIT_OUTCOMES)
        start = check.day("date_from", date_from)
        end = check.day("date_to", date_to)
        pid = check.text("patient_id", patient_id, max_len=40)
        check.done()
        with self.uow():
            found = self.store.audit.find(AuditQuery(
                username=user or None, action_prefix=act or None, outcome=result,
                patient_id=pid or None,
                ts_from=datetime.combine(start, datetime.min.time()) if start else None,
                ts_before=datetime.combine(end + timedelta(days=1), datetime.min.time())
                if end else None,
                skip=(page_no - 1) * size, limit=size))
            # the page's patients in one query: each entry names its patient
            ids = {str(d["patient_id"]) for d in found.items if d.get("patient_id")}
            patients = self.store.patients.get_many(sorted(ids)) if ids else {}
        items = []
        for entry in found.items:
            item = public(entry) or {}
            patient = patients.get(str(entry.get("patient_id") or ""))
            if patient is not None:
                item["patient_name"] = _name(patient)
                item["patient_mrn"] = patient.get("mrn")
            items.append(item)
        return Page(items, found.total or 0, page_no, size)

    def verify_chain(self, *, batch: int = 1000, since: tuple[int, str] | None = None
                     ) -> Report:
        """Check the whole trail against its chain (``meditrack audit verify``; see
        meditrack_tui.audit_chain.verify for what it reports and what it cannot see).

        Takes no session: it runs from the server's shell, by the account that owns the
        store (and can read every entry anyway); it changes nothing and writes no entry."""
        return verify(self.store.audit, self.audit_key, batch=batch, since=since)
