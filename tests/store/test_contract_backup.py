"""Contract: the backup interface of each store (SQLite always, MongoDB when
MEDITRACK_TEST_MONGO_URI is set): export every record raw, import it into an empty store
of the same kind with ids, versions and audit seals kept, and a backup file round trip."""

from __future__ import annotations

import hashlib
from datetime import datetime
from pathlib import Path

import pytest

from meditrack_tui.audit_chain import AuditKey, verify
from meditrack_tui.backup import restore_backup, verify_backup, write_backup
from meditrack_tui.store.base import BACKUP_COLLECTIONS
from tests.store.conftest import open_test_store

T0 = datetime(2026, 3, 4, 10, 0, 0, 123000)
KEY = AuditKey("test-backup-key")
PDF = b"%PDF-1.4 lab result " + bytes(range(256)) * 3


def kind_of(store) -> str:
    return "sqlite" if store.info.kind == "embedded" else "mongo"


@pytest.fixture
def fresh(store, tmp_path):
    """A second empty store of the same kind (its own database / data directory)."""
    other = open_test_store(kind_of(store), tmp_path / "restored")
    yield other
    if kind_of(store) == "mongo":
        other.drop_all()
    other.close()


@pytest.fixture
def clinic(store):
    """A little of everything, with versions past 1 and an audit chain."""
    user = store.users.add({"username": "Doc", "username_lc": "doc", "role": "doctor",
                            "status": "active", "created_at": T0, "version": 1})
    store.users.update(user["id"], {"full_name": "Dr. Doc"}, version=1)  # version 2
    patient = store.patients.add({"mrn": "MRN-1", "first_name": "Ada", "last_name": "Byron",
                                  "first_key": "ada", "last_key": "byron",
                                  "full_key": "ada byron", "phone": "+1 555 0101",
                                  "phone_digits": "15550101", "conditions": ["Asthma"],
                                  "conditions_lc": ["asthma"], "archived": False,
                                  "allergies": [], "updated_at": T0, "version": 1})
    store.appointments.add({"patient_id": patient["id"], "patient_name": "Ada Byron",
                            "doctor_id": user["id"], "doctor_name": "Dr. Doc", "start": T0,
                            "day": "2026-03-04", "reason": "Blood pressure review",
                            "status": "scheduled", "mrn": "MRN-1", "version": 3})
    store.prescriptions.add({"patient_id": patient["id"], "drug": "Amlodipine",
                             "start_date": "2026-03-01", "status": "active", "version": 1})
    store.vitals.add({"patient_id": patient["id"], "taken_at": T0, "systolic": 150,
                      "diastolic": 95, "weight_kg": 70.0, "source": "clinic"})
    file_id = store.reports.put_file("lab.pdf", PDF, {"patient_id": patient["id"]})
    store.reports.add({"patient_id": patient["id"], "file_id": file_id, "filename": "lab.pdf",
                       "kind": "lab", "sha256": hashlib.sha256(PDF).hexdigest(),
                       "size": len(PDF), "uploaded_at": T0, "deleted_at": None, "version": 1})
    for n in range(5):
        store.audit.append({"ts": T0, "username": "doc", "role": "doctor",
                            "action": f"patient.read.{n}", "outcome": "ok",
                            "patient_id": patient["id"], "detail": None}, KEY)
    store.counters.next("mrn", 41)
    store.settings.save({"max_upcoming": 3, "self_signup": True}, version=0)
    store.sessions.add({"user_id": user["id"], "username": "doc", "revoked": False})
    return store


def exported(store) -> dict[str, list]:
    return {name: list(store.export_records(name)) for name in BACKUP_COLLECTIONS}


def test_an_empty_store_holds_nothing(store):
    assert store.holds_data() == []


def test_export_keeps_ids_versions_and_seals(clinic):
    records = exported(clinic)
    assert {n: len(v) for n, v in records.items()} == {
        "users": 1, "patients": 1, "appointments": 1, "prescriptions": 1, "vitals": 1,
        "reports": 1, "audit": 5, "counters": 1, "settings": 1}
    assert records["users"][0]["version"] == 2
    assert records["appointments"][0]["version"] == 3
    assert [e["seq"] for e in records["audit"]] == [1, 2, 3, 4, 5]
    assert all(KEY.check(e) for e in records["audit"])
    assert records["counters"] == [{"id": "mrn", "value": 41}]
    assert "phone_rev" not in records["patients"][0]  # a store's own query field
    files = list(clinic.export_files())
    assert len(files) == 1 and files[0][1] == PDF
    assert files[0][0]["sha256"] == hashlib.sha256(PDF).hexdigest()
    assert set(clinic.holds_data()) == {*BACKUP_COLLECTIONS, "report files"}


def test_import_into_an_empty_store_gives_the_same_store(clinic, fresh):
    records = exported(clinic)
    for name in BACKUP_COLLECTIONS:
        fresh.import_records(name, records[name])
    for info, data in clinic.export_files():
        fresh.import_file(info, data)
    fresh.import_audit_head(clinic.audit.head())
    assert exported(fresh) == records
    assert list(fresh.export_files()) == list(clinic.export_files())
    assert fresh.audit.head() == clinic.audit.head()
    assert verify(fresh.audit, KEY).intact
    # the restored store works as a store: queries by its indexes, versions, next numbers
    patient = records["patients"][0]
    assert fresh.patients.by_mrn("MRN-1")["id"] == patient["id"]
    assert fresh.users.update(records["users"][0]["id"], {"email": "d@x"}, version=2)
    assert fresh.counters.next("mrn") == 42
    report = records["reports"][0]
    assert fresh.reports.read_file(report["file_id"]) == PDF
    entry = fresh.audit.append({"ts": T0, "username": "doc", "action": "after.restore",
                                "outcome": "ok"}, KEY)
    assert entry["seq"] == 6 and verify(fresh.audit, KEY).intact


def test_backup_file_round_trip(clinic, fresh, tmp_path):
    path = tmp_path / "clinic.mtbackup"
    summary = write_backup(clinic, path)
    assert summary.counts["audit"] == 5 and summary.files == 1
    assert (path.stat().st_mode & 0o777) == 0o600
    assert verify_backup(path, KEY).intact
    result = restore_backup(path, fresh, KEY)
    assert result.intact, result.lines()
    assert exported(fresh) == exported(clinic)
    assert list(fresh.export_files()) == list(clinic.export_files())
    assert list(fresh.sessions.get_many([])) == []  # sessions are not restored


def test_restore_refuses_a_store_that_holds_anything(clinic, tmp_path):
    from meditrack_tui.backup import BackupError

    path = tmp_path / "clinic.mtbackup"
    write_backup(clinic, path)
    before = exported(clinic)
    with pytest.raises(BackupError, match="not empty"):
        restore_backup(path, clinic, KEY)
    assert exported(clinic) == before


def test_a_backup_never_overwrites_a_file(clinic, tmp_path: Path):
    from meditrack_tui.backup import BackupError

    path = tmp_path / "taken.zip"
    path.write_bytes(b"precious")
    with pytest.raises(BackupError, match="already exists"):
        write_backup(clinic, path)
    assert path.read_bytes() == b"precious"
    assert [p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")] == []
