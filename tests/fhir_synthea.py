"""Bundles in the shape Synthea writes (transaction Bundles, urn:uuid full URLs, SNOMED
and RxNorm codes, encounters, years of vitals), generated here instead of shipped."""

from __future__ import annotations

import random
import uuid
from datetime import datetime, timedelta
from typing import Any

LOINC = "http://loinc.org"
UCUM = "http://unitsofmeasure.org"
SNOMED = "http://snomed.info/sct"
RXNORM = "http://www.nlm.nih.gov/research/umls/rxnorm"
SYNTHEA_ID = "https://github.com/synthetichealth/synthea"


def _obs(rng: random.Random, pid: str, when: datetime, code: str, display: str,
         value: float, unit: str) -> dict[str, Any]:
    return {"resourceType": "Observation", "id": str(uuid.UUID(int=rng.getrandbits(128))),
            "status": "final",
            "category": [{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/"
                                                "observation-category",
                                      "code": "vital-signs"}]}],
            "code": {"coding": [{"system": LOINC, "code": code, "display": display}],
                     "text": display},
            "subject": {"reference": f"urn:uuid:{pid}"},
            "effectiveDateTime": when.strftime("%Y-%m-%dT%H:%M:%S-05:00"),
            "valueQuantity": {"value": value, "unit": unit, "system": UCUM, "code": unit}}


def patient_bundle(seed: int, *, years: int = 3) -> dict[str, Any]:
    """One Synthea-like patient: identifiers, conditions (one resolved), an allergy,
    medications (one stopped), encounters, and quarterly vitals over ``years``."""
    rng = random.Random(seed)
    pid = str(uuid.UUID(int=rng.getrandbits(128)))
    family = rng.choice(["Kuhn", "Osinski", "Mraz", "Bechtelar", "Lowe"]) + str(seed)
    resources: list[dict[str, Any]] = [{
        "resourceType": "Patient", "id": pid,
        "identifier": [{"system": SYNTHEA_ID, "value": pid},
                       {"type": {"coding": [{"code": "MR"}]},
                        "system": "http://hospital.smarthealthit.org", "value": pid}],
        "name": [{"use": "official", "family": family, "given": ["Ana" + str(seed)],
                  "prefix": ["Mrs."]}],
        "telecom": [{"system": "phone", "value": "555-010-" + f"{seed % 10000:04d}"}],
        "gender": "female", "birthDate": f"{1950 + seed % 40}-0{1 + seed % 9}-15",
        "address": [{"line": [f"{seed} Main St"], "city": "Boston", "state": "MA",
                     "postalCode": "02101"}]}]

    def add(res: dict[str, Any]) -> None:
        res.setdefault("id", str(uuid.UUID(int=rng.getrandbits(128))))
        resources.append(res)

    subject = {"reference": f"urn:uuid:{pid}"}
    add({"resourceType": "Condition",
         "clinicalStatus": {"coding": [{"code": "active"}]},
         "code": {"coding": [{"system": SNOMED, "code": "44054006",
                              "display": "Diabetes mellitus type 2 (disorder)"}]},
         "subject": subject})
    add({"resourceType": "Condition",
         "clinicalStatus": {"coding": [{"code": "resolved"}]},
         "code": {"coding": [{"system": SNOMED, "code": "444814009",
                              "display": "Viral sinusitis (disorder)"}]},
         "subject": subject})
    add({"resourceType": "AllergyIntolerance",
         "clinicalStatus": {"coding": [{"code": "active"}]},
         "code": {"coding": [{"system": SNOMED, "code": "300916003",
                              "display": "Latex allergy"}]},
         "patient": subject})
    add({"resourceType": "MedicationRequest", "status": "active", "intent": "order",
         "medicationCodeableConcept": {"coding": [{"system": RXNORM, "code": "860975",
                                                   "display": "24 HR Metformin 500 MG"}]},
         "subject": subject, "authoredOn": "2025-06-01T10:00:00-05:00",
         "dosageInstruction": [{"text": "1 tablet once daily",
                                "timing": {"code": {"text": "once daily"}}}]})
    add({"resourceType": "MedicationRequest", "status": "stopped", "intent": "order",
         "medicationCodeableConcept": {"text": "Amoxicillin 250 MG"},
         "subject": subject, "authoredOn": "2024-02-01"})
    start = datetime(2026, 2, 1, 9, 30) - timedelta(days=365 * years)
    for q in range(years * 4):
        when = start + timedelta(days=91 * q)
        add({"resourceType": "Encounter", "status": "finished", "subject": subject,
             "class": {"code": "AMB"}})
        bp = _obs(rng, pid, when, "55284-4", "Blood pressure", 0, "mm[Hg]")
        del bp["valueQuantity"]
        bp["component"] = [
            {"code": {"coding": [{"system": LOINC, "code": "8480-6"}]},
             "valueQuantity": {"value": rng.randint(105, 150), "unit": "mm[Hg]",
                               "system": UCUM, "code": "mm[Hg]"}},
            {"code": {"coding": [{"system": LOINC, "code": "8462-4"}]},
             "valueQuantity": {"value": rng.randint(65, 95), "unit": "mm[Hg]",
                               "system": UCUM, "code": "mm[Hg]"}}]
        add(bp)
        add(_obs(rng, pid, when, "8867-4", "Heart rate", rng.randint(55, 95), "/min"))
        add(_obs(rng, pid, when, "29463-7", "Body Weight", round(rng.uniform(60, 90), 1),
                 "kg"))
        add(_obs(rng, pid, when, "2339-0", "Glucose", rng.randint(80, 160), "mg/dL"))
        add(_obs(rng, pid, when, "2093-3", "Total Cholesterol", rng.randint(150, 240),
                 "mg/dL"))
    return {"resourceType": "Bundle", "type": "transaction",
            "entry": [{"fullUrl": f"urn:uuid:{r['id']}", "resource": r,
                       "request": {"method": "POST", "url": r["resourceType"]}}
                      for r in resources]}
