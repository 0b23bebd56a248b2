"""Patient records: create (MRN assigned), read, version-checked update, archive/restore, list."""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import date
from typing import Any

from .. import policy
from ..domain import SEX_LABELS, SEXES
from ..errors import Conflict, NotFound, PermissionDenied, ValidationError
from ..store import Duplicate, NameSearch, PatientQuery, PatientRow, UserRow
from ..store.queries import PATIENT_SORTS
from ..validation import Checker, page_args
from .base import Page, Service, Session, describe, ref
from .patient_fields import age_on, build_patient_doc, format_mrn, search_keys

EDITABLE = ("first_name", "last_name", "dob", "sex", "phone", "email", "address",
            "allergies", "conditions", "primary_doctor_id")
SORTS = PATIENT_SORTS
# Fields kept on a record for searching, never shown.
SEARCH_KEYS = frozenset({"first_key", "last_key", "full_key", "phone_digits", "phone_rev",
                         "conditions_lc"})
MRN_RE = re.compile(r"^(?:mrn[-\s]?)?(\d{1,8})$", re.IGNORECASE)


class PatientService(Service):
    """Create, read, update, archive and list patient records, as the role allows."""

    # --- helpers ---

    def _get(self, patient_id: Any) -> PatientRow:
        doc = self.store.patients.get(ref(patient_id, "patient"))
        if doc is None:
            raise NotFound("That patient record does not exist.")
        return doc

    def _doctor(self, doctor_id: Any) -> UserRow:
        doc = self.store.users.get(ref(doctor_id, "doctor"))
        if doc is None or doc.get("role") != policy.DOCTOR or doc.get("status") != "active":
            raise ValidationError({"primary_doctor_id": "Choose an active doctor."})
        return doc

    def next_mrn(self) -> str:
        return format_mrn(self.store.counters.next("mrn"))

    def insert_new(self, fields: PatientRow, *, by: str) -> PatientRow:
        """Insert a validated patient with a fresh unique MRN (retrying on a clash), in the
        caller's unit of work."""
        now = self.ctx.now()
        doc = fields.copy()
        doc.update(search_keys(doc["first_name"], doc["last_name"]))
        doc.setdefault("allergies", [])
        doc.setdefault("conditions", [])
        doc.setdefault("conditions_lc", [c.lower() for c in doc["conditions"]])
        doc.setdefault("primary_doctor_id", None)
        doc.setdefault("primary_doctor_name", None)
        doc.update({"archived": False, "created_at": now, "updated_at": now, "updated_by": by,
                    "version": 1})
        for _ in range(20):
            doc["mrn"] = self.next_mrn()
            try:
                return self.store.patients.add(doc)
            except Duplicate:
                continue
        raise Conflict("Could not assign a unique MRN; please try again.")

    def _present(self, doc: Mapping[str, Any], today: date | None = None) -> dict[str, Any]:
        """A record as callers see it: without the search keys, with age and name
        (``today`` once per list rather than a clock read per record)."""
        out = {k: v for k, v in doc.items() if k not in SEARCH_KEYS}
        out["age"] = age_on(doc.get("dob"), today or self.ctx.now().date())
        out["name"] = f"{doc.get('first_name', '')} {doc.get('last_name', '')}".strip()
        return out

    # --- operations ---

    def create(self, session: Session, data: dict[str, Any]) -> dict[str, Any]:
        """Create a patient record; the MRN is assigned and unique."""
        self.authorize(session, "patient.create", record_type="patient")
        check = Checker()
        fields = build_patient_doc(check, data, today=self.ctx.now().date())
        doctor = None
        if data.get("primary_doctor_id"):
            try:
                doctor = self._doctor(data.get("primary_doctor_id"))
            except (ValidationError, NotFound):
                check.fail("primary_doctor_id", "Choose an active doctor.")
        check.done()
        if doctor:
            fields["primary_doctor_id"] = doctor["id"]
            fields["primary_doctor_name"] = doctor.get("full_name")
        with self.uow():
            doc = self.insert_new(fields, by=session.username)
            self.audit(session, "patient.create", record_type="patient", record_id=doc["id"],
                       patient_id=doc["id"], detail=doc["mrn"])
            self.changed("patients", "insert", doc["id"], patient_id=doc["id"], session=session)
        return self._present(doc)

    def get(self, session: Session, patient_id: Any) -> dict[str, Any]:
        """Open a patient's record (audited as an opening; a screen's live re-read of a
        record it already opened in this session is not audited again)."""
        pid = ref(patient_id, "patient")
        self.authorize(session, "patient.read", patient_id=pid, record_type="patient",
                       record_id=pid)
        with self.uow():
            doc = self._get(pid)
            if doc.get("archived") and session.role == policy.PATIENT:
                raise NotFound("That patient record does not exist.")
            self.audit_read(session, "patient.open", record_type="patient", record_id=pid,
                            patient_id=pid)
        return self._present(doc)

    def update(self, session: Session, patient_id: Any, changes: dict[str, Any],
               *, version: Any) -> dict[str, Any]:
        """Change fields of a record; refused as a conflict if it changed since ``version``."""
        pid = ref(patient_id, "patient")
        scope = self.authorize(session, "patient.update", patient_id=pid, record_type="patient",
                               record_id=pid)
        if not isinstance(changes, dict) or not changes:
            raise ValidationError("Nothing to change.")
        unknown = [k for k in changes if k not in EDITABLE]
        if unknown:
            raise ValidationError({k: "This field cannot be changed here." for k in unknown})
        if scope == policy.OWN:
            clinical = [k for k in changes if k not in policy.PATIENT_SELF_EDITABLE]
            if clinical:
                self._deny(session, "patient.update", "patient", pid, pid,
                           "Patients can change only their own phone, email and address.")
        if isinstance(version, bool) or not isinstance(version, int):
            raise ValidationError({"version": "The record version is missing; reopen the record."})
        current = self._get(pid)
        if current.get("archived"):
            raise Conflict("This patient record is archived. An administrator must restore it "
                           "before it can be changed.")
        check = Checker()
        fields = build_patient_doc(check, changes, today=self.ctx.now().date(), partial=True)
        if "primary_doctor_id" in changes:
            if changes["primary_doctor_id"]:
                try:
                    doctor = self._doctor(changes["primary_doctor_id"])
                    fields["primary_doctor_id"] = doctor["id"]
                    fields["primary_doctor_name"] = doctor.get("full_name")
                except (ValidationError, NotFound):
                    check.fail("primary_doctor_id", "Choose an active doctor.")
            else:
                fields["primary_doctor_id"] = None
                fields["primary_doctor_name"] = None
        check.done()
        if "first_name" in fields or "last_name" in fields:
            fields.update(search_keys(fields.get("first_name", current["first_name"]),
                                      fields.get("last_name", current["last_name"])))
        fields["updated_at"] = self.ctx.now()
        fields["updated_by"] = session.username
        with self.uow():
            result = self.store.patients.update(pid, fields, version=version)
            if result is not None:
                self.audit(session, "patient.update", record_type="patient", record_id=pid,
                           patient_id=pid, detail=", ".join(sorted(changes)))
                self.changed("patients", "update", pid, patient_id=pid, session=session)
        if result is None:
            conflict = self._conflict(pid)
            if conflict.current:
                self.audit_stale(session, "patient.update", "patient", pid, pid)
            raise conflict
        return self._present(result)

    def _conflict(self, pid: str) -> Conflict:
        latest = self.store.patients.get(pid)
        if latest is None:
            return Conflict("This record was deleted by someone else.")
        who = latest.get("updated_by") or "someone else"
        when = latest.get("updated_at")
        at = f" at {when:%H:%M on %d %b %Y}" if when else ""
        return Conflict(
            f"{who} changed this record{at} after you opened it. Reload to see their change; "
            "your typed values stay in the form.",
            changed_by=who, changed_at=when, current=self._present(latest),
        )

    def set_archived(self, session: Session, patient_id: Any, archived: bool) -> dict[str, Any]:
        """Archive (soft delete) or restore a record; admins only."""
        pid = ref(patient_id, "patient")
        action = "patient.archive"
        self.authorize(session, action, patient_id=pid, record_type="patient", record_id=pid)
        if not isinstance(archived, bool):
            raise ValidationError("Archived must be true or false.")
        with self.uow():
            doc = self.store.patients.update(pid, {"archived": archived,
                                                   "updated_at": self.ctx.now(),
                                                   "updated_by": session.username})
            if doc is None:
                raise NotFound("That patient record does not exist.")
            self.audit(session, "patient.archive" if archived else "patient.restore",
                       record_type="patient", record_id=pid, patient_id=pid)
            self.changed("patients", "update", pid, patient_id=pid, session=session)
        return self._present(doc)

    def archive(self, session: Session, patient_id: Any) -> dict[str, Any]:
        return self.set_archived(session, patient_id, True)

    def restore(self, session: Session, patient_id: Any) -> dict[str, Any]:
        return self.set_archived(session, patient_id, False)

    @staticmethod
    def parse_search(query: Any) -> NameSearch | None:
        """What a search box asks for: name prefixes (case-insensitive), an MRN or a phone."""
        if query is None:
            return None
        if not isinstance(query, str):
            raise ValidationError({"query": "Search text must be text."})
        text = " ".join(query.strip().lower().split())[:100]
        if not text:
            return None
        pair = None
        if " " in text:
            first, _, rest = text.partition(" ")
            pair = (first.rstrip(","), rest)
        mrn = mrn_prefix = phone = None
        found = MRN_RE.match(text)
        if found:
            mrn = format_mrn(int(found.group(1)))
            if text.startswith("mrn"):
                mrn_prefix = "MRN-" + found.group(1)
        digits = re.sub(r"\D", "", text)
        if len(digits) >= 3 and re.fullmatch(r"[\d+()\-.\s]+", text):
            phone = digits
        return NameSearch(text=text, pair=pair, mrn=mrn, mrn_prefix=mrn_prefix, phone=phone)

    def list(
        self,
        session: Session,
        *,
        query: Any = None,
        sex: Any = None,
        age_min: Any = None,
        age_max: Any = None,
        primary_doctor_id: Any = None,
        condition: Any = None,
        archived: Any = "active",
        sort: Any = "name",
        descending: Any = False,
        page: Any = 1,
        page_size: Any = 25,
    ) -> Page[dict[str, Any]]:
        """Search, filter, sort and page patient records (a patient sees only their own)."""
        scope = self.authorize(session, "patient.read", record_type="patient")
        page_no, size = page_args(page, page_size)
        check = Checker()
        spec: dict[str, Any] = {}
        if scope == policy.OWN:
            spec["only_id"] = session.patient_id or "-"  # no linked record: matches nothing
        spec["search"] = self.parse_search(query)
        if sex not in (None, ""):
            spec["sex"] = check.choice("sex", sex, SEXES)
        today = self.ctx.now().date()
        low = check.number("age_min", age_min, low=0, high=130, integer=True, label="minimum age")
        high = check.number("age_max", age_max, low=0, high=130, integer=True, label="maximum age")
        if low is not None and high is not None and low > high:
            check.fail("age_max", "Maximum age must not be below the minimum age.")
        if low is not None:
            spec["dob_max"] = _years_before(today, int(low)).isoformat()
        if high is not None:
            spec["dob_min_excl"] = _years_before(today, int(high) + 1).isoformat()
        if primary_doctor_id not in (None, ""):
            try:
                spec["primary_doctor_id"] = ref(primary_doctor_id, "doctor")
            except NotFound:
                check.fail("primary_doctor_id", "Choose a doctor from the list.")
        cond = check.text("condition", condition, max_len=100)
        if cond:
            spec["condition"] = cond.lower()
        state = check.choice("archived", archived if archived is not None else "active",
                             ("active", "archived", "all"))
        if scope == policy.OWN:
            state = "active"
        spec["archived"] = None if state == "all" else state == "archived"
        sort_key = check.choice("sort", sort, SORTS) or "name"
        if not isinstance(descending, bool):
            check.fail("descending", "Sort direction must be true or false.")
        check.done()
        with self.uow():
            found = self.store.patients.find(PatientQuery(
                sort=sort_key, descending=bool(descending), skip=(page_no - 1) * size,
                limit=size, **spec))
            self.audit_read(session, "patient.search", record_type="patient",
                            count=found.total or 0, query=describe(
                                query=query, sex=sex, age_min=age_min, age_max=age_max,
                                primary_doctor_id=primary_doctor_id, condition=condition,
                                archived=state, sort=sort_key, descending=descending,
                                page=page_no))
        items = [self._present(doc, today) for doc in found.items]
        return Page(items=items, total=found.total or 0, page=page_no, page_size=size)

    def require_visible(self, session: Session, patient_id: Any, action: str) -> str:
        """For other services: authorize ``action`` on this patient and check the record exists."""
        pid = ref(patient_id, "patient")
        self.authorize(session, action, patient_id=pid, record_type="patient", record_id=pid)
        doc = self.store.patients.get(pid)
        if doc is None:
            raise NotFound("That patient record does not exist.")
        if doc.get("archived") and action in ADDS_TO_RECORD:
            raise Conflict("This patient record is archived. An administrator must restore it "
                           "before anything new is added to it.")
        return pid

    def name_of(self, patient_id: str) -> tuple[str, str]:
        """(display name, MRN) of a patient, for denormalised fields."""
        doc = self.store.patients.get(patient_id)
        if doc is None:
            raise NotFound("That patient record does not exist.")
        return f"{doc['first_name']} {doc['last_name']}", doc["mrn"]


# Actions that add to or change a patient's record: refused while the record is archived.
ADDS_TO_RECORD = frozenset({"appointment.book", "prescription.write", "vitals.write",
                            "report.upload"})


def _years_before(today: date, years: int) -> date:
    try:
        return today.replace(year=today.year - years)
    except ValueError:  # 29 February
        return today.replace(year=today.year - years, day=28)


__all__ = ["PatientService", "build_patient_doc", "SEXES", "SEX_LABELS", "PermissionDenied"]
