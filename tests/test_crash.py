"""The embedded store under a killed writer and under racing writers.

1. A writer process is SIGKILLed at random points, again and again on one data
   directory: every write it acknowledged is there with its audit entry and change
   event, nothing it did not finish is half there, the file opens at once and passes
   SQLite's integrity check.
2. Six processes book the same few slots of one doctor and edit one patient with the
   version they last read: no double booking, no lost update, no error but the
   expected refusals.
"""

from __future__ import annotations

import itertools
import json
import queue
import random
import sqlite3
import subprocess
import sys
import textwrap
import threading
import time
from collections import Counter
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from argon2 import PasswordHasher

from meditrack_tui.config import Config
from tests.peek import Peek

SECRET = "crash-secret-" + "c" * 40
PASSWORD = "crash-password-1"
DOCTOR = "dr.crash"
CHEAP_HASHER = {"time_cost": 1, "memory_cost": 8, "parallelism": 1}

KILLS = 24                 # writer runs, each ended by SIGKILL
OPEN_LIMIT = 2.0           # seconds: opening after a kill must not wait for anything
RACERS = 6
RACE_SECONDS = 3.0

# kind acknowledged -> (audit action of its creation, change collection)
CREATES = {
    "patient": ("patient.create", "patients"),
    "appointment": ("appointment.book", "appointments"),
    "vitals": ("vitals.add", "vitals"),
    "prescription": ("prescription.add", "prescriptions"),
}
PEEK_KIND = {"patient": "patients", "appointment": "appointments", "vitals": "vitals",
             "prescription": "prescriptions"}

# Runs in a child process: logs in, says "ready", then writes until it is killed,
# printing one line per operation that has returned (its write is acknowledged).
WRITER = textwrap.dedent("""
    import json, random, sys, time
    from datetime import date, timedelta
    from argon2 import PasswordHasher
    from meditrack_tui.config import Config
    from meditrack_tui.store import AppointmentQuery, PatientQuery, connect
    from meditrack_tui.services import Services

    data_dir, secret, password, doctor, doctor_id, seed = sys.argv[1:7]
    rng = random.Random(int(seed))
    config = Config(data_dir=data_dir, secret=secret)
    store = connect(config)
    services = Services(store, config)
    services.auth.hasher = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)
    session = services.auth.login(doctor, password)

    def say(**fields):
        sys.stdout.write(json.dumps(fields) + "\\n")
        sys.stdout.flush()

    patients = [p["id"] for p in store.patients.find(
        PatientQuery(archived=None, limit=10**6, count=False)).items]
    # free slots: after every appointment already stored (acknowledged or not)
    slot = len(store.appointments.find(
        AppointmentQuery(doctor_id=doctor_id, limit=None, count=False)).items)
    first_day = date(2027, 1, 4)
    say(ready=True)
    deadline = time.monotonic() + 30  # never outlive a parent that died
    while time.monotonic() < deadline:
        op = rng.choice(("patient", "book", "vitals", "prescription", "update"))
        pid = rng.choice(patients)
        if op == "patient":
            doc = services.patients.create(session, {
                "first_name": "Kim", "last_name": "Crash%d" % rng.randint(0, 10**6),
                "dob": "1980-05-06", "sex": "F"})
            patients.append(doc["id"])
            say(kind="patient", id=doc["id"])
        elif op == "book":
            day = first_day + timedelta(days=slot // 16)
            minutes = 8 * 60 + (slot % 16) * 30
            slot += 1
            doc = services.appointments.book(session, {
                "patient_id": pid, "doctor_id": doctor_id, "date": day.isoformat(),
                "time": "%02d:%02d" % divmod(minutes, 60), "duration_min": 20,
                "reason": "crash test"})
            say(kind="appointment", id=doc["id"])
        elif op == "vitals":
            doc = services.vitals.add(session, pid, {
                "heart_rate": rng.randint(50, 120), "systolic": rng.randint(100, 190),
                "diastolic": rng.randint(60, 95)})
            say(kind="vitals", id=doc["id"])
        elif op == "prescription":
            doc = services.prescriptions.add(session, pid, {
                "drug": "Metformin", "dose": "%d mg" % rng.choice((250, 500, 850)),
                "frequency": "twice daily"})
            say(kind="prescription", id=doc["id"])
        else:
            current = services.patients.get(session, pid)
            doc = services.patients.update(session, pid, {
                "phone": "555 01%02d" % rng.randint(0, 99)}, version=current["version"])
            say(kind="patient.update", id=pid, version=doc["version"])
""")

# Runs in a child process: waits for the others, then for RACE_SECONDS books the same
# slots and edits the same patient; prints a JSON summary of what happened.
RACER = textwrap.dedent("""
    import json, pathlib, random, sys, time
    from argon2 import PasswordHasher
    from meditrack_tui.config import Config
    from meditrack_tui.errors import Conflict, StoreBusy, ValidationError
    from meditrack_tui.store import connect
    from meditrack_tui.services import Services

    data_dir, secret, password, doctor, doctor_id, patient_id, name, together, seconds \\
        = sys.argv[1:10]
    SLOTS = [("2027-03-01", "09:00"), ("2027-03-01", "09:10"), ("2027-03-01", "09:30"),
             ("2027-03-02", "09:00")]
    rng = random.Random(name)
    config = Config(data_dir=data_dir, secret=secret)
    store = connect(config)
    services = Services(store, config)
    services.auth.hasher = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)
    session = services.auth.login(doctor, password)
    barrier = pathlib.Path(data_dir) / "barrier"
    barrier.mkdir(exist_ok=True)
    (barrier / name).touch()
    wait_until = time.monotonic() + 60
    while len(list(barrier.iterdir())) < int(together) and time.monotonic() < wait_until:
        time.sleep(0.005)
    out = {"booked": [], "cancelled": [], "slot_taken": 0, "updated": [], "conflicts": 0,
           "busy": [], "errors": []}
    held = []  # this process's open bookings
    deadline = time.monotonic() + float(seconds)
    while time.monotonic() < deadline:
        try:
            dice = rng.random()
            if dice < 0.15 and held:  # free a slot again, so the slots stay fought over
                doc = held.pop(rng.randrange(len(held)))
                services.appointments.cancel(session, doc["id"], version=doc["version"])
                out["cancelled"].append(doc["id"])
            elif dice < 0.55:
                day, at = rng.choice(SLOTS)
                try:
                    doc = services.appointments.book(session, {
                        "patient_id": patient_id, "doctor_id": doctor_id, "date": day,
                        "time": at, "duration_min": 20, "reason": "race " + name})
                except ValidationError as exc:
                    if "already has an appointment" not in exc.fields.get("time", ""):
                        raise
                    out["slot_taken"] += 1
                    continue
                out["booked"].append(doc["id"])
                held.append(doc)
            else:
                current = services.patients.get(session, patient_id)
                phone = "555 %s%04d" % (name, rng.randrange(10000))
                try:
                    doc = services.patients.update(session, patient_id, {"phone": phone},
                                                   version=current["version"])
                except Conflict:
                    out["conflicts"] += 1
                    continue
                out["updated"].append([current["version"], doc["version"], phone])
        except StoreBusy as exc:
            out["busy"].append(exc.message)
        except Exception as exc:
            out["errors"].append(type(exc).__name__ + ": " + str(exc))
    store.close()
    print(json.dumps(out))
""")


def _seed(data_dir: Path, patients: int) -> tuple[str, list[str]]:
    """A store with one doctor (cheap password hash) and a few patients."""
    from meditrack_tui.services import Services
    from meditrack_tui.store import connect

    config = Config(data_dir=data_dir, secret=SECRET)
    store = connect(config)
    try:
        services = Services(store, config)
        services.auth.hasher = PasswordHasher(**CHEAP_HASHER)
        doc = services.auth.new_user_doc(DOCTOR, PASSWORD, "doctor", full_name="Dr. Crash")
        with store.unit_of_work():
            doctor_id = services.auth.insert_user(doc)["id"]
        session = services.auth.login(DOCTOR, PASSWORD)
        ids = [services.patients.create(session, {
            "first_name": f"Pat{n}", "last_name": "Seed", "dob": "1970-02-03", "sex": "M"})["id"]
            for n in range(patients)]
        # The writers book every day from 08:00 and many times per patient: a clinic open
        # all week with the highest appointment limit.
        store.settings.save({"hours": {day: ["07:00", "20:00"] for day in
                                       ("mon", "tue", "wed", "thu", "fri", "sat", "sun")},
                             "max_upcoming": 50}, version=0)
    finally:
        store.close()
    return doctor_id, ids


def _all_changes(store: Any) -> list[Any]:
    rows, seq = [], 0
    while True:
        page = store.changes.after(seq)
        if not page:
            return rows
        rows += page
        seq = page[-1].seq


def _integrity(data_dir: Path) -> str:
    conn = sqlite3.connect(data_dir / "meditrack.db")
    try:
        return conn.execute("PRAGMA integrity_check").fetchone()[0]
    finally:
        conn.close()


class _Run:
    """One writer process and the lines it has printed (read on a thread)."""

    def __init__(self, data_dir: Path, doctor_id: str, seed: int, stderr: Path) -> None:
        self.stderr = stderr
        self.started = time.monotonic()
        with open(stderr, "w") as err:
            self.proc = subprocess.Popen(
                [sys.executable, "-c", WRITER, str(data_dir), SECRET, PASSWORD, DOCTOR,
                 doctor_id, str(seed)], stdout=subprocess.PIPE, stderr=err, text=True)
        self.lines: queue.Queue[str | None] = queue.Queue()
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()
        self.seen: list[str] = []

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.put(line)
        self.lines.put(None)

    def next_line(self, timeout: float = 30.0) -> str:
        line = self.lines.get(timeout=timeout)
        if line is None:
            raise AssertionError(f"the writer ended by itself (exit {self.proc.wait()}):\n"
                                 + self.stderr.read_text()[-3000:])
        self.seen.append(line)
        return line

    def stop(self) -> None:
        """Kill the writer if it still runs (a failed test leaves no process behind)."""
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=30)

    def kill(self) -> list[dict[str, Any]]:
        """SIGKILL the writer; every complete line it printed, decoded."""
        self.proc.kill()
        code = self.proc.wait(timeout=30)
        assert code == -9, (f"the writer exited by itself (exit {code}) before the kill:\n"
                            + self.stderr.read_text()[-3000:])
        self.reader.join(timeout=30)
        while True:
            line = self.lines.get_nowait()
            if line is None:
                break
            self.seen.append(line)
        assert self.proc.stdout is not None
        self.proc.stdout.close()
        # a line cut short by the kill acknowledges nothing
        return [json.loads(line) for line in self.seen if line.endswith("\n")]


def _check_after_crash(store: Any, acked: list[dict[str, Any]]) -> None:
    peek = Peek(store)
    records = {kind: {d["id"]: d for d in peek.all(PEEK_KIND[kind])} for kind in CREATES}
    audit = peek.all("audit")
    audit_keys = Counter((e["action"], e.get("record_id")) for e in audit)
    changes = _all_changes(store)
    change_keys = Counter((c.coll, c.op, c.record_id) for c in changes)

    # (a) every acknowledged write is there, with its audit entry and change event
    for ack in acked:
        if ack["kind"] == "patient.update":
            patient = records["patient"].get(ack["id"])
            assert patient is not None, ack
            assert patient["version"] >= ack["version"], (ack, patient["version"])
            assert audit_keys[("patient.update", ack["id"])] >= ack["version"] - 1, ack
            assert change_keys[("patients", "update", ack["id"])] >= ack["version"] - 1, ack
            continue
        action, coll = CREATES[ack["kind"]]
        assert ack["id"] in records[ack["kind"]], f"acknowledged {ack} is missing"
        assert audit_keys[(action, ack["id"])] == 1, f"acknowledged {ack} has no audit entry"
        assert change_keys[(coll, "insert", ack["id"])] == 1, f"{ack} has no change event"

    # (b) nothing is half there: each record with its audit entry and change event ...
    for kind, (action, coll) in CREATES.items():
        for record_id in records[kind]:
            assert audit_keys[(action, record_id)] == 1, f"{kind} {record_id}: no audit entry"
            assert change_keys[(coll, "insert", record_id)] == 1, \
                f"{kind} {record_id}: no change event"
    # ... each creation audited or announced with its record
    creations = {action: kind for kind, (action, _) in CREATES.items()}
    for entry in audit:
        kind = creations.get(entry["action"])
        if kind is not None:
            assert entry["record_id"] in records[kind], f"audit {entry} without its record"
    colls = {coll: kind for kind, (_, coll) in CREATES.items()}
    for change in changes:
        if change.op == "insert" and change.coll in colls:
            assert change.record_id in records[colls[change.coll]], \
                f"change event {change} without its record"
    # ... every version of a patient audited and announced once, and its vitals alert
    # fields written with its newest reading
    newest: dict[str, Any] = {}
    for reading in records["vitals"].values():
        pid = reading["patient_id"]
        newest[pid] = max(newest.get(pid, reading["taken_at"]), reading["taken_at"])
    for pid, patient in records["patient"].items():
        updates = audit_keys[("patient.update", pid)]
        assert patient["version"] == 1 + updates, (pid, patient["version"], updates)
        assert change_keys[("patients", "update", pid)] == updates, pid
        assert patient.get("vitals_alert_at") == newest.get(pid), pid


@pytest.mark.slow
def test_killed_writer_loses_no_acknowledged_write_and_leaves_nothing_half_done(
        tmp_path: Path) -> None:
    from meditrack_tui.store import connect

    data_dir = tmp_path / "crash"
    doctor_id, _ = _seed(data_dir, patients=3)
    config = Config(data_dir=data_dir, secret=SECRET)
    rng = random.Random()
    seed = rng.randrange(10**9)
    rng.seed(seed)
    acked: list[dict[str, Any]] = []
    opens: list[float] = []
    ready_after = 0.3
    print(f"random seed {seed}")
    for n in range(KILLS):
        run = _Run(data_dir, doctor_id, seed + n, tmp_path / "writer-stderr.txt")
        try:
            mode = ("startup", "delay", "acks")[n % 3]
            if mode == "startup":  # anywhere from start-up (open, login) into the first writes
                time.sleep(rng.uniform(0.0, ready_after + 0.05))
            else:
                assert json.loads(run.next_line()) == {"ready": True}
                ready_after = time.monotonic() - run.started
                if mode == "delay":
                    time.sleep(rng.uniform(0.005, 0.08))
                else:
                    for _ in range(rng.randint(1, 15)):
                        run.next_line()
                    time.sleep(rng.uniform(0.0, 0.004))
            acked += [line for line in run.kill() if "kind" in line]
        finally:
            run.stop()

        began = time.monotonic()
        store = connect(config)
        try:
            store.patients.count()
            opens.append(time.monotonic() - began)
            assert opens[-1] < OPEN_LIMIT, f"opening after kill {n} took {opens[-1]:.2f} s"
            _check_after_crash(store, acked)
        finally:
            store.close()
        assert _integrity(data_dir) == "ok", f"after kill {n}"

    kinds = Counter(a["kind"] for a in acked)
    print(f"{KILLS} kills, {len(acked)} acknowledged writes {dict(kinds)}, "
          f"slowest open {max(opens) * 1000:.0f} ms")
    assert len(acked) >= 40, f"too few writes were acknowledged to mean much (seed {seed})"
    assert set(kinds) == {*CREATES, "patient.update"}, f"seed {seed}: {kinds}"


def _when(appointment: dict[str, Any]) -> str:
    return (f"{appointment['id']} {appointment['start']:%Y-%m-%d %H:%M}-"
            f"{appointment['end']:%H:%M} ({appointment['reason']})")


@pytest.mark.slow
def test_racing_processes_never_double_book_or_lose_an_update(tmp_path: Path) -> None:
    from meditrack_tui.store import connect

    data_dir = tmp_path / "race"
    doctor_id, (patient_id,) = _seed(data_dir, patients=1)
    procs = [subprocess.Popen(
        [sys.executable, "-c", RACER, str(data_dir), SECRET, PASSWORD, DOCTOR, doctor_id,
         patient_id, str(n), str(RACERS), str(RACE_SECONDS)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for n in range(RACERS)]
    results = []
    for proc in procs:
        out, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err
        results.append(json.loads(out.strip().splitlines()[-1]))

    errors = [e for r in results for e in r["errors"]]
    busy = [b for r in results for b in r["busy"]]
    booked = [a for r in results for a in r["booked"]]
    cancelled = {a for r in results for a in r["cancelled"]}
    updates = sorted((u for r in results for u in r["updated"]), key=lambda u: u[1])
    versions = [new for _, new, _ in updates]
    conflicts = sum(r["conflicts"] for r in results)
    taken = sum(r["slot_taken"] for r in results)
    print(f"{len(booked)} bookings ({len(cancelled)} cancelled again), {taken} refused as "
          f"taken; {len(versions)} updates, {conflicts} conflicts; busy {len(busy)}")
    assert not errors, errors
    assert not busy, busy

    store = connect(Config(data_dir=data_dir, secret=SECRET))
    try:
        peek = Peek(store)
        appointments = {a["id"]: a for a in peek.all("appointments")}
        # every booking that returned is stored, audited, and cancelled if it was
        assert set(appointments) == set(booked)
        audit = Counter((e["action"], e.get("record_id")) for e in peek.all("audit")
                        if e["outcome"] == "ok")  # a refused stale edit is "failed"
        for record_id, doc in appointments.items():
            assert audit[("appointment.book", record_id)] == 1, doc
            assert audit[("appointment.cancelled", record_id)] == (record_id in cancelled)
            assert (doc["status"] == "cancelled") == (record_id in cancelled), doc
        # no two open appointments of the doctor overlap, at the end ...
        open_ones = sorted((a for a in appointments.values() if a["status"] == "scheduled"),
                           key=lambda a: a["start"])
        for earlier, later in itertools.pairwise(open_ones):
            assert earlier["end"] <= later["start"], \
                f"double booking: {_when(earlier)} and {_when(later)}"
        assert all(a["end"] - a["start"] == timedelta(minutes=20) for a in open_ones)
        # ... nor at any moment: replay bookings and cancellations in commit order (the
        # change events' sequence), so a double booking later cancelled is caught too
        live: dict[str, Any] = {}
        replayed = 0
        for change in _all_changes(store):
            if change.coll != "appointments":
                continue
            doc = appointments[change.record_id]
            if change.op == "insert":
                for other in live.values():
                    assert not (other["start"] < doc["end"] and doc["start"] < other["end"]), \
                        f"double booking: {_when(other)} and {_when(doc)} were open together"
                live[doc["id"]] = doc
                replayed += 1
            else:
                assert change.op == "update" and doc["status"] == "cancelled", change
                del live[doc["id"]]
        assert replayed == len(booked) and set(live) == {a["id"] for a in open_ones}
        # no lost update: each success made the version after the one it read (so no two
        # were made from one read), audited once, and the last one's value stands
        patient = store.patients.get(patient_id)
        assert versions == list(range(2, 2 + len(versions))), versions
        stale = [u for u in updates if u[1] != u[0] + 1]
        assert not stale, f"updates accepted over a newer version: {stale[:5]}"
        assert patient["version"] == 1 + len(versions)
        assert patient["phone"] == updates[-1][2]
        assert audit[("patient.update", patient_id)] == len(versions)
    finally:
        store.close()
    # the test raced: slots were fought over and stale versions refused
    assert taken > 0 and conflicts > 0 and versions and booked
