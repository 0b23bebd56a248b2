"""FHIR export and import: the reads and writes behind ``meditrack export fhir`` and
``meditrack import fhir`` (the mapping itself is :mod:`meditrack_tui.fhir`).

Policy: ``fhir.export`` (a patient their own record, doctors and administrators any) and
``fhir.import`` (administrators). An export of a patient is one audited read of their
whole record (reports' content included); it never goes around the policy table.
"""

from __future__ import annotations

import hashlib
import re
import secrets
import unicodedata
from collections.abc import Iterable, Iterator
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

from .. import policy
from ..errors import NotFound, ValidationError
from ..fhir import codes
from ..fhir.export import PatientData, ReportFile
from ..fhir.imports import Doctor, Item, PatientGroup, Tally, attachment_file, names_of, patient_of
from ..fhir.mapping import (
    AppointmentIn,
    DocumentIn,
    Invalid,
    PatientIn,
    PractitionerIn,
    Skip,
    to_allergy,
    to_appointment,
    to_condition,
    to_document,
    to_practitioner,
    to_prescription,
    to_reading,
)
from ..files import safe_name
from ..store import (
    AppointmentQuery,
    AppointmentRow,
    Corrupt,
    Duplicate,
    PatientQuery,
    PatientRow,
    PrescriptionRow,
    UserQuery,
    UserRow,
)
from ..validation import Checker
from .account_fields import check_username
from .base import Service, Session
from .patient_fields import build_patient_doc, search_keys
from .patients import PatientService
from .prescriptions import ROUTES
from .report_files import ALLOWED, check_file, detect_type
from .reports import KINDS
from .sessions import INACTIVE
from .vitals import alert_fields, clean_reading

MRN_FORM = re.compile(r"MRN-\d{6,8}")


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
                         u.get("username") or uid) for uid, u in users.items()}
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

    # --- import: doctors ---

    def import_practitioners(self, session: Session, items: Iterable[Item], tally: Tally, *,
                             dry_run: bool = False) -> dict[str, Doctor]:
        """Match or create the doctor each Practitioner is, before any patient is imported;
        returns the doctors by every name a reference may give their Practitioner.

        A doctor is matched by the username this clinic's export writes (the identifier
        under ``<MRN system>/practitioner``) or by an identifier an earlier import kept;
        otherwise an account is created as the users service's rules ask (a valid, free
        username: the exported one, else one made from the name; a full name) as a doctor
        who cannot sign in: deactivated, with a random password nobody knows (hashed as
        every password is). An administrator resets the password and reactivates the
        account (Users). Each creation is its own unit of work, audited as ``user.create``;
        the summary notes it. A username that belongs to another role's account is
        refused (the Practitioner is not that person)."""
        self.authorize(session, "fhir.import", record_type="user")
        known: dict[str, Doctor] = {}
        seen: dict[str, Doctor] = {}  # this import's, by identifier (a dry run keeps none)
        for item in items:
            try:
                incoming = to_practitioner(item.resource, self.ctx.config.mrn_system)
                keys = ([f"username|{incoming.username.lower()}"] if incoming.username
                        else []) + incoming.identifiers
                doctor = next((seen[k] for k in keys if k in seen), None)
                if doctor is None:
                    found = self._find_doctor(incoming.username, incoming.identifiers)
                    if found is not None:
                        doctor = (found["id"], found.get("full_name") or found["username"])
                        self._keep_identifiers(found, incoming.identifiers, dry_run)
                    else:
                        doctor = self._create_doctor(session, incoming, tally, dry_run)
                        tally.count("Practitioner", "imported")
                        for key in keys:
                            seen[key] = doctor
                        known.update(dict.fromkeys(names_of(item), doctor))
                        continue
                tally.count("Practitioner", "matched")
                for key in keys:
                    seen[key] = doctor
                known.update(dict.fromkeys(names_of(item), doctor))
            except Invalid as exc:
                tally.refuse("Practitioner", f"{item.origin}: {exc.message}")
        return known

    def _find_doctor(self, username: str | None, identifiers: list[str]) -> UserRow | None:
        """A doctor's account by this clinic's username, else by a kept identifier."""
        if username:
            user = self.store.users.by_username(username.lower())
            if user is not None:
                if user.get("role") != policy.DOCTOR:
                    raise Invalid(f"the username {username} belongs to an account that is "
                                  "not a doctor's; the Practitioner was not matched to it")
                return user
        if identifiers:
            wanted = set(identifiers)
            doctors = self.store.users.find(UserQuery(role=policy.DOCTOR, limit=None,
                                                      count=False)).items
            for user in doctors:
                if wanted & set(user.get("fhir_identifiers") or []):
                    return user
        return None

    def _keep_identifiers(self, user: UserRow, identifiers: list[str], dry_run: bool) -> None:
        known = set(user.get("fhir_identifiers") or [])
        if dry_run or set(identifiers) <= known:
            return
        with self.uow():
            self.store.users.update(user["id"], {
                "fhir_identifiers": sorted(known | set(identifiers))}, bump=False)

    def _free_username(self, incoming: PractitionerIn) -> str:
        """The exported username when valid and free, else one from the name
        (``dr.anna.smith``, ``dr.anna.smith-2``, ...)."""
        if incoming.username:
            name = check_username(Checker(), incoming.username)
            if name and self.store.users.by_username(name.lower()) is None:
                return name
        plain = unicodedata.normalize("NFKD", incoming.full_name).encode("ascii", "ignore")
        base = re.sub(r"[^a-z0-9]+", ".", plain.decode().lower()).strip(".")[:34]
        if not base.startswith("dr."):
            base = ("dr." + base).strip(".")[:34]
        if len(base) < 4:  # a name of no letters MediTrack's usernames take
            base = "dr.imported"
        for n in range(1, 1000):
            name = base if n == 1 else f"{base}-{n}"
            if self.store.users.by_username(name) is None:
                return name
        raise Invalid(f"no free username could be made for {incoming.full_name}")

    def _create_doctor(self, session: Session, incoming: PractitionerIn, tally: Tally,
                       dry_run: bool) -> Doctor:
        assert self.ctx.auth is not None
        check = Checker()
        username = check_username(check, self._free_username(incoming))
        full = check.text("full_name", incoming.full_name, required=True, max_len=100)
        try:
            check.done()
        except ValidationError as exc:
            raise Invalid(exc.message) from None
        assert username and full
        # a password nobody knows: the account cannot be signed into until an
        # administrator resets the password and reactivates it
        doc = self.ctx.auth.new_user_doc(
            username, secrets.token_urlsafe(32), policy.DOCTOR, full_name=full,
            status=INACTIVE, extra={"fhir_identifiers": incoming.identifiers})
        try:
            with self.uow():
                doc = self.ctx.auth.insert_user(doc)
                self.audit(session, "user.create", record_type="user", record_id=doc["id"],
                           detail=f"{username} as doctor, inactive (FHIR import: an "
                                  "administrator resets the password and reactivates it)")
                self.changed("users", "insert", doc["id"], session=session)
                if dry_run:
                    raise _DryRun
        except _DryRun:
            doc["id"] = f"dry-run:{username}"
        tally.notes.append(f"Practitioner {full} ({username}): created (inactive: reset the "
                           "password and reactivate to let them sign in)")
        return doc["id"], full

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
        added_appts = self._appointments(session, doc, appts, group.doctors, tally)
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

    def _doctor_of(self, appt: AppointmentIn, doctors: dict[str, Doctor]) -> Doctor | None:
        """The appointment's doctor: a Practitioner of this import it refers to, else an
        account its identifier names (this clinic's username or a kept identifier)."""
        for found in appt.doctor_refs:
            if found in doctors:
                return doctors[found]
        ours = self.ctx.config.mrn_system + codes.USERNAME_SUFFIX
        for key in appt.doctor_identifiers:
            system, _, value = key.partition("|")
            try:
                user = self._find_doctor(value if system == ours else None,
                                         [] if system == ours else [key])
            except Invalid:
                user = None
            if user is not None:
                return user["id"], user.get("full_name") or user["username"]
        return None

    def _appointments(self, session: Session, patient: PatientRow,
                      incoming: list[tuple[Item, AppointmentIn]], doctors: dict[str, Doctor],
                      tally: Tally) -> int:
        """Add the appointments not already on the record.

        What an import enforces: a known doctor (one of the import or of the clinic, active
        or not); a start and an end within a day of it; and no second appointment (other
        than a cancelled one) of the same doctor at the same start. Past appointments are
        history and are imported whatever their status. The booking rules for people
        (the booking window, the clinic's and the doctor's hours, overlaps of different
        starts, a patient's limit of upcoming appointments) are not checked: the record
        comes as another system kept it. The same appointment imported again is matched
        by an identifier kept, or by its patient, doctor and start."""
        pid = patient["id"]
        added = 0
        now = self.ctx.now()
        for item, appt in incoming:
            doctor = self._doctor_of(appt, doctors)
            if doctor is None:
                tally.skip("Appointment", "its doctor is neither in the import nor in "
                                          "MediTrack" if appt.doctor_refs or
                           appt.doctor_identifiers else "no doctor is named")
                continue
            doctor_id, doctor_name = doctor
            self.store.counters.next("bookings:" + doctor_id)  # as a booking claims it
            at_start = self.store.appointments.find(AppointmentQuery(
                doctor_id=doctor_id, start_from=appt.start,
                start_before=appt.start + timedelta(seconds=1), limit=None,
                count=False)).items
            kept = set(appt.identifiers)
            if any(a["patient_id"] == pid for a in at_start) or (kept and any(
                    kept & set(a.get("fhir_identifiers") or []) for a in self.store
                    .appointments.find(AppointmentQuery(patient_id=pid, limit=None,
                                                        count=False)).items)):
                tally.count("Appointment", "matched")
                continue
            taken = [a for a in at_start if a["status"] != "cancelled"]
            if taken and appt.status != "cancelled":
                tally.refuse("Appointment", f"{item.origin}: {doctor_name} already has an "
                             f"appointment at {appt.start:%H:%M on %d %b %Y} with another "
                             "patient")
                continue
            name = f"{patient['first_name']} {patient['last_name']}"
            row: AppointmentRow = {
                "patient_id": pid, "patient_name": name, "mrn": patient["mrn"],
                "patient_name_key": name.lower(), "doctor_id": doctor_id,
                "doctor_name": doctor_name, "start": appt.start, "end": appt.end,
                "day": appt.start.date().isoformat(),
                "duration_min": int((appt.end - appt.start).total_seconds() // 60),
                "reason": appt.reason, "status": appt.status,
                "created_by": session.username, "created_at": appt.created or now,
                "updated_by": session.username, "updated_at": now, "version": 1}
            if appt.identifiers:
                row["fhir_identifiers"] = appt.identifiers
            added_row = self.store.appointments.add(row)
            self.changed("appointments", "insert", added_row["id"], patient_id=pid,
                         session=session, extra={"doctor_id": doctor_id, "day": row["day"]})
            tally.count("Appointment", "imported")
            added += 1
        return added

    def _document_content(self, document: DocumentIn, files_from: Path | None
                          ) -> tuple[str, bytes, str]:
        """A DocumentReference's file: (file name, content, detected type), checked as an
        upload is (type by content, size) and against the SHA-1 hash given with it."""
        max_bytes = self.ctx.config.max_upload_bytes
        name = document.filename
        if document.data is not None:
            data = document.data
        else:
            assert document.url is not None
            if files_from is None:
                raise Skip("report files referred to by URL are read only from the folder "
                           "being imported")
            found, data = attachment_file(document.url, files_from, max_bytes)
            name = name or found
        if document.sha1 is not None and hashlib.sha1(data).digest() != document.sha1:
            raise Invalid("its file does not match the SHA-1 hash given with it (damaged, or "
                          "not the file meant); it was not imported")
        name = safe_name(name or "")
        if not name:
            mime = detect_type(data, "")
            name = "document" + (ALLOWED[mime][1][0] if mime else "")
        try:
            return name, data, check_file(name, data, max_bytes)
        except ValidationError as exc:
            raise Invalid(f"{name}: {exc.fields.get('file') or exc.message}") from None

    def _documents(self, session: Session, pid: str,
                   incoming: list[tuple[Item, DocumentIn]], tally: Tally, dry_run: bool,
                   files_from: Path | None) -> int:
        """Add the report files not already on the record (the same content, SHA-256, or an
        identifier kept), stored as an upload stores them."""
        if not incoming:
            return 0
        existing = self.store.reports.for_patient(pid, limit=100000, deleted=None)
        added = 0
        now = self.ctx.now()
        for item, document in incoming:
            try:
                name, data, mime = self._document_content(document, files_from)
            except Skip as exc:
                tally.skip("DocumentReference", exc.reason)
                continue
            except Invalid as exc:
                tally.refuse("DocumentReference", f"{item.origin}: {exc.message}")
                continue
            digest = hashlib.sha256(data).hexdigest()
            kept = set(document.identifiers)
            if any(e.get("sha256") == digest or kept & set(e.get("fhir_identifiers") or [])
                   for e in existing):
                tally.count("DocumentReference", "matched")
                continue
            tally.count("DocumentReference", "imported")
            added += 1
            if dry_run:  # no file is written for a dry run (its unit of work rolls back)
                continue
            file_id = self.store.reports.put_file(
                name, data, {"sha256": digest, "size": len(data), "content_type": mime,
                             "uploaded_by": session.username, "patient_id": pid})
            row = self.store.reports.add({
                "patient_id": pid, "file_id": file_id, "filename": name,
                "kind": document.kind, "note": document.note, "content_type": mime,
                "size": len(data), "sha256": digest, "uploaded_by": session.username,
                "uploader_role": session.role, "uploaded_at": document.uploaded_at or now,
                "deleted_at": None, "version": 1,
                **({"fhir_identifiers": document.identifiers} if document.identifiers
                   else {})})
            existing.append(row)
            self.changed("reports", "insert", row["id"], patient_id=pid, session=session)
        return added


class _DryRun(Exception):
    """Rolls a dry run's unit of work back."""
