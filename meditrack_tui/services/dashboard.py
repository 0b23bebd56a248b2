"""What each role's dashboard shows, gathered in one call per role."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from .. import policy
from .base import Service, Session, describe, public


class DashboardService(Service):
    """Per-role summaries built from the other services' data."""

    def doctor(self, session: Session, *, day: str | None = None) -> dict[str, Any]:
        """Today's agenda and patients whose latest vitals are out of range."""
        from .appointments import AppointmentService

        self.authorize(session, "dashboard.doctor")
        today = day or self.ctx.now().date().isoformat()
        keep = ("id", "mrn", "first_name", "last_name", "vitals_alert_label",
                "vitals_alert_at", "primary_doctor_id")
        with self.uow():
            with self._gathered_read():
                agenda = AppointmentService(self.ctx).day_agenda(session, session.user_id,
                                                                 today)
                alerts = [{k: d.get(k) for k in keep} for d in self.store.patients.alerts(30)]
            self.audit_read(session, "dashboard.doctor", query=describe(day=today),
                            count=len(agenda) + len(alerts))
        return {"day": today, "agenda": agenda, "alerts": alerts}

    def patient(self, session: Session) -> dict[str, Any]:
        """A patient's upcoming appointments, active prescriptions, reports and latest vitals."""
        from .appointments import AppointmentService
        from .prescriptions import PrescriptionService
        from .reports import ReportService
        from .vitals import VitalsService

        self.authorize(session, "dashboard.patient")
        pid = session.patient_id
        if not pid:
            return {"upcoming": [], "prescriptions": [], "reports": [], "vitals": []}
        with self.uow():
            with self._gathered_read():
                upcoming = AppointmentService(self.ctx).list(session, patient_id=pid,
                                                             upcoming=True, page_size=10).items
                rx = PrescriptionService(self.ctx).list(session, pid, active_only=True)
                reports = ReportService(self.ctx).list(session, pid)[:5]
                vitals = VitalsService(self.ctx).latest(session, pid, count=30)
            self.audit_read(session, "dashboard.patient", patient_id=pid,
                            count=len(upcoming) + len(rx) + len(reports) + len(vitals))
        return {"upcoming": upcoming, "prescriptions": rx, "reports": reports, "vitals": vitals}

    def admin(self, session: Session) -> dict[str, Any]:
        """Counts, pending approvals and the latest audit entries."""
        self.authorize(session, "dashboard.admin")
        from ..store import AuditQuery, UserQuery
        from .account_fields import user_public

        store = self.store
        today = self.ctx.now().date().isoformat()
        users_by_role = {role: store.users.count(role=role, status="active")
                         for role in policy.ROLES}
        waiting = store.users.find(UserQuery(status="pending", limit=50, count=False)).items
        pending = [user_public(d) for d in sorted(waiting, key=_requested)]
        recent = [public(d) for d in
                  store.audit.find(AuditQuery(limit=12, count=False)).items]
        self.audit_read(session, "dashboard.admin", count=len(recent) + len(pending))
        return {
            "patients": store.patients.count(archived=False),
            "archived_patients": store.patients.count(archived=True),
            "users_by_role": users_by_role,
            "appointments_today": store.appointments.count_day(today),
            "pending": pending,
            "recent_audit": recent,
        }


def _requested(user: Mapping[str, Any]) -> tuple[Any, str]:
    """Sign-ups in the order they were made (oldest request first)."""
    return (user.get("created_at") or datetime.min, user["id"])
