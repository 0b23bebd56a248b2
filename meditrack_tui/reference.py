"""Reference ranges for vitals, defined in one place with their sources.

- Blood pressure: 2017 ACC/AHA Guideline for the Prevention, Detection, Evaluation
  and Management of High Blood Pressure in Adults (categories normal, elevated,
  stage 1, stage 2; hypertensive crisis above 180 and/or 120 mmHg).
- Glucose: American Diabetes Association, Standards of Care in Diabetes
  (fasting plasma glucose 100-125 mg/dL prediabetes, >= 126 diabetes;
  hypoglycaemia level 1 below 70 mg/dL, level 2 below 54 mg/dL; random >= 200).
- Heart rate, SpO2 (scale 1) and temperature: Royal College of Physicians,
  National Early Warning Score 2 (NEWS2, 2017) bands; score 0 is normal.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

SOURCES = {
    "blood_pressure": "ACC/AHA 2017 blood pressure categories",
    "glucose": "ADA Standards of Care (fasting 100/126 mg/dL; low <70, <54 mg/dL)",
    "heart_rate": "NEWS2 (RCP 2017) heart-rate bands",
    "spo2": "NEWS2 (RCP 2017) SpO2 scale 1 bands",
    "temperature_c": "NEWS2 (RCP 2017) temperature bands",
}

# Values outside these are physically impossible (or a typing error) and are refused.
PLAUSIBLE = {
    "systolic": (40, 300, "mmHg"),
    "diastolic": (20, 200, "mmHg"),
    "heart_rate": (20, 300, "bpm"),
    "glucose_mg_dl": (10, 1500, "mg/dL"),
    "weight_kg": (0.3, 500, "kg"),
    "temperature_c": (25, 45, "°C"),
    "spo2": (50, 100, "%"),
}

# The normal band drawn on charts (low, high), per metric.
NORMAL_BAND = {
    "systolic": (90, 120),
    "diastolic": (60, 80),
    "heart_rate": (51, 90),
    "glucose_fasting": (70, 99),
    "glucose_mg_dl": (70, 140),
    "temperature_c": (36.1, 38.0),
    "spo2": (96, 100),
}


#: how an alert names the vital it is about ("BP stage 2 hypertension")
METRIC_NAMES = {"blood_pressure": "BP", "glucose": "Glucose", "heart_rate": "Heart rate",
                "spo2": "SpO2", "temperature_c": "Temperature"}


@dataclass(frozen=True)
class Flag:
    """One value's classification: ``level`` 0 normal, 1 mild, 2 high, 3 urgent."""

    metric: str
    label: str
    level: int
    source: str

    @property
    def abnormal(self) -> bool:
        return self.level > 0

    @property
    def alert(self) -> str:
        """The flag with its vital named, for lists of alerts across vitals."""
        return f"{METRIC_NAMES.get(self.metric, self.metric)} {self.label}"


def blood_pressure(systolic: float, diastolic: float) -> Flag:
    """ACC/AHA 2017 category of a blood pressure reading."""
    src = SOURCES["blood_pressure"]
    if systolic > 180 or diastolic > 120:
        return Flag("blood_pressure", "hypertensive crisis", 3, src)
    if systolic >= 140 or diastolic >= 90:
        return Flag("blood_pressure", "stage 2 hypertension", 2, src)
    if systolic >= 130 or diastolic >= 80:
        return Flag("blood_pressure", "stage 1 hypertension", 1, src)
    if systolic >= 120:
        return Flag("blood_pressure", "elevated", 1, src)
    return Flag("blood_pressure", "normal", 0, src)


def glucose(mg_dl: float, fasting: bool) -> Flag:
    """ADA thresholds: hypoglycaemia levels, fasting prediabetes/diabetes ranges, random high."""
    src = SOURCES["glucose"]
    if mg_dl < 54:
        return Flag("glucose", "level 2 hypoglycaemia (<54)", 3, src)
    if mg_dl < 70:
        return Flag("glucose", "level 1 hypoglycaemia (<70)", 2, src)
    if fasting:
        if mg_dl >= 126:
            return Flag("glucose", "fasting: diabetes range (>=126)", 2, src)
        if mg_dl >= 100:
            return Flag("glucose", "fasting: prediabetes range (100-125)", 1, src)
        return Flag("glucose", "fasting: normal", 0, src)
    if mg_dl >= 200:
        return Flag("glucose", "high (>=200)", 2, src)
    return Flag("glucose", "normal", 0, src)


def heart_rate(bpm: float) -> Flag:
    """NEWS2 heart-rate score bands."""
    src = SOURCES["heart_rate"]
    if bpm <= 40:
        return Flag("heart_rate", "very low (<=40)", 3, src)
    if bpm <= 50:
        return Flag("heart_rate", "low (41-50)", 1, src)
    if bpm <= 90:
        return Flag("heart_rate", "normal", 0, src)
    if bpm <= 110:
        return Flag("heart_rate", "raised (91-110)", 1, src)
    if bpm <= 130:
        return Flag("heart_rate", "high (111-130)", 2, src)
    return Flag("heart_rate", "very high (>=131)", 3, src)


def spo2(percent: float) -> Flag:
    """NEWS2 SpO2 scale 1 bands."""
    src = SOURCES["spo2"]
    if percent <= 91:
        return Flag("spo2", "very low (<=91%)", 3, src)
    if percent <= 93:
        return Flag("spo2", "low (92-93%)", 2, src)
    if percent <= 95:
        return Flag("spo2", "slightly low (94-95%)", 1, src)
    return Flag("spo2", "normal", 0, src)


def temperature(celsius: float) -> Flag:
    """NEWS2 temperature bands."""
    src = SOURCES["temperature_c"]
    if celsius <= 35.0:
        return Flag("temperature_c", "hypothermia (<=35.0)", 3, src)
    if celsius <= 36.0:
        return Flag("temperature_c", "low (35.1-36.0)", 1, src)
    if celsius <= 38.0:
        return Flag("temperature_c", "normal", 0, src)
    if celsius <= 39.0:
        return Flag("temperature_c", "fever (38.1-39.0)", 1, src)
    return Flag("temperature_c", "high fever (>=39.1)", 2, src)


def flags_for(reading: Mapping[str, Any]) -> list[Flag]:
    """Every flag that applies to a reading (normal values included, level 0)."""
    out: list[Flag] = []
    if reading.get("systolic") is not None and reading.get("diastolic") is not None:
        out.append(blood_pressure(reading["systolic"], reading["diastolic"]))
    if reading.get("glucose_mg_dl") is not None:
        out.append(glucose(reading["glucose_mg_dl"], bool(reading.get("glucose_fasting"))))
    if reading.get("heart_rate") is not None:
        out.append(heart_rate(reading["heart_rate"]))
    if reading.get("spo2") is not None:
        out.append(spo2(reading["spo2"]))
    if reading.get("temperature_c") is not None:
        out.append(temperature(reading["temperature_c"]))
    return out
