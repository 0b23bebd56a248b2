"""The audit trail: exactly the right entries in order, filters, and no way to edit it."""

from __future__ import annotations

import inspect
import re
from datetime import datetime
from pathlib import Path

import pytest

import meditrack_tui
from meditrack_tui.errors import AuthenticationFailed, PermissionDenied, ValidationError
from meditrack_tui.seed import DEMO_PASSWORD
from meditrack_tui.services.audit import AuditService
from meditrack_tui.services.base import Service
from meditrack_tui.store import AuditQuery
from tests.peek import Peek


def pid(s, mrn: str) -> str:
    return Peek(s.store).patient_id(mrn)


def audit_count(s) -> int:
    return s.store.audit.find(AuditQuery(limit=1)).total


def marker(s) -> set[str]:
    """The ids of every audit entry so far (what came later is 'after the marker')."""
    return {e["id"] for e in Peek(s.store).all("audit")}


def trail_after(s, seen: set[str]) -> list[dict]:
    """The audit entries written since ``marker``, oldest first."""
    return [e for e in Peek(s.store).all("audit") if e["id"] not in seen]


def entries_after(s, seen: set[str]) -> list[tuple]:
    return [(e["username"], e["role"], e["action"], e["record_id"], e["outcome"])
            for e in trail_after(s, seen)]


def test_a_session_leaves_exactly_its_trail(s, who):
    p02 = pid(s, "MRN-000002")
    report_id = s.store.reports.for_patient(p02)[0]["id"]
    seen = marker(s)
    before = len(seen)

    doctor = s.auth.login("demo.doctor", DEMO_PASSWORD)
    opened = s.patients.get(doctor, p02)
    s.patients.update(doctor, p02, {"phone": "+1 555 0142"}, version=opened["version"])
    appt = s.appointments.book(doctor, {"patient_id": p02, "doctor_id": doctor.user_id,
                                        "date": "2026-04-13", "time": "10:00",
                                        "reason": "Review"})
    with pytest.raises(PermissionDenied):
        s.audit.list(doctor)
    s.reports.read(doctor, report_id)
    with pytest.raises(AuthenticationFailed):
        s.auth.login("demo.doctor", "not-the-password")
    with pytest.raises(AuthenticationFailed):
        s.auth.login("nobody", "whatever-password")

    expected = [
        ("demo.doctor", "doctor", "login", None, "ok"),
        ("demo.doctor", "doctor", "patient.open", p02, "ok"),
        ("demo.doctor", "doctor", "patient.update", p02, "ok"),
        ("demo.doctor", "doctor", "appointment.book", appt["id"], "ok"),
        ("demo.doctor", "doctor", "audit.read", None, "denied"),
        ("demo.doctor", "doctor", "report.download", report_id, "ok"),
        ("demo.doctor", "doctor", "login", doctor.user_id, "failed"),
        (s.auth.unknown_name("nobody"), "-", "login", None, "failed"),
    ]
    assert entries_after(s, seen) == expected
    assert audit_count(s) == before + len(expected)
    # Every entry carries the service clock's time; the admin sees them newest first.
    trail = trail_after(s, seen)
    assert {e["ts"] for e in trail} == {datetime(2026, 3, 4, 10, 0)}
    listed = s.audit.list(who["demo.admin"], page_size=len(expected)).items
    assert [(e["username"], e["action"], e["outcome"]) for e in reversed(listed)] == \
        [(u, a, o) for u, _r, a, _id, o in expected]
    # Patient-linked entries name the patient.
    assert {e["patient_id"] for e in trail if e["action"] in
            ("patient.open", "patient.update", "appointment.book", "report.download")} == {p02}


def test_audit_list_filters(s, who, clock):
    admin = who["demo.admin"]
    doctor = who["demo.doctor"]
    p02 = pid(s, "MRN-000002")
    clock.advance(days=-2)  # two days earlier (going back keeps the sessions live)
    s.patients.get(who["dr.okafor"], p02)
    s.patients.get(doctor, pid(s, "MRN-000003"))
    clock.advance(days=2)
    s.patients.get(doctor, p02)
    with pytest.raises(PermissionDenied):
        s.users.list(doctor)

    by_user = s.audit.list(admin, username="demo.doctor", page_size=500)
    assert by_user.total == Peek(s.store).count("audit", username="demo.doctor")
    assert {e["username"] for e in by_user.items} == {"demo.doctor"}
    opened = s.audit.list(admin, action="patient.", page_size=500)
    assert opened.total == 3 and {e["action"] for e in opened.items} == {"patient.open"}
    denied = s.audit.list(admin, outcome="denied")
    assert [(e["username"], e["action"]) for e in denied.items] == [("demo.doctor",
                                                                     "user.manage")]
    earlier = s.audit.list(admin, date_to="2026-03-03", page_size=500)
    assert [e["username"] for e in earlier.items] == ["demo.doctor", "dr.okafor"]
    day = s.audit.list(admin, date_from="2026-03-04", date_to="2026-03-04", page_size=500)
    assert day.total == sum(1 for e in Peek(s.store).all("audit")
                            if e["ts"] >= datetime(2026, 3, 4)) == audit_count(s) - 2
    about_p02 = s.audit.list(admin, patient_id=p02, page_size=500)
    assert about_p02.total == 2 and {e["patient_id"] for e in about_p02.items} == {p02}
    combined = s.audit.list(admin, username="demo.doctor", action="patient.open",
                            date_from="2026-03-01", date_to="2026-03-02")
    assert [e["patient_id"] for e in combined.items] == [pid(s, "MRN-000003")]
    newest_first = [e["ts"] for e in s.audit.list(admin, page_size=500).items]
    assert newest_first == sorted(newest_first, reverse=True)
    for bad in ({"outcome": "maybe"}, {"date_from": "last week"}, {"username": {"$ne": None}},
                {"action": ["login"]}):
        with pytest.raises(ValidationError):
            s.audit.list(admin, **bad)


def test_audit_pagination(s, who):
    admin = who["demo.admin"]
    total = audit_count(s)
    assert total == len(Peek(s.store).all("audit")) > 3  # page 2 is not empty
    first = s.audit.list(admin, page=1, page_size=3)
    second = s.audit.list(admin, page=2, page_size=3)
    assert first.total == second.total == total
    assert not {e["id"] for e in first.items} & {e["id"] for e in second.items}


def test_no_service_method_edits_or_deletes_audit_entries():
    own = {name for name, _ in inspect.getmembers(AuditService, inspect.isfunction)
           if not name.startswith("_")} - {name for name, _ in
                                            inspect.getmembers(Service, inspect.isfunction)}
    assert own == {"list", "verify_chain"}  # both read only
    words = re.compile(r"delete|remove|update|edit|clear|purge|drop|replace|prune|set_",
                       re.IGNORECASE)
    assert [n for n in dir(AuditService) if words.search(n) and not n.startswith("_")] == []
    # Nowhere in the core is the audit collection written except by inserting.
    package = Path(meditrack_tui.__file__).parent
    pattern = re.compile(r"\baudit\s*\.\s*(delete|update|replace|find_one_and|drop|"
                         r"bulk_write|remove|rename)")
    offenders = [str(p.relative_to(package)) for p in package.rglob("*.py")
                 if pattern.search(p.read_text("utf-8"))]
    assert offenders == []


def test_audit_count_only_grows(s, who):
    admin, doctor, patient = who["demo.admin"], who["demo.doctor"], who["demo.patient"]
    p02 = pid(s, "MRN-000002")
    counts = [audit_count(s)]
    steps = [
        lambda: s.patients.get(doctor, p02),
        lambda: s.patients.list(doctor),  # one entry per search
        lambda: s.vitals.add(doctor, p02, {"heart_rate": 72}),
        lambda: s.users.list(admin),
        lambda: s.audit.list(admin),
        lambda: s.dashboard.admin(admin),
        lambda: s.patients.archive(admin, p02),
        lambda: s.patients.restore(admin, p02),
        lambda: s.auth.logout(patient),
    ]
    for step in steps:
        step()
        counts.append(audit_count(s))
    growth = [after - before for before, after in zip(counts, counts[1:], strict=False)]
    assert growth == [1, 1, 1, 0, 0, 1, 1, 1, 1]
    with pytest.raises(PermissionDenied):
        s.audit.list(doctor)
    assert audit_count(s) == counts[-1] + 1


def test_audit_entries_name_their_patient_by_name_and_mrn(s, who):
    """The log names each entry's patient ("Grace Whitaker", MRN), resolved for the whole
    page at once; an entry about a record that no longer exists keeps only its id."""
    from tests.peek import Peek

    doctor, admin = who["demo.doctor"], who["demo.admin"]
    grace = Peek(s.store).patient_id("MRN-000002")
    s.patients.get(doctor, grace)
    calls = []
    real = s.store.patients.get_many
    s.store.patients.get_many = lambda ids: calls.append(list(ids)) or real(ids)
    page = s.audit.list(admin, patient_id=grace, page_size=20)
    assert page.items and {e["patient_name"] for e in page.items} == {"Grace Whitaker"}
    assert {e["patient_mrn"] for e in page.items} == {"MRN-000002"}
    assert calls == [[grace]]  # one query for the page
    everything = s.audit.list(admin, page_size=200)
    named = [e for e in everything.items if e.get("patient_id")]
    assert named and all(e.get("patient_name") and e.get("patient_mrn") for e in named)
    assert len(calls) == 2
    assert all("patient_name" not in e for e in everything.items if not e.get("patient_id"))
