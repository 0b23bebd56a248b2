"""Several processes on one embedded data directory (staff logged in over SSH to one server):
writes are shared, MRNs stay unique, nothing is lost."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from argon2 import PasswordHasher

from meditrack_tui.config import Config

SECRET = "multiprocess-secret-" + "z" * 40
PASSWORD = "shared-password-1"

# Runs in a child process: log in as the doctor and do what argv asks; prints JSON.
WORKER = textwrap.dedent("""
    import json, pathlib, sys, time
    from argon2 import PasswordHasher
    from meditrack_tui.config import Config
    from meditrack_tui.store import connect
    from meditrack_tui.services import Services

    data_dir, secret, password, mode, name, count, expected, together = sys.argv[1:9]
    count, expected, together = int(count), int(expected), int(together)
    config = Config(data_dir=data_dir, secret=secret)
    store = connect(config)
    services = Services(store, config)
    services.auth.hasher = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)
    session = services.auth.login("dr.shared", password)
    out = {"created": []}
    # Start writing together with the other writers: wait until all are connected and logged in.
    barrier = pathlib.Path(data_dir) / "barrier"
    barrier.mkdir(exist_ok=True)
    (barrier / name).touch()
    deadline = time.monotonic() + 60
    while len(list(barrier.iterdir())) < together and time.monotonic() < deadline:
        time.sleep(0.01)
    out["first_write"] = time.time()
    if mode == "create":
        for i in range(count):
            doc = services.patients.create(session, {"first_name": f"{name}{i:02d}",
                                                     "last_name": "Shared",
                                                     "dob": "1980-01-01", "sex": "F"})
            out["created"].append([doc["id"], doc["mrn"]])
        out["last_write"] = time.time()
    # Wait until this process sees every patient the test expects (others' writes too).
    deadline = time.monotonic() + 60
    while True:
        page = services.patients.list(session, query="shared", page_size=500)
        if page.total >= expected or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    out["last_write"] = out.get("last_write", time.time())
    out["seen"] = sorted([p["id"], p["mrn"], p["first_name"]] for p in page.items)
    out["total"] = page.total
    store.close()
    print(json.dumps(out))
""")


@pytest.fixture
def shared_dir(tmp_path: Path) -> Path:
    """An embedded store with one doctor (cheap hash so each process logs in fast)."""
    from meditrack_tui.services import Services
    from meditrack_tui.store import connect

    data_dir = tmp_path / "shared"
    config = Config(data_dir=data_dir, secret=SECRET)
    store = connect(config)
    services = Services(store, config)
    services.auth.hasher = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)
    doc = services.auth.new_user_doc("dr.shared", PASSWORD, "doctor", full_name="Dr. Shared")
    services.auth.insert_user(doc)
    store.close()
    return data_dir


def start(data_dir: Path, mode: str, name: str, count: int, expected: int,
          together: int = 1) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-c", WORKER, str(data_dir), SECRET, PASSWORD, mode,
                             name, str(count), str(expected), str(together)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def finish(proc: subprocess.Popen) -> dict:
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err
    return json.loads(out.strip().splitlines()[-1])


def test_one_process_sees_what_another_created(shared_dir):
    a = finish(start(shared_dir, "create", "Alpha", 1, 1))
    [(patient_id, mrn)] = a["created"]
    b = finish(start(shared_dir, "read", "-", 0, 1))
    assert b["seen"] == [[patient_id, mrn, "Alpha00"]]


def test_concurrent_writers_get_unique_mrns_and_see_everything(shared_dir):
    per_process = 30
    started = time.monotonic()
    procs = [start(shared_dir, "create", name, per_process, 2 * per_process, together=2)
             for name in ("Alpha", "Bravo")]
    results = [finish(p) for p in procs]
    # The two processes really wrote at the same time.
    assert max(r["first_write"] for r in results) < min(r["last_write"] for r in results)
    elapsed = time.monotonic() - started
    created = [tuple(item) for r in results for item in r["created"]]
    assert len(created) == 2 * per_process
    ids = {pid for pid, _ in created}
    mrns = [mrn for _, mrn in created]
    assert len(ids) == len(created)
    assert len(set(mrns)) == len(mrns), "two processes were given the same MRN"
    # Every write is visible to both processes afterwards.
    for result in results:
        assert result["total"] == 2 * per_process
        assert {row[0] for row in result["seen"]} == ids
    # And to a fresh reader, with the MRN counter past every MRN handed out.
    from meditrack_tui.store import connect

    store = connect(Config(data_dir=shared_dir, secret=SECRET))
    try:
        from tests.peek import Peek

        peek = Peek(store)
        stored = [d["mrn"] for d in peek.all("patients")]
        assert sorted(stored) == sorted(mrns)
        with store.unit_of_work():
            seq = store.counters.next("mrn", 0)
        assert seq >= max(int(m[4:]) for m in mrns)
        assert peek.count("audit", action="patient.create") == 2 * per_process
    finally:
        store.close()
    assert elapsed < 90
