"""The demo clinic and the synthetic-patient generator."""

from __future__ import annotations

import json
from collections import defaultdict

import pytest

from meditrack_tui import seed
from meditrack_tui.seed import DEMO_LOGINS, DEMO_PASSWORD, sample_data_dir
from tests.peek import Peek


@pytest.fixture(scope="module")
def demo_json() -> dict:
    return json.loads((sample_data_dir() / "demo.json").read_text("utf-8"))


def test_demo_counts(demo_services, demo_json):
    store = demo_services.store
    peek = Peek(store)
    assert store.users.count() == peek.count("users") == 5 == len(demo_json["users"])
    assert store.patients.count(archived=None) == peek.count("patients") == 40 \
        == len(demo_json["patients"])
    assert peek.count("appointments") == len(demo_json["appointments"])
    assert peek.count("prescriptions") == len(demo_json["prescriptions"])
    assert peek.count("reports") == len(demo_json["reports"]) == 10
    readings = peek.all("vitals")  # one record per reading
    assert len(readings) == len(demo_json["vitals"])
    assert all("readings" not in r and r.get("taken_at") is not None for r in readings)
    mrns = [p["mrn"] for p in peek.all("patients")]
    assert sorted(mrns) == [f"MRN-{n:06d}" for n in range(1, 41)]
    assert store.counters.next("mrn") == 41  # the MRN counter stood at 40
    assert {u["role"] for u in peek.all("users")} == {"admin", "doctor", "patient"}


def test_demo_dates_are_relative_to_the_seeding_day(demo_services):
    today = Peek(demo_services.store).count("appointments", day="2026-03-04",
                                            doctor_name="Dr. Maya Hartwell")
    assert today == 7


def test_demo_has_no_double_booking(demo_services):
    assert overlaps(demo_services) == []


def test_demo_prescriptions_respect_allergies(demo_services):
    from meditrack_tui.drugs import allergy_conflict

    peek = Peek(demo_services.store)
    allergies = {p["id"]: p.get("allergies") or [] for p in peek.all("patients")}
    prescriptions = peek.all("prescriptions")
    assert prescriptions
    clashes = [(rx["drug"], allergies[rx["patient_id"]]) for rx in prescriptions
               if allergy_conflict(rx["drug"], allergies[rx["patient_id"]])]
    assert clashes == []


def test_every_demo_login_works(demo_services):
    users = {u["username"]: u for u in Peek(demo_services.store).all("users")}
    assert set(DEMO_LOGINS) <= set(users)
    for username in users:
        session = demo_services.auth.login(username, DEMO_PASSWORD)
        assert session.role == users[username]["role"]
    patient = demo_services.auth.login("demo.patient", DEMO_PASSWORD)
    p01 = demo_services.patients.get(patient, patient.patient_id)
    assert (p01["mrn"], p01["name"]) == ("MRN-000001", "Daniel Reyes")


def test_demo_loads_only_into_an_empty_store(demo_services):
    with pytest.raises(RuntimeError, match="already has data"):
        seed.load_demo(demo_services)
    assert seed.is_seeded(demo_services)
    peek = Peek(demo_services.store)
    assert (peek.count("users"), peek.count("patients")) == (5, 40)  # nothing loaded twice


def overlaps(services) -> list[tuple]:
    """Every pair of open appointments of one doctor that overlap in time."""
    by_doctor = defaultdict(list)
    for appt in Peek(services.store).all("appointments"):
        if appt["status"] not in ("scheduled", "checked-in", "completed", "no-show"):
            continue
        by_doctor[appt["doctor_id"]].append(appt)
    found = []
    for appts in by_doctor.values():
        appts.sort(key=lambda a: a["start"])
        for before, after in zip(appts, appts[1:], strict=False):
            if after["start"] < before["end"]:
                found.append((before["doctor_name"], before["start"], after["start"]))
    return found


def test_generate_patients(demo_services):
    totals = seed.generate(demo_services, 200)
    assert totals["patients"] == 200
    peek = Peek(demo_services.store)
    mrns = [p["mrn"] for p in peek.all("patients")]
    assert len(mrns) == len(set(mrns)) == 240
    assert overlaps(demo_services) == []
    # Generated appointments go to the existing doctors.
    doctors = {u["id"] for u in peek.find("users", role="doctor")}
    assert {a["doctor_id"] for a in peek.all("appointments")} <= doctors
    # The services see the new patients at once (the list cache reloads after a bulk load).
    doctor = demo_services.auth.login("demo.doctor", DEMO_PASSWORD)
    assert demo_services.patients.list(doctor, page_size=10).total == 240
    assert demo_services.patients.list(doctor, query="MRN-000240").total == 1
    # A patient created afterwards gets the next MRN.
    created = demo_services.patients.create(doctor, {"first_name": "Next", "last_name": "One",
                                                     "dob": "2000-01-01", "sex": "X"})
    assert created["mrn"] == "MRN-000241"
    # The counter stood at 240 (the create took 241 at the first try).
    assert demo_services.store.counters.next("mrn") == 242


def test_generate_on_an_empty_store(services):
    progress = []
    totals = seed.generate(services, 200, progress=progress.append)
    assert totals["patients"] == 200 and sum(progress) == 200
    peek = Peek(services.store)
    mrns = [p["mrn"] for p in peek.all("patients")]
    assert len(set(mrns)) == 200
    assert [u["username"] for u in peek.all("users")] == ["dr.synthetic"]
    assert overlaps(services) == []


def test_generated_vitals_are_plausible(services):
    from meditrack_tui.reference import PLAUSIBLE

    seed.generate(services, 30)
    readings = Peek(services.store).all("vitals")
    assert len(readings) >= 30
    for reading in readings:
        for metric, (low, high, _unit) in PLAUSIBLE.items():
            if reading.get(metric) is not None:
                assert low <= reading[metric] <= high, (metric, reading[metric])
        if reading.get("systolic") is not None:
            assert reading["systolic"] > reading["diastolic"]



@pytest.mark.parametrize("day", range(4, 11))  # seeded on each weekday, Wed 4 .. Tue 10 Mar
def test_demo_appointments_fall_inside_the_default_opening_hours(tmp_path, day):
    """Demo appointments are days from the seeding day; any that would fall on a weekend
    moves to an open day, never onto another of its doctor's appointments."""
    from datetime import datetime

    from meditrack_tui.services import Services
    from meditrack_tui.services.settings import DEFAULT_HOURS, fits
    from meditrack_tui.store import connect
    from tests.conftest import Clock, make_config

    cfg = make_config(tmp_path / f"seed-{day}")
    store = connect(cfg)
    try:
        seed.load_demo(Services(store, cfg, clock=Clock(datetime(2026, 3, day, 10, 0))))
        appts = Peek(store).all("appointments")
        assert len(appts) == 83
        outside = [(a["start"], a["end"]) for a in appts
                   if not fits(DEFAULT_HOURS, a["start"], a["end"])]
        assert outside == []
        by_doctor = defaultdict(list)
        for a in appts:
            by_doctor[a["doctor_id"]].append((a["start"], a["end"]))
        for spans in by_doctor.values():
            spans.sort()
            assert all(b[0] >= a[1] for a, b in zip(spans, spans[1:], strict=False))
    finally:
        store.close()
