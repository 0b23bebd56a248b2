"""Files on the server: uploads only from the user's own inbox (or a staff scan folder),
copies only into the user's outbox, never overwriting; a private data directory and a
secret that is never empty.

Each test here reproduces an attack from the security review (issue 11) on real files."""

from __future__ import annotations

import io
import os
import stat
import subprocess
import sys
import threading
import zipfile
from pathlib import Path

import pytest

from meditrack_tui.config import Config
from meditrack_tui.errors import PermissionDenied, ValidationError
from meditrack_tui.files import TooOpen, check_private
from meditrack_tui.seed import sample_data_dir
from tests.peek import Peek

REPORTS = sample_data_dir() / "reports"
PDF = REPORTS / "p05_thyroid_function.pdf"


def inbox(s, session) -> Path:
    return next(f.path for f in s.reports.folders(session) if f.key == "inbox")


def upload(s, session, name, folder="inbox"):
    pid = session.patient_id or Peek(s.store).patient_id("MRN-000002")
    return s.reports.upload(session, pid, name, kind="other", folder=folder)


def test_inbox_is_the_users_own_private_folder(s, who):
    patient = who["demo.patient"]
    box = inbox(s, patient)
    assert box == s.config.data_dir / "inbox" / "demo.patient"
    assert stat.S_IMODE(box.stat().st_mode) == 0o700
    assert stat.S_IMODE(box.parent.stat().st_mode) == 0o700
    (box / "diary.txt").write_text("Mon 132/84\n")
    report = upload(s, patient, "diary.txt")
    assert report["filename"] == "diary.txt"
    listed = s.reports.incoming(patient)
    assert [(f.folder, f.name, f.problem) for f in listed] == [("inbox", "diary.txt", None)]


@pytest.mark.parametrize("target", ["/etc/passwd", "secret.key", "meditrack.db"])
def test_a_symbolic_link_in_the_inbox_is_refused(s, who, target):
    """The review uploaded /etc/passwd and the store's secret through a link named .txt."""
    patient = who["demo.patient"]
    box = inbox(s, patient)
    if target != "/etc/passwd":
        s.config.signing_secret  # noqa: B018 - the data directory's own files
        (s.config.data_dir / "secret.key").write_text("k" * 64)
        target = str(s.config.data_dir / target)
    os.symlink(target, box / "results.txt")
    with pytest.raises(ValidationError, match="symbolic link"):
        upload(s, patient, "results.txt")
    assert "symbolic link" in s.reports.incoming(patient)[0].problem
    assert Peek(s.store).count("reports", filename="results.txt") == 0


def test_a_hard_link_to_a_file_elsewhere_is_refused(s, who, tmp_path):
    patient = who["demo.patient"]
    outside = tmp_path / "someone-elses.txt"
    outside.write_text("not yours\n")
    os.link(outside, inbox(s, patient) / "mine.txt")
    with pytest.raises(ValidationError, match="hard link"):
        upload(s, patient, "mine.txt")


@pytest.mark.parametrize("name", ["../secret.key", "/etc/passwd", "..", ".", "sub/x.txt",
                                  "../../inbox/demo.doctor/x.txt", ".hidden.txt",
                                  "a\x00b.txt", "line\nbreak.txt"])
def test_paths_are_refused(s, who, name):
    with pytest.raises(ValidationError, match="Only a file directly inside your folder"):
        upload(s, who["demo.patient"], name)


def test_a_fifo_is_refused_without_blocking(s, who):
    patient = who["demo.patient"]
    os.mkfifo(inbox(s, patient) / "pipe.txt")
    outcome: list[BaseException] = []
    worker = threading.Thread(target=lambda: outcome.append(
        pytest.raises(ValidationError, upload, s, patient, "pipe.txt").value))
    worker.start()
    worker.join(timeout=10)
    assert not worker.is_alive(), "opening a FIFO blocked the upload"
    assert "not a regular file" in outcome[0].message


@pytest.mark.skipif(os.geteuid() != 0, reason="creating a device file needs root")
def test_a_device_file_is_refused(s, who):
    patient = who["demo.patient"]
    os.mknod(inbox(s, patient) / "zero.txt", stat.S_IFCHR | 0o600, os.makedev(1, 5))
    with pytest.raises(ValidationError, match="not a regular file"):
        upload(s, patient, "zero.txt")


def test_an_inbox_replaced_by_a_link_is_refused(s, who):
    patient = who["demo.patient"]
    box = inbox(s, patient)
    box.rmdir()
    os.symlink("/etc", box)
    with pytest.raises(Exception, match="not a plain folder"):
        upload(s, patient, "passwd")


def test_a_patient_reaches_only_their_own_inbox(s, who):
    patient, doctor = who["demo.patient"], who["demo.doctor"]
    (inbox(s, doctor) / "doctor-only.txt").write_text("for the doctor\n")
    with pytest.raises(ValidationError, match="There is no file named doctor-only.txt"):
        upload(s, patient, "doctor-only.txt")
    with pytest.raises(ValidationError, match="Choose a file from your inbox"):
        upload(s, patient, "doctor-only.txt", folder="scan:1")
    with pytest.raises(ValidationError, match="Choose a file from your inbox"):
        upload(s, patient, "doctor-only.txt", folder="/")


def test_staff_scan_folders(s, who, tmp_path):
    scans = tmp_path / "front-desk"
    scans.mkdir()
    (scans / "scan-001.pdf").write_bytes(PDF.read_bytes())
    s.config.scan_dirs = [scans]
    doctor, patient = who["demo.doctor"], who["demo.patient"]
    assert [f.key for f in s.reports.folders(doctor)] == ["inbox", "scan:1"]
    assert [f.key for f in s.reports.folders(patient)] == ["inbox"]
    assert [(f.folder, f.name) for f in s.reports.incoming(doctor)] == [("scan:1",
                                                                         "scan-001.pdf")]
    assert upload(s, doctor, "scan-001.pdf", folder="scan:1")["content_type"] == \
        "application/pdf"
    with pytest.raises(ValidationError):
        upload(s, patient, "scan-001.pdf", folder="scan:1")


def test_admins_have_no_upload_folders(s, who):
    with pytest.raises(PermissionDenied):
        s.reports.folders(who["demo.admin"])


def test_save_copy_never_writes_outside_the_outbox(s, who):
    """The review overwrote the store's own files through "save a copy"."""
    doctor = who["demo.doctor"]
    pid = Peek(s.store).patient_id("MRN-000002")
    report = s.reports.upload_bytes(doctor, pid, "../../store.txt", b"Na 140 mmol/L\n",
                                    kind="lab result")
    assert report["filename"] == "store.txt"  # the name only, never a path
    outbox = Path(s.reports.outbox(doctor))
    store_file = s.config.data_dir / "meditrack.db"
    os.symlink(store_file, outbox / "store.txt")  # planted where the copy would go
    before = store_file.read_bytes()
    written = Path(s.reports.save_copy(doctor, report["id"]))
    assert written == outbox / "store (2).txt"
    assert written.read_bytes() == b"Na 140 mmol/L\n"
    assert store_file.read_bytes() == before
    assert os.path.islink(outbox / "store.txt")


def test_outbox_replaced_by_a_link_is_refused(s, who, tmp_path):
    doctor = who["demo.doctor"]
    pid = Peek(s.store).patient_id("MRN-000002")
    report = s.reports.upload_bytes(doctor, pid, "na.txt", b"Na 140\n", kind="lab result")
    outbox = Path(s.reports.outbox(doctor))
    outbox.rmdir()
    os.symlink(tmp_path, outbox)
    with pytest.raises(Exception, match="not a plain folder"):
        s.reports.save_copy(doctor, report["id"])
    assert not (tmp_path / "na.txt").exists()


# --- PDFs are checked for structure, not only their first bytes ---


def test_a_pdf_with_a_web_page_and_an_archive_appended_is_refused(s, who):
    doctor = who["demo.doctor"]
    pid = Peek(s.store).patient_id("MRN-000002")
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("index.html", "<script>alert(1)</script>")
    polyglot = PDF.read_bytes() + b"<html><script>alert(1)</script></html>" + archive.getvalue()
    with pytest.raises(ValidationError, match="not a well-formed PDF"):
        s.reports.upload_bytes(doctor, pid, "lab.pdf", polyglot, kind="lab result")
    with pytest.raises(ValidationError, match="not a well-formed PDF"):
        s.reports.upload_bytes(doctor, pid, "lab.pdf", b"%PDF-1.7\n<html>hi</html>\n%%EOF\n",
                               kind="lab result")
    assert s.reports.upload_bytes(doctor, pid, "lab.pdf", PDF.read_bytes(),
                                  kind="lab result")["content_type"] == "application/pdf"


# --- the data directory: private from the start, refused when too open ---


def test_data_directory_and_files_are_private_from_the_start(tmp_path):
    data = tmp_path / "fresh"
    code = ("import sys; from meditrack_tui.cli import main; "
            "sys.exit(main(['--data-dir', sys.argv[1], 'seed']))")
    env = {k: v for k, v in os.environ.items() if not k.startswith("MEDITRACK_")}
    done = subprocess.run([sys.executable, "-c", code, str(data)], env=env,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert stat.S_IMODE(data.stat().st_mode) == 0o700
    for path in data.iterdir():
        mode = stat.S_IMODE(path.stat().st_mode)
        assert mode & 0o077 == 0, f"{path.name} is {mode:04o}"
    assert (data / "secret.key").read_text().strip()


def test_a_data_directory_open_to_others_is_refused_with_the_fix(tmp_path):
    data = tmp_path / "open"
    data.mkdir(mode=0o700)
    (data / "secret.key").write_text("s" * 64)
    data.chmod(0o755)
    with pytest.raises(TooOpen, match=f"chmod 700 {data}"):
        check_private(data)
    env = {k: v for k, v in os.environ.items() if not k.startswith("MEDITRACK_")}
    code = ("import sys; from meditrack_tui.cli import main; "
            "sys.exit(main(['--data-dir', sys.argv[1], 'seed']))")
    done = subprocess.run([sys.executable, "-c", code, str(data)], env=env,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode != 0
    assert f"chmod 700 {data}" in done.stderr and "Traceback" not in done.stderr
    data.chmod(0o700)
    (data / "secret.key").chmod(0o644)
    with pytest.raises(TooOpen, match=f"chmod 600 {data / 'secret.key'}"):
        check_private(data)
    (data / "secret.key").chmod(0o600)
    check_private(data)


def test_the_secret_file_is_never_left_empty(tmp_path):
    """An interrupted first start left an empty secret.key and every later login failed."""
    data = tmp_path / "data"
    data.mkdir(mode=0o700)
    (data / "secret.key").write_text("")
    secret = Config(data_dir=data).signing_secret()
    assert len(secret) >= 32
    assert (data / "secret.key").read_text().strip() == secret
    assert Config(data_dir=data).signing_secret() == secret  # stable once written
    assert stat.S_IMODE((data / "secret.key").stat().st_mode) == 0o600
    assert not [p for p in data.iterdir() if p.name.startswith(".secret")]


def test_concurrent_first_starts_agree_on_one_secret(tmp_path):
    data = tmp_path / "data"
    code = ("import sys; from pathlib import Path; from meditrack_tui.config import Config; "
            "print(Config(data_dir=Path(sys.argv[1])).signing_secret())")
    procs = [subprocess.Popen([sys.executable, "-c", code, str(data)], stdout=subprocess.PIPE,
                              text=True) for _ in range(6)]
    secrets = {p.communicate(timeout=60)[0].strip() for p in procs}
    assert len(secrets) == 1 and len(secrets.pop()) >= 32


def _pdf_with(build) -> bytes:
    from pypdf import PdfReader, PdfWriter

    writer = PdfWriter(clone_from=PdfReader(io.BytesIO(PDF.read_bytes())))
    build(writer)
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


@pytest.mark.parametrize("what,build", [
    ("scripts", lambda w: w.add_js("app.alert('hi');")),
    ("attached files", lambda w: w.add_attachment("page.html", b"<script>x</script>")),
])
def test_a_pdf_with_scripts_or_attachments_is_refused(s, who, what, build):
    import warnings

    doctor = who["demo.doctor"]
    pid = Peek(s.store).patient_id("MRN-000002")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        data = _pdf_with(build)
    with pytest.raises(ValidationError, match=f"contains {what}"):
        s.reports.upload_bytes(doctor, pid, "lab.pdf", data, kind="lab result")


def test_a_png_with_an_archive_appended_is_refused(s, who):
    doctor = who["demo.doctor"]
    pid = Peek(s.store).patient_id("MRN-000002")
    png = (sample_data_dir() / "reports" / "p04_ecg_strip.png").read_bytes()
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("index.html", "<script>alert(1)</script>")
    with pytest.raises(ValidationError, match="other data appended"):
        s.reports.upload_bytes(doctor, pid, "ecg.png", png + archive.getvalue(), kind="imaging")
    assert s.reports.upload_bytes(doctor, pid, "ecg.png", png, kind="imaging")
