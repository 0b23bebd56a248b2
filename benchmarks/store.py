"""The embedded SQLite store against SQLite itself: every figure is also a ratio to a floor
measured in the same run, on the same disk, interleaved with it sample by sample (this
machine's speed drifts by up to 2x within minutes, so absolute figures alone mislead).

- ``writes``: the durable write floor is a bare sqlite3 connection on a file in the same
  directory as the store (journal_mode=WAL, synchronous=FULL) doing ``BEGIN IMMEDIATE;
  INSERT one small row; COMMIT``. Against it, through the services on a copy of the
  cached 10,000-patient clinic: create a patient, book an appointment (distinct free
  slots), add a vitals reading, add a prescription, each with its audit entry and change
  event in its unit of work. Targets: median <= 2x the floor's median, p95 <= 4x it.
- ``reads``: each floor is a bare indexed query of my own on a raw sqlite3 connection to
  the same store file (the real tables and indexes, the store's mmap setting) that
  returns exactly the rows the service returns (the script checks the ids match), with
  no JSON decoding. Against it: patient search (a 3-letter prefix, page of 50,
  ``services.patients.list``) at 10,000 and 100,000 patients; a doctor's day
  (``services.appointments.day_agenda``) with >= 20,000 appointments in the store; a
  patient's vitals over 2 years (``services.vitals.series``, a reading a day). Target:
  median <= 3x the floor's median; the p95 is printed too (search p95 < 10 ms at 100,000).
  Each read is also set against a second floor, marked "query + json.loads": the same
  query with each row parsed by the standard json module, the least it takes to hand
  the caller the same records as Python objects.
- ``throughput``: 6 writer processes for 30 s on one data directory, each cycling through
  the four writes above through the services: operations/s and the worst latency; the
  floor is 6 processes doing the bare durable commit for 10 s.
- ``seed``: wall time of ``meditrack seed --patients 100000`` on an empty data directory
  (target <= 60 s).

Cached stores live in benchmarks/.data/ (see common.py); the reads add, once, a patient
with two years of daily readings and enough extra appointments for 20,000+ to the cached
stores. Scratch copies for the writes are made next to them and removed afterwards.

    python benchmarks/store.py                  # everything
    python benchmarks/store.py reads writes     # some of it
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import sqlite3
import statistics
import subprocess
import sys
import time
from datetime import date, datetime, timedelta
from pathlib import Path

from common import CACHE, ROOT, SECRET, open_services, percentile, reference_loop_ms, seeded_dir

MMAP = 67108864  # the store's own mmap_size
PASSWORD = "meditrack-demo"
ROWS: list[list[str]] = []


def ms(seconds: float) -> float:
    return seconds * 1000


def row(what: str, samples: list[float], floor: list[float], target_median: float | None,
        target_p95: float | None = None, note: str = "") -> None:
    """One line of the results table (samples and floors in ms)."""
    med, p95 = statistics.median(samples), percentile(samples, 0.95)
    fmed, fp95 = statistics.median(floor), percentile(floor, 0.95)
    r_med, r_p95, r_p95p = med / fmed, p95 / fmed, p95 / fp95
    met = []
    if target_median is not None:
        met.append(r_med <= target_median)
    if target_p95 is not None:  # like for like: the p95 against the floor's own p95
        met.append(r_p95p <= target_p95)
    target = " ".join(t for t in (
        f"med<={target_median:g}x" if target_median is not None else "",
        f"p95<={target_p95:g}x" if target_p95 is not None else "") if t)
    line = [what, str(len(samples)), f"{med:.2f}", f"{p95:.2f}", f"{fmed:.2f}", f"{fp95:.2f}",
            f"{r_med:.1f}x", f"{r_p95:.1f}x", f"{r_p95p:.1f}x", target,
            ("yes" if all(met) else "NO") if met else "-",
            note]
    ROWS.append(line)
    print("  " + " | ".join(line), flush=True)


def table() -> None:
    head = ["what", "n", "median ms", "p95 ms", "floor med ms", "floor p95 ms",
            "median/floor med", "p95/floor med", "p95/floor p95", "target", "met", "note"]
    print("\n| " + " | ".join(head) + " |")
    print("|" + "---|" * len(head))
    for line in ROWS:
        print("| " + " | ".join(line) + " |")
    print(flush=True)


def scratch_copy(source: Path, name: str) -> Path:
    """A fresh copy of a (closed) cached data directory next to it, on the same disk."""
    target = CACHE / name
    shutil.rmtree(target, ignore_errors=True)
    shutil.copytree(source, target)
    return target


# --- the durable write floor ---

class FloorWriter:
    """A bare sqlite3 connection: WAL, synchronous=FULL, one small row per transaction."""

    def __init__(self, path: Path) -> None:
        self.conn = sqlite3.connect(path, isolation_level=None, timeout=30)
        self.conn.execute("PRAGMA journal_mode=WAL")
        self.conn.execute("PRAGMA synchronous=FULL")
        self.conn.execute("CREATE TABLE IF NOT EXISTS t (id INTEGER PRIMARY KEY, v TEXT)")
        self.n = 0

    def commit_one(self) -> None:
        self.n += 1
        self.conn.execute("BEGIN IMMEDIATE")
        self.conn.execute("INSERT INTO t (v) VALUES (?)", (f"row {self.n}",))
        self.conn.execute("COMMIT")

    def close(self) -> None:
        self.conn.close()


class Writes:
    """The four service writes, on a free slot each time (shared by writes and throughput)."""

    def __init__(self, services, session, slot_base: int) -> None:
        self.s = services
        self.doctor = session
        self.n = 0
        self.slot_base = slot_base  # days from today where this writer's bookings start
        self.pids: list[str] = []

    def create(self) -> None:
        self.n += 1
        patient = self.s.patients.create(self.doctor, {
            "first_name": "Bench", "last_name": f"Writer{self.n}", "dob": "1970-01-01",
            "sex": "F", "phone": "+1 555 010 0000"})
        self.pids.append(patient["id"])

    def _pid(self) -> str:
        return self.pids[-1]

    def book(self) -> None:
        self.n += 1
        slot = self.n
        # 70 slots a day, every day: the scratch clinic is open around the clock (all_hours)
        day = date.today() + timedelta(days=self.slot_base + slot // 70)
        minute = (slot % 70) * 20
        self.s.appointments.book(self.doctor, {
            "patient_id": self._pid(), "doctor_id": self.doctor.user_id,
            "date": day.isoformat(), "time": f"{minute // 60:02d}:{minute % 60:02d}",
            "duration_min": 20, "reason": "Benchmark visit"})

    def vitals(self) -> None:
        self.s.vitals.add(self.doctor, self._pid(),
                          {"systolic": 122, "diastolic": 79, "heart_rate": 71})

    def prescription(self) -> None:
        self.s.prescriptions.add(self.doctor, self._pid(), {
            "drug": "Lisinopril", "dose": "10 mg", "frequency": "once daily"})


def all_hours(services) -> None:
    """Open the scratch clinic every day 00:00-23:59 (the demo doctor following it) and
    allow 50 upcoming visits per patient, so the benchmark's bookings fit the rules."""
    admin = services.auth.login("demo.admin", PASSWORD)
    current = services.settings.get(admin)
    every_day = {day: ["00:00", "23:59"] for day in ("mon", "tue", "wed", "thu", "fri",
                                                     "sat", "sun")}
    services.settings.update(admin, {"hours": every_day, "max_upcoming": 50},
                             version=current["version"])
    doctor = services.store.users.by_username("demo.doctor")
    services.settings.set_doctor_hours(admin, doctor["id"], None)


def writes(runs: int) -> None:
    print("durable writes (a copy of the 10,000-patient clinic):", flush=True)
    folder = scratch_copy(seeded_dir(10000), "scratch-writes")
    try:
        store, services = open_services(folder)
        all_hours(services)
        doctor = services.auth.login("demo.doctor", PASSWORD)
        ops = Writes(services, doctor, slot_base=400)
        floor = FloorWriter(folder / "floor.db")
        names = ("floor", "create patient", "book appointment", "add vitals reading",
                 "add prescription")
        fns = (floor.commit_one, ops.create, ops.book, ops.vitals, ops.prescription)
        samples: dict[str, list[float]] = {n: [] for n in names}
        for i in range(runs + 5):  # interleaved: each round one of each; 5 warm-up rounds
            for name, fn in zip(names, fns, strict=False):
                t0 = time.perf_counter()
                fn()
                if i >= 5:
                    samples[name].append(ms(time.perf_counter() - t0))
        floor.close()
        store.close()
        for name in names[1:]:
            row(name, samples[name], samples["floor"], 2, 4)
        print(f"  floor: BEGIN IMMEDIATE; INSERT; COMMIT on {folder / 'floor.db'}", flush=True)
    finally:
        shutil.rmtree(folder, ignore_errors=True)


# --- reads ---

NOW_DAYS = 730


def prepare(folder: Path) -> dict[str, str]:
    """Once per cached store: a patient with a reading a day for two years, and extra
    appointments (future days, the demo doctors' free slots) for >= 20,000 in all."""
    marker = folder / "bench-extra.json"
    if marker.exists():
        marker.chmod(0o600)  # a data directory's files are private (older caches made it 644)
        return json.loads(marker.read_text())
    from meditrack_tui.store import AppointmentQuery, PatientQuery, UserQuery

    store, services = open_services(folder)
    try:
        doctor = services.auth.login("demo.doctor", PASSWORD)
        patient = services.patients.create(doctor, {
            "first_name": "Bench", "last_name": "Twoyears", "dob": "1955-05-05", "sex": "M"})
        now = datetime.now().replace(microsecond=0)
        rng = random.Random(3)
        readings = []
        for day in range(NOW_DAYS):
            taken = now - timedelta(days=NOW_DAYS - day, hours=rng.randint(0, 10))
            systolic = int(rng.gauss(140, 10))
            readings.append({"patient_id": patient["id"], "taken_at": taken, "source": "home",
                             "note": None, "systolic": systolic,
                             "diastolic": int(systolic * 0.63 + rng.gauss(0, 4)),
                             "heart_rate": int(rng.gauss(74, 7)), "recorded_by": "bench",
                             "recorded_at": taken})
        with store.bulk():
            store.vitals.add_many(readings)
        total = store.appointments.find(AppointmentQuery(limit=0)).total or 0
        want = max(0, 21000 - total)
        doctors = store.users.find(UserQuery(role="doctor", status="active", limit=None,
                                             count=False)).items
        people = store.patients.find(PatientQuery(limit=2000, count=False)).items
        appts = []
        today = date.today()
        n = 0
        while len(appts) < want:
            doc = doctors[n % len(doctors)]
            slot = n // len(doctors)
            day = today + timedelta(days=100 + slot // 27)
            begins = datetime.combine(day, datetime.min.time()) + timedelta(
                minutes=8 * 60 + (slot % 27) * 20)
            who = people[n % len(people)]
            name = f"{who['first_name']} {who['last_name']}"
            appts.append({
                "patient_id": who["id"], "patient_name": name, "patient_name_key": name.lower(),
                "mrn": who["mrn"], "doctor_id": doc["id"], "doctor_name": doc["full_name"],
                "start": begins, "end": begins + timedelta(minutes=20),
                "day": day.isoformat(), "duration_min": 20, "reason": "Follow-up",
                "status": "scheduled", "created_by": "bench", "created_at": now,
                "updated_by": "bench", "updated_at": now, "version": 1})
            n += 1
        with store.bulk():
            store.appointments.add_many(appts)
        extra = {"vitals_patient": patient["id"], "added_appointments": str(len(appts))}
    finally:
        store.close()
    marker.write_text(json.dumps(extra))
    marker.chmod(0o600)
    return extra


def raw(folder: Path) -> sqlite3.Connection:
    conn = sqlite3.connect(folder / "meditrack.db", isolation_level=None)
    conn.execute(f"PRAGMA mmap_size={MMAP}")
    return conn


# The second floor of each read: the same query, each row parsed by json.loads (the least
# it takes to hand the caller the same records as Python objects; no datetime revival).
DECODED = " [floor: query + json.loads]"


def decoded(rows: list[tuple[str]]) -> list[dict]:
    return [json.loads(r[0]) for r in rows]


SEARCHES = ["smi", "gar", "ngu", "pat", "kow", "rob", "wil", "tho", "lop", "cam"]


def reads(runs: int, sizes: list[int]) -> None:
    for size in sizes:
        reads_at(size, runs)


def reads_at(size: int, runs: int) -> None:
    """The read figures on the cached store of ``size`` synthetic patients."""
    folder = seeded_dir(size)
    extra = prepare(folder)
    store, services = open_services(folder)
    conn = raw(folder)
    doctor = services.auth.login("demo.doctor", PASSWORD)
    patients = store.patients.count()
    from meditrack_tui.store import AppointmentQuery

    appointments = store.appointments.find(AppointmentQuery(limit=0)).total
    print(f"reads at {patients} patients, {appointments} appointments:", flush=True)

    # patient search: a 3-letter prefix of family names no given name starts with, so
    # the floor is one range of the family-name index
    def floor_search(prefix: str) -> list[tuple[str]]:
        return conn.execute(
            "SELECT doc FROM patients WHERE last_key >= ? AND last_key < ? "
            "ORDER BY last_key, first_key, id LIMIT 50",
            (prefix, prefix + "\U0010ffff")).fetchall()

    for prefix in SEARCHES:  # the same rows, or the floor is not a floor
        got = [p["id"] for p in services.patients.list(doctor, query=prefix,
                                                       page_size=50).items]
        want = [json.loads(r[0])["id"] for r in floor_search(prefix)]
        assert got == want, f"search {prefix!r}: the floor returns other rows"
    svc, flo, dec = [], [], []
    for n in range(runs):
        prefix = SEARCHES[n % len(SEARCHES)]
        t0 = time.perf_counter()
        floor_search(prefix)
        t1 = time.perf_counter()
        services.patients.list(doctor, query=prefix, page_size=50)
        t2 = time.perf_counter()
        decoded(floor_search(prefix))
        t3 = time.perf_counter()
        flo.append(ms(t1 - t0))
        svc.append(ms(t2 - t1))
        dec.append(ms(t3 - t2))
    label = f"patient search, 3 letters, page of 50, {patients} patients"
    row(label, svc, flo, 3, note=f"p95 {percentile(svc, 0.95):.1f} ms")
    row(label + DECODED, svc, dec, 3)

    # a doctor's day
    def floor_day(day: str) -> list[tuple[str]]:
        return conn.execute("SELECT doc FROM appointments WHERE doctor_id = ? AND day = ? "
                            "ORDER BY start, id", (doctor.user_id, day)).fetchall()

    days = [(date.today() + timedelta(days=d - 30)).isoformat() for d in range(60)]
    for day in days[:5]:
        got = [a["id"] for a in services.appointments.day_agenda(doctor, doctor.user_id, day)]
        assert got == [json.loads(r[0])["id"] for r in floor_day(day)], day
    svc, flo, dec, rows_seen = [], [], [], []
    for n in range(runs):
        day = days[n % len(days)]
        t0 = time.perf_counter()
        rows_seen.append(len(floor_day(day)))
        t1 = time.perf_counter()
        services.appointments.day_agenda(doctor, doctor.user_id, day)
        t2 = time.perf_counter()
        decoded(floor_day(day))
        t3 = time.perf_counter()
        flo.append(ms(t1 - t0))
        svc.append(ms(t2 - t1))
        dec.append(ms(t3 - t2))
    label = f"doctor's day, {appointments} appointments in store"
    row(label, svc, flo, 3,
        note=f"{statistics.median(rows_seen):.0f} appointments a day (median)")
    row(label + DECODED, svc, dec, 3)

    # a patient's vitals over two years
    pid = extra["vitals_patient"]
    since = datetime.now().replace(microsecond=0) - timedelta(days=NOW_DAYS + 1)

    def floor_vitals() -> list[tuple[str]]:
        return conn.execute("SELECT doc FROM vitals WHERE patient_id = ? AND taken_at >= ? "
                            "ORDER BY taken_at, id",
                            (pid, since.isoformat(timespec="milliseconds"))).fetchall()

    got = [v["id"] for v in services.vitals.series(doctor, pid, since=since)]
    assert got == [json.loads(r[0])["id"] for r in floor_vitals()]
    svc, flo, dec = [], [], []
    for _ in range(runs):
        t0 = time.perf_counter()
        floor_vitals()
        t1 = time.perf_counter()
        services.vitals.series(doctor, pid, since=since)
        t2 = time.perf_counter()
        decoded(floor_vitals())
        t3 = time.perf_counter()
        flo.append(ms(t1 - t0))
        svc.append(ms(t2 - t1))
        dec.append(ms(t3 - t2))
    label = f"vitals series, 2 years ({len(got)} readings), {patients} patients"
    row(label, svc, flo, 3)
    row(label + DECODED, svc, dec, 3)
    conn.close()
    store.close()


# --- throughput ---

def _writer(folder: str, index: int, start_at: float, seconds: float, queue) -> None:
    sys.path.insert(0, str(ROOT / "benchmarks"))
    store, services = open_services(Path(folder))
    doctor = services.auth.login("demo.doctor", PASSWORD)
    ops = Writes(services, doctor, slot_base=400 + index * 40)
    ops.create()  # a patient of its own before the clock starts
    cycle = [ops.create, ops.book, ops.vitals, ops.prescription]
    latencies: list[float] = []
    errors: list[str] = []
    while time.time() < start_at:
        time.sleep(0.001)
    end = start_at + seconds
    n = 0
    while time.time() < end:
        t0 = time.perf_counter()
        try:
            cycle[n % 4]()
            latencies.append(ms(time.perf_counter() - t0))
        except Exception as exc:  # noqa: BLE001 - reported, not hidden
            errors.append(f"{type(exc).__name__}: {exc}")
        n += 1
    store.close()
    queue.put((latencies, errors))


def _floor_writer(path: str, start_at: float, seconds: float, queue) -> None:
    floor = FloorWriter(Path(path))
    latencies = []
    while time.time() < start_at:
        time.sleep(0.001)
    end = start_at + seconds
    while time.time() < end:
        t0 = time.perf_counter()
        floor.commit_one()
        latencies.append(ms(time.perf_counter() - t0))
    floor.close()
    queue.put((latencies, []))


def _run_procs(target, args_for, procs: int, seconds: float) -> tuple[list[float], list[str]]:
    import multiprocessing as mp

    ctx = mp.get_context("spawn")
    queue = ctx.Queue()
    start_at = time.time() + 8  # every process open and logged in by then
    children = [ctx.Process(target=target, args=(*args_for(i), start_at, seconds, queue))
                for i in range(procs)]
    for child in children:
        child.start()
    results = [queue.get(timeout=seconds + 120) for _ in children]
    for child in children:
        child.join()
    lat = [x for r in results for x in r[0]]
    errs = [x for r in results for x in r[1]]
    return lat, errs


def throughput(procs: int, seconds: float) -> None:
    print(f"throughput: {procs} writer processes, {seconds:.0f} s, one data directory:",
          flush=True)
    folder = scratch_copy(seeded_dir(10000), "scratch-throughput")
    try:
        store, services = open_services(folder)
        all_hours(services)
        store.close()
        floor_path = str(folder / "floor.db")
        FloorWriter(Path(floor_path)).close()
        floor_s = min(10.0, seconds)
        flat, _ = _run_procs(_floor_writer, lambda i: (floor_path,), procs, floor_s)
        lat, errs = _run_procs(_writer, lambda i: (str(folder), i), procs, seconds)
        floor_rate = len(flat) / floor_s
        rate = len(lat) / seconds
        line = [f"{procs} writers x {seconds:.0f} s, mixed service writes", str(len(lat)),
                f"{statistics.median(lat):.2f}", f"{percentile(lat, 0.95):.2f}",
                f"{statistics.median(flat):.2f}", f"{percentile(flat, 0.95):.2f}",
                f"{rate:.0f} ops/s", f"floor {floor_rate:.0f} commits/s", "-", "old: 25-29 ops/s",
                "yes" if rate > 29 else "NO",
                (f"p99 {percentile(lat, 0.99):.0f} ms, worst {max(lat):.0f} ms, "
                 f"{sum(x > 1000 for x in lat)} over 1 s (floor: p99 "
                 f"{percentile(flat, 0.99):.1f} ms, worst {max(flat):.0f} ms), "
                 f"{len(errs)} errors; {rate / floor_rate:.2f} of the floor's rate")]
        ROWS.append(line)
        print("  " + " | ".join(line), flush=True)
        for err in sorted(set(errs))[:5]:
            print(f"  error: {err}", flush=True)
    finally:
        shutil.rmtree(folder, ignore_errors=True)


# --- seeding ---

def seeding(patients: int) -> None:
    folder = CACHE / "scratch-seed"
    shutil.rmtree(folder, ignore_errors=True)
    exe = Path(sys.executable).with_name("meditrack")
    cmd = ([str(exe)] if exe.exists() else [sys.executable, "-m", "meditrack_tui"]) + [
        "seed", "--patients", str(patients), "--data-dir", str(folder)]
    env = dict(os.environ, MEDITRACK_SECRET=SECRET)
    print(f"seed: {' '.join(cmd)}", flush=True)
    try:
        t0 = time.perf_counter()
        done = subprocess.run(cmd, check=False, env=env, cwd=ROOT, capture_output=True, text=True)
        wall = time.perf_counter() - t0
        last = (done.stdout.strip().splitlines() or ["(no output)"])[-1]
        size = (folder / "meditrack.db").stat().st_size / 1e6
        line = [f"meditrack seed --patients {patients} (empty data dir)", "1", f"{ms(wall):.0f}",
                "-", "-", "-", "-", "-", "-", "<= 60 s", "yes" if wall <= 60 else "NO",
                f"{wall:.1f} s, exit {done.returncode}, {size:.0f} MB; {last}"]
        ROWS.append(line)
        print("  " + " | ".join(line), flush=True)
        if done.returncode:
            print(done.stderr[-2000:], flush=True)
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("what", nargs="*", default=["writes", "reads", "throughput", "seed"],
                        help="writes reads throughput seed")
    parser.add_argument("--runs", type=int, default=200)
    parser.add_argument("--sizes", default="10000,100000", help="patients, for reads")
    parser.add_argument("--procs", type=int, default=6)
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--seed-patients", type=int, default=100000)
    args = parser.parse_args()
    print(f"{datetime.now():%Y-%m-%d %H:%M}, load average {os.getloadavg()[0]:.1f} on "
          f"{os.cpu_count()} CPUs, SQLite {sqlite3.sqlite_version}, reference loop "
          f"{reference_loop_ms():.0f} ms (usually ~225)", flush=True)
    for what in args.what:
        if what == "writes":
            writes(args.runs)
        elif what == "reads":
            reads(args.runs, [int(s) for s in args.sizes.split(",")])
        elif what == "throughput":
            throughput(args.procs, args.seconds)
        elif what == "seed":
            seeding(args.seed_patients)
        else:
            raise SystemExit(f"unknown benchmark {what}")
    print(f"reference loop at the end: {reference_loop_ms():.0f} ms", flush=True)
    table()


if __name__ == "__main__":
    main()
