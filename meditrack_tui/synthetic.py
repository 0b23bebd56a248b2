"""Synthetic patients for scale work (``meditrack seed --patients N``), and the bulk-load
helpers both loaders share (seed.py loads the demo).

Patients, their vitals and appointments are written in batches of 1,000 patients, each
batch one unit of work: a killed run leaves whole batches, never half a patient.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from datetime import datetime, timedelta

from . import policy
from .services import Services
from .services.patient_fields import format_mrn, search_keys
from .services.vitals import alert_fields
from .store import AppointmentRow, PatientRow, ReadingRow, new_id


def reserve_mrns(services: Services, count: int) -> int:
    """Reserve ``count`` MRN numbers at once; returns the first."""
    with services.store.unit_of_work():
        first: int = services.store.counters.next("mrn", count) - count + 1
        return first


def bulk_changed(services: Services, collection: str) -> None:
    """Tell other sessions (through a change event) that a bulk load happened."""
    from .live import utcnow

    services.store.changes.append(collection, "bulk", ts=utcnow(), by="seed")


FIRST_NAMES = ("Olivia Liam Emma Noah Amelia Oliver Ava Elijah Sophia Mateo Isabella Lucas Mia "
               "Levi Charlotte Asher Harper James Evelyn Leo Luna Grayson Aisha Omar Priya Arjun "
               "Mei Hiro Fatima Yusuf Ingrid Lars Chiara Marco Zainab Kwame Ana Diego Sofia Ivan "
               "Nadia Tomasz Aroha Tane Leilani Kai Siobhan Cian Esther Samuel").split()
LAST_NAMES = ("Smith Johnson Williams Brown Jones Garcia Miller Davis Rodriguez Martinez Hernandez "
              "Lopez Gonzalez Wilson Anderson Thomas Taylor Moore Jackson Martin Lee Perez "
              "Thompson "
              "White Harris Sanchez Clark Ramirez Lewis Robinson Walker Young Allen King Wright "
              "Scott Torres Nguyen Hill Flores Green Adams Nelson Baker Hall Rivera Campbell "
              "Mitchell Carter Roberts Okafor Lindqvist Kowalski Nakamura Patel Singh Haddad "
              "Novak Rossi Muller Dubois Kim Chen Silva Costa Ahmed Ali O'Brien Murphy").split()
CONDITIONS = ("Hypertension", "Type 2 diabetes", "Asthma", "Hyperlipidemia", "Hypothyroidism",
              "COPD", "Osteoarthritis", "Depression", "Atrial fibrillation", "GERD")
ALLERGIES = ("penicillin", "sulfamethoxazole", "ibuprofen", "latex", "peanuts", "codeine",
             "cephalexin", "aspirin")
REASONS = ("Annual check-up", "Blood pressure follow-up", "Diabetes review", "Medication review",
           "Cough", "Back pain", "Lab results", "Vaccination", "Skin rash", "Headache")


def generate(services: Services, count: int, *, seed: int = 7, vitals_per_patient: int = 8,
             appointments_per_patient: int = 2,
             progress: Callable[[int], None] | None = None) -> dict[str, int]:
    """Add ``count`` synthetic patients with vitals and appointments (batches of 1,000
    patients, each batch one unit of work)."""
    from .store import AppointmentQuery, UserQuery

    store = services.store
    rng = random.Random(seed)
    now = services.ctx.now()
    today = now.date()
    doctors = store.users.find(UserQuery(role=policy.DOCTOR, status="active", limit=None,
                                         count=False)).items
    if not doctors:
        synthetic = services.auth.new_user_doc("dr.synthetic", "synthetic-password-1",
                                               policy.DOCTOR, full_name="Dr. Sam Synthetic")
        with store.unit_of_work():
            doctors = [store.users.add(synthetic)]
    # Free appointment slots per doctor and day, so synthetic bookings never overlap.
    taken: set[tuple[str, str, int]] = set()
    for doctor in doctors:
        for appt in store.appointments.find(AppointmentQuery(
                doctor_id=doctor["id"],
                start_from=datetime.combine(today - timedelta(days=180), datetime.min.time()),
                limit=None, count=False)).items:
            taken.add((appt["doctor_id"], appt["day"],
                       appt["start"].hour * 60 + appt["start"].minute))
    first = reserve_mrns(services, count)
    batch = 1000
    totals = {"patients": 0, "vitals": 0, "appointments": 0}
    for start in range(0, count, batch):
        patients: list[PatientRow] = []
        vitals: list[ReadingRow] = []
        appts: list[AppointmentRow] = []
        for i in range(start, min(count, start + batch)):
            first_name, last_name = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
            born = today - timedelta(days=rng.randint(365, 95 * 365))
            doctor = rng.choice(doctors)
            conditions = rng.sample(CONDITIONS, k=rng.choice((0, 0, 1, 1, 2)))
            allergies = rng.sample(ALLERGIES, k=rng.choice((0, 0, 0, 1)))
            phone = f"+1 555 {rng.randint(100, 999)} {rng.randint(1000, 9999)}"
            pid = new_id()
            doc: PatientRow = {
                "id": pid, "mrn": format_mrn(first + i), "first_name": first_name,
                "last_name": last_name, "dob": born.isoformat(), "sex": rng.choice("FMFMX"),
                "phone": phone, "phone_digits": "".join(c for c in phone if c.isdigit()),
                "email": f"{first_name}.{last_name}{i}@example.org".lower(), "address": None,
                "allergies": allergies, "conditions": conditions,
                "conditions_lc": [c.lower() for c in conditions],
                "primary_doctor_id": doctor["id"], "primary_doctor_name": doctor["full_name"],
                "archived": False, "created_at": now, "updated_at": now, "updated_by": "seed",
                "version": 1, "vitals_alert": False, "vitals_alert_label": None,
                "vitals_alert_at": None,
            }
            doc.update(search_keys(first_name, last_name))
            hypertensive = "Hypertension" in conditions
            diabetic = "Type 2 diabetes" in conditions
            mine: list[ReadingRow] = []
            for _k in range(vitals_per_patient):
                when = now - timedelta(days=rng.randint(1, 365), minutes=rng.randint(0, 600))
                sys_base = 145 if hypertensive else 118
                reading: ReadingRow = {
                    "patient_id": pid, "taken_at": when, "source": "clinic", "note": None,
                    "systolic": int(rng.gauss(sys_base, 10)),
                    "diastolic": int(rng.gauss(sys_base * 0.62, 6)),
                    "heart_rate": int(rng.gauss(74, 9)),
                    "weight_kg": round(rng.gauss(78, 14), 1),
                    "recorded_by": "seed", "recorded_at": when,
                }
                if diabetic or rng.random() < 0.2:
                    reading["glucose_mg_dl"] = int(rng.gauss(150 if diabetic else 92, 20))
                    reading["glucose_fasting"] = True
                mine.append(reading)
            vitals.extend(mine)
            if mine:
                doc.update(alert_fields(max(mine, key=lambda v: v["taken_at"])))
            patients.append(doc)
            for _ in range(appointments_per_patient):
                for _attempt in range(20):
                    day = today + timedelta(days=rng.randint(-180, 60))
                    minute = rng.randrange(8 * 60, 17 * 60, 20)
                    key = (doctor["id"], day.isoformat(), minute)
                    if key not in taken:
                        taken.add(key)
                        break
                else:
                    continue
                begins = datetime.combine(day, datetime.min.time()) + timedelta(minutes=minute)
                name = f"{first_name} {last_name}"
                past = begins < now
                appts.append({
                    "patient_id": pid, "patient_name": name, "patient_name_key": name.lower(),
                    "mrn": doc["mrn"], "doctor_id": doctor["id"],
                    "doctor_name": doctor["full_name"], "start": begins,
                    "end": begins + timedelta(minutes=20), "day": day.isoformat(),
                    "duration_min": 20, "reason": rng.choice(REASONS),
                    "status": rng.choice(("completed", "completed", "no-show")) if past
                    else "scheduled",
                    "created_by": "seed", "created_at": now, "updated_by": "seed",
                    "updated_at": now, "version": 1,
                })
        with store.bulk():
            store.patients.add_many(patients)
            store.vitals.add_many(vitals)
            store.appointments.add_many(appts)
            bulk_changed(services, "patients")
        totals["patients"] += len(patients)
        totals["vitals"] += len(vitals)
        totals["appointments"] += len(appts)
        if progress:
            progress(len(patients))
    return totals
