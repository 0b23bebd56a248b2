"""A read-only, full, damaged or busy embedded store: a sentence naming the data directory
and what to check, never a traceback (issue 11, "Input and robustness").

The read-only and full disks are real: a read-only bind mount and a small tmpfs, which need
root (CI runs as root); where mounting is not possible those tests skip and say why, and
the same SQLite errors are provoked another real way (PRAGMA max_page_count makes SQLite
report SQLITE_FULL, damaged and truncated files, a file that is not a database).
"""

from __future__ import annotations

import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from meditrack_tui.config import Config
from meditrack_tui.errors import (
    DemoIncomplete,
    StoreBusy,
    StoreCorrupt,
    StoreFull,
    StoreReadOnly,
    StoreUnavailable,
)
from meditrack_tui.store import PatientQuery, connect
from meditrack_tui.store.sqlite import DB_FILE, SqliteStore
from tests.conftest import make_config
from tests.test_cli import clean_env

ROOT = Path(__file__).resolve().parent.parent
PASSWORD = "meditrack-demo"


def meditrack(home: Path, *args: str, timeout: float = 120, **env: str):
    return subprocess.run([sys.executable, "-m", "meditrack_tui", *args], capture_output=True,
                          text=True, timeout=timeout, env=clean_env(home, **env), cwd=ROOT)


def assert_sentence(result: subprocess.CompletedProcess, *needles: str) -> None:
    """Exited non-zero with one message on stderr naming each needle, and no traceback."""
    assert result.returncode != 0, result.stdout
    assert "Traceback" not in result.stderr and "Error:" not in result.stderr, result.stderr
    assert result.stderr.startswith("meditrack: "), result.stderr
    for needle in needles:
        assert needle in result.stderr, result.stderr


# --- real read-only and full disks (mounts) ---

@pytest.fixture
def mount():
    """mount(*args, target): mount for this test (unmounted after); skips, saying why, where
    this machine cannot mount (not root, or no mount privilege in a container)."""
    made: list[str] = []

    def run(*args: str) -> None:
        target = args[-1]
        result = subprocess.run(["mount", *args], capture_output=True, text=True)
        if result.returncode != 0:
            pytest.skip(f"cannot mount here ({result.stderr.strip() or result.returncode}): "
                        "the real read-only/full disk tests need root")
        made.append(target)

    yield run
    for target in reversed(made):
        subprocess.run(["umount", "-l", target], capture_output=True)


def read_only(mount, folder: Path) -> None:
    mount("--bind", str(folder), str(folder))
    mount("-o", "remount,ro,bind", str(folder))


def fill(folder: Path) -> None:
    """Write a file until the disk holding ``folder`` has no space left."""
    fd = os.open(folder / "filler", os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    try:
        for size in (65536, 4096, 512, 1):
            try:
                while True:
                    os.write(fd, b"\0" * size)
            except OSError:
                pass
    finally:
        os.close(fd)


def test_read_only_disk_is_a_sentence_from_every_command(tmp_path, demo_dir, mount):
    read_only(mount, demo_dir)
    for args in (["seed", "--demo"], ["seed", "--patients", "3"], ["create-admin"]):
        result = meditrack(tmp_path, *args, "--data-dir", str(demo_dir))
        assert_sentence(result, str(demo_dir), "read-only", "permissions")
    new = demo_dir / "new-data"
    assert_sentence(meditrack(tmp_path, "seed", "--data-dir", str(new)), str(new), "read-only")


def test_full_disk_is_a_sentence(tmp_path, demo_template, mount):
    disk = tmp_path / "disk"
    disk.mkdir()
    mount("-t", "tmpfs", "-o", "size=3m", "tmpfs", str(disk))
    shutil.copytree(demo_template, disk / "data")
    fill(disk)
    result = meditrack(tmp_path, "seed", "--patients", "3", "--data-dir", str(disk / "data"))
    assert_sentence(result, str(disk / "data"), "is full", "Free space")


def test_disk_filling_up_during_a_seed_is_a_sentence(tmp_path, mount):
    disk = tmp_path / "disk"
    disk.mkdir()
    mount("-t", "tmpfs", "-o", "size=2m", "tmpfs", str(disk))
    result = meditrack(tmp_path, "seed", "--patients", "5000", "--data-dir", str(disk / "d"),
                       timeout=300)
    assert_sentence(result, str(disk / "d"), "is full", "Free space")
    # what was saved is intact: whole batches, and the store opens again once space is freed
    (disk / "d" / "secret.key").unlink(missing_ok=True)
    store = connect(make_config(disk / "d"))
    try:
        assert store.db.connection().execute("PRAGMA quick_check").fetchone() == ("ok",)
    finally:
        store.close()


def test_login_on_a_full_disk_says_so(demo_template, tmp_path, mount):
    """A store that opened, then the disk filled: a login (which records its session and an
    audit entry) is refused with the sentence; reads of what is stored still work."""
    disk = tmp_path / "disk"
    disk.mkdir()
    mount("-t", "tmpfs", "-o", "size=3m", "tmpfs", str(disk))
    shutil.copytree(demo_template, disk / "data")
    services = open_services(disk / "data")
    try:
        fill(disk)
        with pytest.raises(StoreFull) as caught:
            for _ in range(50):  # until SQLite needs a page it cannot have
                services.auth.login("demo.doctor", PASSWORD)
        assert str(disk / "data") in caught.value.message and "is full" in caught.value.message
        assert services.store.patients.find(PatientQuery(archived=None)).total == 40
    finally:
        services.store.close()


# --- the same errors, provoked without mounting ---

def open_services(data_dir: Path):
    from meditrack_tui.services import Services

    config = make_config(data_dir)
    return Services(connect(config), config)


def test_sqlite_full_through_a_size_limit(demo_dir):
    services = open_services(demo_dir)
    try:
        conn = services.store.db.connection()
        pages = conn.execute("PRAGMA page_count").fetchone()[0]
        conn.execute(f"PRAGMA max_page_count = {pages}")
        with pytest.raises(StoreFull) as caught:
            for _ in range(200):
                services.auth.login("demo.doctor", PASSWORD)
        assert str(demo_dir) in caught.value.message
        assert caught.value.title == "Disk full"
    finally:
        services.store.close()


def page_of(data_dir: Path, table: str) -> int:
    raw = sqlite3.connect(data_dir / DB_FILE)
    try:
        return raw.execute("SELECT rootpage FROM sqlite_master WHERE name = ?",
                           (table,)).fetchone()[0]
    finally:
        raw.close()


def scribble(data_dir: Path, page: int) -> None:
    """Overwrite the inside of one page (not its first bytes) with garbage."""
    raw = sqlite3.connect(data_dir / DB_FILE)
    size = raw.execute("PRAGMA page_size").fetchone()[0]
    raw.close()
    with open(data_dir / DB_FILE, "r+b") as handle:
        handle.seek((page - 1) * size + 8)
        handle.write(bytes(range(256)) * ((size - 16) // 256))


def test_damage_met_while_reading_rows_is_store_corrupt(demo_dir):
    scribble(demo_dir, page_of(demo_dir, "patients"))
    services = open_services(demo_dir)
    try:
        services.auth.login("demo.doctor", PASSWORD)  # users are intact
        with pytest.raises(StoreCorrupt) as caught:
            services.store.patients.find(PatientQuery(archived=None, limit=500))
        assert str(demo_dir / DB_FILE) in caught.value.message
        assert "backup" in caught.value.message
    finally:
        services.store.close()


def test_damaged_schema_record_is_store_corrupt_at_open(demo_dir):
    scribble(demo_dir, page_of(demo_dir, "meta"))
    with pytest.raises(StoreCorrupt) as caught:
        SqliteStore(demo_dir)
    assert str(demo_dir / DB_FILE) in caught.value.message and "damaged" in caught.value.message


@pytest.mark.parametrize("damage", ["truncated", "scribbled", "not a database"])
def test_damaged_file_is_a_sentence_from_the_cli(tmp_path, demo_dir, damage):
    path = demo_dir / DB_FILE
    if damage == "truncated":
        os.truncate(path, path.stat().st_size // 3)
    elif damage == "scribbled":
        for page in range(3, path.stat().st_size // 4096, 3):
            scribble(demo_dir, page)
    else:
        path.write_bytes(b"Dear clinic, this is a letter." * 500)
    for args in (["seed", "--patients", "3"], ["seed", "--demo"]):
        result = meditrack(tmp_path, *args, "--data-dir", str(demo_dir))
        assert_sentence(result, str(path), "damaged", "backup")


def test_chattr_immutable_file_is_read_only(tmp_path, demo_dir):
    """Root ignores file modes; an immutable file is refused even to root."""
    path = demo_dir / DB_FILE
    result = subprocess.run(["chattr", "+i", str(path)], capture_output=True, text=True)
    if result.returncode != 0:
        pytest.skip(f"chattr +i is not possible here ({result.stderr.strip()})")
    try:
        result = meditrack(tmp_path, "seed", "--patients", "3", "--data-dir", str(demo_dir))
        assert_sentence(result, str(demo_dir), "may not write the file meditrack.db",
                        "permissions")
    finally:
        subprocess.run(["chattr", "-i", str(path)], capture_output=True)


# --- busy: a stopped process holding the write lock ---

HOLDER = textwrap.dedent("""
    import os, signal, sqlite3, sys
    conn = sqlite3.connect(sys.argv[1], isolation_level=None)
    conn.execute("BEGIN IMMEDIATE")
    conn.execute("INSERT INTO meta (key, value) VALUES ('held', 'yes')")
    print("holding", flush=True)
    os.kill(os.getpid(), signal.SIGSTOP)  # stopped while holding the write lock
""")


@pytest.fixture
def stopped_holder(demo_dir):
    """Another process that took SQLite's write lock and was then stopped (SIGSTOP)."""
    child = subprocess.Popen([sys.executable, "-c", HOLDER, str(demo_dir / DB_FILE)],
                             stdout=subprocess.PIPE, text=True)
    assert child.stdout.readline().strip() == "holding"
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:  # wait until it is really stopped
        with open(f"/proc/{child.pid}/stat") as handle:
            if handle.read().split(") ", 1)[1].startswith("T"):
                break
        time.sleep(0.01)
    yield child
    child.send_signal(signal.SIGKILL)
    child.wait()


def test_stopped_process_holding_the_lock(demo_dir, stopped_holder):
    # the store opens (an up-to-date store takes no write lock to open) and reads work
    services = open_services(demo_dir)
    try:
        assert services.store.patients.find(PatientQuery(archived=None)).total == 40
        began = time.monotonic()
        with pytest.raises(StoreBusy) as caught:
            services.auth.login("demo.doctor", PASSWORD)  # a write: session and audit
        assert time.monotonic() - began < 8
        message = caught.value.message
        assert "Another MediTrack process is holding the database" in message
        assert str(demo_dir) in message
        assert services.store.patients.find(PatientQuery(archived=None)).total == 40
        stopped_holder.send_signal(signal.SIGKILL)  # the holder goes: its lock with it
        stopped_holder.wait()
        assert services.auth.login("demo.doctor", PASSWORD).username == "demo.doctor"
    finally:
        services.store.close()


def test_stopped_process_holding_the_lock_cli(tmp_path, demo_dir, stopped_holder):
    began = time.monotonic()
    result = meditrack(tmp_path, "seed", "--patients", "3", "--data-dir", str(demo_dir))
    assert time.monotonic() - began < 20
    assert_sentence(result, "Another MediTrack process is holding the database", str(demo_dir))


# --- a seed killed midway ---

SLOW_SEED = textwrap.dedent("""
    import sys, time
    from pathlib import Path
    from meditrack_tui import cli, seed

    real = seed._demo_reports

    def reports_then_wait(*args, **kwargs):
        count = real(*args, **kwargs)
        Path(sys.argv[1]).touch()  # users, patients, vitals and reports are written
        time.sleep(60)
        return count

    seed._demo_reports = reports_then_wait
    sys.exit(cli.main(["seed", "--demo", "--data-dir", sys.argv[2]]))
""")


def test_seed_killed_midway_is_completed_on_the_next_start(tmp_path):
    data = tmp_path / "data"
    midway = tmp_path / "midway"
    child = subprocess.Popen([sys.executable, "-c", SLOW_SEED, str(midway), str(data)],
                             cwd=ROOT, env=clean_env(tmp_path), stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 60
        while not midway.exists() and time.monotonic() < deadline:
            time.sleep(0.02)
        assert midway.exists()
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait()
    result = meditrack(tmp_path, "seed", "--demo", "--data-dir", str(data))
    assert result.returncode == 0, result.stderr
    assert "Loaded the demo clinic" in result.stdout
    store = connect(Config(data_dir=data))
    try:
        assert store.patients.find(PatientQuery(archived=None)).total == 40
        assert store.users.by_username("demo.admin") is not None
    finally:
        store.close()


def test_incomplete_demo_is_reported(tmp_path, demo_dir):
    """A demo seed that stopped where writes are not one transaction (a standalone MongoDB)
    left part of the demo: the next start says so instead of running on half a clinic."""
    raw = sqlite3.connect(demo_dir / DB_FILE)
    with raw:  # what an interrupted ordered seed leaves: the last steps are missing
        raw.execute("DELETE FROM audit")
        raw.execute("DELETE FROM reports")
    raw.close()
    for args in (["seed", "--demo"], ["seed"]):
        result = meditrack(tmp_path, *args, "--data-dir", str(demo_dir))
        assert_sentence(result, "demo data", "incomplete", str(demo_dir))
    from meditrack_tui import seed

    services = open_services(demo_dir)
    try:
        with pytest.raises(DemoIncomplete):
            seed.demo_state(services, where=str(demo_dir))
    finally:
        services.store.close()


# --- MongoDB: a lost server, a full disk, no primary, refused access ---

def unreachable_mongo_store():
    """A MongoStore on a port where no server listens (the driver connects lazily)."""
    import pymongo

    from meditrack_tui.store import MONGODB, StoreInfo
    from meditrack_tui.store.mongo.store import MongoStore

    client = pymongo.MongoClient("mongodb://clinic:s3cret-pass@127.0.0.1:1/",
                                 serverSelectionTimeoutMS=300, connect=False)
    return MongoStore(client, client["meditrack"], StoreInfo(MONGODB, "127.0.0.1:1", False, False))


def test_lost_mongodb_server_is_a_sentence():
    from pymongo.errors import PyMongoError

    store = unreachable_mongo_store()
    try:
        with pytest.raises(StoreUnavailable) as caught, store.unit_of_work():
            store.users.add({"username_lc": "ann"})
        assert "Lost the connection to MongoDB at 127.0.0.1:1" in caught.value.message
        assert "s3cret" not in caught.value.message
        with pytest.raises(PyMongoError) as raw:  # a read outside a unit of work ...
            store.users.by_username("ann")
        mapped = store.translate_error(raw.value)  # ... is mapped where services are called
        assert isinstance(mapped, StoreUnavailable) and "127.0.0.1:1" in mapped.message
    finally:
        store.close()


def test_backend_maps_driver_errors_of_any_call(tmp_path, monkeypatch):
    """Backend.call (the app's and the CLI's one way to the services) turns a driver error
    about the database, met outside a unit of work, into the store's sentence."""
    import meditrack_tui.store as store_module
    from meditrack_tui.runtime import Backend

    store = unreachable_mongo_store()
    monkeypatch.setattr(store_module, "connect", lambda config: store)
    backend = Backend(make_config(tmp_path / "d", mongo_uri="mongodb://127.0.0.1:1/"))
    try:
        with pytest.raises(StoreUnavailable) as caught:
            backend.call(lambda s: s.store.users.by_username("ann"))
        assert "Lost the connection to MongoDB at 127.0.0.1:1" in caught.value.message
    finally:
        backend.close()


@pytest.mark.parametrize("code, text, expected, needle", [
    (14031, "Out of disk space", StoreFull, "no disk space left"),
    (None, "No space left on device", StoreFull, "no disk space left"),
    (10107, "not primary", StoreUnavailable, "no server of the replica set is the primary"),
    (13, "not authorized on meditrack to execute command", StoreReadOnly, "refused"),
])
def test_mongodb_operation_failures_are_sentences(code, text, expected, needle):
    from pymongo.errors import OperationFailure

    store = unreachable_mongo_store()
    try:
        with pytest.raises(expected) as caught, store.unit_of_work():
            raise OperationFailure(text, code=code)
        assert needle in caught.value.message and "127.0.0.1:1" in caught.value.message
        assert "s3cret" not in caught.value.message
    finally:
        store.close()
