"""Service flows that touch every repository, run on each store: the embedded SQLite store
always, MongoDB too when MEDITRACK_TEST_MONGO_URI is set (CI runs a wire-protocol server).
Kept small: the MongoDB test server is slow."""

from __future__ import annotations

import hashlib
from datetime import datetime

import pytest

from meditrack_tui.errors import Conflict, NotFound, ValidationError
from meditrack_tui.store import new_id
from tests.conftest import Clock, make_config

PASSWORD = "store-test-password-1"


@pytest.fixture
def services(store, tmp_path):
    from argon2 import PasswordHasher

    from meditrack_tui.services import Services

    services = Services(store, make_config(tmp_path / "data"), clock=Clock())
    services.auth.hasher = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)
    return services


@pytest.fixture
def clinic(services):
    """An admin, a doctor and one patient record."""
    services.auth.create_first_admin("st.admin", PASSWORD, "Store Admin")
    admin = services.auth.login("st.admin", PASSWORD)
    services.users.create(admin, username="st.doctor", password=PASSWORD, role="doctor",
                          full_name="Dr. Store")
    doctor = services.auth.login("st.doctor", PASSWORD)
    patient = services.patients.create(doctor, {
        "first_name": "Iris", "last_name": "Okoro", "dob": "1984-09-12", "sex": "F",
        "phone": "+1 555 0420", "allergies": ["penicillin"], "conditions": ["Asthma"],
        "primary_doctor_id": doctor.user_id})
    return services, admin, doctor, patient


def test_unique_username_and_mrn(clinic):
    services, admin, _doctor, patient = clinic
    with pytest.raises(ValidationError) as info:
        services.users.create(admin, username="ST.Doctor", password=PASSWORD, role="doctor",
                              full_name="Dup")
    assert "username" in info.value.fields
    from meditrack_tui.store import Duplicate

    with pytest.raises(Duplicate):
        services.store.patients.add({"mrn": patient["mrn"], "first_name": "X",
                                     "last_name": "Y", "archived": False})


def test_patient_round_trip(clinic):
    services, admin, doctor, created = clinic
    assert created["mrn"] == "MRN-000001"
    opened = services.patients.get(doctor, created["id"])
    assert opened["name"] == "Iris Okoro" and opened["primary_doctor_name"] == "Dr. Store"
    services.patients.update(doctor, created["id"], {"phone": "+1 555 0421"},
                             version=opened["version"])
    with pytest.raises(Conflict):
        services.patients.update(admin, created["id"], {"phone": "+1 555 0422"},
                                 version=opened["version"])
    for query in ("oko", "IRIS", "iris okoro", "okoro iris", "MRN-000001", "1", "0421",
                  "+1 555"):
        page = services.patients.list(doctor, query=query)
        assert [p["id"] for p in page.items] == [created["id"]], query
    for query in (".*", "^i", "$where", "irisx"):
        assert services.patients.list(doctor, query=query).total == 0, query
    assert services.patients.list(doctor, condition="asthma").total == 1
    assert services.patients.list(doctor, condition="copd").total == 0
    with pytest.raises(NotFound):
        services.patients.get(doctor, new_id())
    services.patients.archive(admin, created["id"])
    assert services.patients.list(doctor).total == 0
    assert services.patients.list(doctor, archived="archived").total == 1


def test_appointments_sort_newest_first_and_refuse_a_double_booking(clinic):
    services, _admin, doctor, patient = clinic
    for day in ("2026-03-10", "2026-03-12", "2026-03-11"):
        services.appointments.book(doctor, {"patient_id": patient["id"],
                                            "doctor_id": doctor.user_id, "date": day,
                                            "time": "09:00", "reason": "Check"})
    with pytest.raises(ValidationError) as info:
        services.appointments.book(doctor, {"patient_id": patient["id"],
                                            "doctor_id": doctor.user_id, "date": "2026-03-11",
                                            "time": "09:10", "reason": "Clash"})
    assert "time" in info.value.fields
    newest = services.appointments.list(doctor, sort="start", descending=True)
    assert [a["day"] for a in newest.items] == ["2026-03-12", "2026-03-11", "2026-03-10"]
    oldest = services.appointments.list(doctor, sort="start")
    assert [a["day"] for a in oldest.items] == ["2026-03-10", "2026-03-11", "2026-03-12"]
    assert services.appointments.list(doctor, query="oko").total == 3
    agenda = services.appointments.day_agenda(doctor, doctor.user_id, "2026-03-11")
    assert [a["reason"] for a in agenda] == ["Check"]


def test_vitals_prescriptions_and_reports(clinic):
    from meditrack_tui.seed import sample_data_dir

    services, admin, doctor, patient = clinic
    pid = patient["id"]
    for day, systolic in ((1, 120), (2, 185), (3, 130)):
        services.vitals.add(doctor, pid, {"systolic": systolic, "diastolic": 80,
                                          "taken_at": datetime(2026, 3, day, 9, 0)})
    series = services.vitals.series(doctor, pid)
    assert [r["systolic"] for r in series] == [120, 185, 130]
    assert [r["systolic"] for r in services.vitals.latest(doctor, pid, 2)] == [130, 185]
    rx = services.prescriptions.add(doctor, pid, {"drug": "Salbutamol", "dose": "100 mcg",
                                                  "frequency": "as needed",
                                                  "route": "inhaled"})
    services.prescriptions.stop(doctor, rx["id"], "Resolved", version=rx["version"])
    assert [p["status"] for p in services.prescriptions.list(doctor, pid)] == ["stopped"]
    path = sample_data_dir() / "reports" / "p02_hba1c_metabolic_panel.pdf"
    inbox = next(f.path for f in services.reports.folders(doctor) if f.key == "inbox")
    (inbox / path.name).write_bytes(path.read_bytes())
    report = services.reports.upload(doctor, pid, path.name, kind="lab result")
    info, data = services.reports.read(admin, report["id"])
    assert data == path.read_bytes()
    assert info["sha256"] == hashlib.sha256(data).hexdigest()
    services.reports.delete(doctor, report["id"], "uploaded twice")
    assert services.reports.list(doctor, pid) == []


def test_audit_and_change_events_follow_each_operation(clinic):
    services, admin, doctor, patient = clinic
    before = services.store.changes.last_seq()
    services.patients.update(doctor, patient["id"], {"address": "1 Main St"},
                             version=patient["version"])
    events = services.store.changes.after(before)
    assert ("patients", "update", patient["id"]) in [(e.coll, e.op, e.record_id)
                                                     for e in events]
    page = services.audit.list(admin, action="patient.update")
    assert page.total == 1 and page.items[0]["username"] == "st.doctor"


def test_clinic_settings_hours_and_the_patient_limit(clinic):
    """Settings saved by an admin drive bookings on every store: the hours (a Sunday is
    closed), and the limit of upcoming appointments (the one over it is withdrawn)."""
    services, admin, doctor, patient = clinic
    with pytest.raises(ValidationError) as info:
        services.appointments.book(doctor, {"patient_id": patient["id"],
                                            "doctor_id": doctor.user_id, "date": "2026-03-08",
                                            "time": "03:00", "reason": "Sunday"})
    assert "The clinic is open" in info.value.fields["time"]
    saved = services.settings.update(admin, {"max_upcoming": 2}, version=0)
    assert saved["version"] == 1
    with pytest.raises(Conflict):
        services.settings.update(admin, {"max_upcoming": 4}, version=0)
    for time in ("10:00", "11:00"):
        services.appointments.book(doctor, {"patient_id": patient["id"],
                                            "doctor_id": doctor.user_id, "date": "2026-03-10",
                                            "time": time, "reason": "Check"})
    with pytest.raises(ValidationError) as info:
        services.appointments.book(doctor, {"patient_id": patient["id"],
                                            "doctor_id": doctor.user_id, "date": "2026-03-10",
                                            "time": "12:00", "reason": "Third"})
    assert "already has 2 upcoming appointments" in info.value.fields["patient_id"]
    assert services.appointments.list(doctor, patient_id=patient["id"]).total == 2


def test_an_unknown_name_locks_like_an_account(clinic):
    """The unknown-name lockout reads the name's newest audit entries on each store (the
    answers an account gives, with the same 'try again after' time, and again after the
    lock ends)."""
    from datetime import timedelta

    from meditrack_tui.errors import AccountLocked, AuthenticationFailed

    services = clinic[0]
    clock = services.ctx.clock

    def answers(username: str) -> list[str]:
        start, out = clock.now, []
        for minutes in (0, 1, 2, 3, 4, 5, 25, 26, 27, 28, 29):
            clock.now = start + timedelta(minutes=minutes)
            try:
                services.auth.login(username, "wrong-password")
            except (AuthenticationFailed, AccountLocked) as exc:
                out.append(exc.message)
        clock.now = start
        return out

    known = answers("st.doctor")
    assert known == answers("nobody.here")
    assert sum("Try again after" in answer for answer in known) == 3
