"""FHIR in the app (issue 14): a patient's Bundle as a new file in the user's outbox (or
the bytes a browser downloads), and an administrator's import from their own inbox only,
with the CLI's dry run and summary."""

from __future__ import annotations

import base64
import json
import os
from pathlib import Path
from typing import Any

import pytest

from meditrack_tui.errors import NotFound, PermissionDenied, ValidationError
from tests.fhir_synthea import patient_bundle
from tests.peek import Peek


def inbox(s: Any, session: Any) -> Path:
    return Path(s.fhir_files.inbox(session))


def test_export_to_the_outbox_writes_a_new_private_bundle_each_time(s, who):
    admin = who["demo.admin"]
    first = Path(s.fhir_files.export_to_outbox(admin, "MRN-000001"))
    assert first == s.config.data_dir / "outbox" / "demo.admin" / "MRN-000001-fhir.json"
    assert oct(first.stat().st_mode & 0o777) == "0o600"
    b = json.loads(first.read_text("utf-8"))
    assert b["resourceType"] == "Bundle" and b["type"] == "collection"
    (patient,) = [e["resource"] for e in b["entry"] if e["resource"]["resourceType"] == "Patient"]
    assert any(i["value"] == "MRN-000001" for i in patient["identifier"])
    # the report files are embedded, as the CLI does by default
    docs = [e["resource"] for e in b["entry"]
            if e["resource"]["resourceType"] == "DocumentReference"]
    assert docs and all(base64.b64decode(d["content"][0]["attachment"]["data"]) for d in docs)
    before = first.read_bytes()
    second = Path(s.fhir_files.export_to_outbox(admin, "MRN-000001"))
    assert second.name == "MRN-000001-fhir (2).json"
    assert first.read_bytes() == before
    # audited as the CLI's export is: one fhir.export read per export
    entries = Peek(s.store).find("audit", action="fhir.export", username="demo.admin")
    assert len(entries) == 2


def test_export_file_is_the_bundle_a_browser_downloads(s, who):
    export = s.fhir_files.export_file(who["demo.doctor"], "MRN-000002")
    assert export.filename == "MRN-000002-fhir.json"
    assert json.loads(export.data)["entry"][0]["resource"]["resourceType"] == "Patient"
    assert export.counts["Patient"] == 1 and sum(export.counts.values()) == \
        len(json.loads(export.data)["entry"])


def test_a_patient_exports_their_own_record_only(s, who):
    own = who["demo.patient"]
    mine = Peek(s.store).one("patients", id=own.patient_id)
    assert Path(s.fhir_files.export_to_outbox(own, mine["mrn"])).is_file()
    other = "MRN-000002" if mine["mrn"] != "MRN-000002" else "MRN-000003"
    with pytest.raises(PermissionDenied):
        s.fhir_files.export_to_outbox(own, other)
    assert [p.name for p in (s.config.data_dir / "outbox" / "demo.patient").iterdir()] == \
        [f"{mine['mrn']}-fhir.json"]
    with pytest.raises(NotFound):
        s.fhir_files.export_file(who["demo.admin"], "MRN-000999")


def test_import_sources_are_fhir_files_and_folders_inside_the_inbox_only(s, who, tmp_path):
    admin = who["demo.admin"]
    box = inbox(s, admin)
    (box / "one.json").write_text(json.dumps(patient_bundle(1)))
    (box / "notes.txt").write_text("not FHIR")
    (box / ".hidden.json").write_text("{}")
    bulk = box / "bulk-export"
    bulk.mkdir()
    (bulk / "Patient.ndjson").write_text("{}\n")
    (box / "empty-folder").mkdir()
    outside = tmp_path / "secret.json"
    outside.write_text(json.dumps(patient_bundle(2)))
    os.symlink(outside, box / "link.json")
    found = {f.name: f for f in s.fhir_files.import_sources(admin)}
    assert set(found) == {"one.json", "bulk-export", "link.json"}
    assert found["bulk-export"].folder and found["bulk-export"].files == 1
    assert found["one.json"].problem is None and not found["one.json"].folder
    assert "symbolic link" in (found["link.json"].problem or "")


@pytest.mark.parametrize("name", ["../secret.json", "/etc/passwd", "..", ".hidden.json",
                                  "sub/one.json", "link.json", "notes.txt", "missing.json"])
def test_import_refuses_anything_but_a_fhir_file_or_folder_in_the_inbox(s, who, tmp_path,
                                                                          name):
    admin = who["demo.admin"]
    box = inbox(s, admin)
    secret = box.parent / "secret.json"  # beside the inbox, reachable only with ../
    secret.write_text(json.dumps(patient_bundle(3)))
    (box / "sub").mkdir()
    (box / "sub" / "one.json").write_text(json.dumps(patient_bundle(3)))
    (box / ".hidden.json").write_text(json.dumps(patient_bundle(3)))
    (box / "notes.txt").write_text(json.dumps(patient_bundle(3)))
    os.symlink(secret, box / "link.json")
    before = Peek(s.store).count("patients")
    with pytest.raises(ValidationError):
        s.fhir_files.import_from_inbox(admin, name)
    assert Peek(s.store).count("patients") == before


def test_only_administrators_import(s, who):
    for name in ("demo.doctor", "demo.patient"):
        with pytest.raises(PermissionDenied):
            s.fhir_files.import_sources(who[name])
        with pytest.raises(PermissionDenied):
            s.fhir_files.import_from_inbox(who[name], "one.json")


def test_dry_run_changes_nothing_then_the_import_creates_the_patients(s, who):
    admin = who["demo.admin"]
    box = inbox(s, admin)
    entries = patient_bundle(11)["entry"] + patient_bundle(12)["entry"]
    (box / "two.json").write_text(json.dumps({"resourceType": "Bundle", "type": "collection",
                                              "entry": entries}))
    peek = Peek(s.store)
    before = peek.count("patients")
    dry = s.fhir_files.import_from_inbox(admin, "two.json", dry_run=True)
    assert dry.counts["Patient"]["imported"] == 2
    assert peek.count("patients") == before
    done = s.fhir_files.import_from_inbox(admin, "two.json")
    assert done.counts["Patient"]["imported"] == 2 and done.counts["Observation"]["imported"]
    assert peek.count("patients") == before + 2
    again = s.fhir_files.import_from_inbox(admin, "two.json")
    assert again.counts["Patient"] == {"imported": 0, "matched": 2, "skipped": 0, "refused": 0}


def test_a_bulk_export_folder_imports_and_a_link_inside_it_is_refused(s, who, tmp_path):
    admin = who["demo.admin"]
    box = inbox(s, admin)
    bulk = box / "bulk"
    bulk.mkdir()
    by_kind: dict[str, list[str]] = {}
    for e in patient_bundle(21)["entry"]:
        res = e["resource"]
        by_kind.setdefault(res["resourceType"], []).append(json.dumps(res))
    for kind, lines in by_kind.items():
        (bulk / f"{kind}.ndjson").write_text("\n".join(lines) + "\n")
    outside = tmp_path / "Zeta.ndjson"
    outside.write_text(json.dumps(patient_bundle(22)["entry"][0]["resource"]) + "\n")
    os.symlink(outside, bulk / "Zeta.ndjson")
    tally = s.fhir_files.import_from_inbox(admin, "bulk")
    assert tally.counts["Patient"]["imported"] == 1  # the linked file's patient is not read
    assert any("bulk/Zeta.ndjson" in r and "symbolic link" in r for r in tally.refused)


def test_a_file_that_is_not_text_is_a_sentence(s, who):
    admin = who["demo.admin"]
    (inbox(s, admin) / "scan.json").write_bytes(b"\xff\xfe\x00binary")
    with pytest.raises(ValidationError, match="not text"):
        s.fhir_files.import_from_inbox(admin, "scan.json")


def test_the_inbox_import_brings_doctors_appointments_and_report_files(s, who, services):
    """The app's import is the CLI's: a record exported from one clinic arrives in an
    empty one with its doctor (a new inactive account), appointments and report files."""
    from meditrack_tui.fhir.export import bundle
    from tests.conftest import FIXED_NOW

    source = bundle(s.fhir.export_patient(who["demo.admin"], "MRN-000001"),
                    s.config.mrn_system, now=FIXED_NOW)
    kinds = [e["resource"]["resourceType"] for e in source["entry"]]
    services.auth.create_first_admin("clinic.admin", "a-long-password-1", "Clinic Admin")
    admin = services.auth.login("clinic.admin", "a-long-password-1")
    (inbox(services, admin) / "mrn1.json").write_text(json.dumps(source))
    tally = services.fhir_files.import_from_inbox(admin, "mrn1.json")
    for kind in ("Practitioner", "Appointment", "DocumentReference"):
        assert kinds.count(kind) and tally.counts[kind]["imported"] == kinds.count(kind), kind
    peek = Peek(services.store)
    assert peek.count("appointments") == kinds.count("Appointment")
    assert len(peek.find("users", role="doctor", status="inactive")) == 1


def test_a_dry_run_is_refused_where_the_store_cannot_undo_it(s, who):
    """A standalone MongoDB commits each write on its own: a dry run there would write."""
    import dataclasses

    admin = who["demo.admin"]
    (inbox(s, admin) / "one.json").write_text(json.dumps(patient_bundle(21)))
    before = Peek(s.store).count("patients")
    s.store.info = dataclasses.replace(s.store.info, transactions=False)
    with pytest.raises(ValidationError, match="dry run needs a database that can undo"):
        s.fhir_files.import_from_inbox(admin, "one.json", dry_run=True)
    assert Peek(s.store).count("patients") == before
