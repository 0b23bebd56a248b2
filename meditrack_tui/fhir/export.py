"""MediTrack records as FHIR R4 resources (plain dicts, ready for JSON).

Nothing here reads the store: :class:`PatientData` is what the FHIR service gathered
(policy-checked and audited); these functions only map it. References inside a Bundle
are ``urn:uuid:`` full URLs derived from the record ids (the shape Synthea writes), so
the same record always gets the same URL.
"""

from __future__ import annotations

import base64
import hashlib
import uuid
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from .. import reference
from . import codes

Resource = dict[str, Any]
_NAMESPACE = uuid.UUID("5d6f3c0e-2b8e-4f43-9c53-6d0a2f9e1b71")


@dataclass
class ReportFile:
    """A report's details with its content (None: exported by reference only)."""

    row: Mapping[str, Any]
    data: bytes | None = None
    #: where the file was written beside the Bundle (a folder export), relative to it
    url: str | None = None


@dataclass
class PatientData:
    """One patient's record as the FHIR service read it."""

    patient: Mapping[str, Any]
    readings: list[Mapping[str, Any]] = field(default_factory=list)
    prescriptions: list[Mapping[str, Any]] = field(default_factory=list)
    appointments: list[Mapping[str, Any]] = field(default_factory=list)
    reports: list[ReportFile] = field(default_factory=list)
    #: doctor user id -> (full name, username) for each doctor the record names
    #: user id -> (full name, username, whether the account is active)
    doctors: dict[str, tuple[str, str, bool]] = field(default_factory=dict)


def full_url(kind: str, record_id: str) -> str:
    """The Bundle full URL of a record (stable: derived from its type and id)."""
    return "urn:uuid:" + str(uuid.uuid5(_NAMESPACE, f"{kind}/{record_id}"))


def resource_id(kind: str, record_id: str) -> str:
    """The resource id of a record (the uuid of its full URL)."""
    return full_url(kind, record_id).removeprefix("urn:uuid:")


def fhir_datetime(value: datetime) -> str:
    """A stored (naive, local) time as a FHIR dateTime/instant with its UTC offset."""
    return value.astimezone().isoformat(timespec="seconds")


def _ref(kind: str, record_id: str, display: str | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {"reference": full_url(kind, record_id)}
    if display:
        out["display"] = display
    return out


def _concept(system: str, code: str, display: str, text: str | None = None) -> dict[str, Any]:
    return {"coding": [{"system": system, "code": code, "display": display}],
            "text": text or display}


def patient_resource(data: PatientData, mrn_system: str) -> Resource:
    p = data.patient
    res: Resource = {
        "resourceType": "Patient",
        "id": resource_id("Patient", p["id"]),
        "identifier": [{
            "use": "usual",
            "type": _concept(codes.IDENTIFIER_TYPE, "MR", "Medical record number"),
            "system": mrn_system, "value": p["mrn"]}],
        "active": not p.get("archived", False),
        "name": [{"use": "official", "family": p["last_name"], "given": [p["first_name"]]}],
    }
    telecom = []
    if p.get("phone"):
        telecom.append({"system": "phone", "value": p["phone"]})
    if p.get("email"):
        telecom.append({"system": "email", "value": p["email"]})
    if telecom:
        res["telecom"] = telecom
    if p.get("sex") in codes.GENDER:
        res["gender"] = codes.GENDER[p["sex"]]
    if p.get("dob"):
        res["birthDate"] = p["dob"]
    if p.get("address"):
        res["address"] = [{"text": p["address"]}]
    if p.get("primary_doctor_id"):
        res["generalPractitioner"] = [_ref("Practitioner", p["primary_doctor_id"],
                                           p.get("primary_doctor_name"))]
    elif p.get("primary_doctor_name"):  # imported from elsewhere: the doctor's name only
        res["generalPractitioner"] = [{"display": p["primary_doctor_name"]}]
    return res


def practitioner_resource(user_id: str, full_name: str, username: str,
                          mrn_system: str, active: bool = True) -> Resource:
    return {
        "resourceType": "Practitioner",
        "id": resource_id("Practitioner", user_id),
        "identifier": [{"system": mrn_system + codes.USERNAME_SUFFIX, "value": username}],
        "active": active,
        "name": [{"text": full_name}],
    }


def allergy_resource(p: Mapping[str, Any], allergy: str) -> Resource:
    return {
        "resourceType": "AllergyIntolerance",
        "id": resource_id("AllergyIntolerance", f"{p['id']}/{allergy.lower()}"),
        "clinicalStatus": _concept(codes.CLINICAL_STATUS_ALLERGY, "active", "Active"),
        "code": {"text": allergy},
        "patient": _ref("Patient", p["id"]),
    }


def condition_resource(p: Mapping[str, Any], condition: str) -> Resource:
    return {
        "resourceType": "Condition",
        "id": resource_id("Condition", f"{p['id']}/{condition.lower()}"),
        "clinicalStatus": _concept(codes.CLINICAL_STATUS_CONDITION, "active", "Active"),
        "code": {"text": condition},
        "subject": _ref("Patient", p["id"]),
    }


def interpretation(flag: reference.Flag) -> list[dict[str, Any]]:
    """A reference-range flag as an Observation.interpretation (N, L/LL, H/HH)."""
    if flag.level == 0:
        code, display = "N", "Normal"
    elif any(word in flag.label for word in ("low", "hypo")):
        code, display = ("LL", "Critical low") if flag.level >= 3 else ("L", "Low")
    else:
        code, display = ("HH", "Critical high") if flag.level >= 3 else ("H", "High")
    return [_concept(codes.INTERPRETATION, code, display, flag.label)]


def _quantity(value: float, unit: tuple[str, str]) -> dict[str, Any]:
    return {"value": value, "unit": unit[1], "system": codes.UCUM, "code": unit[0]}


def observation_resources(p: Mapping[str, Any], reading: Mapping[str, Any]
                          ) -> Iterator[Resource]:
    """One Observation per measurement in a reading (blood pressure as one panel)."""
    flags = {f.metric: f for f in reference.flags_for(reading)}
    base: Resource = {
        "resourceType": "Observation",
        "status": "final",
        "subject": _ref("Patient", p["id"]),
        "effectiveDateTime": fhir_datetime(reading["taken_at"]),
    }
    if reading.get("recorded_at"):
        base["issued"] = fhir_datetime(reading["recorded_at"])
    if reading.get("note"):
        base["note"] = [{"text": reading["note"]}]
    if reading.get("source") == "home":
        base["method"] = {"text": "home reading"}

    def obs(key: str, category: str, code: tuple[str, str]) -> Resource:
        out: Resource = {**base, "id": resource_id("Observation", f"{reading['id']}/{key}"),
                         "category": [_concept(codes.OBS_CATEGORY, category,
                                               category.replace("-", " ").title())],
                         "code": _concept(codes.LOINC, code[0], code[1])}
        return out

    if reading.get("systolic") is not None and reading.get("diastolic") is not None:
        res = obs("bp", "vital-signs", codes.BP_PANEL)
        res["component"] = [
            {"code": _concept(codes.LOINC, *codes.SYSTOLIC),
             "valueQuantity": _quantity(reading["systolic"], codes.MMHG)},
            {"code": _concept(codes.LOINC, *codes.DIASTOLIC),
             "valueQuantity": _quantity(reading["diastolic"], codes.MMHG)},
        ]
        if "blood_pressure" in flags:
            res["interpretation"] = interpretation(flags["blood_pressure"])
        yield res
    if reading.get("glucose_mg_dl") is not None:
        fasting = bool(reading.get("glucose_fasting"))
        res = obs("glucose", "laboratory", codes.GLUCOSE_FASTING if fasting else codes.GLUCOSE)
        res["valueQuantity"] = _quantity(reading["glucose_mg_dl"], codes.GLUCOSE_UNIT)
        if "glucose" in flags:
            res["interpretation"] = interpretation(flags["glucose"])
        yield res
    for name, (code, display, ucum, shown, category) in codes.SINGLE.items():
        if reading.get(name) is None:
            continue
        res = obs(name, category, (code, display))
        res["valueQuantity"] = _quantity(reading[name], (ucum, shown))
        if name in flags:
            res["interpretation"] = interpretation(flags[name])
        yield res


def medication_request_resource(p: Mapping[str, Any], rx: Mapping[str, Any]) -> Resource:
    dosage: dict[str, Any] = {"text": f"{rx['dose']} {rx['frequency']}".strip(),
                              "timing": {"code": {"text": rx["frequency"]}}}
    if rx.get("route"):
        dosage["route"] = {"text": rx["route"]}
    res: Resource = {
        "resourceType": "MedicationRequest",
        "id": resource_id("MedicationRequest", rx["id"]),
        "status": "active" if rx.get("status") == "active" else "stopped",
        "intent": "order",
        "medicationCodeableConcept": {"text": rx["drug"]},
        "subject": _ref("Patient", p["id"]),
        "dosageInstruction": [dosage],
    }
    if rx.get("start_date"):
        res["authoredOn"] = rx["start_date"]
    if rx.get("doctor_id"):
        res["requester"] = _ref("Practitioner", rx["doctor_id"], rx.get("doctor_name"))
    elif rx.get("doctor_name"):  # imported from elsewhere: the prescriber's name only
        res["requester"] = {"display": rx["doctor_name"]}
    if rx.get("status") != "active" and rx.get("stop_reason"):
        res["statusReason"] = {"text": rx["stop_reason"]}
    if rx.get("notes"):
        res["note"] = [{"text": rx["notes"]}]
    return res


def appointment_resource(p: Mapping[str, Any], appt: Mapping[str, Any]) -> Resource:
    status = codes.APPOINTMENT_STATUS.get(appt.get("status") or "", "booked")
    res: Resource = {
        "resourceType": "Appointment",
        "id": resource_id("Appointment", appt["id"]),
        "status": status,
        "description": appt.get("reason") or "",
        "start": fhir_datetime(appt["start"]),
        "end": fhir_datetime(appt["end"]),
        "minutesDuration": appt.get("duration_min"),
        "participant": [
            {"actor": _ref("Patient", p["id"]), "status": "accepted"},
        ],
    }
    if appt.get("doctor_id"):
        res["participant"].append({"actor": _ref("Practitioner", appt["doctor_id"],
                                                 appt.get("doctor_name")),
                                   "status": "accepted"})
    if appt.get("created_at"):
        res["created"] = fhir_datetime(appt["created_at"])
    return {k: v for k, v in res.items() if v not in (None, "")}


def document_reference_resource(p: Mapping[str, Any], report: ReportFile) -> Resource:
    row = report.row
    attachment: dict[str, Any] = {"contentType": row["content_type"], "title": row["filename"],
                                  "size": row["size"]}
    if report.data is not None:
        attachment["hash"] = base64.b64encode(hashlib.sha1(report.data).digest()).decode()
    if report.url is not None:
        attachment["url"] = report.url
    elif report.data is not None:
        attachment["data"] = base64.b64encode(report.data).decode()
    if row.get("uploaded_at"):
        attachment["creation"] = fhir_datetime(row["uploaded_at"])
    res: Resource = {
        "resourceType": "DocumentReference",
        "id": resource_id("DocumentReference", row["id"]),
        "status": "current",
        "type": {"text": row.get("kind") or "other"},
        "subject": _ref("Patient", p["id"]),
        "content": [{"attachment": attachment}],
    }
    if row.get("uploaded_at"):
        res["date"] = fhir_datetime(row["uploaded_at"])
    if row.get("note"):
        res["description"] = row["note"]
    return res


def patient_resources(data: PatientData, mrn_system: str) -> Iterator[Resource]:
    """Every resource of one patient's record, the Patient first."""
    p = data.patient
    yield patient_resource(data, mrn_system)
    for allergy in p.get("allergies") or []:
        yield allergy_resource(p, allergy)
    for condition in p.get("conditions") or []:
        yield condition_resource(p, condition)
    for reading in data.readings:
        yield from observation_resources(p, reading)
    for rx in data.prescriptions:
        yield medication_request_resource(p, rx)
    for appt in data.appointments:
        yield appointment_resource(p, appt)
    for report in data.reports:
        yield document_reference_resource(p, report)


def practitioners(data: PatientData, mrn_system: str) -> Iterator[Resource]:
    for user_id, (name, username, active) in sorted(data.doctors.items()):
        yield practitioner_resource(user_id, name, username, mrn_system, active)


def bundle(data: PatientData, mrn_system: str, *, now: datetime) -> Resource:
    """One patient's record as a Bundle of type collection."""
    resources = [*patient_resources(data, mrn_system), *practitioners(data, mrn_system)]
    return {
        "resourceType": "Bundle",
        "type": "collection",
        "timestamp": fhir_datetime(now),
        "entry": [{"fullUrl": "urn:uuid:" + r["id"], "resource": r} for r in resources],
    }

