"""Real MongoDB: runs only when MEDITRACK_TEST_MONGO_URI points at a server.

Each test run uses a throwaway database with a unique name and drops it afterwards.
"""

from __future__ import annotations

import hashlib
import os
import uuid

import pytest

MONGO_URI = os.environ.get("MEDITRACK_TEST_MONGO_URI")

pytestmark = [
    pytest.mark.mongo,
    pytest.mark.skipif(not MONGO_URI,
                       reason="MEDITRACK_TEST_MONGO_URI not set: real-MongoDB tests skipped"),
]

PASSWORD = "mongo-test-password-1"


@pytest.fixture
def config(tmp_path):
    from meditrack_tui.config import Config

    return Config(data_dir=tmp_path / "data", mongo_uri=MONGO_URI,
                  db_name=f"meditrack_test_{uuid.uuid4().hex[:12]}",
                  secret="mongo-test-secret-" + "m" * 40)


@pytest.fixture
def store(config):
    from meditrack_tui.db import connect

    store = connect(config)
    yield store
    store.client.drop_database(config.db_name)
    store.close()


@pytest.fixture
def services(store, config, clock):
    from argon2 import PasswordHasher

    from meditrack_tui.services import Services

    services = Services(store, config, clock=clock)
    services.auth.hasher = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)
    return services


def test_connect_reports_a_mongodb_store(store, config):
    assert store.info.kind == "mongodb"
    assert store.db.name == config.db_name
    assert store.client.admin.command("ping")["ok"] == 1


def test_ensure_indexes_is_idempotent(store):
    from meditrack_tui.db.store import INDEXES

    store.ensure_indexes()
    store.ensure_indexes()
    for collection, _keys, options, *_embedded in INDEXES:
        info = store.db[collection].index_information()
        assert options["name"] in info, (collection, options["name"])
        if options.get("unique"):
            assert info[options["name"]].get("unique") is True



def test_an_index_left_with_other_options_is_replaced(store):
    """An older version's index on the same keys (other name or options) does not stop start-up."""
    store.db.changes.drop_indexes()
    store.db.changes.create_index([("ts", 1)], name="old_ts", expireAfterSeconds=60)
    store.ensure_indexes()
    info = store.db.changes.index_information()
    assert "old_ts" not in info and info["ts_ttl"]["expireAfterSeconds"] == 3600


def test_unique_username_and_mrn_are_enforced(store, services):
    from pymongo.errors import DuplicateKeyError

    from meditrack_tui.errors import ValidationError

    services.auth.create_first_admin("mongo.admin", PASSWORD, "Mongo Admin")
    with pytest.raises(DuplicateKeyError):
        store.db.users.insert_one({"username": "MONGO.admin", "username_lc": "mongo.admin"})
    admin = services.auth.login("mongo.admin", PASSWORD)
    with pytest.raises(ValidationError) as info:
        services.users.create(admin, username="Mongo.Admin", password=PASSWORD, role="doctor",
                              full_name="Dup")
    assert "username" in info.value.fields
    created = services.patients.create(admin, {"first_name": "Ana", "last_name": "Lima",
                                               "dob": "1990-01-01", "sex": "F"})
    with pytest.raises(DuplicateKeyError):
        store.db.patients.insert_one({"mrn": created["mrn"]})


def test_patient_round_trip(services):
    from meditrack_tui.errors import Conflict

    services.auth.create_first_admin("mongo.admin", PASSWORD, "Mongo Admin")
    admin = services.auth.login("mongo.admin", PASSWORD)
    services.users.create(admin, username="mongo.doctor", password=PASSWORD, role="doctor",
                          full_name="Dr. Mongo")
    doctor = services.auth.login("mongo.doctor", PASSWORD)
    created = services.patients.create(doctor, {
        "first_name": "Iris", "last_name": "Okoro", "dob": "1984-09-12", "sex": "F",
        "phone": "+1 555 0420", "allergies": ["penicillin"], "conditions": ["Asthma"],
        "primary_doctor_id": doctor.user_id})
    assert created["mrn"] == "MRN-000001"
    opened = services.patients.get(doctor, created["id"])
    assert opened["name"] == "Iris Okoro" and opened["primary_doctor_name"] == "Dr. Mongo"
    services.patients.update(doctor, created["id"], {"phone": "+1 555 0421"},
                             version=opened["version"])
    with pytest.raises(Conflict):
        services.patients.update(admin, created["id"], {"phone": "+1 555 0422"},
                                 version=opened["version"])
    for query in ("oko", "IRIS", "iris okoro", "MRN-000001", "1", "0421"):
        page = services.patients.list(doctor, query=query)
        assert [p["id"] for p in page.items] == [created["id"]], query
    assert services.patients.list(doctor, query=".*").total == 0
    assert services.patients.list(doctor, condition="asthma").total == 1
    services.patients.archive(admin, created["id"])
    assert services.patients.list(doctor).total == 0
    assert services.patients.list(doctor, archived="archived").total == 1


def test_gridfs_upload_and_download(services, store):
    from meditrack_tui.seed import sample_data_dir

    services.auth.create_first_admin("mongo.admin", PASSWORD, "Mongo Admin")
    admin = services.auth.login("mongo.admin", PASSWORD)
    services.users.create(admin, username="mongo.doctor", password=PASSWORD, role="doctor",
                          full_name="Dr. Mongo")
    doctor = services.auth.login("mongo.doctor", PASSWORD)
    patient = services.patients.create(doctor, {"first_name": "Gus", "last_name": "Grid",
                                                "dob": "1970-01-01", "sex": "M"})
    path = sample_data_dir() / "reports" / "p02_hba1c_metabolic_panel.pdf"
    report = services.reports.upload(doctor, patient["id"], str(path), kind="lab result")
    assert report["content_type"] == "application/pdf"
    info, data = services.reports.read(admin, report["id"])
    assert data == path.read_bytes()
    assert info["sha256"] == hashlib.sha256(data).hexdigest()
    files = list(store.db["report_files.files"].find())
    assert len(files) == 1 and files[0]["metadata"]["sha256"] == info["sha256"]
    services.reports.delete(doctor, report["id"])
    assert store.db["report_files.files"].count_documents({}) == 0
