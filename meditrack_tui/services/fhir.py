"""FHIR export and import: the reads and writes behind ``meditrack export fhir`` and
``meditrack import fhir`` (the mapping itself is :mod:`meditrack_tui.fhir`).

Policy: ``fhir.export`` (a patient their own record, doctors and administrators any) and
``fhir.import`` (administrators). An export of a patient is one audited read of their
whole record (reports' content included); it never goes around the policy table.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

from .. import policy
from ..domain.people import AccountStatus
from ..errors import NotFound, ValidationError
from ..fhir.export import PatientData, ReportFile
from ..fhir.imports import Item, PatientGroup, Tally, patient_of
from ..fhir.mapping import (
    Invalid,
    PatientIn,
    Skip,
    to_allergy,
    to_condition,
    to_prescription,
    to_reading,
)
from ..fhir.mapping_clinic import AppointmentIn, DocumentIn, to_appointment, to_document
from ..store import (
    AppointmentQuery,
    Corrupt,
    Duplicate,
    PatientQuery,
    PatientRow,
    PrescriptionRow,
)
from ..validation import Checker
from .base import Session
from .fhir_clinic import ClinicImport
from .patient_fields import build_patient_doc, search_keys
from .patients import PatientService
from .prescriptions import ROUTES
from .reports import KINDS
from .vitals import alert_fields, clean_reading

MRN_FORM = re.compile(r"MRN-\d{6,8}")


class FhirService(ClinicImport):
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
        return self._gather(session, self._by_mrn(mrn), content)

    def export_total(self, session: Session) -> int:
        """How many patient records a bulk export writes (archived ones too)."""
        self._bulk_check(session)
        return self.store.patients.count(archived=None)

    def export_all(self, session: Session, *, content: bool = True, page_size: int = 200
                   ) -> Iterator[PatientData]:
        """Every patient's record (archived ones too) in MRN order, for a bulk export:
        ``page_size`` patients are read at a time (paged by MRN, so each page is one
        index range however large the clinic) and each record is gathered, policy-checked
        and audited as :meth:`export_patient` does, one at a time: the caller holds one
        record at a time, whatever the number of patients."""
        self._bulk_check(session)
        after: str | None = None
        while True:
            page = self.store.patients.find(PatientQuery(
                archived=None, sort="mrn", mrn_after=after, limit=page_size,
                count=False)).items
            for patient in page:
                yield self._gather(session, patient, content)
            if len(page) < page_size:
                return
            after = page[-1]["mrn"]

    def _bulk_check(self, session: Session) -> None:
        """A bulk export is for roles that may export any record (audited refusal)."""
        if self.authorize(session, "fhir.export", record_type="patient") != policy.ANY:
            self._deny(session, "fhir.export", "patient", None, None,
                       "Exporting every patient's record is for doctors and administrators.")

    def _gather(self, session: Session, patient: PatientRow, content: bool) -> PatientData:
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
                         u.get("username") or uid, u.get("status") == AccountStatus.ACTIVE)
                   for uid, u in users.items()}
        return PatientData(patient=dict(patient), readings=list(readings),
                           prescriptions=list(prescriptions), appointments=list(appointments),
                           reports=reports, doctors=doctors)

    # --- import ---

    def import_check(self, session: Session) -> None:
        """Refuse (audited) a caller who may not import, before any file is read."""
        self.authorize(session, "fhir.import", record_type="patient")

    def _match(self, incoming: PatientIn) -> PatientRow | None:
        """The patient an incoming Patient is: by this clinic's MRN, else by an identifier
        an earlier import kept (among the records with the same family name and birth
        date)."""
        if incoming.mrn:
            found = self.store.patients.by_mrn(incoming.mrn)
            if found is not None:
                return found
        keys = {f"{i['system']}|{i['value']}" for i in incoming.identifiers}
        last = str(incoming.fields.get("last_name") or "").strip().lower()
        if not keys or not last:
            return None
        dob = incoming.fields.get("dob")
        spec: dict[str, Any] = {}
        if isinstance(dob, str):
            try:
                day = date.fromisoformat(dob)
            except ValueError:
                day = None
            if day is not None:
                spec = {"dob_max": day.isoformat(),
                        "dob_min_excl": (day - timedelta(days=1)).isoformat()}
        found_page = self.store.patients.find(PatientQuery(
            search=PatientService.parse_search(last.split()[0]), archived=None, limit=200,
            count=False, **spec))
        for doc in found_page.items:
            if keys & set(doc.get("fhir_identifiers") or []):
                return doc
        return None

    # --- import: patients ---

    def import_patient(self, session: Session, group: PatientGroup, tally: Tally, *,
                       dry_run: bool = False, files_from: Path | None = None) -> None:
        """Import one patient's resources as one unit of work, audited as one operation
        (``fhir.import``); what is refused or skipped is counted in ``tally``.
        ``files_from``: the folder being imported, the only place report files referred
        to by URL are read from (None: such files are skipped)."""
        self.authorize(session, "fhir.import", record_type="patient")
        check = Checker()
        fields = build_patient_doc(check, dict(group.patient.fields), today=self.ctx.now().date())
        if check.errors:
            problems = "; ".join(f"{k}: {v}" for k, v in sorted(check.errors.items()))
            tally.refuse("Patient", f"{group.origin}: {problems}")
            for item in group.items:
                tally.skip(item.resource["resourceType"], "its Patient was refused")
            return
        with self.uow():
            self._import_into(session, group, fields, tally, dry_run, files_from)
            if dry_run:
                raise _DryRun

    def import_patient_safely(self, session: Session, group: PatientGroup, tally: Tally, *,
                              dry_run: bool = False, files_from: Path | None = None) -> None:
        try:
            self.import_patient(session, group, tally, dry_run=dry_run, files_from=files_from)
        except _DryRun:
            pass

    def _import_into(self, session: Session, group: PatientGroup, fields: PatientRow,
                     tally: Tally, dry_run: bool, files_from: Path | None) -> None:
        now = self.ctx.now()
        incoming = group.patient
        doc = self._match(incoming)
        ext = sorted(f"{i['system']}|{i['value']}" for i in incoming.identifiers)
        created = doc is None
        if doc is None:
            if incoming.doctor_name:
                fields["primary_doctor_name"] = incoming.doctor_name
            doc = self._insert(fields, incoming.mrn, ext, session)
            tally.count("Patient", "imported")
        else:
            tally.count("Patient", "matched")
            known = set(doc.get("fhir_identifiers") or [])
            if not set(ext) <= known:
                doc = self.store.patients.update(doc["id"], {
                    "fhir_identifiers": sorted(known | set(ext))}, bump=False) or doc
        pid = doc["id"]
        allergies = list(doc.get("allergies") or [])
        conditions = list(doc.get("conditions") or [])
        readings: dict[tuple[datetime, str, str | None], dict[str, Any]] = {}
        rx_in: list[dict[str, Any]] = []
        appts: list[tuple[Item, AppointmentIn]] = []
        documents: list[tuple[Item, DocumentIn]] = []
        for item in group.items:
            kind = item.resource["resourceType"]
            try:
                if kind == "AllergyIntolerance":
                    text = to_allergy(item.resource)
                    fresh = text.lower() not in {a.lower() for a in allergies}
                    if fresh:
                        allergies.append(text)
                    tally.count(kind, "imported" if fresh else "matched")
                elif kind == "Condition":
                    text = to_condition(item.resource)
                    fresh = text.lower() not in {c.lower() for c in conditions}
                    if fresh:
                        conditions.append(text)
                    tally.count(kind, "imported" if fresh else "matched")
                elif kind == "Observation":
                    reading = to_reading(item.resource)
                    key = (reading.taken_at, reading.source, reading.note)
                    readings.setdefault(key, {"_n": 0})
                    readings[key].update(reading.values)
                    readings[key]["_n"] += 1
                elif kind == "MedicationRequest":
                    rx_in.append(to_prescription(item.resource))
                elif kind == "Appointment":
                    appts.append((item, to_appointment(item.resource, patient_of(item))))
                elif kind == "DocumentReference":
                    documents.append((item, to_document(item.resource, KINDS)))
                else:
                    raise Skip("not kept by MediTrack")
            except Skip as exc:
                tally.skip(kind, exc.reason)
            except Invalid as exc:
                tally.refuse(kind, f"{item.origin}: {exc.message}")
        if allergies != list(doc.get("allergies") or []) or \
                conditions != list(doc.get("conditions") or []):
            self.store.patients.update(pid, {
                "allergies": allergies, "conditions": conditions,
                "conditions_lc": [c.lower() for c in conditions], "updated_at": now,
                "updated_by": session.username})
        added_readings = self._readings(session, pid, readings, tally)
        added_rx = self._prescriptions(session, pid, rx_in, tally)
        added_appts = self._appointments(session, doc, appts, group.doctors, tally,
                                         dry_run)
        added_reports = self._documents(session, pid, documents, tally, dry_run, files_from)
        self.audit(session, "fhir.import", record_type="patient", record_id=pid,
                   patient_id=pid,
                   detail=f"{doc['mrn']} {'created' if created else 'matched'}"
                          f"{' (dry run)' if dry_run else ''}: {added_readings} readings, "
                          f"{added_rx} prescriptions, {added_appts} appointments, "
                          f"{added_reports} reports added; {group.origin}"[:300])
        self.changed("patients", "insert" if created else "update", pid, patient_id=pid,
                     session=session)

    def _insert(self, fields: PatientRow, mrn: str | None, ext: list[str],
                session: Session) -> PatientRow:
        patients = PatientService(self.ctx)
        fields = fields.copy()
        fields["fhir_identifiers"] = ext
        if mrn and MRN_FORM.fullmatch(mrn):
            now = self.ctx.now()
            doc: PatientRow = {**fields, **search_keys(fields["first_name"],
                                                      fields["last_name"])}
            doc.update({"mrn": mrn, "allergies": [], "conditions": [], "conditions_lc": [],
                        "primary_doctor_id": None,
                        "primary_doctor_name": fields.get("primary_doctor_name"),
                        "archived": False, "created_at": now, "updated_at": now,
                        "updated_by": session.username, "version": 1})
            try:
                added = self.store.patients.add(doc)
            except Duplicate:
                pass
            else:
                # later MRNs the clinic assigns must pass the imported ones
                number = int(mrn.split("-")[1])
                current = self.store.counters.next("mrn", 0)
                if current < number:
                    self.store.counters.next("mrn", number - current)
                return added
        return patients.insert_new(fields, by=session.username)

    def _readings(self, session: Session, pid: str,
                  readings: dict[tuple[datetime, str, str | None], dict[str, Any]],
                  tally: Tally) -> int:
        added = 0
        for (taken, source, note), values in readings.items():
            count = values.pop("_n")
            try:
                row = clean_reading({**values, "taken_at": taken, "source": source,
                                     "note": note}, self.ctx.now())
            except ValidationError as exc:
                problems = "; ".join(f"{v}" for v in exc.fields.values()) or exc.message
                tally.refuse("Observation", f"reading at {taken:%Y-%m-%d %H:%M}: {problems}",
                             count)
                continue
            same = [r for r in self.store.vitals.series(pid, taken, taken)
                    if all(r.get(k) == v for k, v in values.items())]
            if same:
                tally.count("Observation", "matched", count)
                continue
            row.update({"patient_id": pid, "recorded_by": session.username,
                        "recorded_at": self.ctx.now()})
            self.store.vitals.add(row)
            tally.count("Observation", "imported", count)
            added += 1
        if added:
            latest = self.store.vitals.latest(pid, 1)
            if latest:
                self.store.patients.update(pid, alert_fields(latest[0]), bump=False)
        return added

    def _prescriptions(self, session: Session, pid: str, incoming: list[dict[str, Any]],
                       tally: Tally) -> int:
        existing = self.store.prescriptions.for_patient(pid)
        added = 0
        now = self.ctx.now()
        for rx in incoming:
            key = (rx["drug"].lower(), rx["dose"], rx["frequency"], rx["start_date"])
            if any((e.get("drug", "").lower(), e.get("dose"), e.get("frequency"),
                    e.get("start_date")) == key for e in existing):
                tally.count("MedicationRequest", "matched")
                continue
            row: PrescriptionRow = {
                "patient_id": pid, "doctor_id": "", "doctor_name": rx["doctor_name"] or "",
                "drug": rx["drug"], "dose": rx["dose"],
                "route": rx["route"] if rx["route"] in ROUTES else "other",
                "frequency": rx["frequency"], "start_date": rx["start_date"],
                "notes": rx["notes"], "status": rx["status"],
                "stopped_at": now if rx["status"] == "stopped" else None,
                "stop_reason": rx.get("stop_reason"), "allergy_override": None,
                "created_at": now, "updated_at": now, "updated_by": session.username,
                "version": 1}
            if rx["route"] not in ROUTES:  # an unknown route survives as text
                row["notes"] = "; ".join(n for n in (rx["notes"], f"route: {rx['route']}")
                                         if n)
            existing.append(self.store.prescriptions.add(row))
            tally.count("MedicationRequest", "imported")
            added += 1
        return added


class _DryRun(Exception):
    """Rolls a dry run's unit of work back."""
