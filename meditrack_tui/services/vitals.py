"""Vitals: record readings (impossible values refused), read a patient's series with flags."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from .. import policy, reference
from ..errors import ValidationError
from ..validation import Checker
from .base import Service, Session, public
from .patients import PatientService

METRICS = ("systolic", "diastolic", "heart_rate", "glucose_mg_dl", "weight_kg",
           "temperature_c", "spo2")
LABELS = {
    "systolic": "systolic", "diastolic": "diastolic", "heart_rate": "heart rate",
    "glucose_mg_dl": "glucose", "weight_kg": "weight", "temperature_c": "temperature",
    "spo2": "SpO2",
}


def clean_reading(data: dict[str, Any], now: datetime) -> dict[str, Any]:
    """Validate a reading: at least one value, each plausible, blood pressure as a pair."""
    if not isinstance(data, dict):
        raise ValidationError("A reading must be a set of values.")
    check = Checker()
    out: dict[str, Any] = {}
    for metric in METRICS:
        low, high, unit = reference.PLAUSIBLE[metric]
        integer = metric in ("systolic", "diastolic", "heart_rate", "spo2")
        value = check.number(metric, data.get(metric), low=low, high=high, integer=integer,
                             label=LABELS[metric], unit=unit)
        if value is not None:
            out[metric] = value
    if ("systolic" in out) != ("diastolic" in out) and not check.errors:
        check.fail("diastolic" if "systolic" in out else "systolic",
                   "Blood pressure needs both systolic and diastolic values.")
    if "systolic" in out and "diastolic" in out and out["systolic"] <= out["diastolic"]:
        check.fail("systolic", "Systolic must be higher than diastolic.")
    fasting = data.get("glucose_fasting", False)
    if fasting is None:
        fasting = False
    if not isinstance(fasting, bool):
        check.fail("glucose_fasting", "Fasting must be yes or no.")
    if "glucose_mg_dl" in out:
        out["glucose_fasting"] = bool(fasting)
    taken = check.moment("taken_at", data.get("taken_at")) or now
    if taken > now + timedelta(minutes=5):
        check.fail("taken_at", "A reading cannot be in the future.")
    source = data.get("source") or "clinic"
    check.choice("source", source, ("clinic", "home"))
    note = check.text("note", data.get("note"), max_len=300)
    if not out and not check.errors:
        check.fail("_", "Enter at least one value.")
    check.done()
    out.update({"taken_at": taken, "source": source, "note": note})
    return out


def present(doc: dict[str, Any]) -> dict[str, Any]:
    """A reading as plain data with its flags (label, level, source)."""
    out = public(doc)
    assert out is not None
    out["flags"] = [
        {"metric": f.metric, "label": f.label, "level": f.level, "source": f.source}
        for f in reference.flags_for(doc)
    ]
    out["abnormal"] = any(f["level"] > 0 for f in out["flags"])
    return out


def alert_fields(reading: dict[str, Any]) -> dict[str, Any]:
    """The patient fields that mark a latest reading as out of range (for dashboards)."""
    worst = max(reference.flags_for(reading), key=lambda f: f.level, default=None)
    alert = bool(worst and worst.level >= 2)
    return {"vitals_alert": alert, "vitals_alert_label": worst.label if alert and worst else None,
            "vitals_alert_at": reading["taken_at"]}


class VitalsService(Service):
    """Record vitals and read a patient's series over a time range."""

    def add(self, session: Session, patient_id: Any, data: dict[str, Any]) -> dict[str, Any]:
        """Record a reading; patients add their own home readings, doctors any."""
        patients = PatientService(self.ctx)
        pid = patients.require_visible(session, patient_id, "vitals.write")
        reading = clean_reading(data, self.ctx.now())
        if session.role == policy.PATIENT:
            reading["source"] = "home"
        reading.update({"patient_id": pid, "recorded_by": session.username,
                        "recorded_at": self.ctx.now()})
        reading["_id"] = self.db.vitals.insert_one(reading).inserted_id
        self.db.patients.update_one({"_id": pid}, {"$set": alert_fields(reading)})
        self.audit(session, "vitals.add", record_type="vitals", record_id=reading["_id"],
                   patient_id=pid)
        self.changed("vitals", "insert", reading["_id"], patient_id=pid, session=session)
        return present(reading)

    def series(self, session: Session, patient_id: Any, *, since: Any = None,
               until: Any = None, limit: int = 5000) -> list[dict[str, Any]]:
        """A patient's readings in time order, optionally within [since, until]."""
        patients = PatientService(self.ctx)
        pid = patients.require_visible(session, patient_id, "vitals.read")
        check = Checker()
        start = check.moment("since", since)
        end = check.moment("until", until)
        check.done()
        filt: dict[str, Any] = {"patient_id": pid}
        window: dict[str, Any] = {}
        if start:
            window["$gte"] = start
        if end:
            window["$lte"] = end
        if window:
            filt["taken_at"] = window
        cursor = self.db.vitals.find(filt).sort([("taken_at", 1)]).limit(int(limit))
        return [present(doc) for doc in cursor]

    def latest(self, session: Session, patient_id: Any, count: int = 10) -> list[dict[str, Any]]:
        """The most recent readings, newest first."""
        patients = PatientService(self.ctx)
        pid = patients.require_visible(session, patient_id, "vitals.read")
        cursor = self.db.vitals.find({"patient_id": pid}).sort([("taken_at", -1)]).limit(count)
        return [present(doc) for doc in cursor]

    def delete(self, session: Session, reading_id: Any) -> None:
        """Remove a reading entered in error (doctors; patients their own home readings)."""
        from .base import oid

        rid = oid(reading_id, "reading")
        doc = self.db.vitals.find_one({"_id": rid})
        if doc is None:
            from ..errors import NotFound

            raise NotFound("That reading does not exist.")
        self.authorize(session, "vitals.write", patient_id=doc["patient_id"],
                       record_type="vitals", record_id=rid)
        if session.role == policy.PATIENT and doc.get("recorded_by") != session.username:
            self._deny(session, "vitals.delete", "vitals", rid, doc["patient_id"],
                       "You can only remove readings you entered yourself.")
        self.db.vitals.delete_one({"_id": rid})
        self.audit(session, "vitals.delete", record_type="vitals", record_id=rid,
                   patient_id=doc["patient_id"])
        self.changed("vitals", "delete", rid, patient_id=doc["patient_id"], session=session)
