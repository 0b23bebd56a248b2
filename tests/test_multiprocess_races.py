"""Several processes writing the same records at the same moment on one embedded store:
no write is lost, a version check passes for exactly one, a slot is booked once."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from argon2 import PasswordHasher

from meditrack_tui.config import Config

SECRET = "race-secret-" + "r" * 40
PASSWORD = "shared-password-1"
WRITERS = 4

# Runs in a child process: wait for the others, then race on one record; prints JSON.
WORKER = textwrap.dedent("""
    import json, pathlib, sys, time
    from argon2 import PasswordHasher
    from meditrack_tui.config import Config
    from meditrack_tui.store import connect
    from meditrack_tui.errors import Conflict, ValidationError
    from meditrack_tui.services import Services

    data_dir, secret, password, mode, name, patient_id, doctor_id, together = sys.argv[1:9]
    config = Config(data_dir=data_dir, secret=secret)
    store = connect(config)
    services = Services(store, config)
    services.auth.hasher = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)
    session = services.auth.login("dr.race", password)
    barrier = pathlib.Path(data_dir) / ("barrier-" + mode)
    barrier.mkdir(exist_ok=True)
    (barrier / name).touch()
    deadline = time.monotonic() + 60
    while len(list(barrier.iterdir())) < int(together) and time.monotonic() < deadline:
        time.sleep(0.005)
    out = {"ok": 0, "refused": []}
    try:
        if mode == "vitals":
            for i in range(3):
                services.vitals.add(session, patient_id, {
                    "taken_at": f"2026-01-0{i + 1}T0{i}:{int(name):02d}",
                    "heart_rate": 60 + int(name) * 3 + i})
                out["ok"] += 1
        elif mode == "update":
            services.patients.update(session, patient_id, {"phone": "555 01" + name.zfill(2)},
                                     version=1)
            out["ok"] += 1
        elif mode == "limit":  # one patient, each process its own free slot
            services.appointments.book(session, {
                "patient_id": patient_id, "doctor_id": doctor_id, "date": "2027-01-05",
                "time": "%02d:00" % (9 + int(name)), "duration_min": 20,
                "reason": "limit " + name})
            out["ok"] += 1
        elif mode == "book":
            services.appointments.book(session, {
                "patient_id": patient_id, "doctor_id": doctor_id, "date": "2027-01-05",
                "time": "09:00", "duration_min": 20, "reason": "race " + name})
            out["ok"] += 1
    except (Conflict, ValidationError) as exc:
        out["refused"].append(exc.message)
    store.close()
    print(json.dumps(out))
""")


@pytest.fixture
def race_dir(tmp_path: Path) -> tuple[Path, str, str]:
    """An embedded store with one doctor and one patient (cheap hash for fast logins)."""
    from meditrack_tui.services import Services
    from meditrack_tui.store import connect

    data_dir = tmp_path / "race"
    config = Config(data_dir=data_dir, secret=SECRET)
    store = connect(config)
    services = Services(store, config)
    services.auth.hasher = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)
    doc = services.auth.new_user_doc("dr.race", PASSWORD, "doctor", full_name="Dr. Race")
    with store.unit_of_work():
        doctor_id = services.auth.insert_user(doc)["id"]
    session = services.auth.login("dr.race", PASSWORD)
    patient = services.patients.create(session, {"first_name": "Rita", "last_name": "Race",
                                                 "dob": "1970-02-03", "sex": "F"})
    store.close()
    return data_dir, patient["id"], doctor_id


def race(data_dir: Path, mode: str, patient_id: str, doctor_id: str) -> list[dict]:
    procs = [subprocess.Popen([sys.executable, "-c", WORKER, str(data_dir), SECRET, PASSWORD,
                               mode, str(n), patient_id, doctor_id, str(WRITERS)],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for n in range(WRITERS)]
    results = []
    for proc in procs:
        out, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err
        results.append(json.loads(out.strip().splitlines()[-1]))
    return results


def services_on(data_dir: Path):
    from meditrack_tui.services import Services
    from meditrack_tui.store import connect

    config = Config(data_dir=data_dir, secret=SECRET)
    store = connect(config)
    return store, Services(store, config)


def test_concurrent_readings_for_one_patient_are_all_kept(race_dir):
    data_dir, patient_id, doctor_id = race_dir
    results = race(data_dir, "vitals", patient_id, doctor_id)
    assert sum(r["ok"] for r in results) == 3 * WRITERS
    store, services = services_on(data_dir)
    try:
        session = services.auth.login("dr.race", PASSWORD)
        readings = services.vitals.series(session, patient_id)
        assert len(readings) == 3 * WRITERS
        assert sorted(r["heart_rate"] for r in readings) == sorted(
            60 + n * 3 + i for n in range(WRITERS) for i in range(3))
    finally:
        store.close()


def test_concurrent_edits_of_one_version_let_exactly_one_through(race_dir):
    data_dir, patient_id, doctor_id = race_dir
    results = race(data_dir, "update", patient_id, doctor_id)
    assert sum(r["ok"] for r in results) == 1
    refusals = [m for r in results for m in r["refused"]]
    assert len(refusals) == WRITERS - 1
    assert all("changed this record" in m for m in refusals)
    store, _ = services_on(data_dir)
    try:
        assert store.patients.get(patient_id)["version"] == 2
    finally:
        store.close()


def test_concurrent_bookings_of_one_slot_book_it_once(race_dir):
    data_dir, patient_id, doctor_id = race_dir
    results = race(data_dir, "book", patient_id, doctor_id)
    assert sum(r["ok"] for r in results) == 1
    refusals = [m for r in results for m in r["refused"]]
    assert len(refusals) == WRITERS - 1
    store, _ = services_on(data_dir)
    try:
        from meditrack_tui.store import AppointmentQuery

        assert store.appointments.find(AppointmentQuery(day="2027-01-05")).total == 1
    finally:
        store.close()


@pytest.mark.parametrize("limit", [1, 2])
def test_concurrent_bookings_for_one_patient_keep_to_the_limit(race_dir, limit):
    """Each process books a free slot for the same patient at the same moment: exactly
    ``limit`` get through (the patient's booking counter makes them collide)."""
    data_dir, patient_id, doctor_id = race_dir
    store, _ = services_on(data_dir)
    try:
        store.settings.save({"max_upcoming": limit}, version=0)
    finally:
        store.close()
    results = race(data_dir, "limit", patient_id, doctor_id)
    assert sum(r["ok"] for r in results) == limit
    refusals = [m for r in results for m in r["refused"]]
    assert len(refusals) == WRITERS - limit
    assert all(f"already has {limit} upcoming appointment" in m for m in refusals)
    store, _ = services_on(data_dir)
    try:
        from meditrack_tui.store import AppointmentQuery

        assert store.appointments.find(AppointmentQuery(patient_id=patient_id)).total == limit
    finally:
        store.close()
