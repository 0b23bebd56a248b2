"""Reports: type by content, size and readability checks, SHA-256 kept and verified,
safe save-copy, and who may upload, read and delete."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from meditrack_tui.errors import NotFound, PermissionDenied, ValidationError
from meditrack_tui.seed import sample_data_dir
from tests.peek import Peek

REPORTS = sample_data_dir() / "reports"
EXPECTED_TYPES = {".csv": "text/csv", ".jpg": "image/jpeg", ".pdf": "application/pdf",
                  ".png": "image/png", ".txt": "text/plain"}


def pid(s, mrn: str) -> str:
    return Peek(s.store).patient_id(mrn)


def spy_put_file(s, monkeypatch) -> list[tuple]:
    """Record every (filename, data, metadata) the services hand to reports.put_file."""
    calls: list[tuple] = []
    real = s.store.reports.put_file

    def put_file(filename, data, metadata):
        calls.append((filename, bytes(data), dict(metadata)))
        return real(filename, data, metadata)

    monkeypatch.setattr(s.store.reports, "put_file", put_file)
    return calls


def inbox(s, session) -> Path:
    """The session's own inbox folder (the service creates it on first use)."""
    return next(f.path for f in s.reports.folders(session) if f.key == "inbox")


def drop(s, session, name: str, data: bytes | Path) -> str:
    """Put a file into the session's inbox, as a person would over SFTP; its name."""
    if isinstance(data, Path):
        data = data.read_bytes()
    (inbox(s, session) / name).write_bytes(data)
    return name


def test_sample_reports_cover_every_allowed_type():
    assert {p.suffix for p in REPORTS.iterdir()} == set(EXPECTED_TYPES)


def test_a_pdf_without_text_or_that_cannot_be_read_is_said_as_such():
    import io

    from pypdf import PdfWriter

    from meditrack_tui.services.report_files import pdf_summary

    out = io.BytesIO()
    writer = PdfWriter()
    writer.add_blank_page(200, 200)
    writer.add_blank_page(200, 200)
    writer.write(out)
    text = pdf_summary(out.getvalue())
    assert text.startswith("PDF document · 2 pages · no title")
    assert "Page 1 has no text to show" in text
    assert "cannot be read here" in pdf_summary(b"%PDF-1.4 not really")


@pytest.mark.parametrize("encoding", ["cp1252", "utf-16", "utf-8-sig"])
def test_text_exported_in_older_encodings_is_accepted_and_previewed(s, who, tmp_path, encoding):
    """Lab systems still export Windows-1252 or UTF-16 text; it is text, not a binary."""
    doctor = who["demo.doctor"]
    text = "Patient: Jürgen Müller\nGlucose 5.4 mmol/l – fasting\n"
    name = drop(s, doctor, f"export-{encoding}.txt", text.encode(encoding))
    report = s.reports.upload(doctor, pid(s, "MRN-000002"), name, kind="lab result")
    assert report["content_type"] == "text/plain"
    assert s.reports.preview(doctor, report["id"]) == text


@pytest.mark.parametrize("name", sorted(p.name for p in REPORTS.iterdir()))
def test_upload_each_allowed_type(s, who, name, monkeypatch):
    doctor = who["demo.doctor"]
    p02 = pid(s, "MRN-000030")  # no reports yet: the demo's own files are new to them
    path = REPORTS / name
    content = path.read_bytes()
    stored = spy_put_file(s, monkeypatch)
    report = s.reports.upload(doctor, p02, drop(s, doctor, name, path), kind="lab result",
                              note="From the lab")
    assert report["content_type"] == EXPECTED_TYPES[path.suffix]
    assert report["filename"] == name and report["size"] == len(content)
    assert report["sha256"] == hashlib.sha256(content).hexdigest()
    assert report["uploaded_by"] == "demo.doctor" and report["uploader_role"] == "doctor"
    assert stored == [(name, content, {"sha256": report["sha256"], "size": len(content),
                                       "content_type": report["content_type"],
                                       "uploaded_by": "demo.doctor", "patient_id": p02})]
    assert s.store.reports.read_file(report["file_id"]) == content
    info, data = s.reports.read(doctor, report["id"])
    assert data == content and info["id"] == report["id"]
    assert s.reports.list(doctor, p02)[0]["id"] == report["id"]  # newest first
    entry = Peek(s.store).one("audit", action="report.upload", record_id=report["id"])
    assert entry["patient_id"] == p02 and entry["username"] == "demo.doctor"


@pytest.mark.parametrize("name,data,message", [
    ("scan.pdf", b"This is plain text pretending to be a PDF.\n",
     "named .pdf but its content is plain text"),
    ("photo.jpg", (REPORTS / "p04_ecg_strip.png").read_bytes(),
     "named .jpg but its content is PNG image"),
    ("archive.zip", b"PK\x03\x04\x14\x00\x00\x00\x08\x00" + b"\x00" * 64,
     "not accepted"),
    ("archive.pdf", b"PK\x03\x04\x14\x00\x00\x00\x08\x00" + b"\x00" * 64,
     "not accepted"),
    ("anim.gif", b"GIF89a\x01\x00\x01\x00\x80\x00\x00" + b"\x00" * 32, "not accepted"),
    ("program.txt", b"\x7fELF\x02\x01\x01\x00" + b"\x00" * 64, "not accepted"),
    ("binary.txt", b"\x00\x01\x02\x03 binary", "not accepted"),
    ("control.txt", b"text with a \x1b[31m terminal escape", "not accepted"),
    ("table.csv", b"just one line of text", "not a table"),
    ("empty.txt", b"", "empty"),
])
def test_refused_files(s, who, tmp_path, name, data, message):
    doctor = who["demo.doctor"]
    with pytest.raises(ValidationError) as info:
        s.reports.upload(doctor, pid(s, "MRN-000002"), drop(s, doctor, name, data),
                         kind="other")
    assert message in info.value.message
    assert Peek(s.store).count("reports", filename=name) == 0


def test_too_large_file(s, who, tmp_path):
    s.config.max_upload_mb = 0.005  # about 5 KB
    big = REPORTS / "p01_prescription_lisinopril.jpg"
    assert big.stat().st_size > s.config.max_upload_bytes
    p02 = pid(s, "MRN-000002")
    doctor = who["demo.doctor"]
    with pytest.raises(ValidationError, match="the limit is"):
        s.reports.upload(doctor, p02, drop(s, doctor, big.name, big), kind="imaging")
    listed = {f.name: f.problem for f in s.reports.incoming(doctor)}
    assert "the limit is" in listed[big.name]
    with pytest.raises(ValidationError, match="the limit is"):
        s.reports.upload_bytes(who["demo.doctor"], p02, big.name, big.read_bytes(),
                               kind="imaging")
    small = REPORTS / "p01_lipid_panel.csv"
    s.reports.upload(doctor, p02, drop(s, doctor, small.name, small), kind="lab result")


def test_names_that_are_not_files_in_the_inbox(s, who, tmp_path):
    p02 = pid(s, "MRN-000002")
    doctor = who["demo.doctor"]
    box = inbox(s, doctor)
    (box / "sub").mkdir()
    with pytest.raises(ValidationError, match="is a folder"):
        s.reports.upload(doctor, p02, "sub", kind="other")
    with pytest.raises(ValidationError, match="There is no file named missing.pdf"):
        s.reports.upload(doctor, p02, "missing.pdf", kind="other")
    for bad in ("", "   ", None, 12, {"$ne": None}):
        with pytest.raises(ValidationError, match="Choose a file"):
            s.reports.upload(doctor, p02, bad, kind="other")
    lipids = drop(s, doctor, "lipids.csv", REPORTS / "p01_lipid_panel.csv")
    with pytest.raises(ValidationError) as info:
        s.reports.upload(doctor, p02, lipids, kind="selfie")
    assert "kind" in info.value.fields


def test_checksum_is_verified_on_read(s, who):
    doctor = who["demo.doctor"]
    p02 = pid(s, "MRN-000002")
    report = s.reports.upload_bytes(doctor, p02, "result.txt", b"Potassium 4.1 mmol/L\n",
                                    kind="lab result")
    assert s.reports.preview(doctor, report["id"]) == "Potassium 4.1 mmol/L\n"
    s.store.reports.update(report["id"], {"sha256": hashlib.sha256(b"other").hexdigest()},
                           bump=False)
    with pytest.raises(ValidationError, match="damaged"):
        s.reports.read(doctor, report["id"])


def test_preview_of_text_csv_and_what_a_pdf_can_show(s, who):
    doctor = who["demo.doctor"]
    p02 = pid(s, "MRN-000002")
    pdf = s.reports.upload(doctor, p02, drop(s, doctor, "thyroid.pdf",
                                             REPORTS / "p05_thyroid_function.pdf"),
                           kind="lab result")
    summary = s.reports.preview(doctor, pdf["id"]).splitlines()
    assert summary[0] == ("PDF document · 1 page · title: Riverton Clinical Laboratory - "
                          "Endocrinology Report")
    assert "save a copy" in summary[2]
    assert any(line.startswith("TSH") and "7.9" in line for line in summary)
    image = s.reports.upload(doctor, p02, drop(s, doctor, "ecg.png", REPORTS / "p04_ecg_strip.png"),
                             kind="other")
    with pytest.raises(ValidationError, match="save a copy"):
        s.reports.preview(doctor, image["id"])
    cbc = drop(s, doctor, "cbc.csv", REPORTS / "p14_cbc.csv")
    csv_report = s.reports.upload(doctor, p02, cbc, kind="lab result")
    assert s.reports.preview(doctor, csv_report["id"]).startswith("test,value,unit")


def test_save_copy_goes_to_the_outbox_and_never_overwrites(s, who, tmp_path):
    doctor = who["demo.doctor"]
    p02 = pid(s, "MRN-000030")  # no reports yet
    source = REPORTS / "p02_hba1c_metabolic_panel.pdf"
    report = s.reports.upload(doctor, p02, drop(s, doctor, source.name, source),
                              kind="lab result")
    outbox = Path(s.reports.outbox(doctor))
    assert outbox == s.config.data_dir / "outbox" / "demo.doctor"
    assert oct(outbox.stat().st_mode & 0o777) == "0o700"
    first = Path(s.reports.save_copy(doctor, report["id"]))
    assert first == outbox / source.name and first.read_bytes() == source.read_bytes()
    assert oct(first.stat().st_mode & 0o777) == "0o600"
    first.write_bytes(b"my own notes")
    second = Path(s.reports.save_copy(doctor, report["id"]))
    assert second == outbox / (source.stem + " (2).pdf")
    assert first.read_bytes() == b"my own notes"  # never replaced
    assert Peek(s.store).count("audit", action="report.save-copy") == 2


def test_patient_deletes_only_own_uploads(s, who):
    patient = who["demo.patient"]
    own = s.reports.upload_bytes(patient, patient.patient_id, "bp-diary.txt",
                                 b"Mon 132/84\nTue 128/82\n", kind="other")
    assert own["uploader_role"] == "patient"
    doctors = [r for r in s.reports.list(patient, patient.patient_id)
               if r["uploaded_by"] == "demo.doctor"]
    assert doctors
    with pytest.raises(PermissionDenied, match="you uploaded yourself"):
        s.reports.delete(patient, doctors[0]["id"], "not mine")
    s.reports.delete(patient, own["id"], "wrong file")
    remaining = {r["id"] for r in s.reports.list(patient, patient.patient_id)}
    assert own["id"] not in remaining and doctors[0]["id"] in remaining
    # Doctors may delete any report.
    s.reports.delete(who["demo.doctor"], doctors[0]["id"], "duplicate upload")
    assert doctors[0]["id"] not in {r["id"] for r in s.reports.list(patient,
                                                                      patient.patient_id)}


def test_admin_reads_but_cannot_upload(s, who, tmp_path):
    admin = who["demo.admin"]
    p01 = who["demo.patient"].patient_id
    reports = s.reports.list(admin, p01)
    assert len(reports) == 2
    info, data = s.reports.read(admin, reports[0]["id"])
    assert hashlib.sha256(data).hexdigest() == info["sha256"]
    with pytest.raises(PermissionDenied):
        s.reports.upload(admin, p01, "p01_lipid_panel.csv", kind="lab result")
    with pytest.raises(PermissionDenied):
        s.reports.upload_bytes(admin, p01, "x.txt", b"hello\n", kind="other")
    assert Peek(s.store).count("audit", username="demo.admin", action="report.download") == 1


def test_list_by_kind(s, who):
    doctor = who["demo.doctor"]
    p01 = who["demo.patient"].patient_id
    kinds = {r["kind"] for r in s.reports.list(doctor, p01)}
    assert kinds == {"lab result", "prescription"}
    labs = s.reports.list(doctor, p01, kind="lab result")
    assert [r["filename"] for r in labs] == ["p01_lipid_panel.csv"]
    with pytest.raises(ValidationError):
        s.reports.list(doctor, p01, kind={"$ne": None})


def test_delete_is_soft_with_a_reason_and_an_admin_restores(s, who):
    """Admins and doctors could hard-delete any report and nothing brought it back."""
    doctor, admin, patient = who["demo.doctor"], who["demo.admin"], who["demo.patient"]
    p01 = patient.patient_id
    report = s.reports.upload_bytes(doctor, p01, "ecg.txt", b"sinus rhythm\n", kind="other")
    with pytest.raises(PermissionDenied):
        s.reports.delete(admin, report["id"], "tidying up")  # admins read only
    for reason in (None, "", "  ", "x"):
        with pytest.raises(ValidationError) as info:
            s.reports.delete(doctor, report["id"], reason)
        assert "reason" in info.value.fields
    s.reports.delete(doctor, report["id"], "wrong patient")
    assert report["id"] not in {r["id"] for r in s.reports.list(patient, p01)}
    with pytest.raises(NotFound):
        s.reports.read(patient, report["id"])
    with pytest.raises(NotFound):
        s.reports.delete(doctor, report["id"], "again")
    # the file is kept: an administrator sees why it was deleted and brings it back
    with pytest.raises(PermissionDenied):
        s.reports.deleted(doctor, p01)
    with pytest.raises(PermissionDenied):
        s.reports.restore(doctor, report["id"])
    [gone] = s.reports.deleted(admin, p01)
    assert (gone["id"], gone["deleted_by"], gone["delete_reason"]) == (
        report["id"], "demo.doctor", "wrong patient")
    s.reports.restore(admin, report["id"])
    assert report["id"] in {r["id"] for r in s.reports.list(patient, p01)}
    assert s.reports.read(patient, report["id"])[1] == b"sinus rhythm\n"
    assert s.reports.deleted(admin, p01) == []
    with pytest.raises(NotFound):
        s.reports.restore(admin, report["id"])
    peek = Peek(s.store)
    assert peek.one("audit", action="report.delete", record_id=report["id"],
                    outcome="ok")["detail"] == "ecg.txt: wrong patient"
    assert peek.one("audit", action="report.restore", record_id=report["id"],
                    outcome="ok")["username"] == "demo.admin"


def test_the_same_file_twice_for_a_patient_is_refused_naming_the_first(s, who, clock):
    doctor, patient = who["demo.doctor"], who["demo.patient"]
    p02 = pid(s, "MRN-000002")
    first = s.reports.upload_bytes(doctor, p02, "potassium.txt", b"Potassium 4.1 mmol/L\n",
                                   kind="lab result")
    clock.advance(hours=2)
    before = len(s.reports.list(doctor, p02))
    with pytest.raises(ValidationError) as info:
        s.reports.upload_bytes(doctor, p02, "renamed-copy.txt", b"Potassium 4.1 mmol/L\n",
                               kind="other")
    message = info.value.fields["file"]
    assert "“potassium.txt” (lab result), uploaded on 04 Mar 2026 at 10:00 by demo.doctor" \
        in message and "Nothing was uploaded" in message
    assert len(s.reports.list(doctor, p02)) == before
    # other content, or the same content for another patient, is fine
    s.reports.upload_bytes(doctor, p02, "potassium.txt", b"Potassium 4.3 mmol/L\n",
                           kind="lab result")
    s.reports.upload_bytes(patient, patient.patient_id, "potassium.txt",
                           b"Potassium 4.1 mmol/L\n", kind="lab result")
    # once the first is deleted, the file may be uploaded again
    s.reports.delete(doctor, first["id"], "wrong patient")
    again = s.reports.upload_bytes(doctor, p02, "potassium.txt", b"Potassium 4.1 mmol/L\n",
                                   kind="lab result")
    assert again["sha256"] == first["sha256"]
