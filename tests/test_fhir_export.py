"""FHIR R4 export: one patient's record as a Bundle (issue 14), validated with the R4
models of fhir.resources; read through the FHIR service (policy-checked, audited)."""

from __future__ import annotations

import base64
import hashlib
import json
from pathlib import Path
from typing import Any

import pytest

from meditrack_tui.cli import main
from meditrack_tui.errors import NotFound, PermissionDenied
from meditrack_tui.fhir.export import bundle
from tests.conftest import FIXED_NOW, make_config
from tests.fhir_check import validate, validate_bundle
from tests.peek import Peek


def export(s: Any, session: Any, mrn: str = "MRN-000001") -> dict[str, Any]:
    data = s.fhir.export_patient(session, mrn)
    return bundle(data, s.config.mrn_system, now=FIXED_NOW)


def resources(b: dict[str, Any], kind: str) -> list[dict[str, Any]]:
    return [e["resource"] for e in b["entry"] if e["resource"]["resourceType"] == kind]


def loinc(res: dict[str, Any]) -> str:
    return res["code"]["coding"][0]["code"]


def test_every_exported_resource_validates_as_r4(s, who):
    b = export(s, who["demo.admin"])
    assert b["type"] == "collection"
    assert validate_bundle(b) > 50
    kinds = {e["resource"]["resourceType"] for e in b["entry"]}
    assert kinds == {"Patient", "AllergyIntolerance", "Condition", "Observation",
                     "MedicationRequest", "Appointment", "DocumentReference", "Practitioner"}
    urls = [e["fullUrl"] for e in b["entry"]]
    assert len(set(urls)) == len(urls)
    # every reference points at an entry of the Bundle
    text = json.dumps(b)
    for entry in b["entry"]:
        ref = entry["fullUrl"]
        assert ref.startswith("urn:uuid:")
    for ref in {part.split('"')[0] for part in text.split('"reference": "')[1:]}:
        assert ref in urls


def test_patient_carries_the_mrn_under_the_clinics_system(s, who, demo_dir):
    s.config.mrn_system = "https://clinic.example.org/mrn"
    b = export(s, who["demo.admin"])
    (patient,) = resources(b, "Patient")
    ident = patient["identifier"][0]
    assert (ident["system"], ident["value"]) == ("https://clinic.example.org/mrn",
                                                 "MRN-000001")
    assert ident["type"]["coding"][0]["code"] == "MR"
    record = Peek(s.store).one("patients", mrn="MRN-000001")
    assert patient["name"][0]["family"] == record["last_name"]
    assert patient["birthDate"] == record["dob"]
    assert patient["generalPractitioner"][0]["reference"] in {
        "urn:uuid:" + p["id"] for p in resources(b, "Practitioner")}


def test_mrn_system_comes_from_the_environment(tmp_path):
    from meditrack_tui.config import Config

    cfg = Config.from_env({"MEDITRACK_FHIR_MRN_SYSTEM": "urn:oid:1.2.840.99.1"},
                          data_dir=tmp_path)
    assert cfg.mrn_system == "urn:oid:1.2.840.99.1"
    assert Config.from_env({}, data_dir=tmp_path).mrn_system == "urn:meditrack:mrn"
    with pytest.raises(ValueError, match="must be a URI"):
        Config.from_env({"MEDITRACK_FHIR_MRN_SYSTEM": "our clinic"}, data_dir=tmp_path)


def test_vitals_use_loinc_codes_ucum_units_and_interpretations(s, who):
    pid = Peek(s.store).patient_id("MRN-000003")
    doctor = who["demo.doctor"]
    s.vitals.add(doctor, pid, {"systolic": 162, "diastolic": 100, "heart_rate": 72,
                               "glucose_mg_dl": 131, "glucose_fasting": True,
                               "weight_kg": 81.5, "temperature_c": 35.0, "spo2": 97,
                               "taken_at": "2026-03-04 09:00"})
    s.vitals.add(doctor, pid, {"glucose_mg_dl": 95, "taken_at": "2026-03-04 09:30"})
    b = export(s, who["demo.admin"], "MRN-000003")
    obs = [o for o in resources(b, "Observation")
           if o["effectiveDateTime"].startswith("2026-03-04T09:")]
    by_code = {loinc(o): o for o in obs}
    assert set(by_code) == {"85354-9", "8867-4", "1558-6", "2339-0", "29463-7", "8310-5",
                            "59408-5"}
    bp = by_code["85354-9"]
    assert [(c["code"]["coding"][0]["code"], c["valueQuantity"]["value"],
             c["valueQuantity"]["code"]) for c in bp["component"]] == [
        ("8480-6", 162, "mm[Hg]"), ("8462-4", 100, "mm[Hg]")]
    assert "valueQuantity" not in bp
    units = {code: o["valueQuantity"]["code"] for code, o in by_code.items() if code != "85354-9"}
    assert units == {"8867-4": "/min", "1558-6": "mg/dL", "2339-0": "mg/dL", "29463-7": "kg",
                     "8310-5": "Cel", "59408-5": "%"}
    assert all(o["valueQuantity"]["system"] == "http://unitsofmeasure.org"
               for code, o in by_code.items() if code != "85354-9")
    interp = {code: o["interpretation"][0]["coding"][0]["code"]
              for code, o in by_code.items() if "interpretation" in o}
    # from meditrack_tui.reference: stage 2 (H), fasting 131 diabetes range (H), 35.0 C
    # hypothermia (LL), normal heart rate, SpO2 and random glucose (N); weight has no range
    assert interp == {"85354-9": "H", "1558-6": "H", "8310-5": "LL", "8867-4": "N",
                      "59408-5": "N", "2339-0": "N"}
    assert by_code["85354-9"]["interpretation"][0]["text"] == "stage 2 hypertension"
    for o in obs:
        validate(o)


def test_medication_requests_active_and_stopped_with_reason(s, who):
    pid = Peek(s.store).patient_id("MRN-000002")
    doctor = who["demo.doctor"]
    rx = s.prescriptions.add(doctor, pid, {"drug": "Atorvastatin", "dose": "20 mg",
                                           "frequency": "once daily", "route": "oral"})
    s.prescriptions.stop(doctor, rx["id"], "muscle pain", version=rx["version"])
    b = export(s, who["demo.admin"], "MRN-000002")
    requests = resources(b, "MedicationRequest")
    stopped = [r for r in requests if r["medicationCodeableConcept"]["text"] == "Atorvastatin"]
    assert stopped and stopped[0]["status"] == "stopped"
    assert stopped[0]["statusReason"]["text"] == "muscle pain"
    assert stopped[0]["dosageInstruction"][0]["route"]["text"] == "oral"
    assert any(r["status"] == "active" for r in requests)
    assert all(r["intent"] == "order" for r in requests)


def test_reports_are_attachments_with_their_sha1_hash(s, who):
    b = export(s, who["demo.admin"])
    docs = resources(b, "DocumentReference")
    assert docs
    for doc in docs:
        att = doc["content"][0]["attachment"]
        data = base64.b64decode(att["data"])
        assert att["hash"] == base64.b64encode(hashlib.sha1(data).digest()).decode()
        assert att["size"] == len(data)


def test_appointments_and_practitioners(s, who):
    b = export(s, who["demo.admin"])
    appts = resources(b, "Appointment")
    assert appts and {a["status"] for a in appts} <= {"booked", "arrived", "fulfilled",
                                                      "cancelled", "noshow"}
    doctor_urls = {"urn:uuid:" + p["id"] for p in resources(b, "Practitioner")}
    for appt in appts:
        actors = [p["actor"]["reference"] for p in appt["participant"]]
        assert any(a in doctor_urls for a in actors)
    (prac,) = resources(b, "Practitioner")
    assert prac["identifier"][0]["value"] == "demo.doctor"


def test_export_is_one_audited_read_and_follows_the_policy(s, who):
    peek = Peek(s.store)
    pid = peek.patient_id("MRN-000001")
    before = peek.count("audit", action="fhir.export")
    export(s, who["demo.doctor"])
    entries = peek.find("audit", action="fhir.export")
    assert len(entries) == before + 1
    assert entries[-1]["patient_id"] == pid and entries[-1]["username"] == "demo.doctor"
    # a patient may export their own record, not another's (denied and audited)
    own = who["demo.patient"]
    mine = Peek(s.store).one("patients", id=own.patient_id)
    assert export(s, own, mine["mrn"])["entry"]
    other = "MRN-000002" if mine["mrn"] != "MRN-000002" else "MRN-000003"
    with pytest.raises(PermissionDenied):
        export(s, own, other)
    assert peek.find("audit", action="fhir.export", outcome="denied")[-1]["username"] == \
        "demo.patient"
    with pytest.raises(NotFound, match="MRN-000999"):
        export(s, who["demo.admin"], "MRN-000999")


def test_cli_export_writes_a_new_file_as_the_server_shell(demo_dir, tmp_path, capsys):
    out = tmp_path / "p1.json"
    args = ["export", "fhir", "--data-dir", str(demo_dir), "--patient", "MRN-000001",
            str(out)]
    assert main(args) == 0
    b = json.loads(out.read_text())
    assert validate_bundle(b) > 50
    assert "Patient" in capsys.readouterr().out
    # never overwrites
    before = out.read_bytes()
    assert main(args) == 1
    assert "already exists" in capsys.readouterr().err
    assert out.read_bytes() == before
    # audited: the shell session, the export under its name, then its logout
    from meditrack_tui.store import connect

    store = connect(make_config(demo_dir))
    try:
        peek = Peek(store)
        shell = peek.find("audit", action="session.shell")
        assert len(shell) == 1 and shell[0]["username"].startswith("shell:")
        assert "export fhir --patient MRN-000001" in shell[0]["detail"]
        exported = peek.find("audit", action="fhir.export")
        assert exported[-1]["username"] == shell[0]["username"]
        assert exported[-1]["role"] == "admin"
        assert peek.find("audit", action="logout")[-1]["username"] == shell[0]["username"]
    finally:
        store.close()


def test_cli_export_unknown_patient_is_a_sentence(demo_dir, tmp_path, capsys):
    code = main(["export", "fhir", "--data-dir", str(demo_dir), "--patient", "MRN-000999",
                 str(tmp_path / "x.json")])
    assert code == 1
    err = capsys.readouterr().err
    assert "No patient record has the MRN MRN-000999" in err and "Traceback" not in err
    assert not (tmp_path / "x.json").exists()


def test_cli_export_with_files_beside_refers_to_them(demo_dir, tmp_path):
    out = tmp_path / "p1.json"
    assert main(["export", "fhir", "--data-dir", str(demo_dir), "--patient", "MRN-000001",
                 "--files-beside", str(out)]) == 0
    b = json.loads(out.read_text())
    validate_bundle(b)
    docs = resources(b, "DocumentReference")
    assert docs
    for doc in docs:
        att = doc["content"][0]["attachment"]
        assert "data" not in att
        from urllib.parse import unquote, urlparse

        url = urlparse(att["url"])
        assert url.scheme == "file"
        written = Path(unquote(url.path))
        assert written.parent == tmp_path / "p1-files"
        data = written.read_bytes()
        assert att["hash"] == base64.b64encode(hashlib.sha1(data).digest()).decode()


def test_an_inactive_doctor_is_exported_as_an_inactive_practitioner(s, who):
    """The Practitioner said ``active: true`` for every doctor, deactivated ones too."""
    from meditrack_tui.fhir.export import bundle
    from tests.conftest import FIXED_NOW

    def practitioners() -> dict[str, bool]:
        b = bundle(s.fhir.export_patient(who["demo.admin"], "MRN-000001"),
                   s.config.mrn_system, now=FIXED_NOW)
        return {r["identifier"][0]["value"]: r["active"] for r in
                (e["resource"] for e in b["entry"])
                if r["resourceType"] == "Practitioner"}

    before = practitioners()
    assert before and all(before.values())
    doctor = next(u for u in s.users.list(who["demo.admin"], role="doctor").items
                  if u["username"] in before)
    s.users.deactivate(who["demo.admin"], doctor["id"])
    after = practitioners()
    assert after[doctor["username"]] is False
    assert all(v for k, v in after.items() if k != doctor["username"])
