"""The role table, walked end to end: every action x every role through the real service call.

Each action maps to a call that performs it with valid arguments on the demo clinic.
An allowed role must get through; a denied one gets PermissionDenied and exactly one
audit entry with outcome "denied". "Own" scope is checked against another patient's
records by id.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import pytest

from meditrack_tui import policy
from meditrack_tui.errors import PermissionDenied
from meditrack_tui.services import Services, Session
from tests.peek import Peek

FIXED_NOW = datetime(2026, 3, 4, 10, 0)  # the conftest clock's start

ROLE_USER = {policy.ADMIN: "demo.admin", policy.DOCTOR: "demo.doctor",
             policy.PATIENT: "demo.patient"}


@dataclass
class World:
    """The demo clinic with its logged-in sessions and a few well-known records."""

    s: Services
    sessions: dict[str, Session]

    @property
    def peek(self) -> Peek:
        return Peek(self.s.store)

    @property
    def p01(self) -> str:
        return self.sessions["demo.patient"].patient_id  # type: ignore[return-value]

    @property
    def p02(self) -> str:
        return self.peek.patient_id("MRN-000002")

    @property
    def doctor_id(self) -> str:
        return self.sessions["demo.doctor"].user_id

    def version(self, collection: str, record_id: str) -> int:
        return getattr(self.s.store, collection).get(record_id)["version"]

    def upcoming_p01(self) -> dict[str, Any]:
        """p01's scheduled appointment in two weeks (from the demo data)."""
        found = [a for a in self.peek.find("appointments", patient_id=self.p01,
                                           status="scheduled") if a["start"] > FIXED_NOW]
        assert found
        return found[0]

    def report_of(self, pid: str) -> str:
        found = self.s.store.reports.for_patient(pid)
        assert found
        return found[0]["id"]


NEW_PATIENT = {"first_name": "Policy", "last_name": "Walker", "dob": "1990-05-05", "sex": "F"}


def _update_patient(w: World, s: Session) -> Any:
    return w.s.patients.update(s, w.p01, {"phone": "+1 555 0199"},
                               version=w.version("patients", w.p01))


def _book(w: World, s: Session) -> Any:
    return w.s.appointments.book(s, {"patient_id": w.p01, "doctor_id": w.doctor_id,
                                     "date": "2026-04-20", "time": "10:00",
                                     "reason": "Policy check"})


def _reschedule(w: World, s: Session) -> Any:
    appt = w.upcoming_p01()  # moved to 17:00 that day, when nobody has appointments
    return w.s.appointments.reschedule(s, appt["id"], {"time": "17:00"},
                                       version=appt["version"])


def _cancel(w: World, s: Session) -> Any:
    appt = w.upcoming_p01()
    return w.s.appointments.cancel(s, appt["id"], version=appt["version"])


def _delete_report(w: World, s: Session) -> Any:
    # The patient's own upload: within every role's scope for report.delete.
    own = w.s.reports.upload_bytes(w.sessions["demo.patient"], w.p01, "home-reading.txt",
                                   b"home readings\n", kind="other")
    return w.s.reports.delete(s, own["id"], "uploaded by mistake")


def _restore_report(w: World, s: Session) -> Any:
    # A report the patient deleted: an administrator may bring it back.
    patient = w.sessions["demo.patient"]
    own = w.s.reports.upload_bytes(patient, w.p01, "home-reading.txt", b"home readings\n",
                                   kind="other")
    w.s.reports.delete(patient, own["id"], "uploaded by mistake")
    return w.s.reports.restore(s, own["id"])


# action -> a call performing it with valid arguments, within the "own" scope of demo.patient.
ACTIONS: dict[str, Callable[[World, Session], Any]] = {
    "patient.read": lambda w, s: w.s.patients.get(s, w.p01),
    "patient.create": lambda w, s: w.s.patients.create(s, NEW_PATIENT),
    "patient.update": _update_patient,
    "patient.archive": lambda w, s: w.s.patients.archive(s, w.p01),
    "appointment.read": lambda w, s: w.s.appointments.get(s, w.upcoming_p01()["id"]),
    "appointment.book": _book,
    "appointment.update": _reschedule,
    "appointment.cancel": _cancel,
    "prescription.read": lambda w, s: w.s.prescriptions.list(s, w.p01),
    "prescription.write": lambda w, s: w.s.prescriptions.add(
        s, w.p01, {"drug": "Metformin", "dose": "500 mg", "frequency": "twice daily"}),
    "vitals.read": lambda w, s: w.s.vitals.series(s, w.p01),
    "vitals.write": lambda w, s: w.s.vitals.add(s, w.p01, {"systolic": 128, "diastolic": 82}),
    "report.read": lambda w, s: w.s.reports.read(s, w.report_of(w.p01)),
    "report.upload": lambda w, s: w.s.reports.upload_bytes(s, w.p01, "note.txt", b"a note\n",
                                                           kind="other"),
    "report.delete": _delete_report,
    "report.restore": _restore_report,
    "user.manage": lambda w, s: w.s.users.list(s),
    "audit.read": lambda w, s: w.s.audit.list(s),
    "dashboard.admin": lambda w, s: w.s.dashboard.admin(s),
    "dashboard.doctor": lambda w, s: w.s.dashboard.doctor(s),
    "dashboard.patient": lambda w, s: w.s.dashboard.patient(s),
    "settings.manage": lambda w, s: w.s.settings.update(
        s, {"max_upcoming": 4}, version=w.s.settings.get(s)["version"]),
    "fhir.export": lambda w, s: w.s.fhir.export_patient(
        s, w.s.store.patients.get(w.p01)["mrn"]),
    "fhir.import": lambda w, s: w.s.fhir.import_check(s),
}


@pytest.fixture
def world(demo_sessions) -> World:
    services, sessions = demo_sessions
    return World(services, sessions)


def denied_count(w: World, username: str, action: str | None = None) -> int:
    filt: dict[str, Any] = {"username": username, "outcome": "denied"}
    if action:
        filt["action"] = action
    return w.peek.count("audit", **filt)


def test_every_policy_action_has_a_service_call():
    """A new action in POLICY must get a call here (and so be walked for every role)."""
    assert set(ACTIONS) == set(policy.POLICY)


def test_policy_rows_name_only_known_roles_and_scopes():
    for action, row in policy.POLICY.items():
        assert set(row) <= set(policy.ROLES), action
        assert set(row.values()) <= {policy.ANY, policy.OWN}, action


@pytest.mark.parametrize("role", policy.ROLES)
@pytest.mark.parametrize("action", sorted(policy.POLICY))
def test_role_table(world: World, action: str, role: str):
    username = ROLE_USER[role]
    session = world.sessions[username]
    before = denied_count(world, username, action)
    if policy.allowed(role, action):
        ACTIONS[action](world, session)
        assert denied_count(world, username, action) == before
    else:
        with pytest.raises(PermissionDenied) as info:
            ACTIONS[action](world, session)
        assert info.value.message
        assert denied_count(world, username, action) == before + 1
        entry = world.peek.find("audit", username=username, action=action,
                                outcome="denied")[-1]
        assert entry["role"] == role


def test_require_and_describe_give_a_sentence():
    assert policy.require(policy.DOCTOR, "patient.read") == policy.ANY
    with pytest.raises(PermissionDenied, match=r"patient\) is not allowed to read the audit log"):
        policy.require(policy.PATIENT, "audit.read")


# --- "own" scope: a patient and someone else's records ---

OTHER_RECORD_CALLS: dict[str, Callable[[World, Session], Any]] = {
    "patients.get": lambda w, s: w.s.patients.get(s, w.p02),
    "patients.update": lambda w, s: w.s.patients.update(s, w.p02, {"phone": "+1 555 0000"},
                                                        version=w.version("patients", w.p02)),
    "vitals.series": lambda w, s: w.s.vitals.series(s, w.p02),
    "vitals.latest": lambda w, s: w.s.vitals.latest(s, w.p02),
    "vitals.add": lambda w, s: w.s.vitals.add(s, w.p02, {"heart_rate": 70}),
    "prescriptions.list": lambda w, s: w.s.prescriptions.list(s, w.p02),
    "reports.list": lambda w, s: w.s.reports.list(s, w.p02),
    "reports.read": lambda w, s: w.s.reports.read(s, w.report_of(w.p02)),
    "reports.upload": lambda w, s: w.s.reports.upload_bytes(s, w.p02, "x.txt", b"hello\n",
                                                            kind="other"),
    "appointments.list": lambda w, s: w.s.appointments.list(s, patient_id=w.p02),
    "appointments.book": lambda w, s: w.s.appointments.book(
        s, {"patient_id": w.p02, "doctor_id": w.doctor_id, "date": "2026-04-20",
            "time": "11:00", "reason": "Not mine"}),
    "appointments.get": lambda w, s: w.s.appointments.get(
        s, w.peek.one("appointments", patient_id=w.p02)["id"]),
    "appointments.cancel": lambda w, s: w.s.appointments.cancel(
        s, w.peek.one("appointments", patient_id=w.p02, status="scheduled")["id"], version=1),
}


@pytest.mark.parametrize("call", sorted(OTHER_RECORD_CALLS))
def test_patient_is_denied_another_patients_records(world: World, call: str):
    patient = world.sessions["demo.patient"]
    before = denied_count(world, "demo.patient")
    with pytest.raises(PermissionDenied, match="your own records"):
        OTHER_RECORD_CALLS[call](world, patient)
    assert denied_count(world, "demo.patient") == before + 1
    entry = world.peek.find("audit", username="demo.patient", outcome="denied")[-1]
    assert entry["patient_id"] == world.p02


def test_patient_list_returns_only_their_own_record(world: World):
    patient = world.sessions["demo.patient"]
    for kwargs in ({}, {"archived": "all"}, {"query": "a"}, {"sort": "mrn", "descending": True},
                   {"page_size": 500}):
        page = world.s.patients.list(patient, **kwargs)
        assert [item["id"] for item in page.items] == ([world.p01] if page.total else [])
        assert page.total <= 1
    assert world.s.patients.list(patient).total == 1
    # Another patient's name finds nothing, not their record.
    assert world.s.patients.list(patient, query="Whitaker").total == 0


def test_patient_appointment_lists_return_only_their_own(world: World):
    patient = world.sessions["demo.patient"]
    own_total = world.peek.count("appointments", patient_id=world.p01)
    assert own_total > 1
    page = world.s.appointments.list(patient, page_size=500)
    assert page.total == own_total
    assert {item["patient_id"] for item in page.items} == {world.p01}
    page = world.s.appointments.list(patient, patient_id=world.p01, page_size=500)
    assert page.total == own_total
    doctor_page = world.s.appointments.list(world.sessions["demo.doctor"], page_size=500)
    assert doctor_page.total > own_total
    # A doctor's day agenda seen by a patient shows only the patient's own slot.
    day = world.upcoming_p01()["day"]
    agenda = world.s.appointments.day_agenda(patient, world.doctor_id, day)
    full = world.s.appointments.day_agenda(world.sessions["demo.doctor"], world.doctor_id, day)
    assert [a["patient_id"] for a in agenda] == [world.p01]
    assert len(full) >= len(agenda)


def test_patient_may_cancel_own_appointment_but_not_reschedule(world: World):
    patient = world.sessions["demo.patient"]
    appt = world.upcoming_p01()
    with pytest.raises(PermissionDenied):
        world.s.appointments.reschedule(patient, appt["id"], {"time": "11:00"},
                                        version=appt["version"])
    done = world.s.appointments.cancel(patient, appt["id"], version=appt["version"])
    assert done["status"] == "cancelled"


def test_patient_books_for_self(world: World):
    patient = world.sessions["demo.patient"]
    booked = world.s.appointments.book(patient, {"patient_id": world.p01,
                                                 "doctor_id": world.doctor_id,
                                                 "date": "2026-04-21", "time": "09:00",
                                                 "reason": "Follow-up"})
    assert booked["patient_id"] == world.p01
    assert booked["start"] == datetime(2026, 4, 21, 9, 0)


def test_patient_without_record_sees_nothing(world: World):
    """A patient account linked to no record gets empty lists, never everyone's."""
    admin = world.sessions["demo.admin"]
    world.s.auth.hasher = _cheap_hasher()
    world.s.users.create(admin, username="lonely.patient", password="lonely-password-1",
                         role="patient", full_name="Lonely Patient")
    lonely = world.s.auth.login("lonely.patient", "lonely-password-1")
    assert lonely.patient_id is None
    assert world.s.patients.list(lonely).total == 0
    assert world.s.appointments.list(lonely).total == 0
    with pytest.raises(PermissionDenied):
        world.s.patients.get(lonely, world.p01)


def _cheap_hasher() -> Any:
    from argon2 import PasswordHasher

    return PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)
