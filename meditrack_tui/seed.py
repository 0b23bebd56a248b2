"""Demo data (``sample_data/demo.json``) and synthetic patients for scale work (those in
synthetic.py: ``generate`` is re-exported here for ``meditrack seed``).

Dates in the demo file are relative (days ago / days from today) so the demo
always looks current. Both loaders write through the same document builders the
services use and the store's repositories, in batches of units of work: a
killed seed leaves whole batches, never half a patient.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

from .services import Services
from .services.patient_fields import format_mrn, search_keys
from .services.settings import DEFAULT_HOURS, fits
from .services.vitals import alert_fields
from .store import AppointmentRow, PatientRow, PrescriptionRow, ReadingRow, UserRow, new_id
from .synthetic import bulk_changed, generate, reserve_mrns
from .validation import Checker

DEMO_PASSWORD = "meditrack-demo"
DEMO_LOGINS = ("demo.admin", "demo.doctor", "demo.patient")


def sample_data_dir() -> Path:
    """Where sample_data/ lives: MEDITRACK_SAMPLE_DATA, next to the package (a checkout or
    editable install), inside it (a wheel install), or the current directory."""
    import os

    candidates = [os.environ.get("MEDITRACK_SAMPLE_DATA"),
                  Path(__file__).resolve().parent.parent / "sample_data",
                  Path(__file__).resolve().parent / "sample_data",  # installed from a wheel
                  Path.cwd() / "sample_data"]
    for candidate in candidates:
        if candidate and (Path(candidate) / "demo.json").is_file():
            return Path(candidate)
    raise FileNotFoundError(
        "The demo data (sample_data/demo.json) was not found. Run MediTrack from its source "
        "folder or set MEDITRACK_SAMPLE_DATA to the sample_data folder.")


def _patient_doc(services: Services, data: dict[str, Any], now: datetime, mrn: str,
                 doctor: UserRow | None) -> PatientRow:
    from .services.patient_fields import build_patient_doc

    check = Checker()
    doc = build_patient_doc(check, data, today=now.date())
    check.done()
    doc.update(search_keys(doc["first_name"], doc["last_name"]))
    doc.update({
        "mrn": mrn, "primary_doctor_id": doctor["id"] if doctor else None,
        "primary_doctor_name": doctor.get("full_name") if doctor else None,
        "archived": False, "created_at": now, "updated_at": now, "updated_by": "seed",
        "version": 1, "vitals_alert": False, "vitals_alert_label": None, "vitals_alert_at": None,
    })
    return doc


def is_seeded(services: Services) -> bool:
    """True when the store has any users or patients (a demo or a real clinic)."""
    return not services.store.is_empty()


def demo_state(services: Services, *, where: str) -> str:
    """"empty" (the demo may be loaded) or "seeded" (a whole demo or a clinic's data).

    The demo is saved in one unit of work, its audit entry ("seed.demo") last. Where that is
    one transaction (SQLite, a MongoDB replica set) a killed seed leaves nothing, and the
    next start loads the demo whole. On a standalone MongoDB the writes commit one by one,
    so a killed seed can leave the demo's accounts without that entry: DemoIncomplete says
    so (``where``: the data directory or database) rather than running on half a clinic."""
    from .errors import DemoIncomplete
    from .store import AuditQuery

    store = services.store
    if store.is_empty():
        return "empty"
    if store.users.by_username(DEMO_LOGINS[0]) is not None:
        done = store.audit.find(AuditQuery(action_prefix="seed.demo", limit=1, count=False))
        if not done.items:
            raise DemoIncomplete(
                f"The demo data in {where} is incomplete: an earlier `meditrack seed` stopped "
                "before it finished. Start with an empty data directory (or database) and "
                "load the demo again.")
    return "seeded"


def load_demo(services: Services, folder: Path | None = None,
              progress: Callable[[str], None] | None = None) -> dict[str, int]:
    """Load the demo clinic into an empty store; returns counts of what was created."""
    folder = folder or sample_data_dir()
    data = json.loads((folder / "demo.json").read_text("utf-8"))
    store = services.store
    if is_seeded(services):
        raise RuntimeError("The store already has data; the demo loads only into an empty store.")
    now = services.ctx.now()
    today = now.date()
    say = progress or (lambda _msg: None)

    say("users")
    users: dict[str, UserRow] = {}
    pending_patient_links: list[tuple[UserRow, str]] = []
    for user in data["users"]:
        extra: UserRow | None = ({"specialty": user["specialty"]} if user.get("specialty")
                                 else None)
        doc = services.auth.new_user_doc(user["username"], user["password"], user["role"],
                                         full_name=user["full_name"], email=user.get("email"),
                                         extra=extra)
        doc["id"] = new_id()
        users[user["username"]] = doc
        if user.get("patient_key"):
            pending_patient_links.append((doc, user["patient_key"]))

    say("patients")
    patients: dict[str, PatientRow] = {}
    first = reserve_mrns(services, len(data["patients"]))
    for offset, item in enumerate(data["patients"]):
        doctor = users.get(item.get("primary_doctor") or "")
        fields = {k: item.get(k) for k in ("first_name", "last_name", "dob", "sex", "phone",
                                          "email", "address", "allergies", "conditions")}
        record = _patient_doc(services, fields, now, format_mrn(first + offset), doctor)
        record["id"] = new_id()
        patients[item["key"]] = record
    for user_doc, key in pending_patient_links:
        user_doc["patient_id"] = patients[key]["id"]

    say("vitals")
    vitals: list[ReadingRow] = []
    for item in data["vitals"]:
        patient = patients[item["patient"]]
        hours, minutes = (int(x) for x in item.get("time", "09:00").split(":"))
        taken = datetime.combine(today - timedelta(days=item["days_ago"]),
                                 datetime.min.time()).replace(hour=hours, minute=minutes)
        reading = _demo_values(item)
        reading.update({"patient_id": patient["id"], "taken_at": taken,
                        "source": item.get("source", "clinic"), "note": None,
                        "recorded_by": "seed", "recorded_at": taken})
        vitals.append(reading)
    vitals.sort(key=lambda r: r["taken_at"])
    latest: dict[str, ReadingRow] = {}
    for reading in vitals:
        latest[reading["patient_id"]] = reading
    for pid, reading in latest.items():
        for record in patients.values():
            if record["id"] == pid:
                record.update(alert_fields(reading))

    say("appointments")
    appointments: list[AppointmentRow] = []
    placed: dict[str, list[tuple[datetime, datetime]]] = {}  # doctor -> booked spans
    for item in data["appointments"]:
        patient, doctor = patients[item["patient"]], users[item["doctor"]]
        hours, minutes = (int(x) for x in item["time"].split(":"))
        start = datetime.combine(today + timedelta(days=item["days_from_today"]),
                                 datetime.min.time()).replace(hour=hours, minute=minutes)
        duration = int(item.get("duration_min", 20))
        start = _open_day(start, duration, item["days_from_today"] < 0,
                          placed.setdefault(doctor["id"], []))
        name = f"{patient['first_name']} {patient['last_name']}"
        appointments.append({
            "patient_id": patient["id"], "patient_name": name, "patient_name_key": name.lower(),
            "mrn": patient["mrn"], "doctor_id": doctor["id"], "doctor_name": doctor["full_name"],
            "start": start, "end": start + timedelta(minutes=duration),
            "day": start.date().isoformat(), "duration_min": duration, "reason": item["reason"],
            "status": item.get("status", "scheduled"), "created_by": "seed", "created_at": now,
            "updated_by": "seed", "updated_at": now, "version": 1,
        })

    say("prescriptions")
    prescriptions: list[PrescriptionRow] = []
    for item in data["prescriptions"]:
        patient, doctor = patients[item["patient"]], users[item["doctor"]]
        start_day = today - timedelta(days=item.get("start_days_ago", 0))
        stopped = item.get("stopped_days_ago")
        prescriptions.append({
            "patient_id": patient["id"], "doctor_id": doctor["id"],
            "doctor_name": doctor["full_name"], "drug": item["drug"], "dose": item["dose"],
            "route": item.get("route", "oral"), "frequency": item["frequency"],
            "start_date": start_day.isoformat(), "notes": item.get("notes"),
            "status": "stopped" if stopped is not None else "active",
            "stopped_at": datetime.combine(today - timedelta(days=stopped), datetime.min.time())
            if stopped is not None else None,
            "stop_reason": item.get("stop_reason"), "allergy_override": None,
            "created_at": now, "updated_at": now, "updated_by": "seed", "version": 1,
        })
    say("saving")
    reports = 0
    with store.bulk():  # the whole demo clinic, or nothing
        store.users.add_many(list(users.values()))
        store.patients.add_many(list(patients.values()))
        store.vitals.add_many(vitals)
        store.appointments.add_many(appointments)
        store.prescriptions.add_many(prescriptions)
        bulk_changed(services, "patients")
        reports = _demo_reports(services, folder, data, users, patients, now)
        store.audit.append({"ts": now, "user_id": None, "username": "seed", "role": "-",
                            "action": "seed.demo", "record_type": None, "record_id": None,
                            "patient_id": None, "outcome": "ok",
                            "detail": "demo clinic loaded"}, services.audit.audit_key)
    return {"users": len(users), "patients": len(patients), "vitals": len(vitals),
            "appointments": len(appointments), "prescriptions": len(prescriptions),
            "reports": reports}


def _demo_values(item: Mapping[str, Any]) -> ReadingRow:
    """A demo reading's values (those the demo file gives), in the file's terms."""
    reading: ReadingRow = {}
    if item.get("systolic") is not None:
        reading["systolic"] = item["systolic"]
    if item.get("diastolic") is not None:
        reading["diastolic"] = item["diastolic"]
    if item.get("heart_rate") is not None:
        reading["heart_rate"] = item["heart_rate"]
    if item.get("glucose_mg_dl") is not None:
        reading["glucose_mg_dl"] = item["glucose_mg_dl"]
    if item.get("glucose_fasting") is not None:
        reading["glucose_fasting"] = item["glucose_fasting"]
    if item.get("weight_kg") is not None:
        reading["weight_kg"] = item["weight_kg"]
    if item.get("temperature_c") is not None:
        reading["temperature_c"] = item["temperature_c"]
    if item.get("spo2") is not None:
        reading["spo2"] = item["spo2"]
    return reading


def _open_day(start: datetime, duration: int, past: bool,
              taken: list[tuple[datetime, datetime]]) -> datetime:
    """The demo's appointments are days from today, so some would fall on a weekend:
    each moves (back for past visits, on for the rest) to the nearest day whose default
    opening hours hold it and where its doctor is free, and the span is noted in
    ``taken``."""
    step = timedelta(days=-1 if past else 1)
    for _ in range(14):
        end = start + timedelta(minutes=duration)
        if fits(DEFAULT_HOURS, start, end) and not any(
                s < end and start < e for s, e in taken):
            break
        start += step
    taken.append((start, start + timedelta(minutes=duration)))
    return start


def _demo_reports(services: Services, folder: Path, data: dict[str, Any],
                  users: dict[str, UserRow], patients: dict[str, PatientRow],
                  now: datetime) -> int:
    """Store the demo's report files (in the caller's unit of work); how many."""
    import hashlib

    from .services.report_files import check_file

    store = services.store
    reports = 0
    for item in data.get("reports", []):
        path = folder / item["file"]
        uploader = users.get(item.get("uploaded_by") or "demo.doctor") or users["demo.doctor"]
        content = path.read_bytes()
        mime = check_file(path.name, content, services.config.max_upload_bytes)
        patient = patients[item["patient"]]
        digest = hashlib.sha256(content).hexdigest()
        file_id = store.reports.put_file(
            path.name, content,
            {"sha256": digest, "size": len(content), "content_type": mime,
             "uploaded_by": uploader["username"], "patient_id": patient["id"]})
        uploaded = now - timedelta(days=item.get("days_ago", 0))
        store.reports.add({
            "patient_id": patient["id"], "file_id": file_id, "filename": path.name,
            "kind": item["kind"], "note": item.get("note"), "content_type": mime,
            "size": len(content), "sha256": digest, "uploaded_by": uploader["username"],
            "uploader_role": uploader["role"], "uploaded_at": uploaded,
        })
        reports += 1
    return reports


__all__ = ["load_demo", "generate", "DEMO_LOGINS", "DEMO_PASSWORD", "date"]
