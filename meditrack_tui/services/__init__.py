"""The service layer: one module per area, every call taking the caller's session.

:class:`Services` wires them to one store and config; the CLI builds it and hands
it to the app, tests build it on a temporary store.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from ..config import Config
from ..store import Store
from .appointments import AppointmentService
from .audit import AuditService
from .auth import AuthService
from .base import Context, Page, Session
from .dashboard import DashboardService
from .fhir import FhirService
from .fhir_files import FhirFileService
from .patients import PatientService
from .prescriptions import PrescriptionService
from .reports import ReportService
from .settings import SettingsService
from .users import UserService
from .vitals import VitalsService


class Services:
    """Every service, sharing one context (store, config, clock)."""

    def __init__(self, store: Store, config: Config,
                 clock: Callable[[], datetime] | None = None) -> None:
        self.ctx = Context(store=store, config=config)
        if clock is not None:
            self.ctx.clock = clock
        self.store = store
        self.config = config
        self.auth = AuthService(self.ctx)
        self.users = UserService(self.ctx)
        self.patients = PatientService(self.ctx)
        self.appointments = AppointmentService(self.ctx)
        self.prescriptions = PrescriptionService(self.ctx)
        self.vitals = VitalsService(self.ctx)
        self.reports = ReportService(self.ctx)
        self.audit = AuditService(self.ctx)
        self.dashboard = DashboardService(self.ctx)
        self.settings = SettingsService(self.ctx)
        self.fhir = FhirService(self.ctx)
        self.fhir_files = FhirFileService(self.ctx)

    def warm_up(self, session: Session) -> None:
        """Read what the first screens need once in the background after login, so the
        database pages they touch are cached (a check of the session, nothing more now that
        every list is answered by an index)."""
        self.auth.verify(session)


__all__ = ["Services", "Session", "Page"]
