"""Service-call figures on the embedded store: patient search, a doctor's day agenda, seeding.

- patient search at 10,000 patients (p95 <= 50 ms) and 100,000 (p95 <= 250 ms):
  typical search-box inputs (name prefixes, "first last", an MRN, a phone), page 1 of 25,
  after one cold call (its time is printed separately);
- a doctor's day agenda with 10,000+ appointments in the store (p95 <= 50 ms);
- seeding 10,000 patients with vitals and appointments (<= 60 s).
"""

from __future__ import annotations

import argparse
import random
import shutil
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path

from common import open_services, seeded_dir, summary, timed

QUERIES = ["s", "sm", "smi", "smith", "ol", "oliv", "olivia s", "ng", "pat", "mrn-00012", "4417",
           "555 3", "kim", "gar", "lee", "a", "jo", "chen", "mi", "mar"]


def search(patients: int, runs: int, target: str) -> None:
    store, services = open_services(seeded_dir(patients))
    doctor = services.auth.login("demo.doctor", "meditrack-demo")
    first = timed(lambda: services.patients.list(doctor, query="smi", page_size=25))
    print(f"first search at {patients}: {first:.0f} ms (cold: the first read of the file)")
    rng = random.Random(1)
    samples = []
    for n in range(runs):
        query = QUERIES[n % len(QUERIES)]
        sort = rng.choice(["name", "name", "mrn", "dob"])
        samples.append(timed(lambda query=query, sort=sort: services.patients.list(
            doctor, query=query, sort=sort, page_size=25)))
    summary(f"patient search service call at {patients} patients", samples, target)
    store.close()


def agenda(runs: int) -> None:
    from meditrack_tui.store import AppointmentQuery

    store, services = open_services(seeded_dir(10000))
    total = store.appointments.find(AppointmentQuery(limit=0)).total
    doctor = services.auth.login("demo.doctor", "meditrack-demo")
    today = date.today()
    timed(lambda: services.appointments.day_agenda(doctor, doctor.user_id, today.isoformat()))
    samples = []
    for n in range(runs):
        day = (today + timedelta(days=(n % 60) - 30)).isoformat()
        samples.append(timed(lambda day=day: services.appointments.day_agenda(
            doctor, doctor.user_id, day)))
    summary(f"doctor's day agenda with {total} appointments in the store", samples,
            "p95 <= 50 ms")
    store.close()


def seeding(runs: int) -> None:
    from meditrack_tui import seed

    samples = []
    for _ in range(runs):
        folder = Path(tempfile.mkdtemp(prefix="meditrack-seed-"))
        store, services = open_services(folder)
        start = time.perf_counter()
        totals = seed.generate(services, 10000)
        samples.append((time.perf_counter() - start) * 1000)
        store.close()
        shutil.rmtree(folder)
    print(f"seeded {totals}")
    summary("seed 10,000 patients with vitals and appointments", samples, "<= 60,000 ms")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("what", nargs="*", default=["search10k", "search100k", "agenda", "seed"],
                        help="search10k search100k agenda seed")
    parser.add_argument("--runs", type=int, default=100)
    args = parser.parse_args()
    for what in args.what:
        if what == "search10k":
            search(10000, args.runs, "p95 <= 50 ms")
        elif what == "search100k":
            search(100000, args.runs, "p95 <= 250 ms")
        elif what == "agenda":
            agenda(args.runs)
        elif what == "seed":
            seeding(max(1, min(3, args.runs // 30)))
        else:
            raise SystemExit(f"unknown benchmark {what}")


if __name__ == "__main__":
    main()
