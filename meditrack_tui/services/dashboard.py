"""What each role's dashboard shows, gathered in one call per role."""

from __future__ import annotations

from typing import Any

from .. import policy
from .base import Service, Session, public


class DashboardService(Service):
    """Per-role summaries built from the other services' data."""

    def doctor(self, session: Session, *, day: str | None = None) -> dict[str, Any]:
        """Today's agenda and patients whose latest vitals are out of range."""
        from .appointments import AppointmentService

        self.authorize(session, "dashboard.doctor")
        today = day or self.ctx.now().date().isoformat()
        agenda = AppointmentService(self.ctx).day_agenda(session, session.user_id, today)
        alerts = [
            public(d) for d in self.db.patients.find(
                {"vitals_alert": True, "archived": False},
                {"mrn": 1, "first_name": 1, "last_name": 1, "vitals_alert_label": 1,
                 "vitals_alert_at": 1, "primary_doctor_id": 1},
            ).sort([("vitals_alert_at", -1)]).limit(30)
        ]
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
        upcoming = AppointmentService(self.ctx).list(session, patient_id=pid, upcoming=True,
                                                     page_size=10).items
        rx = PrescriptionService(self.ctx).list(session, pid, active_only=True)
        reports = ReportService(self.ctx).list(session, pid)[:5]
        vitals = VitalsService(self.ctx).latest(session, pid, count=30)
        return {"upcoming": upcoming, "prescriptions": rx, "reports": reports, "vitals": vitals}

    def admin(self, session: Session) -> dict[str, Any]:
        """Counts, pending approvals and the latest audit entries."""
        self.authorize(session, "dashboard.admin")
        db = self.db
        today = self.ctx.now().date().isoformat()
        users_by_role = {role: db.users.count_documents({"role": role, "status": "active"})
                         for role in policy.ROLES}
        from .auth import user_public

        pending = [user_public(d) for d in db.users.find({"status": "pending"}).limit(50)]
        recent = [public(d) for d in
                  self.ctx.store.find_page("audit", {}, [("ts", -1), ("_id", -1)], 0, 12,
                                           count=False)[1]]
        return {
            "patients": db.patients.count_documents({"archived": False}),
            "archived_patients": db.patients.count_documents({"archived": True}),
            "users_by_role": users_by_role,
            "appointments_today": db.appointments.count_documents({"day": today}),
            "pending": pending,
            "recent_audit": recent,
        }
