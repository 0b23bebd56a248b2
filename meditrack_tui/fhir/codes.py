"""The code systems, LOINC codes and UCUM units MediTrack's FHIR R4 resources use.

Vitals map to LOINC with UCUM units (the FHIR vital-signs profile's codes where there is
one); interpretations use HL7 v3 ObservationInterpretation, worked out from
:mod:`meditrack_tui.reference`, the one place the ranges live.
"""

from __future__ import annotations

from ..domain.appointments import AppointmentStatus

LOINC = "http://loinc.org"
UCUM = "http://unitsofmeasure.org"
OBS_CATEGORY = "http://terminology.hl7.org/CodeSystem/observation-category"
INTERPRETATION = "http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation"
IDENTIFIER_TYPE = "http://terminology.hl7.org/CodeSystem/v2-0203"
CLINICAL_STATUS_ALLERGY = "http://terminology.hl7.org/CodeSystem/allergyintolerance-clinical"
CLINICAL_STATUS_CONDITION = "http://terminology.hl7.org/CodeSystem/condition-clinical"
#: where a doctor's MediTrack username is kept on their Practitioner (an identifier)
USERNAME_SUFFIX = "/practitioner"


BP_PANEL = ("85354-9", "Blood pressure panel with all children optional")
SYSTOLIC = ("8480-6", "Systolic blood pressure")
DIASTOLIC = ("8462-4", "Diastolic blood pressure")

#: reading field -> (LOINC code, display, UCUM code, unit as shown, category)
SINGLE: dict[str, tuple[str, str, str, str, str]] = {
    "heart_rate": ("8867-4", "Heart rate", "/min", "beats/minute", "vital-signs"),
    "weight_kg": ("29463-7", "Body weight", "kg", "kg", "vital-signs"),
    "temperature_c": ("8310-5", "Body temperature", "Cel", "°C", "vital-signs"),
    "spo2": ("59408-5", "Oxygen saturation in Arterial blood by Pulse oximetry", "%", "%",
             "vital-signs"),
}
GLUCOSE = ("2339-0", "Glucose [Mass/volume] in Blood")
GLUCOSE_FASTING = ("1558-6", "Fasting glucose [Mass/volume] in Serum or Plasma")
GLUCOSE_UNIT = ("mg/dL", "mg/dL")
MMHG = ("mm[Hg]", "mmHg")

#: other LOINC codes an import accepts for a MediTrack field (SpO2 2708-6; Synthea's)
ALIASES: dict[str, str] = {"2708-6": "spo2", "59408-5": "spo2", "8867-4": "heart_rate",
                           "29463-7": "weight_kg", "8310-5": "temperature_c"}

#: units an import converts to MediTrack's (UCUM code -> (field's unit, factor, offset))
UNIT_CONVERSIONS: dict[str, dict[str, tuple[float, float]]] = {
    "weight_kg": {"kg": (1.0, 0.0), "g": (0.001, 0.0), "[lb_av]": (0.45359237, 0.0)},
    "temperature_c": {"Cel": (1.0, 0.0), "[degF]": (5 / 9, -32 * 5 / 9)},
    "glucose_mg_dl": {"mg/dL": (1.0, 0.0), "mmol/L": (18.016, 0.0)},
    "heart_rate": {"/min": (1.0, 0.0), "{beats}/min": (1.0, 0.0)},
    "spo2": {"%": (1.0, 0.0)},
    "systolic": {"mm[Hg]": (1.0, 0.0)},
    "diastolic": {"mm[Hg]": (1.0, 0.0)},
}

#: MediTrack appointment status (the domain's) -> FHIR Appointment.status
APPOINTMENT_STATUS: dict[str, str] = {
    AppointmentStatus.SCHEDULED.value: "booked", AppointmentStatus.CHECKED_IN.value: "arrived",
    AppointmentStatus.COMPLETED.value: "fulfilled",
    AppointmentStatus.CANCELLED.value: "cancelled", AppointmentStatus.NO_SHOW.value: "noshow"}
#: FHIR Appointment.status -> MediTrack's (R4's "checked-in" too); an import skips the
#: others (proposed, pending, waitlist, entered-in-error) with the reason
APPOINTMENT_STATUS_BACK: dict[str, str] = {
    **{v: k for k, v in APPOINTMENT_STATUS.items()},
    "checked-in": AppointmentStatus.CHECKED_IN.value}

#: MediTrack sex -> FHIR administrative gender (and back)
GENDER = {"F": "female", "M": "male", "X": "other"}
GENDER_BACK = {"female": "F", "male": "M", "other": "X", "unknown": "X"}
