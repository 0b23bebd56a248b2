"""Every read of patient data leaves one audit entry (a list or search: one entry naming
its query and count), calls with invalid or expired sessions are audited, and the only
exemption, a live re-read, cannot hide a first read (issue 11, "Audit")."""

from __future__ import annotations

import dataclasses

import pytest

from meditrack_tui.errors import SessionExpired
from tests.peek import Peek


def trail(s) -> list[dict]:
    return sorted(Peek(s.store).all("audit"), key=lambda e: (e.get("seq") or 0, e["ts"]))


def new_entries(s, before: int) -> list[dict]:
    return trail(s)[before:]


READS = {
    # name -> (role, call, expected action, detail contains)
    "patient search": ("demo.doctor", lambda s, w, p: s.patients.list(w, query="reyes"),
                       "patient.search", "query='reyes'"),
    "patient open": ("demo.doctor", lambda s, w, p: s.patients.get(w, p), "patient.open", None),
    "appointment list": ("demo.doctor", lambda s, w, p: s.appointments.list(w, patient_id=p),
                         "appointment.list", "found"),
    "agenda": ("demo.doctor", lambda s, w, p: s.appointments.day_agenda(w, w.user_id,
                                                                        "2026-03-04"),
               "appointment.agenda", "day='2026-03-04'"),
    "prescriptions": ("demo.doctor", lambda s, w, p: s.prescriptions.list(w, p),
                      "prescription.list", "found"),
    "vitals series": ("demo.doctor", lambda s, w, p: s.vitals.series(w, p), "vitals.read",
                      "found"),
    "vitals latest": ("demo.patient", lambda s, w, p: s.vitals.latest(w, w.patient_id, 5),
                      "vitals.read", "latest=5"),
    "report list": ("demo.admin", lambda s, w, p: s.reports.list(w, p), "report.list", "found"),
    "doctor dashboard": ("demo.doctor", lambda s, w, p: s.dashboard.doctor(w),
                         "dashboard.doctor", "found"),
    "patient dashboard": ("demo.patient", lambda s, w, p: s.dashboard.patient(w),
                          "dashboard.patient", "found"),
    "admin dashboard": ("demo.admin", lambda s, w, p: s.dashboard.admin(w), "dashboard.admin",
                        "found"),
}


@pytest.mark.parametrize("name", sorted(READS))
def test_each_read_leaves_exactly_one_entry(s, who, name):
    """12 of 14 kinds of read wrote no audit entry in the review."""
    user, call, action, detail = READS[name]
    session = who[user]
    p01 = who["demo.patient"].patient_id
    before = len(trail(s))
    result = call(s, session, p01)
    [entry] = new_entries(s, before)
    assert (entry["action"], entry["username"], entry["outcome"]) == (action, user, "ok")
    if detail:
        assert detail in entry["detail"]
    if hasattr(result, "total"):
        assert entry["detail"].endswith(f"; {result.total} found")


def test_a_live_re_read_is_exempt_only_after_the_same_read_was_audited(s, who):
    doctor = who["demo.doctor"]
    p01 = who["demo.patient"].patient_id
    before = len(trail(s))
    s.ctx.live = True  # as Backend.call(..., live=True) sets it for a screen's re-fetch
    try:
        s.patients.get(doctor, p01)  # never read in this session: audited all the same
        assert len(trail(s)) == before + 1
        s.patients.get(doctor, p01)  # the same read again, live: already on record
        s.vitals.series(doctor, p01)  # a different read: audited
        assert len(trail(s)) == before + 2
        s.ctx.live = False
        s.patients.get(doctor, p01)  # opened again by the person: audited
        assert len(trail(s)) == before + 3
        other = s.auth.login("demo.doctor", "meditrack-demo")  # another session (+ login)
        s.ctx.live = True
        s.patients.get(other, p01)
        assert len(trail(s)) == before + 5
        assert trail(s)[-1]["action"] == "patient.open"
    finally:
        s.ctx.live = False


def test_screens_cannot_skip_the_audit_of_an_opening(s, who):
    """`patients.get(..., audit_open=False)` let any caller skip the audit."""
    with pytest.raises(TypeError):
        s.patients.get(who["demo.doctor"], who["demo.patient"].patient_id, audit_open=False)


def test_calls_with_invalid_or_expired_sessions_are_audited(s, who, clock):
    """Calls with invalid or expired tokens left nothing in the review."""
    doctor = who["demo.doctor"]
    p01 = who["demo.patient"].patient_id
    before = len(trail(s))
    forged = dataclasses.replace(doctor, token=doctor.token[:-4] + "AAAA")
    with pytest.raises(SessionExpired):
        s.patients.get(forged, p01)
    with pytest.raises(SessionExpired):
        s.vitals.series("not a session", p01)
    clock.advance(hours=13)  # past the 12-hour session
    with pytest.raises(SessionExpired, match="expired"):
        s.prescriptions.list(doctor, p01)
    entries = new_entries(s, before)
    assert [(e["action"], e["outcome"]) for e in entries] == [
        ("patient.read", "failed"), ("vitals.read", "failed"), ("prescription.read", "failed")]
    assert "demo.doctor" in entries[0]["detail"] and entries[0]["username"] == "-"
    assert "expired" in entries[2]["detail"]
