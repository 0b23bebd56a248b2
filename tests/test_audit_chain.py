"""The audit chain on the embedded store: the seal itself, a store from before the chain,
`meditrack audit verify` (exit codes and output, in a subprocess), several processes
appending at once, and a writer killed with SIGKILL. The tamper tests that run on both
stores are in tests/store/test_contract_audit_chain.py."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from argon2 import PasswordHasher

from meditrack_tui.audit_chain import INSERTED, AuditKey, canonical, key_for
from meditrack_tui.config import Config
from meditrack_tui.store import new_id
from tests.conftest import Clock
from tests.tamper import Tamper

ROOT = Path(__file__).resolve().parents[1]
SECRET = "chain-secret-" + "k" * 40
PASSWORD = "chain-password-1"
CHEAP_HASHER = {"time_cost": 1, "memory_cost": 8, "parallelism": 1}
T0 = datetime(2026, 3, 4, 10, 0, 0, 123456)


# --- the seal ---

def entry(**fields):
    base = {"id": "0123abcd", "ts": T0, "user_id": "u1", "username": "ana", "role": "doctor",
            "action": "patient.read", "record_type": "patient", "record_id": "p1",
            "patient_id": "p1", "outcome": "ok", "detail": None}
    return {**base, **fields}


def test_canonical_is_stable_and_leaves_out_only_the_chain_fields():
    a = entry()
    b = dict(reversed(list(entry().items())), seq=9, prev="x", hash="y")
    assert canonical(a) == canonical(b)
    assert canonical(entry(detail=None)) == canonical({k: v for k, v in a.items()
                                                       if k != "detail"})
    # milliseconds, as both stores keep times
    assert b'"ts":"2026-03-04T10:00:00.123"' in canonical(a)
    assert canonical(a) == canonical(entry(ts=T0.replace(microsecond=123999)))


def test_the_seal_covers_every_field_the_place_and_the_link():
    key = AuditKey(SECRET)
    sealed = key.seal(entry(), 4, "a" * 64)
    changes = [entry(username="bob"), entry(action="patient.update"), entry(outcome="denied"),
               entry(ts=T0 + timedelta(seconds=1)), entry(id="0123abce"),
               entry(detail="x"), entry(extra={"count": 3})]
    assert all(key.seal(e, 4, "a" * 64) != sealed for e in changes)
    assert key.seal(entry(), 5, "a" * 64) != sealed
    assert key.seal(entry(), 4, "b" * 64) != sealed
    assert AuditKey(SECRET + "x").seal(entry(), 4, "a" * 64) != sealed
    assert key.check({**entry(), "seq": 4, "prev": "a" * 64, "hash": sealed})
    assert not key.check({**entry(detail="x"), "seq": 4, "prev": "a" * 64, "hash": sealed})
    # the key is derived, not the secret itself; one per secret
    assert key_for(SECRET) is key_for(SECRET)
    with pytest.raises(ValueError):
        AuditKey("")


# --- on the embedded store, through the services ---

def open_services(data_dir: Path, clock=None):
    from meditrack_tui.services import Services
    from meditrack_tui.store import connect

    config = Config(data_dir=data_dir, secret=SECRET)
    store = connect(config)
    services = Services(store, config, clock=clock or Clock())
    services.auth.hasher = PasswordHasher(**CHEAP_HASHER)
    return services


def clinic(data_dir: Path) -> int:
    """An admin and a doctor who creates and reads a patient; how many entries."""
    s = open_services(data_dir)
    try:
        s.auth.create_first_admin("ch.admin", PASSWORD, "Chain Admin")
        admin = s.auth.login("ch.admin", PASSWORD)
        s.users.create(admin, username="ch.doctor", password=PASSWORD, role="doctor",
                       full_name="Dr. Chain")
        doctor = s.auth.login("ch.doctor", PASSWORD)
        patient = s.patients.create(doctor, {"first_name": "Ada", "last_name": "Byron",
                                             "dob": "1980-12-10", "sex": "F"})
        s.patients.get(doctor, patient["id"])
        return Tamper(s.store).last_seq()
    finally:
        s.store.close()


def test_the_demo_clinic_seeds_a_sealed_trail(demo_services):
    report = demo_services.audit.verify_chain()
    assert report.intact and report.entries >= 1, report.lines()


def test_a_store_from_before_the_chain_keeps_its_entries_and_counts_them(tmp_path):
    """Schema 3 had no seq: its entries stay, predate the chain, are not a failure; an
    unsealed entry dated after the chain's first one is an insertion."""
    from meditrack_tui.store.sqlite import DB_FILE, SqliteStore
    from meditrack_tui.store.sqlite.schema import MIGRATIONS

    data_dir = tmp_path / "data"
    old = SqliteStore(data_dir, migrations={2: MIGRATIONS[2], 3: MIGRATIONS[3]},
                      schema_version=3)
    old.close()
    raw = sqlite3.connect(data_dir / DB_FILE)
    with raw:
        for n in range(3):
            ts = (T0 - timedelta(days=3 - n)).isoformat(timespec="milliseconds")
            doc = {"id": f"old{n}", "ts": {"$dt": ts}, "username": "ana", "action": "login",
                   "outcome": "ok"}
            raw.execute("INSERT INTO audit (id, doc, ts, username, action, outcome) "
                        "VALUES (?, ?, ?, 'ana', 'login', 'ok')", (f"old{n}", json.dumps(doc), ts))
    raw.close()
    n = clinic(data_dir)  # opens (migrating to the chain) and writes through the services
    s = open_services(data_dir)
    try:
        report = s.audit.verify_chain()
        assert report.intact, report.lines()
        assert report.predating == 3
        assert report.summary() == (f"audit trail intact: {n} entries, chain 1..{n}; 3 older "
                                    "entries predate the chain and are not sealed")
        forged = new_id()
        Tamper(s.store).insert({"id": forged, "ts": datetime(2026, 3, 4, 11, 0),
                                "username": "ana", "action": "patient.delete", "outcome": "ok"})
        report = s.audit.verify_chain()
        assert [(p.kind, p.seq, p.entry and p.entry["id"]) for p in report.problems] == [
            (INSERTED, None, forged)]
        assert report.predating == 3
    finally:
        s.store.close()


def test_a_failed_append_rolls_back_with_its_unit_of_work(tmp_path):
    """The entry, its place and the head move with the unit of work: a block that raises
    leaves the chain as it was, and the next entry takes the same place."""
    data_dir = tmp_path / "data"
    n = clinic(data_dir)
    s = open_services(data_dir)
    try:
        head = Tamper(s.store).head()
        with pytest.raises(RuntimeError), s.audit.uow():
            s.audit.audit(None, "login", outcome="failed", username="-")
            raise RuntimeError("boom")
        assert Tamper(s.store).head() == head and Tamper(s.store).last_seq() == n
        s.audit.audit(None, "login", outcome="failed", username="-")
        assert Tamper(s.store).entry(n + 1)["prev"] == head["hash"]
        assert s.audit.verify_chain().intact
    finally:
        s.store.close()


# --- the command ---

def verify_cli(data_dir: Path, home: Path, *extra: str, secret: str | None = SECRET):
    env = {k: v for k, v in os.environ.items() if not k.startswith("MEDITRACK_")}
    env.update({"HOME": str(home), "XDG_DATA_HOME": str(home / "xdg"),
                "PYTHONPATH": str(ROOT)})  # this checkout's code, not an installed one
    if secret is not None:
        env["MEDITRACK_SECRET"] = secret
    return subprocess.run([sys.executable, "-m", "meditrack_tui.cli", "audit", "verify",
                           "--data-dir", str(data_dir), *extra], capture_output=True, text=True,
                          env=env, cwd=home, timeout=120)


def test_audit_verify_command_exit_codes_and_output(tmp_path):
    data_dir = tmp_path / "data"
    n = clinic(data_dir)
    clean = verify_cli(data_dir, tmp_path)
    assert clean.returncode == 0, clean.stderr
    summary, checkpoint = clean.stdout.splitlines()
    assert summary == f"audit trail intact: {n} entries, chain 1..{n}"
    assert checkpoint.startswith(f"checkpoint: {n}:")
    assert clean.stderr == ""
    since = checkpoint.split()[1]
    assert verify_cli(data_dir, tmp_path, "--since", since).returncode == 0
    garbled = verify_cli(data_dir, tmp_path, "--since", "yesterday")
    assert garbled.returncode == 2 and "is not a checkpoint" in garbled.stderr

    s = open_services(data_dir)
    tamper = Tamper(s.store)
    edited = tamper.entry(2)
    tamper.edit(2, detail="edited by hand")
    tamper.delete(4)
    s.store.close()
    bad = verify_cli(data_dir, tmp_path)
    assert bad.returncode == 1, bad.stderr
    lines = bad.stdout.splitlines()
    assert lines[0] == f"audit trail NOT intact: 2 problems in {n - 1} sealed entries"
    assert lines[1].startswith(f"entry seq 2 (id {edited['id']}, ") and " EDITED: " in lines[1]
    assert lines[2] == "entry seq 4 REMOVED: missing from the numbering"
    assert "Traceback" not in bad.stdout + bad.stderr

    # another secret: every seal fails (nothing passes with the wrong key)
    wrong = verify_cli(data_dir, tmp_path, secret="another-secret-" + "q" * 40)
    assert wrong.returncode == 1 and "NOT intact" in wrong.stdout
    # no secret at all: it cannot check, and says why (exit 2), creating no new secret
    missing = verify_cli(data_dir, tmp_path, secret=None)
    assert missing.returncode == 2 and missing.stdout == ""
    assert "signing secret" in missing.stderr and "Traceback" not in missing.stderr
    assert not (data_dir / "secret.key").exists()


def test_audit_verify_is_in_the_help():
    from meditrack_tui.cli import build_parser

    parser = build_parser()
    assert "meditrack audit verify" in parser.epilog
    args = parser.parse_args(["audit", "verify", "--data-dir", "/x"])
    assert (args.command, args.audit_command, args.data_dir) == ("audit", "verify", "/x")


# --- several processes; a killed one ---

WORKER = textwrap.dedent("""
    import pathlib, sys, time
    from argon2 import PasswordHasher
    from meditrack_tui.config import Config
    from meditrack_tui.errors import PermissionDenied
    from meditrack_tui.store import connect
    from meditrack_tui.services import Services

    data_dir, secret, password, name, count, together = sys.argv[1:7]
    config = Config(data_dir=data_dir, secret=secret)
    store = connect(config)
    services = Services(store, config)
    services.auth.hasher = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)
    session = services.auth.login("ch.doctor", password)
    barrier = pathlib.Path(data_dir) / "barrier"
    barrier.mkdir(exist_ok=True)
    (barrier / name).touch()
    deadline = time.monotonic() + 60
    while len(list(barrier.iterdir())) < int(together) and time.monotonic() < deadline:
        time.sleep(0.005)
    print("ready", flush=True)
    for i in range(int(count)):
        doc = services.patients.create(session, {"first_name": f"{name}{i}",
                                                 "last_name": "Chain", "dob": "1970-01-01",
                                                 "sex": "M"})
        services.patients.get(session, doc["id"])
        try:
            services.users.list(session)
        except PermissionDenied:
            pass
    store.close()
""")


def worker(data_dir: Path, name: str, count: int, together: int) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-c", WORKER, str(data_dir), SECRET, PASSWORD,
                             name, str(count), str(together)], cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def test_concurrent_processes_append_one_unbroken_chain(tmp_path):
    data_dir = tmp_path / "data"
    n = clinic(data_dir)
    procs, per = 4, 12
    running = [worker(data_dir, f"w{k}", per, procs) for k in range(procs)]
    for proc in running:
        out, err = proc.communicate(timeout=180)
        assert proc.returncode == 0, err
    s = open_services(data_dir)
    try:
        report = s.audit.verify_chain(batch=50)
        # each process: its login, and per round a create, a read and a denial
        total = n + procs * (1 + 3 * per)
        assert report.intact, report.lines()
        assert (report.entries, report.last_seq) == (total, total)
        assert Tamper(s.store).head()["seq"] == total
    finally:
        s.store.close()


def test_a_writer_killed_mid_stream_leaves_a_trail_that_verifies(tmp_path):
    data_dir = tmp_path / "data"
    clinic(data_dir)
    for round_ in range(3):
        proc = worker(data_dir, f"k{round_}", 10_000, 1)
        assert proc.stdout is not None
        assert proc.stdout.readline().strip() == "ready"
        time.sleep(0.3 + 0.2 * round_)
        os.kill(proc.pid, signal.SIGKILL)
        proc.communicate(timeout=30)
        (data_dir / "barrier" / f"k{round_}").unlink()
    s = open_services(data_dir)
    try:
        report = s.audit.verify_chain()
        assert report.intact, report.lines()
        assert report.entries > 30  # the writers got somewhere before each kill
    finally:
        s.store.close()

