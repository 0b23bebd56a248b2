"""``meditrack doctor``: every line that can fail, fails when it should, and the command
exits 1 then (0 when all is well)."""

from __future__ import annotations

import json
import sqlite3
from datetime import datetime, timedelta

import pytest

from meditrack_tui import cli
from meditrack_tui.doctor import FAIL, OK, exit_code, run_checks
from tests.conftest import make_config


def status(lines, what):
    return next(line.status for line in lines if line.what == what)


@pytest.fixture
def ready(demo_dir, tmp_path):
    """The demo clinic with a backup just made."""
    cfg = make_config(demo_dir)
    from meditrack_tui.backup import record_last_backup, write_backup
    from meditrack_tui.store import connect

    store = connect(cfg)
    record_last_backup(demo_dir, write_backup(store, tmp_path / "b.zip"))
    store.close()
    return cfg


def test_all_well(ready):
    lines = run_checks(ready, min_free=1)
    assert {line.what: line.status for line in lines} == {
        "data directory": OK, "secret": OK, "store": OK, "live updates": "INFO",
        "audit chain": OK, "schema": OK, "disk space": OK, "last backup": OK}
    assert exit_code(lines) == 0


def test_data_directory_open_to_others(ready):
    ready.data_dir.chmod(0o755)
    lines = run_checks(ready, min_free=1)
    assert status(lines, "data directory") == FAIL and exit_code(lines) == 1
    assert "chmod 700" in str(next(x for x in lines if x.what == "data directory"))


def test_no_secret(ready):
    ready.secret = None
    lines = run_checks(ready, min_free=1)
    assert status(lines, "secret") == FAIL and status(lines, "audit chain") == FAIL
    assert not (ready.data_dir / "secret.key").exists()  # reported, never created


def test_no_database(tmp_path):
    cfg = make_config(tmp_path / "nothing")
    lines = run_checks(cfg, min_free=1)
    assert status(lines, "data directory") == FAIL and status(lines, "store") == FAIL
    assert not (tmp_path / "nothing").exists()


def test_newer_schema_is_a_failing_store(ready):
    with sqlite3.connect(ready.data_dir / "meditrack.db") as db:
        db.execute("UPDATE meta SET value = '99' WHERE key = 'schema_version'")
    lines = run_checks(ready, min_free=1)
    assert status(lines, "store") == FAIL and "newer MediTrack" in str(lines)


def test_low_disk_space(ready):
    lines = run_checks(ready, min_free=1 << 62)
    assert status(lines, "disk space") == FAIL and exit_code(lines) == 1


def test_last_backup_missing_or_old(ready):
    assert status(run_checks(ready, min_free=1, now=lambda: datetime.now() + timedelta(
        days=2)), "last backup") == FAIL
    (ready.data_dir / "last-backup.json").unlink()
    assert status(run_checks(ready, min_free=1), "last backup") == FAIL


def test_audit_chain_tampered(ready):
    with sqlite3.connect(ready.data_dir / "meditrack.db") as db:
        doc, = db.execute("SELECT doc FROM audit WHERE seq = 1").fetchone()
        entry = json.loads(doc)
        entry["username"] = "someone.else"
        db.execute("UPDATE audit SET doc = ? WHERE seq = 1", (json.dumps(entry),))
    lines = run_checks(ready, min_free=1)
    assert status(lines, "audit chain") == FAIL and "NOT intact" in str(lines)


def test_cli_exit_codes(ready, tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("MEDITRACK_SECRET", ready.secret)
    code = cli.main(["doctor", "--data-dir", str(ready.data_dir)])
    out = capsys.readouterr().out
    # the test machine's free space decides the disk line; every other line is OK
    assert [line for line in out.splitlines() if line.startswith("FAIL")
            and "disk space" not in line] == []
    assert code == (1 if "FAIL  disk space" in out else 0)
    assert cli.main(["doctor", "--data-dir", str(tmp_path / "none")]) == 1
    assert "Fix what says FAIL" in capsys.readouterr().out
