"""Vitals: record readings (impossible values refused), read a patient's series with flags."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

from .. import policy, reference
from ..errors import ValidationError
from ..store import PatientRow, ReadingRow
from ..validation import Checker
from .base import Service, Session, describe
from .patients import PatientService

METRICS = ("systolic", "diastolic", "heart_rate", "glucose_mg_dl", "weight_kg",
           "temperature_c", "spo2")
LABELS = {
    "systolic": "systolic", "diastolic": "diastolic", "heart_rate": "heart rate",
    "glucose_mg_dl": "glucose", "weight_kg": "weight", "temperature_c": "temperature",
    "spo2": "SpO2",
}


EARLIEST_READING_YEAR = 1950  # older dates are typing mistakes (e.g. 1026 for 2026)


def clean_reading(data: dict[str, Any], now: datetime) -> ReadingRow:
    """Validate a reading: at least one value, each plausible, blood pressure as a pair."""
    if not isinstance(data, dict):
        raise ValidationError("A reading must be a set of values.")
    check = Checker()
    out: dict[str, float] = {}  # metric -> value (int for the whole-number metrics)
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
    taken = check.moment("taken_at", data.get("taken_at"), label="time taken") or now
    if taken > now + timedelta(minutes=5):
        check.fail("taken_at", "A reading cannot be in the future.")
    elif taken.year < EARLIEST_READING_YEAR:
        check.fail("taken_at", f"Check the date: readings before {EARLIEST_READING_YEAR} "
                               "are not accepted.")
    source = data.get("source") or "clinic"
    check.choice("source", source, ("clinic", "home"))
    note = check.text("note", data.get("note"), max_len=300)
    if not out and not check.errors:
        check.fail("_", "Enter at least one value.")
    check.done()
    reading: ReadingRow = {}
    if "systolic" in out:
        reading["systolic"] = int(out["systolic"])
    if "diastolic" in out:
        reading["diastolic"] = int(out["diastolic"])
    if "heart_rate" in out:
        reading["heart_rate"] = int(out["heart_rate"])
    if "glucose_mg_dl" in out:
        reading["glucose_mg_dl"] = float(out["glucose_mg_dl"])
    if "weight_kg" in out:
        reading["weight_kg"] = float(out["weight_kg"])
    if "temperature_c" in out:
        reading["temperature_c"] = float(out["temperature_c"])
    if "spo2" in out:
        reading["spo2"] = int(out["spo2"])
    if "glucose_mg_dl" in out:
        reading["glucose_fasting"] = bool(fasting)
    reading.update({"taken_at": taken, "source": source, "note": note})
    return reading


def present(reading: Mapping[str, Any], patient_id: Any) -> dict[str, Any]:
    """A reading as plain data with its flags (label, level, source)."""
    out = {k: v for k, v in reading.items() if k != "id"}  # a copy, as public() makes
    out["id"] = str(reading["id"])
    out["patient_id"] = str(patient_id)
    out["flags"] = [
        {"metric": f.metric, "label": f.label, "level": f.level, "source": f.source}
        for f in reference.flags_for(reading)
    ]
    out["abnormal"] = any(f["level"] > 0 for f in out["flags"])
    return out


def alert_fields(reading: Mapping[str, Any]) -> PatientRow:
    """The patient fields that mark a latest reading as out of range (for dashboards)."""
    worst = max(reference.flags_for(reading), key=lambda f: f.level, default=None)
    alert = bool(worst and worst.level >= 2)
    return {"vitals_alert": alert, "vitals_alert_label": worst.alert if alert and worst else None,
            "vitals_alert_at": reading["taken_at"]}


class VitalsService(Service):
    """Record vitals and read a patient's series over a time range (one stored record per
    reading, indexed by patient and time)."""

    def _readings(self, pid: str, since: datetime | None = None,
                  until: datetime | None = None) -> list[ReadingRow]:
        return self.store.vitals.series(pid, since, until)

    def add(self, session: Session, patient_id: Any, data: dict[str, Any]) -> dict[str, Any]:
        """Record a reading; patients add their own home readings, doctors any."""
        patients = PatientService(self.ctx)
        pid = patients.require_visible(session, patient_id, "vitals.write")
        reading = clean_reading(data, self.ctx.now())
        if session.role == policy.PATIENT:
            reading["source"] = "home"
        reading = {"patient_id": pid, **reading, "recorded_by": session.username,
                   "recorded_at": self.ctx.now()}
        with self.uow():
            reading = self.store.vitals.add(reading)
            newest = self.store.vitals.latest(pid, 1)
            if newest and newest[0]["id"] == reading["id"]:
                self.store.patients.update(pid, alert_fields(reading), bump=False)
            self.audit(session, "vitals.add", record_type="vitals", record_id=reading["id"],
                       patient_id=pid)
            self.changed("vitals", "insert", reading["id"], patient_id=pid, session=session)
        return present(reading, pid)

    def series(self, session: Session, patient_id: Any, *, since: Any = None,
               until: Any = None) -> list[dict[str, Any]]:
        """A patient's readings in time order, optionally within [since, until]."""
        patients = PatientService(self.ctx)
        pid = patients.require_visible(session, patient_id, "vitals.read")
        check = Checker()
        start = check.moment("since", since)
        end = check.moment("until", until)
        check.done()
        with self.uow():
            readings = self._readings(pid, start, end)
            self.audit_read(session, "vitals.read", record_type="vitals", patient_id=pid,
                            count=len(readings), query=describe(since=since, until=until))
        return [present(r, pid) for r in readings]

    def latest(self, session: Session, patient_id: Any, count: int = 10) -> list[dict[str, Any]]:
        """The most recent readings, newest first."""
        patients = PatientService(self.ctx)
        pid = patients.require_visible(session, patient_id, "vitals.read")
        check = Checker()
        wanted = check.number("count", count, low=1, high=500, integer=True, required=True,
                              label="number of readings")
        check.done()
        count = int(wanted or 10)
        with self.uow():
            readings = self.store.vitals.latest(pid, count)
            self.audit_read(session, "vitals.read", record_type="vitals", patient_id=pid,
                            count=len(readings), query=describe(latest=count))
        return [present(r, pid) for r in readings]

    def delete(self, session: Session, patient_id: Any, reading_id: Any) -> None:
        """Remove a reading entered in error (doctors; patients their own home readings)."""
        from ..errors import NotFound
        from .base import ref

        patients = PatientService(self.ctx)
        pid = patients.require_visible(session, patient_id, "vitals.write")
        rid = ref(reading_id, "reading")
        reading = self.store.vitals.get(rid)
        if reading is None or reading.get("patient_id") != pid:
            raise NotFound("That reading does not exist.")
        if session.role == policy.PATIENT and reading.get("recorded_by") != session.username:
            self._deny(session, "vitals.delete", "vitals", rid, pid,
                       "You can only remove readings you entered yourself.")
        with self.uow():
            self.store.vitals.delete(rid)
            remaining = self.store.vitals.latest(pid, 1)
            self.store.patients.update(
                pid, alert_fields(remaining[0]) if remaining else
                {"vitals_alert": False, "vitals_alert_label": None, "vitals_alert_at": None},
                bump=False)
            self.audit(session, "vitals.delete", record_type="vitals", record_id=rid,
                       patient_id=pid)
            self.changed("vitals", "delete", rid, patient_id=pid, session=session)
