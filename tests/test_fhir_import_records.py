"""FHIR import of Practitioner (a doctor's account, created inactive), Appointment and
DocumentReference (a report file, embedded or read from the folder being imported only)
(issue 14): what is matched, created, skipped and refused."""

from __future__ import annotations

import base64
import copy
import hashlib
import json
import os
from pathlib import Path
from typing import Any

import pytest

from meditrack_tui.errors import AuthenticationFailed
from meditrack_tui.fhir.cli import import_path, print_summary
from meditrack_tui.fhir.export import bundle
from tests.conftest import FIXED_NOW
from tests.peek import Peek

NEW_KINDS = ("Appointment", "DocumentReference", "Practitioner")


def shell(services: Any) -> Any:
    return services.auth.shell_session("import fhir (test)", "tester")


def exported(s: Any, who: Any, mrn: str = "MRN-000001") -> dict[str, Any]:
    return bundle(s.fhir.export_patient(who["demo.admin"], mrn), s.config.mrn_system,
                  now=FIXED_NOW)


def write(folder: Path, name: str, value: Any) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text(json.dumps(value))
    return path


def of_kind(b: dict[str, Any], kind: str) -> list[dict[str, Any]]:
    return [e["resource"] for e in b["entry"] if e["resource"]["resourceType"] == kind]


def without(b: dict[str, Any], *kinds: str) -> dict[str, Any]:
    out = copy.deepcopy(b)
    out["entry"] = [e for e in out["entry"] if e["resource"]["resourceType"] not in kinds]
    return out


def test_practitioner_becomes_an_inactive_doctor_an_admin_enables(s, who, services, tmp_path,
                                                                 capsys):
    source = exported(s, who)
    (prac,) = of_kind(source, "Practitioner")
    username = prac["identifier"][0]["value"]
    tally = import_path(services, shell(services), write(tmp_path, "p.json", source))
    assert tally.counts["Practitioner"]["imported"] == 1
    assert tally.counts["Appointment"]["imported"] == len(of_kind(source, "Appointment"))
    assert tally.counts["DocumentReference"]["imported"] == 2
    (doctor,) = Peek(services.store).find("users", role="doctor")
    assert (doctor["username"], doctor["full_name"]) == (username, prac["name"][0]["text"])
    assert doctor["status"] == "inactive" and doctor["password_hash"].startswith("$argon2id$")
    note = f"({username}): created (inactive: reset the password and reactivate to let them " \
           "sign in)"
    assert any(note in n for n in tally.notes)
    print_summary(tally, dry_run=False)
    assert note in " ".join(capsys.readouterr().out.split())  # as wrapped on the terminal
    (created,) = Peek(services.store).find("audit", action="user.create")
    assert created["record_id"] == doctor["id"] and "inactive" in created["detail"]
    # nobody can sign in until an administrator acts
    with pytest.raises(AuthenticationFailed):
        services.auth.login(username, "anything-at-all")
    admin = shell(services)
    services.users.reset_password(admin, doctor["id"], "a-new-long-password")
    services.users.reactivate(admin, doctor["id"])
    assert services.auth.login(username, "a-new-long-password").role == "doctor"


def test_importing_twice_creates_no_doctor_appointment_or_report(s, who, services, tmp_path):
    folder = tmp_path / "in"
    for mrn in ("MRN-000001", "MRN-000002"):  # the same doctor in both Bundles
        write(folder, f"{mrn}.json", exported(s, who, mrn))
    session = shell(services)
    first = import_path(services, session, folder)
    assert first.counts["Practitioner"] == {"imported": 1, "matched": 1, "skipped": 0,
                                            "refused": 0}
    peek = Peek(services.store)
    before = {k: peek.count(k) for k in ("users", "appointments", "reports")}
    second = import_path(services, session, folder)
    for kind in NEW_KINDS:
        assert second.counts[kind]["imported"] == 0 and second.counts[kind]["matched"] > 0
    assert {k: peek.count(k) for k in before} == before
    assert not second.notes


def test_a_dry_run_creates_no_doctor(s, who, services, tmp_path):
    tally = import_path(services, shell(services),
                        write(tmp_path, "p.json", exported(s, who)), dry_run=True)
    assert tally.counts["Practitioner"]["imported"] == 1
    assert tally.counts["Appointment"]["imported"] > 0
    peek = Peek(services.store)
    assert peek.count("users") == 0 and peek.count("appointments") == 0
    assert peek.count("reports") == 0


def test_doctor_matched_by_this_clinics_username(s, who, services, tmp_path):
    """Into the demo clinic itself: the exported doctor is the existing account."""
    source = exported(s, who, "MRN-000003")
    tally = import_path(s, shell(s), write(tmp_path, "p.json", source))
    assert tally.counts["Practitioner"] == {"imported": 0, "matched": 1, "skipped": 0,
                                            "refused": 0}
    assert not tally.notes


def test_foreign_practitioner_matched_by_its_kept_identifier(services, tmp_path):
    prac = {"resourceType": "Practitioner", "id": "dr-1",
            "identifier": [{"system": "http://hl7.org/fhir/sid/us-npi", "value": "999"}],
            "name": [{"family": "Smith", "given": ["Anna"], "prefix": ["Dr."]}]}
    patient = {"resourceType": "Patient", "id": "p-1",
               "identifier": [{"system": "urn:other", "value": "A1"}],
               "name": [{"family": "Lee", "given": ["Kim"]}], "gender": "female",
               "birthDate": "1970-01-02"}
    appt = {"resourceType": "Appointment", "id": "a-1", "status": "fulfilled",
            "start": "2024-02-01T09:00:00Z", "end": "2024-02-01T09:20:00Z",
            "description": "Check-up",
            "participant": [{"actor": {"reference": "Patient/p-1"}, "status": "accepted"},
                            {"actor": {"reference": "Practitioner/dr-1"},
                             "status": "accepted"}]}
    session = shell(services)
    folder = tmp_path / "bulk"
    for res in (prac, patient, appt):
        write(folder, f"{res['resourceType']}.ndjson", res)
    first = import_path(services, session, folder)
    assert first.counts["Practitioner"]["imported"] == 1, (first.counts, first.refused)
    (doctor,) = Peek(services.store).find("users", role="doctor")
    assert doctor["username"] == "dr.anna.smith" and doctor["full_name"] == "Dr. Anna Smith"
    (booked,) = Peek(services.store).all("appointments")
    assert (booked["doctor_id"], booked["status"], booked["reason"]) == (
        doctor["id"], "completed", "Check-up")
    # another system's later file names the doctor only by the identifier
    appt2 = {**appt, "id": "a-2", "start": "2024-03-01T09:00:00Z",
             "end": "2024-03-01T09:30:00Z",
             "participant": [appt["participant"][0], {"actor": {"identifier": {
                 "system": "http://hl7.org/fhir/sid/us-npi", "value": "999"}}}]}
    (folder / "Appointment.ndjson").write_text(json.dumps(appt2))
    (folder / "Practitioner.ndjson").unlink()
    again = import_path(services, session, folder)
    assert again.counts["Appointment"]["imported"] == 1
    assert Peek(services.store).count("users") == 1


def test_appointment_statuses_and_doctors_that_cannot_be_found(s, who, services, tmp_path):
    source = exported(s, who)
    appts = of_kind(source, "Appointment")
    appts[0]["status"] = "waitlist"
    appts[1]["status"] = "checked-in"  # R4's other word for arrived
    (prac,) = of_kind(source, "Practitioner")
    stranger = appts[2]["participant"][1]["actor"]
    stranger["reference"] = "Practitioner/not-in-this-import"
    tally = import_path(services, shell(services), write(tmp_path, "p.json", source))
    assert ("Appointment", "status 'waitlist' is not one MediTrack keeps (it keeps arrived, "
            "booked, cancelled, checked-in, fulfilled, noshow)") in tally.reasons
    assert ("Appointment", "its doctor is neither in the import nor in MediTrack") \
        in tally.reasons
    assert tally.counts["Appointment"]["imported"] == len(appts) - 2
    statuses = [a["status"] for a in Peek(services.store).all("appointments")]
    assert "checked-in" in statuses
    assert prac  # the doctor of the others was created


def test_an_import_never_books_a_doctor_twice_at_one_start(s, who, services, tmp_path):
    one = exported(s, who, "MRN-000001")
    two = exported(s, who, "MRN-000002")
    first_appt = of_kind(one, "Appointment")[0]
    taken = of_kind(two, "Appointment")[0]
    taken["start"], taken["end"] = first_appt["start"], first_appt["end"]
    taken["status"] = "booked"
    first_appt["status"] = "booked"
    folder = tmp_path / "in"
    write(folder, "a.json", one)
    write(folder, "b.json", two)
    tally = import_path(services, shell(services), folder)
    assert any("already has an appointment at" in r and "with another patient" in r
               for r in tally.refused)
    starts = [(a["doctor_id"], a["start"]) for a in Peek(services.store).all("appointments")
              if a["status"] != "cancelled"]
    assert len(starts) == len(set(starts))


def report_bundle(s: Any, who: Any, tmp_path: Path) -> tuple[Path, dict[str, Any]]:
    """A Bundle exported with --files-beside: its report files by file:// URL."""
    from meditrack_tui.fhir.cli import export_patient

    path = tmp_path / "out" / "p.json"
    path.parent.mkdir()
    export_patient(s, who["demo.admin"], "MRN-000001", path, files_beside=True)
    return path, json.loads(path.read_text())


def test_report_files_beside_a_bundle_are_read_from_its_folder(s, who, services, tmp_path):
    path, source = report_bundle(s, who, tmp_path)
    docs = of_kind(source, "DocumentReference")
    assert all("url" in d["content"][0]["attachment"] for d in docs)
    tally = import_path(services, shell(services), path)
    assert tally.counts["DocumentReference"]["imported"] == len(docs) and not tally.refused
    reports = Peek(services.store).all("reports")
    for doc in docs:
        att = doc["content"][0]["attachment"]
        (row,) = [r for r in reports if r["filename"] == att["title"]]
        data = services.store.reports.read_file(row["file_id"])
        assert base64.b64encode(hashlib.sha1(data).digest()).decode() == att["hash"]
        assert (row["kind"], row["size"]) == (doc["type"]["text"], att["size"])


def test_file_references_outside_the_imported_folder_are_refused(s, who, services, tmp_path):
    path, source = report_bundle(s, who, tmp_path)
    secret = tmp_path / "secret.txt"
    secret.write_text("not for the import\nat all\n")
    inside = path.parent / "link.txt"
    os.symlink(secret, inside)
    urls = ["file://localhost/../../etc/passwd", "file:../secret.txt",
            "file://localhost" + str(secret), "file:///etc/passwd",
            "file://localhost" + str(inside), "file://server.example/share/x.pdf"]
    docs = of_kind(source, "DocumentReference")
    template = docs[0]
    for n, url in enumerate(urls):
        extra = copy.deepcopy(template)
        extra["id"] = f"evil-{n}"
        extra["content"][0]["attachment"].update({"url": url, "title": "x.txt"})
        extra["content"][0]["attachment"].pop("hash")
        source["entry"].append({"fullUrl": f"urn:uuid:evil-{n}", "resource": extra})
    path.unlink()
    path.write_text(json.dumps(source))
    tally = import_path(services, shell(services), path)
    refused = [r for r in tally.refused if r.startswith("DocumentReference")]
    assert len(refused) == len(urls), refused
    assert sum("not inside the folder being imported" in r for r in refused) == 5
    assert any("on another machine" in r for r in refused)
    assert tally.counts["DocumentReference"]["imported"] == len(docs)
    contents = [services.store.reports.read_file(r["file_id"])
                for r in Peek(services.store).all("reports")]
    assert b"not for the import\nat all\n" not in contents
    assert all(b"root:" not in c for c in contents)


def test_a_file_whose_hash_does_not_match_is_refused(s, who, services, tmp_path):
    source = exported(s, who)
    doc = of_kind(source, "DocumentReference")[0]
    doc["content"][0]["attachment"]["hash"] = base64.b64encode(
        hashlib.sha1(b"something else").digest()).decode()
    tally = import_path(services, shell(services), write(tmp_path, "p.json", source))
    assert any("does not match the SHA-1 hash given with it" in r for r in tally.refused)
    assert tally.counts["DocumentReference"] == {"imported": 1, "matched": 0, "skipped": 0,
                                                 "refused": 1}


def test_a_file_an_upload_would_refuse_is_refused(s, who, services, tmp_path):
    source = without(exported(s, who), "Appointment")
    doc = of_kind(source, "DocumentReference")[0]
    att = doc["content"][0]["attachment"]
    att.pop("hash")
    att["data"] = base64.b64encode(b"MZ\x90\x00\x03\x00\x00\x00" * 40).decode()  # a program
    tally = import_path(services, shell(services), write(tmp_path, "p.json", source))
    assert any("This kind of file is not accepted" in r for r in tally.refused)


def test_a_bulk_export_folder_copied_elsewhere_still_finds_its_files(s, who, services,
                                                                    tmp_path):
    import shutil

    from meditrack_tui.fhir.cli import export_all

    export_all(s, who["demo.admin"], tmp_path / "first")
    copy_of = tmp_path / "elsewhere" / "copy"
    shutil.copytree(tmp_path / "first", copy_of)
    shutil.rmtree(tmp_path / "first")  # the URLs name the folder that is gone
    tally = import_path(services, shell(services), copy_of)
    assert not tally.refused
    assert tally.counts["DocumentReference"]["imported"] == Peek(s.store).count("reports") > 0
