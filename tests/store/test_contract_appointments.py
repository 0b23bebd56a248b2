"""Contract: AppointmentRepo queries (criteria, text search, sorts, paging, day counts)."""

from __future__ import annotations

from datetime import datetime

import pytest

from meditrack_tui.store.queries import AppointmentQuery


def appt(code, patient, doctor, start, status="scheduled", reason="Check-up", **extra):
    pid, name, mrn = patient
    did, dname = doctor
    return {"code": code, "patient_id": pid, "patient_name": name, "mrn": mrn,
            "doctor_id": did, "doctor_name": dname, "start": start,
            "day": start.date().isoformat(), "status": status, "reason": reason,
            "version": 1, **extra}


GRACE = ("p1", "Grace Whitaker", "MRN-0001")
JOHN = ("p2", "John White", "MRN-0002")
MARY = ("p3", "Mary Ann Smith", "MRN-0100")
DR_A = ("d1", "Dr Adams")
DR_B = ("d2", "Dr Brown")


@pytest.fixture
def book(store):
    rows = [
        appt("a", GRACE, DR_A, datetime(2026, 3, 4, 9, 0), reason="Asthma review"),
        appt("b", JOHN, DR_A, datetime(2026, 3, 4, 9, 30), status="completed",
             reason="Blood pressure"),
        appt("c", MARY, DR_B, datetime(2026, 3, 4, 9, 0), reason="whooping cough?"),
        appt("d", GRACE, DR_B, datetime(2026, 3, 5, 14, 0), status="cancelled", reason=None),
        appt("e", JOHN, DR_B, datetime(2026, 3, 6, 8, 15), reason="Follow-up"),
        appt("f", MARY, DR_A, datetime(2026, 3, 2, 16, 45), status="no_show",
             reason="asthma"),
    ]
    return {r["code"]: store.appointments.add(r)["id"] for r in rows}


def codes(found):
    return [d["code"] for d in found.items]


def find(store, **kw):
    return store.appointments.find(AppointmentQuery(**kw))


def test_default_order_is_start_then_id(store, book):
    found = find(store)
    assert codes(found)[0] == "f" and codes(found)[-1] == "e"
    assert set(codes(found)[1:3]) == {"a", "c"}
    assert codes(found)[3:5] == ["b", "d"]
    assert found.total == 6


def test_equality_criteria(store, book):
    assert codes(find(store, patient_id="p1")) == ["a", "d"]
    assert codes(find(store, doctor_id="d1")) == ["f", "a", "b"]
    assert codes(find(store, doctor_id="d1", day="2026-03-04")) == ["a", "b"]
    assert set(codes(find(store, day="2026-03-04"))) == {"a", "b", "c"}
    assert codes(find(store, days=("2026-03-05", "2026-03-06"))) == ["d", "e"]
    assert find(store, days=()).total == 0
    assert codes(find(store, statuses=("cancelled", "no_show"))) == ["f", "d"]
    assert find(store, statuses=()).total == 0


def test_time_window(store, book):
    found = find(store, start_from=datetime(2026, 3, 4, 9, 0),
                 start_before=datetime(2026, 3, 5, 14, 0))
    assert set(codes(found)) == {"a", "b", "c"}
    assert codes(find(store, start_from=datetime(2026, 3, 5, 14, 0))) == ["d", "e"]
    assert codes(find(store, start_before=datetime(2026, 3, 4, 9, 0))) == ["f"]


def test_text_matches_a_word_start_of_the_patient_name(store, book):
    assert codes(find(store, text="whit")) == ["a", "b", "d", "e"]
    assert codes(find(store, text="ann")) == ["f", "c"]
    assert codes(find(store, text="ann smi")) == ["f", "c"]
    assert codes(find(store, text="GRACE W")) == ["a", "d"]
    assert find(store, text="itaker").total == 0


def test_text_matches_an_mrn_prefix(store, book):
    assert codes(find(store, text="MRN-0002")) == ["b", "e"]
    assert codes(find(store, text="mrn-01")) == ["f", "c"]


def test_text_matches_a_word_start_of_the_reason_case_insensitive(store, book):
    assert codes(find(store, text="asthma")) == ["f", "a"]
    assert codes(find(store, text="BLOOD")) == ["b"]
    assert codes(find(store, text="who")) == ["c"]
    assert codes(find(store, text="pressure")) == ["b"]
    assert codes(find(store, text="cough?")) == ["c"]
    assert codes(find(store, text="blood pr")) == ["b"]
    assert find(store, text="ressure").total == 0  # inside a word: no match
    assert find(store, text="pressure blood").total == 0


def test_text_follows_updates_and_deletes(store, book):
    store.appointments.update(book["b"], {"reason": "Asthma again"})
    assert codes(find(store, text="asth")) == ["f", "a", "b"]
    store.appointments.delete(book["a"])
    assert codes(find(store, text="asth")) == ["f", "b"]


def test_criteria_combine(store, book):
    assert codes(find(store, doctor_id="d2", text="whit", statuses=("scheduled",))) == ["e"]


def test_sort_by_a_field_then_start(store, book):
    assert codes(find(store, sort="patient_name")) == ["a", "d", "b", "e", "f", "c"]
    assert codes(find(store, sort="doctor_name")) == ["f", "a", "b", "c", "d", "e"]
    # ties (three scheduled, two at 9:00 on the 4th) by start, then by id (a before c)
    assert codes(find(store, sort="status")) == ["d", "b", "f", "a", "c", "e"]


def test_descending_sorts_reverse_everything(store, book):
    for sort in ("start", "patient_name", "doctor_name", "status", "reason"):
        up = codes(find(store, sort=sort))
        down = codes(find(store, sort=sort, descending=True))
        assert down == list(reversed(up)), sort


def test_reason_sort_puts_none_first(store, book):
    assert codes(find(store, sort="reason"))[0] == "d"
    assert codes(find(store, sort="reason", descending=True))[-1] == "d"


def test_paging_and_count(store, book):
    first = find(store, limit=4)
    rest = find(store, skip=4, limit=4)
    assert len(first.items) == 4 and len(rest.items) == 2
    assert not set(codes(first)) & set(codes(rest))
    assert find(store, limit=None).total == 6 and len(find(store, limit=None).items) == 6
    assert find(store, count=False).total is None


def test_count_day(store, book):
    assert store.appointments.count_day("2026-03-04") == 3
    assert store.appointments.count_day("2026-03-07") == 0
