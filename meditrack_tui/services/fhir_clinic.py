"""The FHIR import's doctors, appointments and report files (the base of
:class:`~.fhir.FhirService`): Practitioners matched to doctors' accounts or created
inactive, Appointments and DocumentReferences written in the patient's unit of work."""

from __future__ import annotations

import hashlib
import re
import secrets
import unicodedata
from collections.abc import Iterable
from datetime import timedelta
from pathlib import Path

from .. import policy
from ..errors import ValidationError
from ..fhir import codes
from ..fhir.imports import Doctor, Item, Tally, attachment_file, names_of
from ..fhir.mapping import Invalid, Skip
from ..fhir.mapping_clinic import AppointmentIn, DocumentIn, PractitionerIn, to_practitioner
from ..files import safe_name
from ..store import AppointmentQuery, AppointmentRow, PatientRow, UserQuery, UserRow
from ..validation import Checker
from .account_fields import check_username
from .base import Service, Session
from .report_files import ALLOWED, check_file, detect_type
from .sessions import INACTIVE


class ClinicImport(Service):
    """Doctors, appointments and report files of a FHIR import."""

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
                found = None if doctor else self._find_doctor(incoming.username,
                                                              incoming.identifiers)
                if found is not None:
                    doctor = (found["id"], found.get("full_name") or found["username"])
                    self._keep_identifiers(found, incoming.identifiers, dry_run)
                if doctor is None:
                    doctor = self._create_doctor(session, incoming, tally, dry_run)
                    tally.count("Practitioner", "imported")
                else:
                    tally.count("Practitioner", "matched")
            except Invalid as exc:
                tally.refuse("Practitioner", f"{item.origin}: {exc.message}")
                continue
            seen.update(dict.fromkeys(keys, doctor))
            known.update(dict.fromkeys(names_of(item), doctor))
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
        if dry_run:  # nothing written (a standalone MongoDB server rolls nothing back)
            doc["id"] = f"dry-run:{username}"
        else:
            with self.uow():
                doc = self.ctx.auth.insert_user(doc)
                self.audit(session, "user.create", record_type="user", record_id=doc["id"],
                           detail=f"{username} as doctor, inactive (FHIR import: an "
                                  "administrator resets the password and reactivates it)")
                self.changed("users", "insert", doc["id"], session=session)
        tally.notes.append(f"Practitioner {full} ({username}): created (inactive: reset the "
                           "password and reactivate to let them sign in)")
        return doc["id"], full

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
                      tally: Tally, dry_run: bool) -> int:
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
            if not dry_run:  # as a booking claims the doctor (concurrent writes collide)
                self.store.counters.next("bookings:" + doctor_id)
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
            tally.count("Appointment", "imported")
            added += 1
            if dry_run:  # nothing written (a standalone MongoDB server rolls nothing back)
                continue
            if appt.identifiers:
                row["fhir_identifiers"] = appt.identifiers
            added_row = self.store.appointments.add(row)
            self.changed("appointments", "insert", added_row["id"], patient_id=pid,
                         session=session, extra={"doctor_id": doctor_id, "day": row["day"]})
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
            if dry_run:  # nothing written (a standalone MongoDB server rolls nothing back)
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
