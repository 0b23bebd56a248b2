"""FHIR export and import: the reads and writes behind ``meditrack export fhir`` and
``meditrack import fhir`` (the mapping itself is :mod:`meditrack_tui.fhir`).

Policy: ``fhir.export`` (a patient their own record, doctors and administrators any) and
``fhir.import`` (administrators). An export of a patient is one audited read of their
whole record (reports' content included); it never goes around the policy table.
"""

from __future__ import annotations

from typing import Any

from .. import policy
from ..errors import NotFound, ValidationError
from ..fhir.export import PatientData, ReportFile
from ..store import AppointmentQuery, Corrupt, PatientRow
from .base import Service, Session


class FhirService(Service):
    """Gather (and, for imports, write) whole patient records for FHIR."""

    def _by_mrn(self, mrn: Any) -> PatientRow:
        if not isinstance(mrn, str) or not mrn.strip() or len(mrn) > 40:
            raise ValidationError({"mrn": "Give the patient's MRN, e.g. MRN-000001."})
        wanted = mrn.strip().upper()
        if wanted.isdigit():
            from .patient_fields import format_mrn

            wanted = format_mrn(int(wanted))
        doc = self.store.patients.by_mrn(wanted)
        if doc is None:
            raise NotFound(f"No patient record has the MRN {wanted}.")
        return doc

    def _content(self, file_id: str) -> bytes | None:
        """A report file's content; None when it is damaged (exported without it)."""
        try:
            return self.store.reports.read_file(file_id)
        except Corrupt:
            return None

    def export_patient(self, session: Session, mrn: Any, *, content: bool = True
                       ) -> PatientData:
        """One patient's whole record for a FHIR export: details, vitals, prescriptions,
        appointments, reports (with their files when ``content``) and the doctors named.
        Audited as one read of the record (``fhir.export``)."""
        self.verify(session, "fhir.export")
        patient = self._by_mrn(mrn)
        pid = patient["id"]
        self.authorize(session, "fhir.export", patient_id=pid, record_type="patient",
                       record_id=pid)
        if patient.get("archived") and session.role == policy.PATIENT:
            raise NotFound("That patient record does not exist.")
        with self.uow():
            readings = self.store.vitals.series(pid)
            prescriptions = self.store.prescriptions.for_patient(pid)
            appointments = self.store.appointments.find(AppointmentQuery(
                patient_id=pid, limit=None, count=False)).items
            reports = [ReportFile(row, self._content(row["file_id"]) if content else None)
                       for row in self.store.reports.for_patient(pid, limit=100000)]
            doctor_ids = {patient.get("primary_doctor_id")}
            doctor_ids |= {rx.get("doctor_id") for rx in prescriptions}
            doctor_ids |= {a.get("doctor_id") for a in appointments}
            users = self.store.users.get_many(sorted(d for d in doctor_ids if d))
            self.audit(session, "fhir.export", record_type="patient", record_id=pid,
                       patient_id=pid,
                       detail=f"{patient['mrn']}: {len(readings)} readings, "
                              f"{len(prescriptions)} prescriptions, {len(appointments)} "
                              f"appointments, {len(reports)} reports")
        doctors = {uid: (u.get("full_name") or u.get("username") or uid,
                         u.get("username") or uid) for uid, u in users.items()}
        return PatientData(patient=dict(patient), readings=list(readings),
                           prescriptions=list(prescriptions), appointments=list(appointments),
                           reports=reports, doctors=doctors)

