"""FHIR R4 import (issue 14): Bundles and bulk NDJSON in, matched by identifier or created,
idempotent, malformed resources refused while the rest imports, a dry run, one audited
operation per patient, and export -> import -> export giving the same resources."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from meditrack_tui.cli import main
from meditrack_tui.errors import PermissionDenied
from meditrack_tui.fhir.cli import import_path
from meditrack_tui.fhir.export import bundle
from tests.conftest import FIXED_NOW, make_config
from tests.fhir_check import validate_bundle
from tests.fhir_synthea import patient_bundle
from tests.peek import Peek

KEPT = ("Patient", "AllergyIntolerance", "Condition", "Observation", "MedicationRequest",
        "Appointment", "DocumentReference", "Practitioner")


def shell(services: Any) -> Any:
    return services.auth.shell_session("import fhir (test)", "tester")


def write(tmp_path: Path, name: str, value: Any) -> Path:
    path = tmp_path / name
    path.write_text(json.dumps(value))
    return path


def normalised(b: dict[str, Any]) -> list[str]:
    """The kept resources without ids, full URLs and references' targets (ids differ from
    store to store), as sorted JSON texts."""
    def strip(value: Any) -> Any:
        if isinstance(value, dict):
            return {k: strip(v) for k, v in value.items()
                    if k not in ("id", "meta", "reference", "issued")}
        if isinstance(value, list):
            return [strip(v) for v in value]
        return value

    return sorted(json.dumps(strip(unflagged(e["resource"])), sort_keys=True)
                  for e in b["entry"] if e["resource"]["resourceType"] in KEPT)


def unflagged(resource: dict[str, Any]) -> dict[str, Any]:
    """A Practitioner without its ``active`` flag: a doctor an import creates is inactive
    on purpose (nobody can sign in with the new account until an administrator enables
    it), so the flag differs after the trip; everything else must not."""
    if resource["resourceType"] != "Practitioner":
        return resource
    return {k: v for k, v in resource.items() if k != "active"}


def test_round_trip_into_an_empty_store_gives_the_same_resources(s, who, tmp_path, services):
    original = bundle(s.fhir.export_patient(who["demo.admin"], "MRN-000001"),
                      s.config.mrn_system, now=FIXED_NOW)
    assert {"Appointment", "DocumentReference", "Practitioner"} <= {
        e["resource"]["resourceType"] for e in original["entry"]}
    path = write(tmp_path, "p1.json", original)
    session = shell(services)
    tally = import_path(services, session, path)
    assert not tally.refused and not tally.reasons
    again = bundle(services.fhir.export_patient(session, "MRN-000001"),
                   services.config.mrn_system, now=FIXED_NOW)
    validate_bundle(again)
    a, b = normalised(again), normalised(original)
    assert [x for x in a if x not in b] == [x for x in b if x not in a]
    assert a == b
    # the clinic's next MRN passes the imported one
    doctor_free = services.patients.insert_new(
        {"first_name": "Next", "last_name": "Patient"}, by="test")
    assert doctor_free["mrn"] == "MRN-000002"


def test_importing_twice_creates_nothing_new(services, tmp_path):
    path = write(tmp_path, "synthea.json", patient_bundle(1))
    session = shell(services)
    first = import_path(services, session, path)
    assert first.counts["Patient"]["imported"] == 1
    assert first.counts["Observation"]["imported"] == 48  # 12 visits x BP, HR, weight, glucose
    assert first.counts["Encounter"]["skipped"] == 12
    assert first.counts["Observation"]["skipped"] == 12  # cholesterol: not a MediTrack vital
    peek = Peek(services.store)
    before = {kind: peek.count(kind) for kind in ("patients", "vitals", "prescriptions")}
    second = import_path(services, session, path)
    assert second.counts["Patient"] == {"imported": 0, "matched": 1, "skipped": 0, "refused": 0}
    assert second.counts["Observation"]["imported"] == 0
    assert second.counts["MedicationRequest"]["matched"] == 2
    assert {kind: peek.count(kind) for kind in before} == before


def test_synthea_shaped_bundles_map_what_meditrack_keeps(services, tmp_path):
    folder = tmp_path / "synthea"
    folder.mkdir()
    for n in range(3):
        write(folder, f"patient{n}.json", patient_bundle(n, years=2))
    tally = import_path(services, shell(services), folder)
    assert tally.counts["Patient"]["imported"] == 3
    peek = Peek(services.store)
    patient = peek.all("patients")[0]
    # coded concepts survive as their words; the resolved condition is skipped
    assert patient["conditions"] == ["Diabetes mellitus type 2 (disorder)"]
    assert patient["allergies"] == ["Latex allergy"]
    assert ("Condition", "not active (resolved)") in tally.reasons
    rx = services.store.prescriptions.for_patient(patient["id"])
    assert {(r["drug"], r["status"]) for r in rx} == {("24 HR Metformin 500 MG", "active"),
                                                      ("Amoxicillin 250 MG", "stopped")}
    metformin = next(r for r in rx if r["status"] == "active")
    assert (metformin["dose"], metformin["frequency"]) == ("1 tablet", "once daily")
    readings = services.store.vitals.series(patient["id"])
    assert len(readings) == 8 and all(r.get("systolic") and r.get("weight_kg")
                                      for r in readings)


def test_bulk_ndjson_and_malformed_resources(services, tmp_path):
    b = patient_bundle(5, years=1)
    resources = [e["resource"] for e in b["entry"]]
    pid = resources[0]["id"]
    for r in resources:  # bulk files name patients as Patient/<id>
        for key in ("subject", "patient"):
            if key in r:
                r[key] = {"reference": f"Patient/{pid}"}
    bad_weight = copy.deepcopy(next(
        r for r in resources if r["resourceType"] == "Observation"
        and r["code"]["coding"][0]["code"] == "29463-7"))
    bad_weight["id"] = "w-stone"
    bad_weight["valueQuantity"] = {"value": 12, "unit": "st", "code": "[stone_av]"}
    no_bp = {"resourceType": "Observation", "id": "bp-half", "status": "final",
             "code": {"coding": [{"system": "http://loinc.org", "code": "85354-9"}]},
             "subject": {"reference": f"Patient/{pid}"},
             "effectiveDateTime": "2025-05-05T10:00:00Z",
             "component": [{"code": {"coding": [{"system": "http://loinc.org",
                                                 "code": "8480-6"}]},
                            "valueQuantity": {"value": 120, "code": "mm[Hg]"}}]}
    stranger = {"resourceType": "Observation", "id": "o-x", "status": "final",
                "code": {"coding": [{"system": "http://loinc.org", "code": "8867-4"}]},
                "subject": {"reference": "Patient/nobody"},
                "effectiveDateTime": "2025-05-05T10:00:00Z",
                "valueQuantity": {"value": 70, "code": "/min"}}
    nameless = {"resourceType": "Patient", "id": "no-ident", "name": [{"family": "X"}]}
    impossible = {"resourceType": "Observation", "id": "o-hr", "status": "final",
                  "code": {"coding": [{"system": "http://loinc.org", "code": "8867-4"}]},
                  "subject": {"reference": f"Patient/{pid}"},
                  "effectiveDateTime": "2025-06-05T10:00:00Z",
                  "valueQuantity": {"value": 900, "code": "/min"}}
    folder = tmp_path / "bulk"
    folder.mkdir()
    by_type: dict[str, list[dict[str, Any]]] = {}
    for r in [*resources, bad_weight, no_bp, stranger, nameless, impossible]:
        by_type.setdefault(r["resourceType"], []).append(r)
    for kind, rows in by_type.items():
        (folder / f"{kind}.ndjson").write_text(
            "".join(json.dumps(r) + "\n" for r in rows) + ("{not json\n" if kind == "Patient"
                                                           else ""))
    tally = import_path(services, shell(services), folder)
    assert tally.counts["Patient"]["imported"] == 1
    assert tally.counts["Observation"]["imported"] == 16
    text = "\n".join(tally.refused)
    assert "Patient.ndjson:3: not valid JSON" in text
    assert "a Patient without an identifier" in text
    assert "its patient (Patient/nobody) is not in the import" in text
    assert "without both systolic and diastolic" in text
    assert "Heart rate" in text or "heart rate" in text  # 900/min is implausible
    assert ("Observation", "unit '[stone_av]' for weight_kg not converted") in tally.reasons
    assert Peek(services.store).count("vitals") == 4


def test_dry_run_changes_nothing_and_import_is_audited_per_patient(services, tmp_path):
    folder = tmp_path / "in"
    folder.mkdir()
    for n in range(2):
        write(folder, f"p{n}.json", patient_bundle(10 + n, years=1))
    session = shell(services)
    peek = Peek(services.store)
    dry = import_path(services, session, folder, dry_run=True)
    assert dry.counts["Patient"]["imported"] == 2
    assert peek.count("patients") == 0 and peek.count("vitals") == 0
    import_path(services, session, folder)
    entries = peek.find("audit", action="fhir.import")
    assert len(entries) == 2 and {e["patient_id"] for e in entries} == {
        p["id"] for p in peek.all("patients")}
    assert all(e["username"] == "shell:tester" for e in entries)


def test_only_administrators_import(s, who, tmp_path):
    with pytest.raises(PermissionDenied):
        import_path(s, who["demo.doctor"], write(tmp_path, "x.json", patient_bundle(1)))
    assert Peek(s.store).find("audit", action="fhir.import")[-1]["outcome"] == "denied"


def test_cli_import_prints_the_summary(tmp_path, capsys):
    path = write(tmp_path, "synthea.json", patient_bundle(3, years=1))
    data = tmp_path / "data"
    assert main(["import", "fhir", "--data-dir", str(data), "--dry-run", str(path)]) == 0
    out = capsys.readouterr().out
    assert "dry run" in out and "Encounter" in out and "Skipped 4 Encounter" in out
    assert main(["import", "fhir", "--data-dir", str(data), str(path)]) == 0
    out = capsys.readouterr().out
    assert "Patient" in out and "Imported" in out
    assert main(["import", "fhir", "--data-dir", str(data), str(tmp_path / "nope")]) == 1
    assert "does not exist" in capsys.readouterr().err
    from meditrack_tui.store import connect

    store = connect(make_config(data))
    try:
        assert Peek(store).count("patients") == 1
    finally:
        store.close()
