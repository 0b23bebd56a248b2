"""Malformed and hostile input: query operators, lists, numbers where text belongs, regex
characters. Each is refused with a typed error (never a crash) and never widens a result."""

from __future__ import annotations

import pytest

from meditrack_tui.errors import AuthenticationFailed, NotFound, PermissionDenied, ValidationError
from meditrack_tui.seed import DEMO_PASSWORD
from tests.peek import Peek

HOSTILE = [{"$gt": ""}, {"$ne": None}, {"$regex": ".*"}, {"$where": "1"}, ["a", "b"], [], 0, 7,
           3.5, True, b"bytes", object()]
REGEX_TEXT = [".*", "^", "(", "[a-z]+", "\\", "a|b", ".", "+", "*", "?", "$", ")", "[", "{1}",
              "\\d", "(?i)a"]


@pytest.mark.parametrize("value", HOSTILE, ids=repr)
def test_login_with_hostile_values_fails(s, value):
    for username, password in ((value, DEMO_PASSWORD), ("demo.doctor", value), (value, value)):
        with pytest.raises(AuthenticationFailed):
            s.auth.login(username, password)


def test_login_with_operator_username_fails_and_locks_nobody(s):
    for _ in range(6):
        with pytest.raises(AuthenticationFailed):
            s.auth.login({"$gt": ""}, "anything-at-all")
    assert [u["username"] for u in Peek(s.store).all("users")
            if u.get("locked_until") is not None] == []
    assert s.auth.find_user({"$gt": ""}) is None


@pytest.mark.parametrize("value", HOSTILE, ids=repr)
def test_hostile_search_text(s, who, value):
    with pytest.raises(ValidationError) as info:
        s.patients.list(who["demo.doctor"], query=value)
    assert "query" in info.value.fields


@pytest.mark.parametrize("text", REGEX_TEXT)
def test_regex_characters_match_literally(s, who, text):
    doctor = who["demo.doctor"]
    assert s.patients.list(doctor, query=text).total == 0
    # Appointment search finds the text, literally, where a word of the reason or of the
    # patient's name starts with it (two demo reasons have a word starting with "(").
    def word_starts(value: str) -> bool:
        words = value.lower().split()
        return any(" ".join(words[i:]).startswith(text.lower()) for i in range(len(words)))

    literal = sum(1 for a in Peek(s.store).all("appointments")
                  if word_starts(a["reason"]) or word_starts(a["patient_name"]))
    assert literal == (2 if text == "(" else 0)
    assert s.appointments.list(doctor, query=text).total == literal
    assert s.users.list(who["demo.admin"], query=text).total == 0
    assert s.audit.list(who["demo.admin"], action=text).total == 0


def test_literal_special_characters_still_find_real_names(s, who):
    """O'Connell has an apostrophe; searching it finds exactly her."""
    page = s.patients.list(who["demo.doctor"], query="o'conn")
    assert [p["last_name"] for p in page.items] == ["O'Connell"]


LIST_FILTERS = ["sex", "age_min", "age_max", "primary_doctor_id", "condition", "archived", "sort",
                "descending", "page", "page_size"]


@pytest.mark.parametrize("name", LIST_FILTERS)
@pytest.mark.parametrize("value", [{"$gt": ""}, {"$ne": None}, ["F", "M"]], ids=repr)
def test_hostile_patient_filters(s, who, name, value):
    with pytest.raises(ValidationError) as info:
        s.patients.list(who["demo.doctor"], **{name: value})
    assert name in info.value.fields


@pytest.mark.parametrize("value", HOSTILE + ["", "not-an-id", "0" * 24 + "x", "p01"], ids=repr)
def test_hostile_record_ids(s, who, value):
    doctor = who["demo.doctor"]
    calls = [
        lambda: s.patients.get(doctor, value),
        lambda: s.patients.update(doctor, value, {"phone": "+1 555 0000"}, version=1),
        lambda: s.patients.archive(who["demo.admin"], value),
        lambda: s.vitals.series(doctor, value),
        lambda: s.vitals.add(doctor, value, {"heart_rate": 70}),
        lambda: s.prescriptions.list(doctor, value),
        lambda: s.prescriptions.stop(doctor, value, "reason", version=1),
        lambda: s.reports.list(doctor, value),
        lambda: s.reports.read(doctor, value),
        lambda: s.reports.delete(doctor, value, "a reason"),
        lambda: s.reports.restore(who["demo.admin"], value),
        lambda: s.appointments.get(doctor, value),
        lambda: s.appointments.cancel(doctor, value, version=1),
        lambda: s.appointments.list(doctor, doctor_id=value) if value != ""
        else s.appointments.get(doctor, value),
        lambda: s.appointments.list(doctor, patient_id=value) if value != ""
        else s.appointments.get(doctor, value),
        lambda: s.users.unlock(who["demo.admin"], value),
    ]
    for call in calls:
        with pytest.raises(NotFound):
            call()


@pytest.mark.parametrize("value", [{"$ne": None}, ["x"], 5], ids=repr)
def test_hostile_values_inside_forms(s, who, value):
    doctor = who["demo.doctor"]
    p01 = who["demo.patient"].patient_id
    version = s.patients.get(doctor, p01)["version"]
    refusals = [
        lambda: s.patients.create(doctor, {"first_name": value, "last_name": "X",
                                           "dob": "2000-01-01", "sex": "F"}),
        lambda: s.patients.create(doctor, {"first_name": "A", "last_name": "X",
                                           "dob": value, "sex": value}),
        lambda: s.patients.update(doctor, p01, {"phone": value}, version=version),
        lambda: s.vitals.add(doctor, p01, {"systolic": value, "diastolic": 80}),
        lambda: s.vitals.add(doctor, p01, {"heart_rate": 70, "taken_at": value}),
        lambda: s.prescriptions.add(doctor, p01, {"drug": value, "dose": "1",
                                                  "frequency": "daily"}),
        lambda: s.appointments.book(doctor, {"patient_id": p01, "doctor_id": doctor.user_id,
                                             "date": value, "time": "10:00", "reason": "x"}),
        lambda: s.appointments.list(doctor, status=value),
        lambda: s.appointments.list(doctor, query=value),
        lambda: s.appointments.list(doctor, date_from=value),
        lambda: s.audit.list(who["demo.admin"], username=value),
        lambda: s.audit.list(who["demo.admin"], outcome=value),
        lambda: s.users.list(who["demo.admin"], role=value),
        lambda: s.users.create(who["demo.admin"], username=value, password="long-enough-pw",
                               role="doctor", full_name="X"),
        lambda: s.auth.signup_patient(value, "long-enough-pw", first_name="A", last_name="B",
                                      dob="2000-01-01", sex="F"),
        lambda: s.reports.upload_bytes(doctor, p01, value, b"hello\n", kind="other"),
        lambda: s.reports.upload_bytes(doctor, p01, "a.txt", b"hello\n", kind=value),
    ]
    for refuse in refusals:
        with pytest.raises(ValidationError):
            refuse()
    assert s.patients.get(doctor, p01)["version"] == version


@pytest.mark.parametrize("changes", [{"$set": {"archived": True}}, {"phone": {"$set": "1"}},
                                     {"version": 99}, {"_id": "x"}, {"id": "x"}, ["phone"],
                                     "phone=1"],
                         ids=repr)
def test_update_cannot_smuggle_operators_or_fields(s, who, changes):
    doctor = who["demo.doctor"]
    p01 = who["demo.patient"].patient_id
    before = s.patients.get(doctor, p01)
    with pytest.raises(ValidationError):
        s.patients.update(doctor, p01, changes, version=before["version"])
    after = s.patients.get(doctor, p01)
    assert after["version"] == before["version"] and after["archived"] is False


@pytest.mark.parametrize("version", [{"$gt": 0}, {"$ne": None}, [1], "1", None, True],
                         ids=repr)
def test_hostile_versions(s, who, version):
    doctor = who["demo.doctor"]
    p01 = who["demo.patient"].patient_id
    appt = Peek(s.store).one("appointments", status="scheduled")
    with pytest.raises(ValidationError) as info:
        s.patients.update(doctor, p01, {"phone": "+1 555 0000"}, version=version)
    assert "version" in info.value.fields
    with pytest.raises(ValidationError) as info:
        s.appointments.cancel(doctor, appt["id"], version=version)
    assert "version" in info.value.fields
    assert s.store.appointments.get(appt["id"])["status"] == "scheduled"


def test_non_dict_payloads(s, who):
    doctor = who["demo.doctor"]
    p01 = who["demo.patient"].patient_id
    calls = (lambda payload: s.patients.create(doctor, payload),
             lambda payload: s.vitals.add(doctor, p01, payload),
             lambda payload: s.prescriptions.add(doctor, p01, payload),
             lambda payload: s.appointments.book(doctor, payload))
    for payload in (None, [], "text", 3):
        for call in calls:
            with pytest.raises(ValidationError):
                call(payload)


def test_patient_cannot_widen_their_view(s, who):
    patient = who["demo.patient"]
    for query in ("", " ", "a", ".*", "MRN-", "1", "+1 555"):
        page = s.patients.list(patient, query=query, archived="all")
        assert page.total <= 1 and all(p["id"] == patient.patient_id for p in page.items)
    for bad in ({"$ne": None}, ["x"]):
        with pytest.raises((ValidationError, NotFound, PermissionDenied)):
            s.appointments.list(patient, patient_id=bad)
    page = s.appointments.list(patient, doctor_id=who["demo.doctor"].user_id, page_size=500)
    assert {a["patient_id"] for a in page.items} == {patient.patient_id}
