"""Contract: what every aggregate of whole records does (get, add, update, increment,
delete), unique fields, and the record conventions of store/repos.py."""

from __future__ import annotations

from datetime import datetime

import pytest

from meditrack_tui.store.base import Duplicate, is_id

# repository name -> a minimal record for it
SAMPLES = {
    "users": {"username": "Ann", "username_lc": "ann", "role": "admin", "status": "active"},
    "sessions": {"user_id": "u1", "revoked": False},
    "patients": {"mrn": "MRN-1", "last_key": "lee", "first_key": "ann", "archived": False},
    "appointments": {"patient_id": "p1", "doctor_id": "d1", "day": "2026-03-04",
                     "start": datetime(2026, 3, 4, 9, 0), "status": "scheduled"},
    "prescriptions": {"patient_id": "p1", "status": "active", "start_date": "2026-03-01"},
    "vitals": {"patient_id": "p1", "taken_at": datetime(2026, 3, 4, 8, 0), "pulse": 70},
    "reports": {"patient_id": "p1", "kind": "lab", "uploaded_at": datetime(2026, 3, 4)},
}

REPOS = sorted(SAMPLES)


@pytest.mark.parametrize("name", REPOS)
def test_add_assigns_an_id_and_get_returns_the_record(store, name):
    repo = getattr(store, name)
    added = repo.add({**SAMPLES[name], "version": 1})
    assert is_id(added["id"])
    assert repo.get(added["id"]) == added
    assert repo.get("0" * 24) is None


@pytest.mark.parametrize("name", REPOS)
def test_add_keeps_a_given_id(store, name):
    repo = getattr(store, name)
    added = repo.add({**SAMPLES[name], "id": "abc123"})
    assert added["id"] == "abc123"
    assert repo.get("abc123")["id"] == "abc123"


@pytest.mark.parametrize("name", REPOS)
def test_update_checks_the_version_and_bumps_it(store, name):
    repo = getattr(store, name)
    rid = repo.add({**SAMPLES[name], "version": 1})["id"]
    after = repo.update(rid, {"note": "x"}, version=1)
    assert after["note"] == "x" and after["version"] == 2
    assert repo.update(rid, {"note": "stale"}, version=1) is None
    assert repo.get(rid)["note"] == "x"
    unchecked = repo.update(rid, {"note": "y"})
    assert unchecked["version"] == 3
    quiet = repo.update(rid, {"note": "z"}, bump=False)
    assert quiet["version"] == 3 and quiet["note"] == "z"
    assert repo.get(rid) == quiet
    assert repo.update("0" * 24, {"note": "no"}) is None


@pytest.mark.parametrize("name", REPOS)
def test_increment_and_delete(store, name):
    repo = getattr(store, name)
    rid = repo.add(dict(SAMPLES[name]))["id"]
    assert repo.increment(rid, "hits")["hits"] == 1
    assert repo.increment(rid, "hits", 4)["hits"] == 5
    assert repo.get(rid)["hits"] == 5
    assert repo.increment("0" * 24, "hits") is None
    assert repo.delete(rid) is True
    assert repo.get(rid) is None
    assert repo.delete(rid) is False


def test_datetimes_round_trip_to_the_millisecond(store):
    when = datetime(2026, 3, 4, 10, 0, 0, 123456)
    added = store.vitals.add({"patient_id": "p1", "taken_at": when,
                              "nested": {"at": when, "list": [when, 1, "a", None, True]}})
    ms = datetime(2026, 3, 4, 10, 0, 0, 123000)
    assert added["taken_at"] == ms
    got = store.vitals.get(added["id"])
    assert got["taken_at"] == ms
    assert got["nested"] == {"at": ms, "list": [ms, 1, "a", None, True]}


def test_returned_records_are_the_callers_own(store):
    doc = {**SAMPLES["patients"], "allergies": ["peanut"]}
    added = store.patients.add(doc)
    added["allergies"].append("latex")
    doc["allergies"].append("dust")
    got = store.patients.get(added["id"])
    assert got["allergies"] == ["peanut"]
    got["allergies"].clear()
    assert store.patients.get(added["id"])["allergies"] == ["peanut"]


def test_duplicate_username(store):
    store.users.add(dict(SAMPLES["users"]))
    with pytest.raises(Duplicate) as caught:
        store.users.add({**SAMPLES["users"], "username": "ANN"})
    assert caught.value.field == "username"
    other = store.users.add({**SAMPLES["users"], "username_lc": "bob"})
    with pytest.raises(Duplicate) as caught:
        store.users.update(other["id"], {"username_lc": "ann"})
    assert caught.value.field == "username"
    assert store.users.get(other["id"])["username_lc"] == "bob"


def test_duplicate_mrn(store):
    store.patients.add(dict(SAMPLES["patients"]))
    with pytest.raises(Duplicate) as caught:
        store.patients.add({**SAMPLES["patients"], "last_key": "other"})
    assert caught.value.field == "mrn"
    assert store.patients.count(archived=None) == 1


def test_is_empty(store):
    assert store.is_empty()
    store.vitals.add(dict(SAMPLES["vitals"]))
    assert store.is_empty()
    store.patients.add(dict(SAMPLES["patients"]))
    assert not store.is_empty()


@pytest.mark.parametrize("name", REPOS)
def test_get_many_returns_the_existing_records_by_id(store, name):
    repo = getattr(store, name)
    first = repo.add({**SAMPLES[name], "version": 1})
    second = repo.add({**SAMPLES[name], "version": 1, "id": "given-id"}) \
        if name not in ("users", "patients") else None
    ids = [first["id"], "0" * 24, {"$ne": ""}] + ([second["id"]] if second else [])
    found = repo.get_many(ids)
    assert found == {first["id"]: first, **({second["id"]: second} if second else {})}
    assert repo.get_many([]) == {}
    many = [repo.add({**SAMPLES[name], "version": 1})["id"] for _ in range(3)] \
        if name not in ("users", "patients") else []
    assert set(repo.get_many(many + [first["id"]])) == set(many) | {first["id"]}
