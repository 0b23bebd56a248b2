"""Patient records: MRNs, version conflicts, self-service limits, archive, search, filters,
sorting and pagination on the 40 demo patients."""

from __future__ import annotations

import json
from datetime import date

import pytest

from meditrack_tui.errors import Conflict, NotFound, PermissionDenied, ValidationError
from meditrack_tui.seed import sample_data_dir
from meditrack_tui.services.patient_fields import age_on
from meditrack_tui.services.patients import SORTS
from meditrack_tui.store import Duplicate, new_id
from tests.peek import Peek

TODAY = date(2026, 3, 4)  # the conftest clock's day


@pytest.fixture(scope="module")
def demo_json() -> dict:
    return json.loads((sample_data_dir() / "demo.json").read_text("utf-8"))


@pytest.fixture
def s(demo_sessions):
    """Services on the demo clinic (every list is answered by the store's query; the
    contract suite in tests/store holds both stores to the same answers)."""
    return demo_sessions[0]


@pytest.fixture
def who(demo_sessions):
    return demo_sessions[1]


def pid(s, mrn: str) -> str:
    return Peek(s.store).patient_id(mrn)


NEW = {"first_name": "Mira", "last_name": "Quinn", "dob": "1975-07-07", "sex": "F",
       "phone": "+1 555 0300", "allergies": ["latex"], "conditions": "Asthma, Eczema"}


# --- create, MRN ---

def test_create_assigns_a_unique_mrn(s, who):
    doctor = who["demo.doctor"]
    first = s.patients.create(doctor, NEW)
    second = s.patients.create(doctor, dict(NEW, first_name="Mara"))
    assert first["mrn"] == "MRN-000041" and second["mrn"] == "MRN-000042"
    assert first["version"] == 1 and first["age"] == 50 and first["name"] == "Mira Quinn"
    assert first["conditions"] == ["Asthma", "Eczema"] and first["allergies"] == ["latex"]
    assert first["primary_doctor_id"] is None
    mrns = [d["mrn"] for d in Peek(s.store).all("patients")]
    assert len(mrns) == len(set(mrns)) == 42
    entry = Peek(s.store).one("audit", action="patient.create")
    assert entry["username"] == "demo.doctor" and entry["record_id"] == first["id"]


def test_mrn_is_unique_in_the_store(s):
    existing = s.store.patients.by_mrn("MRN-000001")
    clone = {k: v for k, v in existing.items() if k != "id"}
    with pytest.raises(Duplicate) as info:
        s.store.patients.add(clone)
    assert info.value.field == "mrn"
    assert Peek(s.store).count("patients", mrn="MRN-000001") == 1


def test_create_survives_a_counter_behind_the_data(s, who):
    """If the MRN counter lags (restored backup), the clash is retried, not a crash."""
    # Records ahead of the counter (at 40): the next two numbers it hands out are taken.
    existing = s.store.patients.by_mrn("MRN-000040")
    for mrn in ("MRN-000041", "MRN-000042"):
        s.store.patients.add({k: v for k, v in existing.items() if k != "id"} | {"mrn": mrn})
    created = s.patients.create(who["demo.doctor"], NEW)
    assert created["mrn"] == "MRN-000043"
    assert Peek(s.store).count("patients", mrn="MRN-000043") == 1


def test_create_validates_every_field(s, who):
    with pytest.raises(ValidationError) as info:
        s.patients.create(who["demo.doctor"], {"first_name": " ", "last_name": "X" * 61,
                                                "dob": "1800-01-01", "sex": "female",
                                                "phone": "call me", "email": "nope",
                                                "primary_doctor_id": "not-an-id"})
    assert set(info.value.fields) == {"first_name", "last_name", "dob", "sex", "phone", "email",
                                      "primary_doctor_id"}
    with pytest.raises(ValidationError, match="future"):
        s.patients.create(who["demo.doctor"], dict(NEW, dob="2026-03-05"))


def test_create_with_primary_doctor(s, who):
    doctor = who["demo.doctor"]
    created = s.patients.create(who["demo.admin"], dict(NEW, primary_doctor_id=doctor.user_id))
    assert created["primary_doctor_id"] == doctor.user_id
    assert created["primary_doctor_name"] == "Dr. Maya Hartwell"
    with pytest.raises(ValidationError) as info:  # an admin is not a doctor
        s.patients.create(doctor, dict(NEW, primary_doctor_id=who["demo.admin"].user_id))
    assert "primary_doctor_id" in info.value.fields


def test_get_unknown_or_malformed_id_is_not_found(s, who):
    for bad in (new_id(), "p01", "", None, 17):
        with pytest.raises(NotFound):
            s.patients.get(who["demo.doctor"], bad)


# --- update and versions ---

def test_version_conflict_names_who_changed_it(s, who):
    p02 = pid(s, "MRN-000002")
    first_view = s.patients.get(who["demo.doctor"], p02)
    second_view = s.patients.get(who["dr.okafor"], p02)
    assert first_view["version"] == second_view["version"]
    updated = s.patients.update(who["demo.doctor"], p02, {"phone": "+1 555 0999"},
                                version=first_view["version"])
    assert updated["version"] == first_view["version"] + 1
    assert updated["updated_by"] == "demo.doctor"
    with pytest.raises(Conflict) as info:
        s.patients.update(who["dr.okafor"], p02, {"address": "1 New Road"},
                          version=second_view["version"])
    assert info.value.changed_by == "demo.doctor"
    assert "demo.doctor changed this record" in info.value.message
    assert info.value.current["phone"] == "+1 555 0999"
    assert s.store.patients.get(p02)["address"] != "1 New Road"
    # With the fresh version the second edit goes through.
    done = s.patients.update(who["dr.okafor"], p02, {"address": "1 New Road"},
                             version=info.value.current["version"])
    assert done["address"] == "1 New Road" and done["phone"] == "+1 555 0999"


def test_update_renaming_updates_search(s, who):
    p03 = pid(s, "MRN-000003")
    current = s.patients.get(who["demo.doctor"], p03)
    s.patients.update(who["demo.doctor"], p03, {"last_name": "Zephyrine"},
                      version=current["version"])
    doctor = who["demo.doctor"]
    assert [p["id"] for p in s.patients.list(doctor, query="zephyr").items] == [p03]
    assert s.patients.list(doctor, query="aisha zeph").total == 1
    assert s.patients.list(doctor, query="rahman").total == 0


def test_update_rejects_unknown_fields_and_bad_versions(s, who):
    p02 = pid(s, "MRN-000002")
    doctor = who["demo.doctor"]
    with pytest.raises(ValidationError) as info:
        s.patients.update(doctor, p02, {"mrn": "MRN-999999"}, version=1)
    assert "mrn" in info.value.fields
    for version in (None, "1", True, 1.0):
        with pytest.raises(ValidationError) as info:
            s.patients.update(doctor, p02, {"phone": "+1 555 0000"}, version=version)
        assert "version" in info.value.fields
    with pytest.raises(ValidationError):
        s.patients.update(doctor, p02, {}, version=1)


def test_patient_may_update_own_contact_details_only(s, who):
    patient = who["demo.patient"]
    own = s.patients.get(patient, patient.patient_id)
    updated = s.patients.update(patient, patient.patient_id,
                                {"phone": "+1 555 0777", "email": "dr@example.com"},
                                version=own["version"])
    assert updated["phone"] == "+1 555 0777"
    for clinical in ({"conditions": []}, {"allergies": []}, {"dob": "1970-01-01"},
                     {"primary_doctor_id": None}, {"phone": "+1 555 0000", "conditions": []}):
        with pytest.raises(PermissionDenied, match="only their own phone"):
            s.patients.update(patient, patient.patient_id, clinical, version=updated["version"])
    after = s.patients.get(who["demo.doctor"], patient.patient_id)
    assert after["conditions"] == ["Hypertension"] and after["phone"] == "+1 555 0777"
    assert Peek(s.store).count("audit", username="demo.patient", action="patient.update",
                               outcome="denied") == 5


# --- archive and restore ---

def test_archive_and_restore_are_admin_only(s, who):
    p05 = pid(s, "MRN-000005")
    for name in ("demo.doctor", "demo.patient"):
        with pytest.raises(PermissionDenied):
            s.patients.archive(who[name], p05)
    admin = who["demo.admin"]
    archived = s.patients.archive(admin, p05)
    assert archived["archived"] is True
    doctor = who["demo.doctor"]
    assert s.patients.list(doctor, page_size=100).total == 39
    assert [p["id"] for p in s.patients.list(doctor, archived="archived").items] == [p05]
    assert s.patients.list(doctor, archived="all", page_size=100).total == 40
    assert s.patients.get(doctor, p05)["archived"] is True  # staff can still open it
    # Nothing new is added to an archived record until it is restored.
    doctor_id = who["demo.doctor"].user_id
    for add in (lambda: s.patients.update(doctor, p05, {"phone": "555 0199"},
                                          version=archived["version"]),
                lambda: s.vitals.add(doctor, p05, {"heart_rate": 70}),
                lambda: s.prescriptions.add(doctor, p05, {"drug": "Paracetamol", "dose": "500 mg",
                                                          "route": "oral",
                                                          "frequency": "as needed"}),
                lambda: s.appointments.book(doctor, {"patient_id": p05, "doctor_id": doctor_id,
                                                     "date": "2026-04-13", "time": "10:00",
                                                     "reason": "Review"})):
        with pytest.raises(Conflict, match="archived"):
            add()
    with pytest.raises(PermissionDenied):
        s.patients.restore(doctor, p05)
    restored = s.patients.restore(admin, p05)
    assert restored["archived"] is False
    assert s.patients.list(doctor, page_size=100).total == 40
    actions = [e["action"] for e in Peek(s.store).find("audit", username="demo.admin")]
    assert actions[-2:] == ["patient.archive", "patient.restore"]


def test_archived_own_record_is_hidden_from_the_patient(s, who):
    patient = who["demo.patient"]
    s.patients.archive(who["demo.admin"], patient.patient_id)
    with pytest.raises(NotFound):
        s.patients.get(patient, patient.patient_id)
    assert s.patients.list(patient, archived="all").total == 0


# --- search ---

@pytest.mark.parametrize("query,expected", [
    ("rey", {"MRN-000001"}),
    ("REYES", {"MRN-000001"}),
    ("dani", {"MRN-000001"}),
    ("Daniel Reyes", {"MRN-000001"}),
    ("daniel  re", {"MRN-000001"}),
    ("reyes, daniel", {"MRN-000001"}),
    ("MRN-000003", {"MRN-000003"}),
    ("mrn-000003", {"MRN-000003"}),
    ("3", {"MRN-000003"}),
    ("000003", {"MRN-000003"}),
    ("0101", {"MRN-000001"}),
    ("555 0102", {"MRN-000002"}),
    ("+1 555 0104", {"MRN-000004"}),
    ("zzzz", set()),
])
def test_search(s, who, query, expected):
    page = s.patients.list(who["demo.doctor"], query=query, page_size=100)
    assert {p["mrn"] for p in page.items} == expected
    assert page.total == len(expected)


def test_search_by_first_or_last_name_prefix(s, who, demo_json):
    doctor = who["demo.doctor"]
    for prefix in ("a", "m", "ch", "O'"):
        want = {i + 1 for i, p in enumerate(demo_json["patients"])
                if p["first_name"].lower().startswith(prefix.lower())
                or p["last_name"].lower().startswith(prefix.lower())}
        got = {int(p["mrn"][4:]) for p in s.patients.list(doctor, query=prefix,
                                                            page_size=100).items}
        assert got == want and want, prefix


def test_phone_prefix_matches_every_demo_number(s, who):
    assert s.patients.list(who["demo.doctor"], query="+1 555", page_size=100).total == 40


# --- filters ---

def test_filter_by_sex(s, who, demo_json):
    for sex in ("F", "M"):
        want = sum(1 for p in demo_json["patients"] if p["sex"] == sex)
        page = s.patients.list(who["demo.doctor"], sex=sex, page_size=100)
        assert page.total == want > 0
        assert {p["sex"] for p in page.items} == {sex}


@pytest.mark.parametrize("low,high", [(None, 17), (18, 64), (65, None), (40, 40), (0, 130)])
def test_filter_by_age(s, who, demo_json, low, high):
    ages = [age_on(p["dob"], TODAY) for p in demo_json["patients"]]
    want = sum(1 for a in ages if (low is None or a >= low) and (high is None or a <= high))
    page = s.patients.list(who["demo.doctor"], age_min=low, age_max=high, page_size=100)
    assert page.total == want
    for item in page.items:
        assert (low is None or item["age"] >= low) and (high is None or item["age"] <= high)


def test_age_range_must_be_ordered(s, who):
    with pytest.raises(ValidationError) as info:
        s.patients.list(who["demo.doctor"], age_min=50, age_max=20)
    assert "age_max" in info.value.fields


def test_filter_by_primary_doctor(s, who):
    doctor = who["demo.doctor"]
    page = s.patients.list(doctor, primary_doctor_id=doctor.user_id, page_size=100)
    assert page.total == 20
    assert {p["mrn"] for p in page.items} == {f"MRN-{n:06d}" for n in range(1, 21)}
    okafor = s.patients.list(doctor, primary_doctor_id=who["dr.okafor"].user_id, page_size=100)
    assert {p["mrn"] for p in okafor.items} == {f"MRN-{n:06d}" for n in range(21, 31)}


def test_filter_by_condition(s, who, demo_json):
    want = {i + 1 for i, p in enumerate(demo_json["patients"])
            if "hypertension" in [c.lower() for c in p["conditions"]]}
    page = s.patients.list(who["demo.doctor"], condition="HYPERTENSION", page_size=100)
    assert {int(p["mrn"][4:]) for p in page.items} == want and len(want) > 3


def test_filters_combine(s, who, demo_json):
    doctor = who["demo.doctor"]
    want = {i + 1 for i, p in enumerate(demo_json["patients"])
            if p["sex"] == "M" and p["primary_doctor"] == "demo.doctor"
            and "hypertension" in [c.lower() for c in p["conditions"]]}
    page = s.patients.list(doctor, sex="M", primary_doctor_id=doctor.user_id,
                           condition="Hypertension", page_size=100)
    assert {int(p["mrn"][4:]) for p in page.items} == want and want


# --- sort and pagination ---

def sort_value(item: dict, sort: str):
    digits = "".join(c for c in (item.get("phone") or "") if c.isdigit())
    return {
        "mrn": (item["mrn"],),
        "name": (item["last_name"].lower(), item["first_name"].lower()),
        "last_name": (item["last_name"].lower(), item["first_name"].lower()),
        "first_name": (item["first_name"].lower(), item["last_name"].lower()),
        "dob": (item["dob"],),
        "sex": (item["sex"], item["last_name"].lower()),
        "phone": (digits,),
        "primary_doctor": (item["primary_doctor_name"] or "", item["last_name"].lower()),
        "updated_at": (item["updated_at"],),
    }[sort]


@pytest.mark.parametrize("sort", sorted(SORTS))
def test_sort_by_each_column(s, who, sort):
    doctor = who["demo.doctor"]
    if sort == "updated_at":  # give the records distinct change times
        for n, mrn in enumerate(("MRN-000007", "MRN-000003", "MRN-000009")):
            p = pid(s, mrn)
            s.ctx.clock.advance(minutes=1)  # type: ignore[attr-defined]
            s.patients.update(doctor, p, {"address": f"{n} Sort Street"},
                              version=s.store.patients.get(p)["version"])
    asc = s.patients.list(doctor, sort=sort, page_size=100).items
    desc = s.patients.list(doctor, sort=sort, descending=True, page_size=100).items
    assert len(asc) == len(desc) == 40
    keys = [sort_value(item, sort) for item in asc]
    assert keys == sorted(keys)
    assert [sort_value(item, sort) for item in desc] == sorted(keys, reverse=True)
    assert len(set(keys)) > 1
    assert [p["id"] for p in desc] == [p["id"] for p in reversed(asc)]
    if sort == "updated_at":
        assert [p["mrn"] for p in desc[:3]] == ["MRN-000009", "MRN-000003", "MRN-000007"]


def test_unknown_sort_is_refused(s, who):
    with pytest.raises(ValidationError) as info:
        s.patients.list(who["demo.doctor"], sort="password_hash")
    assert "sort" in info.value.fields


def test_pagination(s, who):
    doctor = who["demo.doctor"]
    seen = []
    for page_no in (1, 2, 3):
        page = s.patients.list(doctor, sort="mrn", page=page_no, page_size=15)
        assert (page.total, page.page, page.page_size, page.pages) == (40, page_no, 15, 3)
        assert len(page.items) == (15 if page_no < 3 else 10)
        seen += [p["mrn"] for p in page.items]
    assert seen == [f"MRN-{n:06d}" for n in range(1, 41)]
    beyond = s.patients.list(doctor, sort="mrn", page=4, page_size=15)
    assert beyond.items == [] and beyond.total == 40 and beyond.pages == 3
    whole = s.patients.list(doctor, page_size=40)
    assert whole.pages == 1 and len(whole.items) == 40
    for bad in ({"page": 0}, {"page_size": 0}, {"page_size": 501}, {"page": "two"}):
        with pytest.raises(ValidationError):
            s.patients.list(doctor, **bad)


def test_list_sees_changes_made_through_the_store(s, who):
    """The list reflects creates and updates at once (the in-memory directory is kept fresh)."""
    doctor = who["demo.doctor"]
    assert s.patients.list(doctor, query="quinn").total == 0
    created = s.patients.create(doctor, NEW)
    assert [p["id"] for p in s.patients.list(doctor, query="quinn").items] == [created["id"]]
    s.patients.update(doctor, created["id"], {"first_name": "Zora"}, version=1)
    assert s.patients.list(doctor, query="zora quinn").total == 1
    assert s.patients.list(doctor, query="mira").total == 0
    assert s.patients.list(doctor, page_size=100).total == 41
