"""FHIR bulk export (issue 14): ``meditrack export fhir --all DIR`` writes one NDJSON file
per resource type (the Bulk Data layout) into a new folder, a page of patients at a time,
each patient audited as the single-patient export is; the import reads its input through
an on-disk spool, one patient at a time."""

from __future__ import annotations

import base64
import hashlib
import json
import stat
import tracemalloc
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse

import pytest

from meditrack_tui.cli import main
from meditrack_tui.errors import PermissionDenied, ValidationError
from meditrack_tui.fhir.cli import export_all, import_path
from meditrack_tui.fhir.imports import Item, Tally, plan
from tests.conftest import make_config
from tests.fhir_check import validate
from tests.peek import Peek

KEPT = ("Patient", "AllergyIntolerance", "Condition", "Observation", "MedicationRequest",
        "Appointment", "DocumentReference", "Practitioner")


def read_folder(folder: Path) -> dict[str, list[dict[str, Any]]]:
    return {path.stem: [json.loads(line) for line in path.read_text().splitlines()]
            for path in sorted(folder.glob("*.ndjson"))}


def normalised(by_kind: dict[str, list[dict[str, Any]]]) -> list[str]:
    """The kept resources without ids, meta, references' targets and report files' URLs
    (a file's path names its export folder; its hash stays), as sorted JSON; numbers as
    decimals (the demo seed stores a glucose of 181 where the vitals service, which an
    import goes through, stores 181.0: the same FHIR decimal)."""
    def strip(value: Any) -> Any:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
        if isinstance(value, dict):
            return {k: strip(v) for k, v in value.items()
                    if k not in ("id", "meta", "reference", "issued", "url")}
        if isinstance(value, list):
            return [strip(v) for v in value]
        return value

    from tests.test_fhir_import import unflagged

    return sorted(json.dumps(strip(unflagged(r)), sort_keys=True) for kind in KEPT
                  for r in by_kind.get(kind, []))


def test_bulk_export_writes_valid_ndjson_per_type_privately(s, who, tmp_path):
    folder = tmp_path / "bulk"
    counts = export_all(s, who["demo.admin"], folder)
    files = read_folder(folder)
    assert set(files) == {"Patient", "AllergyIntolerance", "Condition", "Observation",
                          "MedicationRequest", "Appointment", "DocumentReference",
                          "Practitioner"}
    assert {kind: len(rows) for kind, rows in files.items()} == counts
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    for path in [*folder.glob("*.ndjson"), *(folder / "files").iterdir()]:
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path
    # a sample of each file validates as R4: the first, the last and every 7th
    for rows in files.values():
        for res in rows[::7] + rows[-1:]:
            validate(res)
    # every record, archived ones too, once, in MRN order
    peek = Peek(s.store)
    mrns = [p["identifier"][0]["value"] for p in files["Patient"]]
    assert mrns == sorted(p["mrn"] for p in peek.all("patients"))
    # each doctor once; references are relative and name a resource of the export
    prac_ids = [p["id"] for p in files["Practitioner"]]
    assert len(prac_ids) == len(set(prac_ids)) >= 1
    known = {f"{kind}/{r['id']}" for kind in ("Patient", "Practitioner")
             for r in files[kind]}
    text = "\n".join(path.read_text() for path in folder.glob("*.ndjson"))
    refs = {part.split('"')[0] for part in text.split('"reference":"')[1:]}
    assert refs and refs <= known
    # report files are beside, by reference, with their hash
    for doc in files["DocumentReference"]:
        att = doc["content"][0]["attachment"]
        assert "data" not in att
        written = Path(unquote(urlparse(att["url"]).path))
        assert written.parent == folder / "files"
        assert att["hash"] == base64.b64encode(
            hashlib.sha1(written.read_bytes()).digest()).decode()


def test_bulk_export_streams_and_audits_each_patient(s, who, tmp_path):
    peek = Peek(s.store)
    total = peek.count("patients")
    before = peek.count("audit", action="fhir.export")
    records = s.fhir.export_all(who["demo.admin"], page_size=2)
    first = next(records)
    # one patient gathered (and audited) at a time, not the clinic at once
    assert peek.count("audit", action="fhir.export") == before + 1
    rest = list(records)
    assert [first.patient["mrn"], *(r.patient["mrn"] for r in rest)] == sorted(
        p["mrn"] for p in peek.all("patients"))
    entries = peek.find("audit", action="fhir.export")[before:]
    assert len(entries) == total and {e["username"] for e in entries} == {"demo.admin"}
    assert s.fhir.export_total(who["demo.admin"]) == total


def test_bulk_export_is_refused_to_a_patient(s, who, tmp_path):
    with pytest.raises(PermissionDenied):
        export_all(s, who["demo.patient"], tmp_path / "bulk")
    assert not (tmp_path / "bulk").exists()
    denied = Peek(s.store).find("audit", action="fhir.export", outcome="denied")
    assert denied[-1]["username"] == "demo.patient"


def test_bulk_export_never_writes_into_a_folder_with_files(s, who, tmp_path):
    folder = tmp_path / "bulk"
    folder.mkdir()
    (folder / "keep.txt").write_text("mine")
    with pytest.raises(ValidationError, match="not empty"):
        export_all(s, who["demo.admin"], folder)
    assert [p.name for p in folder.iterdir()] == ["keep.txt"]
    with pytest.raises(ValidationError, match="does not exist"):
        export_all(s, who["demo.admin"], tmp_path / "no" / "bulk")
    empty = tmp_path / "empty"
    empty.mkdir()
    assert export_all(s, who["demo.admin"], empty)["Patient"] >= 1


def test_bulk_round_trip_into_an_empty_store(s, who, tmp_path, services):
    first = tmp_path / "first"
    export_all(s, who["demo.admin"], first)
    shell = services.auth.shell_session("import fhir (test)", "tester")
    tally = import_path(services, shell, first)
    assert not tally.refused and not tally.reasons
    assert tally.counts["Patient"]["imported"] == len(read_folder(first)["Patient"])
    for kind in ("Appointment", "DocumentReference", "Practitioner"):
        assert tally.counts[kind]["imported"] == len(read_folder(first)[kind]) > 0
    second = tmp_path / "second"
    export_all(services, shell, second)
    a, b = normalised(read_folder(first)), normalised(read_folder(second))
    assert [x for x in a if x not in b] == [x for x in b if x not in a] == []
    assert a == b


def test_cli_bulk_export(demo_dir, tmp_path, capsys):
    folder = tmp_path / "out"
    args = ["export", "fhir", "--data-dir", str(demo_dir), "--all", str(folder)]
    assert main(args) == 0
    captured = capsys.readouterr()
    assert f"Wrote {folder}" in captured.out and "Patient" in captured.out
    assert captured.err == ""  # no progress bar when not on a terminal
    assert (folder / "Patient.ndjson").exists()
    assert main(args) == 1
    err = capsys.readouterr().err
    assert "not empty" in err and "Traceback" not in err
    assert main(["export", "fhir", "--data-dir", str(demo_dir), "--all", "--files-beside",
                 str(tmp_path / "other")]) == 1
    assert "--files-beside is for one patient" in capsys.readouterr().err
    from meditrack_tui.store import connect

    store = connect(make_config(demo_dir))
    try:
        peek = Peek(store)
        (shell,) = peek.find("audit", action="session.shell")
        assert "export fhir --all" in shell["detail"]
        exported = peek.find("audit", action="fhir.export")
        assert len(exported) == peek.count("patients")
        assert {e["username"] for e in exported} == {shell["username"]}
    finally:
        store.close()


def synthetic(patients: int, observations: int) -> Any:
    """Bulk-shaped resources, Observations first (as NDJSON files in name order are)."""
    for n in range(patients):
        for k in range(observations):
            yield Item({"resourceType": "Observation", "id": f"o{n}-{k}", "status": "final",
                        "code": {"coding": [{"system": "http://loinc.org", "code": "8867-4"}],
                                 "text": "Heart rate " + "x" * 200},
                        "subject": {"reference": f"Patient/p{n}"},
                        "effectiveDateTime": f"2025-01-01T10:{k % 60:02d}:00Z",
                        "valueQuantity": {"value": 60 + k, "code": "/min"}}, f"o:{n}:{k}")
    for n in range(patients):
        yield Item({"resourceType": "Patient", "id": f"p{n}",
                    "identifier": [{"system": "urn:test", "value": f"p{n}"}],
                    "name": [{"family": f"Family{n}", "given": ["Given"]}]}, f"p:{n}")


def test_import_grouping_holds_one_patient_at_a_time(tmp_path):
    def peak(patients: int) -> tuple[int, int]:
        tally = Tally()
        tracemalloc.start()
        try:
            groups = 0
            for group in plan(synthetic(patients, 10), "urn:meditrack:mrn", tally,
                              spool_dir=tmp_path):
                assert len(group.items) == 10
                groups += 1
            return tracemalloc.get_traced_memory()[1], groups
        finally:
            tracemalloc.stop()

    small, n_small = peak(50)
    large, n_large = peak(800)
    assert (n_small, n_large) == (50, 800)
    # 8,000 resources of ~0.6 kB: held in memory they would take tens of megabytes
    assert large < 3 * small + 1_000_000, (small, large)
    assert list(tmp_path.iterdir()) == []  # the spool is removed


def test_import_spool_is_private_and_removed(tmp_path):
    groups = plan(synthetic(3, 2), "urn:meditrack:mrn", Tally(), spool_dir=tmp_path)
    next(groups)
    (spool,) = tmp_path.iterdir()
    assert spool.name.startswith(".fhir-import-")
    assert stat.S_IMODE(spool.stat().st_mode) == 0o700
    groups.close()
    assert list(tmp_path.iterdir()) == []


def test_import_grouping_time_grows_linearly(tmp_path):
    import time

    def seconds(patients: int) -> float:
        start = time.perf_counter()
        for _ in plan(synthetic(patients, 2), "urn:meditrack:mrn", Tally(), spool_dir=tmp_path):
            pass
        return time.perf_counter() - start

    seconds(100)  # warm up
    small, large = seconds(500), seconds(2000)
    # 4x the patients: about 4x the time (reading a group by a scan of every patient's
    # names made it 16x: 10,000 patients took minutes)
    assert large < 8 * small + 0.2, (small, large)
