"""One FHIR R4 resource mapped to what MediTrack keeps. The ``to_*`` functions raise
:class:`Skip` for what MediTrack does not keep and :class:`Invalid` for a malformed
resource. Coded concepts MediTrack keeps as words (allergies, conditions, drugs) keep their
text or display, whatever code system they came with."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from . import codes


class Skip(Exception):
    """A resource MediTrack does not keep (the reason goes in the summary)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class Invalid(Exception):
    """A malformed resource: refused with a message, the rest imports."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message



def reference(value: Any) -> str | None:
    if isinstance(value, dict) and isinstance(value.get("reference"), str):
        return str(value["reference"])
    return None


def subject_of(res: Mapping[str, Any]) -> str | None:
    """The reference to the patient a resource is about."""
    for key in ("subject", "patient"):
        found = reference(res.get(key))
        if found:
            return found
    # an Appointment's participants: a Patient/ reference or an actor typed Patient, else
    # the first urn:uuid (a Bundle's; MediTrack's export names the patient first)
    actors = [p["actor"] for p in res.get("participant") or []
              if isinstance(p, dict) and isinstance(p.get("actor"), dict)]
    found_refs = [(reference(a), a) for a in actors if reference(a)]
    for found, actor in found_refs:
        if "Patient/" in str(found) or actor.get("type") == "Patient":
            return found
    for found, actor in found_refs:
        if str(found).startswith("urn:uuid:") and actor.get("type") in (None, "Patient"):
            return found
    return None


def words(concept: Any) -> str | None:
    """A CodeableConcept as words: its text, else its first coding's display, else code."""
    if not isinstance(concept, dict):
        return None
    if isinstance(concept.get("text"), str) and concept["text"].strip():
        return str(concept["text"]).strip()
    for coding in concept.get("coding") or []:
        if isinstance(coding, dict):
            for key in ("display", "code"):
                if isinstance(coding.get(key), str) and coding[key].strip():
                    return str(coding[key]).strip()
    return None


def local_time(value: Any, what: str) -> datetime:
    """A FHIR dateTime/instant as MediTrack keeps times (naive local, whole seconds)."""
    if not isinstance(value, str):
        raise Invalid(f"{what} is missing")
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise Invalid(f"{what} {value!r} is not a date and time") from None
    if moment.tzinfo is not None:
        moment = moment.astimezone().replace(tzinfo=None)
    return moment.replace(microsecond=0)


# --- one resource each ---

@dataclass
class PatientIn:
    fields: dict[str, Any]
    mrn: str | None
    identifiers: list[dict[str, str]] = field(default_factory=list)
    #: the primary doctor's name (doctors are not imported; the name is kept)
    doctor_name: str | None = None


def to_patient(res: Mapping[str, Any], mrn_system: str) -> PatientIn:
    idents = [{"system": str(i.get("system") or ""), "value": str(i["value"])}
              for i in res.get("identifier") or []
              if isinstance(i, dict) and isinstance(i.get("value"), str) and i["value"].strip()]
    if not idents:
        raise Invalid("a Patient without an identifier cannot be matched or kept")
    names = [n for n in res.get("name") or [] if isinstance(n, dict)]
    name = next((n for n in names if n.get("use") == "official"), names[0] if names else {})
    given = [g for g in name.get("given") or [] if isinstance(g, str)]
    fields: dict[str, Any] = {"first_name": given[0] if given else None,
                              "last_name": name.get("family")}
    if res.get("birthDate"):
        fields["dob"] = str(res["birthDate"])[:10]
    gender = codes.GENDER_BACK.get(str(res.get("gender") or ""))
    if gender:
        fields["sex"] = gender
    for telecom in res.get("telecom") or []:
        if isinstance(telecom, dict) and telecom.get("system") in ("phone", "email"):
            fields.setdefault(telecom["system"], telecom.get("value"))
    for address in res.get("address") or []:
        if isinstance(address, dict):
            text = address.get("text") or ", ".join(
                str(p) for p in [*(address.get("line") or []), address.get("city"),
                                 address.get("state"), address.get("postalCode")] if p)
            if text:
                fields["address"] = text
                break
    doctor = next((g.get("display") for g in res.get("generalPractitioner") or []
                   if isinstance(g, dict) and isinstance(g.get("display"), str)), None)
    mrn = next((i["value"] for i in idents if i["system"] == mrn_system), None)
    others = [i for i in idents if i["system"] != mrn_system]
    return PatientIn(fields, mrn, others, doctor[:100] if doctor else None)


def to_allergy(res: Mapping[str, Any]) -> str:
    _active(res, "AllergyIntolerance")
    text = words(res.get("code"))
    if not text:
        raise Invalid("an AllergyIntolerance without a code or text")
    return text[:100]


def to_condition(res: Mapping[str, Any]) -> str:
    _active(res, "Condition")
    text = words(res.get("code"))
    if not text:
        raise Invalid("a Condition without a code or text")
    return text[:100]


def _active(res: Mapping[str, Any], kind: str) -> None:
    status = res.get("clinicalStatus")
    if status is None:
        return
    code = next((c.get("code") for c in status.get("coding") or [] if isinstance(c, dict)),
                None) if isinstance(status, dict) else None
    if code not in (None, "active", "recurrence", "relapse"):
        raise Skip(f"not active ({code})")


_BY_CODE: dict[str, str] = {**codes.ALIASES, codes.GLUCOSE[0]: "glucose_mg_dl",
                            codes.GLUCOSE_FASTING[0]: "glucose_mg_dl"}
_BP_PANELS = (codes.BP_PANEL[0], "55284-4")  # 55284-4: Synthea's "Blood pressure" panel


def _loinc(concept: Any) -> list[str]:
    if not isinstance(concept, dict):
        return []
    return [str(c.get("code")) for c in concept.get("coding") or []
            if isinstance(c, dict) and c.get("system") == codes.LOINC]


def _value(metric: str, quantity: Any) -> float:
    if not isinstance(quantity, dict) or not isinstance(quantity.get("value"), (int, float)):
        raise Invalid(f"no numeric value for {metric}")
    unit = quantity.get("code") or quantity.get("unit")
    table = codes.UNIT_CONVERSIONS[metric]
    if unit not in table:
        raise Skip(f"unit {unit!r} for {metric} not converted")
    factor, offset = table[str(unit)]
    return float(quantity["value"]) * factor + offset


@dataclass
class ReadingIn:
    taken_at: datetime
    values: dict[str, Any]
    note: str | None = None
    source: str = "clinic"


def to_reading(res: Mapping[str, Any]) -> ReadingIn:
    """An Observation MediTrack keeps as (part of) a vitals reading."""
    if res.get("status") in ("entered-in-error", "cancelled"):
        raise Skip(f"status {res.get('status')}")
    found = _loinc(res.get("code"))
    values: dict[str, Any] = {}
    if any(c in _BP_PANELS for c in found):
        for component in res.get("component") or []:
            comp = _loinc(component.get("code") if isinstance(component, dict) else None)
            if codes.SYSTOLIC[0] in comp:
                values["systolic"] = round(_value("systolic", component.get("valueQuantity")))
            elif codes.DIASTOLIC[0] in comp:
                values["diastolic"] = round(_value("diastolic",
                                                   component.get("valueQuantity")))
        if set(values) != {"systolic", "diastolic"}:
            raise Invalid("a blood pressure panel without both systolic and diastolic")
    else:
        metric = next((_BY_CODE[c] for c in found if c in _BY_CODE), None)
        if metric is None:
            raise Skip("a code MediTrack does not keep as vitals: "
                       + (words(res.get("code")) or "no code"))
        number = _value(metric, res.get("valueQuantity"))
        values[metric] = round(number) if metric in ("heart_rate", "spo2") else round(number, 2)
        if metric == "glucose_mg_dl":
            values["glucose_fasting"] = codes.GLUCOSE_FASTING[0] in found
    taken = local_time(res.get("effectiveDateTime") or
                       (res.get("effectivePeriod") or {}).get("start"), "the time taken")
    notes = [n.get("text") for n in res.get("note") or [] if isinstance(n, dict)]
    method = words(res.get("method")) or ""
    return ReadingIn(taken, values, "; ".join(n for n in notes if n) or None,
                     "home" if method == "home reading" else "clinic")


def to_prescription(res: Mapping[str, Any]) -> dict[str, Any]:
    drug = words(res.get("medicationCodeableConcept"))
    if not drug:
        display = (res.get("medicationReference") or {}).get("display")
        drug = display if isinstance(display, str) else None
    if not drug:
        raise Invalid("a MedicationRequest without a medication")
    status = res.get("status")
    if status in ("draft", "entered-in-error", "unknown"):
        raise Skip(f"status {status}")
    dosage = next((d for d in res.get("dosageInstruction") or [] if isinstance(d, dict)), {})
    frequency = words((dosage.get("timing") or {}).get("code")) or ""
    text = str(dosage.get("text") or "")
    dose = text[: -len(frequency)].strip() if frequency and text.endswith(frequency) else text
    route = words(dosage.get("route"))
    out: dict[str, Any] = {
        "drug": drug[:100], "dose": (dose or "as directed")[:60],
        "frequency": (frequency or "as directed")[:80],
        "route": route if route else "oral",
        "status": "active" if status in ("active", "on-hold") else "stopped",
        "start_date": str(res["authoredOn"])[:10] if res.get("authoredOn") else None,
        "notes": "; ".join(str(n["text"]) for n in res.get("note") or []
                           if isinstance(n, dict) and n.get("text")) or None,
        "doctor_name": (res.get("requester") or {}).get("display"),
    }
    if out["status"] == "stopped":
        out["stop_reason"] = words(res.get("statusReason")) or f"{status} (imported)"
    return out

