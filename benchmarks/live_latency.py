"""Live updates between two processes on one embedded store, and the idle cost of watching.

Process B runs the real app (headless, logged in as a doctor, change feed on) and
notes when each change reaches the UI thread (where screens are told to re-fetch).
Process A (this one) records vitals through the services, spaced out, and notes
when each write was committed. Latency = arrival in B - commit in A, per change.
Then B idles with the feed on and reports its CPU use.

Both are measured twice: with the change log as a fresh clinic has it, and again after
``--log-entries`` more entries (a busy clinic's last minutes) so the idle figure is not
a best case.

Targets: a change appears within 300 ms (p95); an idle watching app uses < 1% of a core.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

from common import ROOT, config_for, open_services, summary

HERE = Path(__file__).resolve().parent


def watcher(data_dir: str, out: str, idle_seconds: float) -> None:
    """Process B: the app with its feed on; for each ``out.idle<n>`` flag, idles, then writes
    arrival times so far and the idle CPU to ``out.idle<n>.json``."""
    sys.path.insert(0, str(ROOT))
    from meditrack_tui.screens.app import MediTrackApp

    from meditrack_tui.runtime import Backend

    arrivals: dict[str, float] = {}
    backend = Backend(config_for(Path(data_dir)))
    app = MediTrackApp(backend, live=True)
    original = app.dispatch_changes

    def dispatch(events):
        now = time.time()
        for event in events:
            if event.record_id and event.collection == "vitals":
                arrivals.setdefault(event.record_id, now)
        original(events)

    app.dispatch_changes = dispatch  # type: ignore[method-assign]

    async def run() -> None:
        async with app.run_test(size=(100, 30)) as pilot:
            for _ in range(200):
                if backend.is_open:
                    break
                await pilot.pause(0.05)
            session = backend.call(lambda s: s.auth.login("demo.doctor", "meditrack-demo"))
            app.logged_in(session)
            await pilot.pause(1.0)
            Path(out + ".ready").write_text("ready")
            stop = Path(out + ".stop")
            phase = 0
            while True:
                flag = Path(f"{out}.idle{phase}")
                while not flag.exists() and not stop.exists():
                    await pilot.pause(0.05)
                if stop.exists():
                    break
                # Idle: nothing changes; the feed keeps polling.
                await pilot.pause(1.0)
                cpu0, wall0 = time.process_time(), time.perf_counter()
                await pilot.pause(idle_seconds)
                cpu = (time.process_time() - cpu0) / (time.perf_counter() - wall0)
                Path(f"{out}.idle{phase}.json").write_text(json.dumps(
                    {"arrivals": arrivals, "idle_cpu": cpu, "poll": poll_cost(data_dir)}))
                phase += 1

    asyncio.run(run())
    backend.close()


def poll_cost(data_dir: str, polls: int = 200) -> float:
    """CPU seconds of one idle poll of the change feed (nothing new: one read of the newest
    sequence number) on a fresh connection: what the watching app pays per poll."""
    from meditrack_tui.store import connect

    store = connect(config_for(Path(data_dir)))
    try:
        feed = store.open_feed()
        feed.poll()
        began = time.process_time()
        for _ in range(polls):
            feed.poll()
        return (time.process_time() - began) / polls
    finally:
        store.close()


def fill_log(services, count: int) -> None:
    """``count`` change-log entries spread over the last four minutes (kept by pruning),
    as a busy clinic's sessions would have left them; then one ordinary append."""
    from meditrack_tui.live import utcnow

    now = utcnow()
    span = timedelta(minutes=4)
    store = services.store
    with store.bulk():
        for n in range(count):
            store.changes.append("audit", "insert", ts=now - span + span * (n / count),
                                 by="dr.okafor")
    services.audit.changed("audit", "insert", None)


def log_entries(store) -> int:
    """How many change events the log holds now."""
    return len(store.changes.after(0, limit=10**9))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--changes", type=int, default=60)
    parser.add_argument("--idle", type=float, default=30.0, help="seconds of idle measurement")
    parser.add_argument("--log-entries", type=int, default=5000,
                        help="entries added to the change log for the second measurement")
    parser.add_argument("--watch", nargs=2, metavar=("DATA_DIR", "OUT"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.watch:
        watcher(args.watch[0], args.watch[1], args.idle)
        return
    sys.path.insert(0, str(ROOT))
    from meditrack_tui import seed

    data_dir = Path(tempfile.mkdtemp(prefix="meditrack-live-"))
    child = None
    store = None
    try:
        store, services = open_services(data_dir)
        seed.load_demo(services)
        out = str(data_dir / "watch.json")
        child = subprocess.Popen([sys.executable, str(HERE / "live_latency.py"), "--idle",
                                  str(args.idle), "--watch", str(data_dir), out],
                                 cwd=str(ROOT))
        deadline = time.time() + 60
        while not os.path.exists(out + ".ready"):
            if time.time() > deadline or child.poll() is not None:
                raise SystemExit("the watching app did not start")
            time.sleep(0.05)
        doctor = services.auth.login("dr.okafor", "meditrack-demo")
        patient = services.patients.list(doctor, query="").items[0]["id"]
        phases = [("fresh change log", 0), (f"+{args.log_entries} log entries", args.log_entries)]
        for phase, (label, fill) in enumerate(phases):
            if fill:
                fill_log(services, fill)
                time.sleep(2.0)  # the watcher reads them once
            entries = log_entries(store)
            committed: dict[str, float] = {}
            for n in range(args.changes):
                reading = services.vitals.add(doctor, patient, {"heart_rate": 60 + n % 30})
                committed[reading["id"]] = time.time()
                time.sleep(0.15)
            time.sleep(1.5)
            Path(f"{out}.idle{phase}").write_text("idle")
            result_file = Path(f"{out}.idle{phase}.json")
            deadline = time.time() + args.idle + 60
            while not result_file.exists():
                if time.time() > deadline or child.poll() is not None:
                    raise SystemExit("the watching app stopped")
                time.sleep(0.1)
            time.sleep(0.1)  # let the writer finish the file
            result = json.loads(result_file.read_text())
            arrivals = result["arrivals"]
            missing = [rid for rid in committed if rid not in arrivals]
            latencies = [(arrivals[rid] - t) * 1000 for rid, t in committed.items()
                         if rid in arrivals]
            print(f"[{label}: {entries} entries in the change log] changes made: "
                  f"{len(committed)}, seen by the other process: {len(latencies)}, "
                  f"missed: {len(missing)}")
            summary(f"[{label}] propagation latency between two processes", latencies,
                    "p95 <= 300 ms")
            print(f"[{label}] idle CPU of a watching app over {args.idle:.0f} s: "
                  f"{result['idle_cpu'] * 100:.2f}% of one core   [target: < 1%]", flush=True)
            print(f"[{label}] one idle poll of the change feed: "
                  f"{result['poll'] * 1e6:.0f} µs CPU", flush=True)
        Path(out + ".stop").write_text("stop")
        child.wait(timeout=60)
    finally:
        if child is not None and child.poll() is None:
            child.kill()
            child.wait()
        if store is not None:
            store.close()
        shutil.rmtree(data_dir, ignore_errors=True)


if __name__ == "__main__":
    main()
