"""Prescriptions: allergy checks by drug and by class, audited override, update, stop, lists."""

from __future__ import annotations

import json

import pytest

from meditrack_tui.drugs import allergy_conflict, classes_of
from meditrack_tui.errors import AllergyConflict, Conflict, PermissionDenied, ValidationError
from meditrack_tui.seed import sample_data_dir
from tests.peek import Peek

RX = {"dose": "500 mg", "frequency": "three times daily"}


def pid(s, mrn: str) -> str:
    return Peek(s.store).patient_id(mrn)


def refused_count(s) -> int:
    return Peek(s.store).count("audit", action="prescription.allergy-refused",
                               outcome="denied")


@pytest.fixture
def sulfa_patient(s, who) -> str:
    return s.patients.create(who["demo.doctor"], {"first_name": "Sol", "last_name": "Fa",
                                                  "dob": "1970-01-01", "sex": "M",
                                                  "allergies": ["Sulfa"]})["id"]


@pytest.mark.parametrize("mrn,allergy,drug", [
    ("MRN-000001", "penicillin", "Amoxicillin"),              # class: penicillins
    ("MRN-000001", "penicillin", "amoxicillin-clavulanate"),  # a combination naming a member
    ("MRN-000001", "penicillin", "Penicillin V"),             # the allergen itself
    ("MRN-000003", "sulfamethoxazole", "Sulfamethoxazole"),   # by drug name
    ("MRN-000016", "aspirin", "Ibuprofen"),                   # NSAIDs include aspirin
    ("MRN-000016", "aspirin", "naproxen"),
    ("MRN-000001", "penicillin", "Augmentin"),                # a brand of a member
    ("MRN-000016", "aspirin", "Advil"),
])
def test_allergy_refusal(s, who, mrn, allergy, drug):
    patient_id = pid(s, mrn)
    before = refused_count(s)
    with pytest.raises(AllergyConflict) as info:
        s.prescriptions.add(who["demo.doctor"], patient_id, dict(RX, drug=drug))
    assert info.value.allergy == allergy and info.value.drug == drug
    assert allergy in info.value.message and "override" in info.value.message
    assert refused_count(s) == before + 1
    assert [rx for rx in s.store.prescriptions.for_patient(patient_id)
            if rx["drug"] == drug] == []


@pytest.mark.parametrize("drug", ["Sulfamethoxazole", "trimethoprim-sulfamethoxazole",
                                  "Sulfasalazine", "Bactrim DS"])
def test_sulfa_allergy_blocks_sulfonamides(s, who, sulfa_patient, drug):
    with pytest.raises(AllergyConflict, match="Sulfonamide antibiotics"):
        s.prescriptions.add(who["demo.doctor"], sulfa_patient, dict(RX, drug=drug))


@pytest.mark.parametrize("mrn,drug", [("MRN-000001", "Metformin"), ("MRN-000016", "Paracetamol"),
                                      ("MRN-000001", "Azithromycin")])
def test_unrelated_drugs_are_prescribed(s, who, mrn, drug):
    rx = s.prescriptions.add(who["demo.doctor"], pid(s, mrn), dict(RX, drug=drug))
    assert rx["status"] == "active" and rx["allergy_override"] is None
    assert rx["doctor_name"] == "Dr. Maya Hartwell" and rx["start_date"] == "2026-03-04"


def test_drug_classes_table():
    assert "penicillins" in classes_of("amoxicillin")
    assert "nsaids" in classes_of("aspirin") and "nsaids" in classes_of("NSAIDs")
    assert allergy_conflict("Ibuprofen", ["latex", "Aspirin"])[0] == "Aspirin"
    assert allergy_conflict("Metformin", ["penicillin", "aspirin", "sulfa"]) is None


def test_override_with_reason_is_allowed_and_audited(s, who):
    p01 = pid(s, "MRN-000001")
    doctor = who["demo.doctor"]
    with pytest.raises(ValidationError) as info:
        s.prescriptions.add(doctor, p01, dict(RX, drug="Amoxicillin"), override_reason="ok")
    assert "override_reason" in info.value.fields
    rx = s.prescriptions.add(doctor, p01, dict(RX, drug="Amoxicillin"),
                             override_reason="Tolerated a full course in 2024 without reaction")
    override = rx["allergy_override"]
    assert override["allergy"] == "penicillin" and override["by"] == "demo.doctor"
    assert override["reason"].startswith("Tolerated")
    entry = Peek(s.store).one("audit", action="prescription.allergy-override")
    assert entry["username"] == "demo.doctor" and entry["outcome"] == "ok"
    assert entry["record_id"] == rx["id"] and entry["patient_id"] == p01
    assert "Tolerated a full course" in entry["detail"]
    assert Peek(s.store).count("audit", action="prescription.add", record_id=rx["id"]) == 1


def test_update_with_version_check(s, who):
    p02 = pid(s, "MRN-000002")
    doctor, other = who["demo.doctor"], who["dr.okafor"]
    rx = s.prescriptions.add(doctor, p02, dict(RX, drug="Metformin"))
    changed = s.prescriptions.update(doctor, rx["id"], {"dose": "1000 mg"}, version=1)
    assert changed["dose"] == "1000 mg" and changed["version"] == 2
    with pytest.raises(Conflict) as info:
        s.prescriptions.update(other, rx["id"], {"frequency": "once daily"}, version=1)
    assert info.value.changed_by == "demo.doctor"
    assert "demo.doctor changed this prescription" in info.value.message
    with pytest.raises(ValidationError):
        s.prescriptions.update(doctor, rx["id"], {"route": "by carrier pigeon"}, version=2)
    with pytest.raises(ValidationError):
        s.prescriptions.update(doctor, rx["id"], {}, version=2)


def test_update_to_an_allergen_is_checked(s, who):
    p01 = pid(s, "MRN-000001")
    doctor = who["demo.doctor"]
    rx = s.prescriptions.add(doctor, p01, dict(RX, drug="Azithromycin"))
    with pytest.raises(AllergyConflict):
        s.prescriptions.update(doctor, rx["id"], {"drug": "Ampicillin"}, version=1)
    stored = {r["id"]: r for r in s.prescriptions.list(doctor, p01)}[rx["id"]]
    assert stored["drug"] == "Azithromycin" and stored["version"] == 1
    overridden = s.prescriptions.update(doctor, rx["id"], {"drug": "Ampicillin"}, version=1,
                                        override_reason="Desensitised by allergy clinic")
    assert overridden["allergy_override"]["allergy"] == "penicillin"


def test_stop(s, who):
    p02 = pid(s, "MRN-000002")
    doctor = who["demo.doctor"]
    rx = s.prescriptions.add(doctor, p02, dict(RX, drug="Metformin"))
    with pytest.raises(ValidationError):
        s.prescriptions.stop(doctor, rx["id"], "  ", version=1)
    stopped = s.prescriptions.stop(doctor, rx["id"], "Side effects", version=1)
    assert stopped["status"] == "stopped" and stopped["stop_reason"] == "Side effects"
    assert stopped["stopped_at"] is not None
    with pytest.raises(Conflict, match="already stopped"):
        s.prescriptions.stop(doctor, rx["id"], "Again", version=2)
    with pytest.raises(Conflict, match="cannot be changed"):
        s.prescriptions.update(doctor, rx["id"], {"dose": "1 g"}, version=2)


def test_list_active_and_all(s, who):
    data = json.loads((sample_data_dir() / "demo.json").read_text("utf-8"))
    mine = [r for r in data["prescriptions"] if r["patient"] == "p01"]
    active = [r for r in mine if r.get("stopped_days_ago") is None]
    assert len(mine) > len(active) > 0
    patient = who["demo.patient"]
    everything = s.prescriptions.list(patient, patient.patient_id)
    assert len(everything) == len(mine)
    statuses = [r["status"] for r in everything]
    assert statuses == sorted(statuses, key=lambda st: st != "active")  # active first
    only_active = s.prescriptions.list(patient, patient.patient_id, active_only=True)
    assert len(only_active) == len(active)
    assert {r["status"] for r in only_active} == {"active"}
    assert s.prescriptions.list(who["demo.admin"], patient.patient_id) == everything


def test_patient_and_admin_cannot_write(s, who):
    patient = who["demo.patient"]
    doctor = who["demo.doctor"]
    rx = s.prescriptions.add(doctor, patient.patient_id, dict(RX, drug="Metformin"))
    for name in ("demo.patient", "demo.admin"):
        session = who[name]
        with pytest.raises(PermissionDenied):
            s.prescriptions.add(session, patient.patient_id, dict(RX, drug="Metformin"))
        with pytest.raises(PermissionDenied):
            s.prescriptions.update(session, rx["id"], {"dose": "1 g"}, version=1)
        with pytest.raises(PermissionDenied):
            s.prescriptions.stop(session, rx["id"], "No", version=1)
    assert Peek(s.store).count("audit", action="prescription.write", outcome="denied") == 6
    stored = s.store.prescriptions.get(rx["id"])
    assert stored["version"] == 1 and stored["status"] == "active"
    assert [r["id"] for r in s.store.prescriptions.for_patient(patient.patient_id)
            if r["drug"] == "Metformin"] == [rx["id"]]
