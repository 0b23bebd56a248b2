"""``meditrack backup`` / ``backup --verify`` / ``restore`` on the embedded store: a backup
taken while another thread keeps writing is one consistent moment, restores into a new
data directory with every record and file the same, a flipped byte is refused naming
the member, a non-empty store is never restored over, and the exit codes."""

from __future__ import annotations

import threading
import zipfile
from datetime import timedelta
from pathlib import Path

import pytest

from meditrack_tui import cli
from meditrack_tui.audit_chain import key_for, verify
from meditrack_tui.backup import (
    FILES_MEMBER,
    open_backup,
    read_records,
    restore_backup,
    verify_backup,
    write_backup,
)
from meditrack_tui.store import connect
from meditrack_tui.store.base import BACKUP_COLLECTIONS
from tests.conftest import FIXED_NOW, make_config

SECRET = make_config(Path("unused")).secret


def everything(store) -> dict[str, list]:
    return {name: list(store.export_records(name)) for name in BACKUP_COLLECTIONS}


def in_backup(path: Path) -> dict[str, list]:
    archive, _ = open_backup(path)
    with archive:
        return {name: list(read_records(archive, name)) for name in BACKUP_COLLECTIONS}


def test_backup_during_concurrent_writes_is_one_moment(demo_dir, tmp_path):
    """A writer thread (its own connection) books appointments and appends audit entries
    in units of work while the backup runs: the backup holds whole units only (each
    appointment with its audit entry), its chain verifies, and a restore gives back
    exactly what the backup holds."""
    cfg = make_config(demo_dir)
    key = key_for(cfg.secret)
    reader, writer = connect(cfg), connect(cfg)
    patient = next(iter(writer.export_records("patients")))
    doctor = next(u for u in writer.export_records("users") if u["role"] == "doctor")
    stop, written, errors = threading.Event(), [], []

    def write() -> None:
        n = 0
        try:
            while not stop.is_set() or n < 20:
                with writer.unit_of_work():
                    start = FIXED_NOW + timedelta(days=30, minutes=15 * n)
                    appt = writer.appointments.add({
                        "patient_id": patient["id"], "patient_name": "P", "mrn": "M",
                        "doctor_id": doctor["id"], "doctor_name": "D", "start": start,
                        "day": start.date().isoformat(), "reason": f"race {n}",
                        "status": "scheduled", "version": 1})
                    writer.audit.append({"ts": start, "username": "writer", "role": "doctor",
                                         "action": "appointment.create", "outcome": "ok",
                                         "record_id": appt["id"]}, key)
                written.append(appt["id"])
                n += 1
        except Exception as exc:  # noqa: BLE001 - reported by the test
            errors.append(exc)

    thread = threading.Thread(target=write)
    thread.start()
    try:
        while len(written) < 5:
            pass
        paths = []
        for i in range(3):  # several backups while the writer runs
            paths.append(tmp_path / f"live-{i}.zip")
            write_backup(reader, paths[-1])
    finally:
        stop.set()
        thread.join(30)
    assert not errors
    assert len(written) >= 20
    for path in paths:
        held = in_backup(path)
        raced = {a["id"] for a in held["appointments"] if a["reason"].startswith("race")}
        audited = {e.get("record_id") for e in held["audit"] if e["username"] == "writer"}
        assert raced == audited  # whole units of work only
        assert verify_backup(path, key).intact
    # restore the last one into a new data directory and compare every record and file
    target_cfg = make_config(tmp_path / "restored")
    target = connect(target_cfg)
    result = restore_backup(paths[-1], target, key)
    assert result.intact, result.lines()
    assert everything(target) == in_backup(paths[-1])
    archive, manifest = open_backup(paths[-1])
    with archive:
        for info, data in target.export_files():
            assert data == archive.read(f"files/{info['file_id']}")
    assert manifest["files"] == len(list(target.export_files())) == 10
    assert verify(target.audit, key).intact
    reader.close()
    writer.close()
    target.close()


def flip_byte_in(path: Path, member: str) -> None:
    """Flip one byte in the middle of a member's stored data."""
    with zipfile.ZipFile(path) as archive:
        info = archive.getinfo(member)
    raw = bytearray(path.read_bytes())
    name_len = int.from_bytes(raw[info.header_offset + 26:info.header_offset + 28], "little")
    extra_len = int.from_bytes(raw[info.header_offset + 28:info.header_offset + 30], "little")
    start = info.header_offset + 30 + name_len + extra_len
    raw[start + info.compress_size // 2] ^= 0x01
    path.write_bytes(bytes(raw))


@pytest.fixture
def backup_file(demo_dir, tmp_path, monkeypatch) -> Path:
    monkeypatch.setenv("MEDITRACK_SECRET", SECRET)
    path = tmp_path / "clinic.zip"
    assert cli.main(["--data-dir", str(demo_dir), "backup", str(path)]) == 0
    return path


def test_cli_backup_verify_restore(backup_file, tmp_path, capsys):
    assert (backup_file.stat().st_mode & 0o777) == 0o600
    assert cli.main(["backup", "--verify", str(backup_file)]) == 0
    assert "audit trail intact" in capsys.readouterr().out
    target = tmp_path / "new-home"
    assert cli.main(["restore", str(backup_file), "--data-dir", str(target)]) == 0
    out = capsys.readouterr().out
    assert "Every collection and report file matches" in out and "audit trail intact" in out
    assert cli.main(["--data-dir", str(target), "audit", "verify"]) == 0


@pytest.mark.parametrize("member", ["files/", "records/patients.jsonl", FILES_MEMBER])
def test_a_flipped_byte_is_refused_naming_the_member(backup_file, tmp_path, capsys, member):
    with zipfile.ZipFile(backup_file) as archive:
        name = next(n for n in archive.namelist() if n.startswith(member))
    flip_byte_in(backup_file, name)
    check = verify_backup(backup_file)
    assert not check.intact and any(name in p for p in check.problems), check.problems
    assert cli.main(["backup", "--verify", str(backup_file)]) == 1
    assert name in capsys.readouterr().out
    target = tmp_path / "never"
    assert cli.main(["restore", str(backup_file), "--data-dir", str(target)]) == 1
    err = capsys.readouterr().err
    assert name in err and "nothing was restored" in err
    store = connect(make_config(target))
    assert store.holds_data() == []
    store.close()


def test_restore_over_a_non_empty_store_is_refused(backup_file, demo_dir, capsys):
    before = in_backup(backup_file)
    assert cli.main(["restore", str(backup_file), "--data-dir", str(demo_dir)]) == 2
    assert "is not empty" in capsys.readouterr().err
    store = connect(make_config(demo_dir))
    assert everything(store) == before
    store.close()


def test_restore_without_the_secret_says_how_to_bring_it(backup_file, tmp_path, capsys,
                                                        monkeypatch):
    monkeypatch.delenv("MEDITRACK_SECRET")
    assert cli.main(["restore", str(backup_file), "--data-dir", str(tmp_path / "t")]) == 2
    out = capsys.readouterr().out
    assert "not checked" in out and "copy secret.key" in out
    assert not (tmp_path / "t" / "secret.key").exists()  # never made up a new one


def test_restore_with_another_secret_says_it_does_not_match(backup_file, tmp_path, capsys,
                                                           monkeypatch):
    monkeypatch.setenv("MEDITRACK_SECRET", "some-other-clinic-secret-" + "y" * 30)
    assert cli.main(["restore", str(backup_file), "--data-dir", str(tmp_path / "t")]) == 1
    assert "None of the audit seals match this secret" in capsys.readouterr().out


def test_backup_cli_errors(backup_file, tmp_path, capsys, demo_dir):
    assert cli.main(["--data-dir", str(demo_dir), "backup", str(backup_file)]) == 1
    assert "already exists" in capsys.readouterr().err
    assert cli.main(["backup", "--verify", str(tmp_path / "missing.zip")]) == 2
    not_zip = tmp_path / "notes.txt"
    not_zip.write_text("hello")
    assert cli.main(["backup", "--verify", str(not_zip)]) == 1
    assert "not a MediTrack backup" in capsys.readouterr().err
    assert cli.main(["restore", str(tmp_path / "missing.zip"), "--data-dir",
                     str(tmp_path / "x")]) == 2
