"""FHIR export -> import -> export and a second import, on each store (SQLite always,
MongoDB when MEDITRACK_TEST_MONGO_URI is set)."""

from __future__ import annotations

import json

import pytest

from meditrack_tui.fhir.cli import import_path
from meditrack_tui.fhir.export import bundle
from tests.conftest import FIXED_NOW, Clock, make_config
from tests.fhir_check import validate_bundle
from tests.fhir_synthea import patient_bundle
from tests.store.conftest import open_test_store
from tests.test_fhir_import import normalised


@pytest.fixture
def services(store, tmp_path):
    from meditrack_tui.services import Services

    return Services(store, make_config(tmp_path / "data"), clock=Clock())


def test_round_trip_and_idempotent_import(services, store, tmp_path, request):
    source = tmp_path / "synthea.json"
    source.write_text(json.dumps(patient_bundle(7, years=1)))
    session = services.auth.shell_session("import fhir (test)", "tester")
    first = import_path(services, session, source)
    assert first.counts["Patient"]["imported"] == 1 and not first.refused
    again = import_path(services, session, source)
    assert again.counts["Patient"]["matched"] == 1
    assert sum(row["imported"] for row in again.counts.values()) == 0
    from meditrack_tui.store import PatientQuery

    (patient,) = services.store.patients.find(PatientQuery(limit=5, count=False)).items
    mrn = patient["mrn"]
    exported = bundle(services.fhir.export_patient(session, mrn), services.config.mrn_system,
                      now=FIXED_NOW)
    validate_bundle(exported)
    # into an empty store of the same kind, and out again: the same resources
    kind = request.node.callspec.params["store"]
    other_store = open_test_store(kind, tmp_path / "second")
    try:
        from meditrack_tui.services import Services

        other = Services(other_store, make_config(tmp_path / "second" / "data"), clock=Clock())
        path = tmp_path / "exported.json"
        path.write_text(json.dumps(exported))
        shell = other.auth.shell_session("import fhir (test)", "tester")
        assert not import_path(other, shell, path).refused
        round_trip = bundle(other.fhir.export_patient(shell, mrn), other.config.mrn_system,
                            now=FIXED_NOW)
        assert normalised(round_trip) == normalised(exported)
    finally:
        if kind == "mongo":
            other_store.drop_all()
        other_store.close()


def test_bulk_export_import_export_round_trip(services, s, who, tmp_path):
    from meditrack_tui.fhir.cli import export_all
    from tests.test_fhir_bulk import normalised, read_folder

    first = tmp_path / "first"
    export_all(s, who["demo.admin"], first)  # the demo clinic
    session = services.auth.shell_session("import fhir (test)", "tester")
    tally = import_path(services, session, first)
    assert not tally.refused and tally.counts["Patient"]["imported"] >= 3
    assert sum(row["imported"] for row in import_path(services, session, first)
               .counts.values()) == 0  # idempotent
    second = tmp_path / "second"
    counts = export_all(services, session, second)  # paged by MRN on this store
    assert counts["Patient"] == tally.counts["Patient"]["imported"]
    assert normalised(read_folder(second)) == normalised(read_folder(first))


def test_doctors_appointments_and_reports_round_trip(services, s, who, tmp_path):
    """The demo clinic's patient (SQLite) into an empty store of each kind and out again:
    the doctor (created inactive), the appointments and the report files come back the
    same; a second import creates nothing."""
    from tests.peek import Peek

    original = bundle(s.fhir.export_patient(who["demo.admin"], "MRN-000002"),
                      s.config.mrn_system, now=FIXED_NOW)
    kinds = [e["resource"]["resourceType"] for e in original["entry"]]
    assert {"Appointment", "DocumentReference", "Practitioner"} <= set(kinds)
    path = tmp_path / "p.json"
    path.write_text(json.dumps(original))
    session = services.auth.shell_session("import fhir (test)", "tester")
    first = import_path(services, session, path)
    assert not first.refused and not first.reasons
    for kind in ("Appointment", "DocumentReference", "Practitioner"):
        assert first.counts[kind]["imported"] == kinds.count(kind)
    peek = Peek(services.store)
    (doctor,) = peek.find("users", role="doctor")
    assert doctor["status"] == "inactive"
    before = {k: peek.count(k) for k in ("users", "appointments", "reports")}
    second = import_path(services, session, path)
    assert sum(row["imported"] for row in second.counts.values()) == 0
    assert {k: peek.count(k) for k in before} == before
    round_trip = bundle(services.fhir.export_patient(session, "MRN-000002"),
                        services.config.mrn_system, now=FIXED_NOW)
    validate_bundle(round_trip)
    assert by_kind_normalised(round_trip) == by_kind_normalised(original)


def by_kind_normalised(b: dict) -> list[str]:
    """As the bulk tests compare (numbers as decimals: the demo seed's 181 is 181.0)."""
    from tests.test_fhir_bulk import normalised as bulk_normalised

    by_kind: dict[str, list[dict]] = {}
    for entry in b["entry"]:
        by_kind.setdefault(entry["resource"]["resourceType"], []).append(entry["resource"])
    return bulk_normalised(by_kind)
