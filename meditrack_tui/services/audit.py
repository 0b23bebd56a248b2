"""The audit log: admins list and filter it. Nothing in the app edits or deletes entries."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from ..validation import Checker, literal_prefix, page_args
from .base import Page, Service, Session, public


class AuditService(Service):
    """Read-only access to the audit trail."""

    def list(self, session: Session, *, username: Any = None, action: Any = None,
             outcome: Any = None, date_from: Any = None, date_to: Any = None,
             patient_id: Any = None, page: Any = 1, page_size: Any = 50) -> Page[dict[str, Any]]:
        """Entries newest first, filtered by user, action (prefix), outcome and date range."""
        self.authorize(session, "audit.read", record_type="audit")
        page_no, size = page_args(page, page_size)
        check = Checker()
        filt: dict[str, Any] = {}
        user = check.text("username", username, max_len=60)
        if user:
            filt["username"] = user
        act = check.text("action", action, max_len=60)
        if act:
            filt["action"] = literal_prefix(act)
        if outcome not in (None, ""):
            filt["outcome"] = check.choice("outcome", outcome, ("ok", "denied", "failed"))
        start = check.day("date_from", date_from)
        end = check.day("date_to", date_to)
        pid = check.text("patient_id", patient_id, max_len=40)
        check.done()
        if pid:
            filt["patient_id"] = pid
        window: dict[str, Any] = {}
        if start:
            window["$gte"] = datetime.combine(start, datetime.min.time())
        if end:
            window["$lt"] = datetime.combine(end + timedelta(days=1), datetime.min.time())
        if window:
            filt["ts"] = window
        total, docs = self.ctx.store.find_page("audit", filt, [("ts", -1), ("_id", -1)],
                                               (page_no - 1) * size, size)
        return Page([public(d) or {} for d in docs], total, page_no, size)
