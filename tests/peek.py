"""Read what a store holds, for tests: every record of a kind through the repositories
(so it works on either store), filtered by field equality in Python.

    peek = Peek(services.store)
    peek.count("audit", action="logout")
    peek.one("patients", mrn="MRN-000002")["id"]
"""

from __future__ import annotations

from typing import Any

from meditrack_tui.store import AppointmentQuery, AuditQuery, PatientQuery, UserQuery

KINDS = ("users", "patients", "appointments", "prescriptions", "vitals", "reports", "audit")


class Peek:
    """Every record of a kind (oldest first for the audit), filtered by equality."""

    def __init__(self, store: Any) -> None:
        self.store = store

    def all(self, kind: str) -> list[dict[str, Any]]:
        store = self.store
        if kind == "users":
            return store.users.find(UserQuery(limit=None, count=False)).items
        if kind == "patients":
            return store.patients.find(PatientQuery(archived=None, limit=10**7,
                                                    count=False)).items
        if kind == "appointments":
            return store.appointments.find(AppointmentQuery(limit=None, count=False)).items
        if kind == "audit":
            return list(reversed(store.audit.find(AuditQuery(limit=10**7, count=False)).items))
        if kind in ("prescriptions", "vitals", "reports"):
            out: list[dict[str, Any]] = []
            for patient in self.all("patients"):
                if kind == "prescriptions":
                    out += store.prescriptions.for_patient(patient["id"])
                elif kind == "vitals":
                    out += store.vitals.series(patient["id"])
                else:
                    out += store.reports.for_patient(patient["id"], limit=10**6)
            return out
        raise ValueError(f"unknown kind {kind!r}; one of {KINDS}")

    def find(self, kind: str, **equal: Any) -> list[dict[str, Any]]:
        return [doc for doc in self.all(kind)
                if all(doc.get(name) == value for name, value in equal.items())]

    def one(self, kind: str, **equal: Any) -> dict[str, Any] | None:
        found = self.find(kind, **equal)
        return found[0] if found else None

    def count(self, kind: str, **equal: Any) -> int:
        return len(self.find(kind, **equal))

    def patient_id(self, mrn: str) -> str:
        found = self.one("patients", mrn=mrn)
        assert found is not None, mrn
        return found["id"]
