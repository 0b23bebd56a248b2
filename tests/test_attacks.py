"""Reproductions from the second attack on issue 11 (the review, done again against the
fixes): each test failed before the fix it names."""

from __future__ import annotations

import pytest

from meditrack_tui.errors import Conflict
from tests.peek import Peek


def trail(s) -> list[dict]:
    return sorted(Peek(s.store).all("audit"), key=lambda e: (e.get("seq") or 0, e["ts"]))


# --- a stale edit hands back the current record: that is a read, and it is recorded ---

STALE_EDITS = {
    "patient": lambda s, w, p: s.patients.update(w, p, {"phone": "555 0100"}, version=999),
    "prescription update": lambda s, w, p: s.prescriptions.update(
        w, s.prescriptions.list(w, p)[0]["id"], {"dose": "5 mg"}, version=999),
    "prescription stop": lambda s, w, p: s.prescriptions.stop(
        w, s.prescriptions.list(w, p)[0]["id"], "no longer needed", version=999),
    "appointment": lambda s, w, p: s.appointments.reschedule(
        w, s.appointments.list(w, patient_id=p, upcoming=True).items[0]["id"],
        {"notes": "x"}, version=999),
}


@pytest.mark.parametrize("name", sorted(STALE_EDITS))
def test_stale_edit_that_returns_the_record_is_audited(s, who, name):
    """patients.update(..., version=999) by a doctor raised Conflict carrying the whole
    current record and left no audit entry: a read of any record with nothing on record."""
    doctor = who["demo.doctor"]
    p01 = who["demo.patient"].patient_id
    call = STALE_EDITS[name]
    before = len(trail(s))
    with pytest.raises(Conflict) as caught:
        call(s, doctor, p01)
    new = [e for e in trail(s)[before:] if e["outcome"] != "ok" or "update" in e["action"]
           or "stop" in e["action"] or "reschedule" in e["action"]]
    if caught.value.current:
        assert [(e["username"], e["outcome"], e["patient_id"]) for e in new] == [
            ("demo.doctor", "failed", p01)], new
        assert "changed" in new[0]["detail"]
