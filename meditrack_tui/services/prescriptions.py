"""Prescriptions: add (with the allergy check and audited override), update, stop, list."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, timedelta
from typing import Any

from .. import policy
from ..drugs import allergy_conflict
from ..errors import AllergyConflict, Conflict, NotFound, ValidationError
from ..store import PrescriptionRow
from ..validation import Checker
from .base import Service, Session, describe, public, ref
from .patients import PatientService

ROUTES = ("oral", "inhaled", "topical", "subcutaneous", "intramuscular", "intravenous",
          "sublingual", "rectal", "ophthalmic", "nasal", "transdermal", "other")


# A start date may record a medicine begun up to ten years ago (a long-term prescription
# written elsewhere) or plan one up to a year ahead; anything outside is a typing mistake.
START_YEARS_BACK = 10
START_DAYS_AHEAD = 366


def start_window(today: date) -> tuple[date, date]:
    """The first and last start date a prescription written ``today`` may have."""
    try:
        first = today.replace(year=today.year - START_YEARS_BACK)
    except ValueError:  # 29 February
        first = today.replace(year=today.year - START_YEARS_BACK, day=28)
    return first, today + timedelta(days=START_DAYS_AHEAD)


def _fields(check: Checker, data: dict[str, Any], today: date,
            partial: bool = False) -> PrescriptionRow:
    """The checked fields (all, or only the given ones); a required field that fails its
    check is left out (``check.done()`` then refuses the lot)."""
    out: PrescriptionRow = {}

    def given(name: str) -> bool:
        return not partial or name in data

    if given("drug"):
        drug = check.text("drug", data.get("drug"), required=True, max_len=100)
        if drug is not None:
            out["drug"] = drug
    if given("dose"):
        dose = check.text("dose", data.get("dose"), required=True, max_len=60)
        if dose is not None:
            out["dose"] = dose
    if given("route"):
        route = check.choice("route", data.get("route") or "oral", ROUTES)
        if route is not None:
            out["route"] = route
    if given("frequency"):
        frequency = check.text("frequency", data.get("frequency"), required=True, max_len=80)
        if frequency is not None:
            out["frequency"] = frequency
    if given("start_date"):
        first, last = start_window(today)
        start = check.day("start_date", data.get("start_date"), low=first, high=last,
                          window=f"from {first.isoformat()} to {last.isoformat()} (at most "
                                 f"{START_YEARS_BACK} years back or a year ahead)")
        out["start_date"] = start.isoformat() if start else None
    if given("notes"):
        out["notes"] = check.text("notes", data.get("notes"), max_len=500)
    return out



def _stopped_by(doc: Mapping[str, Any]) -> str:
    """' by dr.x at 10:05 on 04 Mar 2026' for a prescription someone stopped."""
    who, when = doc.get("updated_by"), doc.get("stopped_at") or doc.get("updated_at")
    if not who:
        return ""
    return f" by {who}" + (f" at {when:%H:%M on %d %b %Y}" if when else "")

class PrescriptionService(Service):
    """Doctors write prescriptions; patients read their own; admins read."""

    def _get(self, rx_id: Any) -> PrescriptionRow:
        doc = self.store.prescriptions.get(ref(rx_id, "prescription"))
        if doc is None:
            raise NotFound("That prescription does not exist.")
        return doc

    def _check_allergy(self, session: Session, pid: Any, drug: str, override: Any
                       ) -> dict[str, Any] | None:
        patient = self.store.patients.get(pid) or {}
        clash = allergy_conflict(drug, patient.get("allergies") or [])
        if not clash:
            return None
        allergy, why = clash
        if override in (None, ""):
            self.audit(session, "prescription.allergy-refused", record_type="prescription",
                       patient_id=pid, outcome="denied", detail=f"{drug}: {why}")
            raise AllergyConflict(
                f"Not prescribed: {why}. A doctor may override this with a reason.",
                allergy=allergy, drug=drug,
            )
        check = Checker()
        reason = check.text("override_reason", override, required=True, max_len=300,
                            min_len=5, label="override reason")
        check.done()
        return {"allergy": allergy, "reason": reason, "by": session.username,
                "at": self.ctx.now(), "warning": why}

    def add(self, session: Session, patient_id: Any, data: dict[str, Any],
            *, override_reason: Any = None) -> dict[str, Any]:
        """Prescribe; an allergy clash is refused unless overridden with a reason (audited)."""
        pid = PatientService(self.ctx).require_visible(session, patient_id, "prescription.write")
        if not isinstance(data, dict):
            raise ValidationError("Prescription details must be a set of fields.")
        check = Checker()
        fields = _fields(check, data, self.ctx.now().date())
        check.done()
        override = self._check_allergy(session, pid, fields["drug"], override_reason)
        now = self.ctx.now()
        # the prescriber's name from their account, never from what the caller's session says
        doctor = self.store.users.get(session.user_id) or {}
        fields.update({
            "patient_id": pid, "doctor_id": session.user_id,
            "doctor_name": doctor.get("full_name") or session.username,
            "status": "active", "start_date": fields.get("start_date") or now.date().isoformat(),
            "stopped_at": None, "stop_reason": None, "allergy_override": override,
            "created_at": now, "updated_at": now, "updated_by": session.username, "version": 1,
        })
        with self.uow():
            fields = self.store.prescriptions.add(fields)
            self.audit(session, "prescription.add", record_type="prescription",
                       record_id=fields["id"], patient_id=pid,
                       detail=f"{fields['drug']} {fields['dose']}")
            if override:
                self.audit(session, "prescription.allergy-override",
                           record_type="prescription", record_id=fields["id"], patient_id=pid,
                           detail=f"{override['warning']}; reason: {override['reason']}")
            self.changed("prescriptions", "insert", fields["id"], patient_id=pid,
                         session=session)
        return public(fields) or {}

    def update(self, session: Session, rx_id: Any, changes: dict[str, Any], *, version: Any,
               override_reason: Any = None) -> dict[str, Any]:
        """Change dose, frequency, route or notes (version-checked)."""
        doc = self._get(rx_id)
        self.authorize(session, "prescription.write", patient_id=doc["patient_id"],
                       record_type="prescription", record_id=doc["id"])
        if doc["status"] != "active":
            raise Conflict(f"This prescription was stopped{_stopped_by(doc)}; it cannot be "
                           "changed. Write a new one instead.")
        if not isinstance(changes, dict) or not changes:
            raise ValidationError("Nothing to change.")
        check = Checker()
        fields = _fields(check, changes, self.ctx.now().date(), partial=True)
        check.done()
        if "drug" in fields and fields["drug"] != doc["drug"]:
            override = self._check_allergy(session, doc["patient_id"], fields["drug"],
                                           override_reason)
            if override:
                fields["allergy_override"] = override
        return self._save(session, doc, version, fields, "prescription.update")

    def stop(self, session: Session, rx_id: Any, reason: Any, *, version: Any) -> dict[str, Any]:
        """Stop an active prescription with a reason."""
        doc = self._get(rx_id)
        self.authorize(session, "prescription.write", patient_id=doc["patient_id"],
                       record_type="prescription", record_id=doc["id"])
        if doc["status"] != "active":
            raise Conflict(f"This prescription is already stopped{_stopped_by(doc)}.")
        check = Checker()
        why = check.text("stop_reason", reason, required=True, max_len=300, label="reason")
        check.done()
        return self._save(session, doc, version, {"status": "stopped", "stop_reason": why,
                                                  "stopped_at": self.ctx.now()},
                          "prescription.stop")

    def _save(self, session: Session, doc: PrescriptionRow, version: Any,
              fields: PrescriptionRow, action: str) -> dict[str, Any]:
        if isinstance(version, bool) or not isinstance(version, int):
            raise ValidationError({"version": "The prescription version is missing; reopen it."})
        fields.update({"updated_at": self.ctx.now(), "updated_by": session.username})
        with self.uow():
            result = self.store.prescriptions.update(doc["id"], fields, version=version)
            if result is not None:
                self.audit(session, action, record_type="prescription", record_id=doc["id"],
                           patient_id=doc["patient_id"])
                self.changed("prescriptions", "update", doc["id"],
                             patient_id=doc["patient_id"], session=session)
        if result is None:
            latest = self.store.prescriptions.get(doc["id"]) or {}
            who, when = latest.get("updated_by", "someone else"), latest.get("updated_at")
            at = f" at {when:%H:%M on %d %b %Y}" if when else ""
            if latest:
                self.audit_stale(session, action, "prescription", doc["id"],
                                 doc["patient_id"])
            raise Conflict(f"{who} changed this prescription{at} after you opened it. "
                           "Reload to see their change.", changed_by=who, changed_at=when,
                           current=public(latest))
        return public(result) or {}

    def list(self, session: Session, patient_id: Any, *, active_only: bool = False
             ) -> list[dict[str, Any]]:
        """A patient's prescriptions, active first, newest first."""
        pid = PatientService(self.ctx).require_visible(session, patient_id, "prescription.read")
        with self.uow():
            docs = self.store.prescriptions.for_patient(
                pid, status="active" if active_only else None)
            self.audit_read(session, "prescription.list", record_type="prescription",
                            patient_id=pid, count=len(docs),
                            query=describe(active_only=active_only))
        docs.sort(key=lambda d: d["status"] != "active")
        return [public(d) or {} for d in docs]


__all__ = ["PrescriptionService", "ROUTES", "policy"]
