"""Vitals: flags from the reference ranges (ACC/AHA, ADA, NEWS2) at their boundaries,
impossible values refused, series by time range, home readings, who may write."""

from __future__ import annotations

from datetime import datetime

import pytest

from meditrack_tui import reference
from meditrack_tui.errors import PermissionDenied, ValidationError
from tests.peek import Peek

NOW = datetime(2026, 3, 4, 10, 0)


@pytest.fixture
def patient_id(s, who) -> str:
    """A fresh patient with no readings yet."""
    return s.patients.create(who["demo.doctor"], {"first_name": "Vera", "last_name": "Vitals",
                                                  "dob": "1960-01-01", "sex": "F"})["id"]


def flag(reading: dict, metric: str) -> dict:
    found = [f for f in reading["flags"] if f["metric"] == metric]
    assert len(found) == 1, reading["flags"]
    return found[0]


@pytest.mark.parametrize("systolic,diastolic,label,level", [
    (119, 79, "normal", 0),
    (120, 79, "elevated", 1),
    (129, 79, "elevated", 1),
    (130, 79, "stage 1 hypertension", 1),
    (119, 80, "stage 1 hypertension", 1),
    (130, 80, "stage 1 hypertension", 1),
    (139, 89, "stage 1 hypertension", 1),
    (140, 89, "stage 2 hypertension", 2),
    (139, 90, "stage 2 hypertension", 2),
    (140, 90, "stage 2 hypertension", 2),
    (180, 120, "stage 2 hypertension", 2),
    (181, 119, "hypertensive crisis", 3),
    (179, 121, "hypertensive crisis", 3),
    (181, 121, "hypertensive crisis", 3),
])
def test_blood_pressure_categories(s, who, patient_id, systolic, diastolic, label, level):
    reading = s.vitals.add(who["demo.doctor"], patient_id,
                           {"systolic": systolic, "diastolic": diastolic})
    bp = flag(reading, "blood_pressure")
    assert (bp["label"], bp["level"]) == (label, level)
    assert "ACC/AHA" in bp["source"]
    assert reading["abnormal"] is (level > 0)


@pytest.mark.parametrize("value,fasting,label,level", [
    (99, True, "fasting: normal", 0),
    (100, True, "fasting: prediabetes range (100-125)", 1),
    (125, True, "fasting: prediabetes range (100-125)", 1),
    (126, True, "fasting: diabetes range (>=126)", 2),
    (70, True, "fasting: normal", 0),
    (69, True, "level 1 hypoglycaemia (<70)", 2),
    (54, False, "level 1 hypoglycaemia (<70)", 2),
    (53, True, "level 2 hypoglycaemia (<54)", 3),
    (53, False, "level 2 hypoglycaemia (<54)", 3),
    (126, False, "normal", 0),
    (199, False, "normal", 0),
    (200, False, "high (>=200)", 2),
])
def test_glucose_thresholds(s, who, patient_id, value, fasting, label, level):
    reading = s.vitals.add(who["demo.doctor"], patient_id,
                           {"glucose_mg_dl": value, "glucose_fasting": fasting})
    g = flag(reading, "glucose")
    assert (g["label"], g["level"]) == (label, level)
    assert "ADA" in g["source"] and reading["glucose_fasting"] is fasting


@pytest.mark.parametrize("metric,value,level", [
    ("heart_rate", 40, 3), ("heart_rate", 41, 1), ("heart_rate", 50, 1), ("heart_rate", 51, 0),
    ("heart_rate", 90, 0), ("heart_rate", 91, 1), ("heart_rate", 110, 1), ("heart_rate", 111, 2),
    ("heart_rate", 130, 2), ("heart_rate", 131, 3),
    ("spo2", 91, 3), ("spo2", 92, 2), ("spo2", 93, 2), ("spo2", 94, 1), ("spo2", 95, 1),
    ("spo2", 96, 0), ("spo2", 100, 0),
    ("temperature_c", 35.0, 3), ("temperature_c", 35.1, 1), ("temperature_c", 36.0, 1),
    ("temperature_c", 36.1, 0), ("temperature_c", 38.0, 0), ("temperature_c", 38.1, 1),
    ("temperature_c", 39.0, 1), ("temperature_c", 39.1, 2),
])
def test_news2_bands(s, who, patient_id, metric, value, level):
    reading = s.vitals.add(who["demo.doctor"], patient_id, {metric: value})
    f = flag(reading, metric)
    assert f["level"] == level, f
    assert "NEWS2" in f["source"]


def test_weight_alone_has_no_flag(s, who, patient_id):
    reading = s.vitals.add(who["demo.doctor"], patient_id, {"weight_kg": "81.4"})
    assert reading["weight_kg"] == 81.4 and reading["flags"] == [] and not reading["abnormal"]


def test_normal_band_matches_the_classifiers():
    low, high = reference.NORMAL_BAND["heart_rate"]
    assert reference.heart_rate(low).level == reference.heart_rate(high).level == 0
    assert reference.heart_rate(low - 1).level > 0 and reference.heart_rate(high + 1).level > 0
    low, high = reference.NORMAL_BAND["spo2"]
    assert reference.spo2(low).level == 0 and reference.spo2(low - 1).level > 0
    low, high = reference.NORMAL_BAND["glucose_fasting"]
    assert reference.glucose(low, True).level == reference.glucose(high, True).level == 0
    assert reference.glucose(high + 1, True).level > 0


@pytest.mark.parametrize("data,field", [
    ({"systolic": 500, "diastolic": 80}, "systolic"),
    ({"systolic": 120, "diastolic": 10}, "diastolic"),
    ({"spo2": 120}, "spo2"),
    ({"spo2": 97.5}, "spo2"),
    ({"temperature_c": 50}, "temperature_c"),
    ({"heart_rate": 0}, "heart_rate"),
    ({"glucose_mg_dl": 5000}, "glucose_mg_dl"),
    ({"weight_kg": -3}, "weight_kg"),
    ({"systolic": 80, "diastolic": 80}, "systolic"),
    ({"systolic": 70, "diastolic": 90}, "systolic"),
    ({"systolic": 120}, "diastolic"),
    ({"diastolic": 80}, "systolic"),
    ({"heart_rate": "fast"}, "heart_rate"),
    ({"heart_rate": True}, "heart_rate"),
    ({"heart_rate": float("nan")}, "heart_rate"),
    ({}, "_"),
    ({"note": "felt dizzy"}, "_"),
    ({"heart_rate": 70, "taken_at": "2026-03-05T10:00"}, "taken_at"),
    ({"heart_rate": 70, "taken_at": "yesterday"}, "taken_at"),
    ({"heart_rate": 70, "taken_at": "1800-03-04T10:00"}, "taken_at"),
    ({"heart_rate": 70, "source": "hospital"}, "source"),
    ({"glucose_mg_dl": 100, "glucose_fasting": "yes"}, "glucose_fasting"),
])
def test_impossible_values_are_refused(s, who, patient_id, data, field):
    with pytest.raises(ValidationError) as info:
        s.vitals.add(who["demo.doctor"], patient_id, data)
    assert field in info.value.fields
    assert s.vitals.series(who["demo.doctor"], patient_id) == []


def test_impossible_message_names_the_range(s, who, patient_id):
    with pytest.raises(ValidationError) as info:
        s.vitals.add(who["demo.doctor"], patient_id, {"systolic": 500, "diastolic": 80})
    assert info.value.fields["systolic"] == \
        "Systolic of 500 mmHg is not possible (expected 40 to 300 mmHg)."


def test_series_within_a_time_range(s, who, patient_id):
    doctor = who["demo.doctor"]
    for day in (1, 5, 10, 15, 20):
        s.vitals.add(doctor, patient_id, {"heart_rate": 60 + day,
                                          "taken_at": f"2026-02-{day:02d}T08:30"})
    series = s.vitals.series(doctor, patient_id)
    assert [r["heart_rate"] for r in series] == [61, 65, 70, 75, 80]
    window = s.vitals.series(doctor, patient_id, since="2026-02-05T08:30",
                             until=datetime(2026, 2, 15, 8, 30))
    assert [r["heart_rate"] for r in window] == [65, 70, 75]
    assert [r["heart_rate"] for r in s.vitals.series(doctor, patient_id,
                                                     since="2026-02-16")] == [80]
    assert [r["heart_rate"] for r in s.vitals.latest(doctor, patient_id, count=2)] == [80, 75]
    with pytest.raises(ValidationError) as info:
        s.vitals.series(doctor, patient_id, since="last week")
    assert "since" in info.value.fields


def test_demo_hypertensive_series(s, who):
    patient = who["demo.patient"]
    series = s.vitals.series(patient, patient.patient_id)
    times = [r["taken_at"] for r in series]
    assert times == sorted(times) and len(series) > 30
    first_bp = next(r for r in series if "systolic" in r)
    assert flag(first_bp, "blood_pressure")["level"] == 2


def test_patient_adds_home_reading(s, who):
    patient = who["demo.patient"]
    reading = s.vitals.add(patient, patient.patient_id,
                           {"systolic": 134, "diastolic": 86, "source": "clinic"})
    assert reading["source"] == "home" and reading["recorded_by"] == "demo.patient"
    assert s.vitals.latest(who["demo.doctor"], patient.patient_id, count=1)[0]["id"] == \
        reading["id"]
    # A patient may remove their own reading, but not a clinic reading.
    clinic = s.vitals.add(who["demo.doctor"], patient.patient_id, {"heart_rate": 70})
    with pytest.raises(PermissionDenied):
        s.vitals.delete(patient, patient.patient_id, clinic["id"])
    s.vitals.delete(patient, patient.patient_id, reading["id"])
    ids = {r["id"] for r in s.vitals.series(patient, patient.patient_id)}
    assert reading["id"] not in ids and clinic["id"] in ids


def test_admin_reads_but_cannot_add(s, who, patient_id):
    admin = who["demo.admin"]
    with pytest.raises(PermissionDenied):
        s.vitals.add(admin, patient_id, {"heart_rate": 70})
    assert s.vitals.series(admin, patient_id) == []
    assert Peek(s.store).count("audit", username="demo.admin", action="vitals.write",
                               outcome="denied") == 1


def test_out_of_range_reading_raises_a_dashboard_alert(s, who, patient_id):
    doctor = who["demo.doctor"]
    s.vitals.add(doctor, patient_id, {"systolic": 185, "diastolic": 100})
    alerts = {a["id"]: a for a in s.dashboard.doctor(doctor)["alerts"]}
    assert alerts[patient_id]["vitals_alert_label"] == "BP hypertensive crisis"
    s.vitals.add(doctor, patient_id, {"systolic": 118, "diastolic": 76})
    assert patient_id not in {a["id"] for a in s.dashboard.doctor(doctor)["alerts"]}
