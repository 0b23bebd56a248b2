"""Live updates between two processes on one embedded store, and the idle cost of watching.

Process B runs the real app (headless, logged in as a doctor, change feed on) and
notes when each change reaches the UI thread (where screens are told to re-fetch).
Process A (this one) records vitals through the services, spaced out, and notes
when each write was committed. Latency = arrival in B - commit in A, per change.
Then B idles with the feed on and reports its CPU use.

Targets: a change appears within 1 s; an idle watching app uses < 3% of a core.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from common import ROOT, config_for, summary

HERE = Path(__file__).resolve().parent


def watcher(data_dir: str, out: str, idle_seconds: float) -> None:
    """Process B: the app with its feed on; writes arrival times and idle CPU to ``out``."""
    sys.path.insert(0, str(ROOT))
    from meditrack_tui.app import MediTrackApp
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
            while not stop.exists():
                await pilot.pause(0.05)
            # Idle: nothing changes; the feed keeps polling.
            await pilot.pause(1.0)
            cpu0, wall0 = time.process_time(), time.perf_counter()
            await pilot.pause(idle_seconds)
            cpu = (time.process_time() - cpu0) / (time.perf_counter() - wall0)
            Path(out).write_text(json.dumps({"arrivals": arrivals, "idle_cpu": cpu}))

    asyncio.run(run())
    backend.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--changes", type=int, default=60)
    parser.add_argument("--idle", type=float, default=20.0, help="seconds of idle measurement")
    parser.add_argument("--watch", nargs=2, metavar=("DATA_DIR", "OUT"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.watch:
        watcher(args.watch[0], args.watch[1], args.idle)
        return
    sys.path.insert(0, str(ROOT))
    from meditrack_tui import seed
    from meditrack_tui.db import connect
    from meditrack_tui.services import Services

    data_dir = Path(tempfile.mkdtemp(prefix="meditrack-live-"))
    cfg = config_for(data_dir)
    store = connect(cfg)
    services = Services(store, cfg)
    seed.load_demo(services)
    out = str(data_dir / "watch.json")
    child = subprocess.Popen([sys.executable, str(HERE / "live_latency.py"), "--idle",
                              str(args.idle), "--watch", str(data_dir), out], cwd=str(ROOT))
    try:
        deadline = time.time() + 60
        while not os.path.exists(out + ".ready"):
            if time.time() > deadline or child.poll() is not None:
                raise SystemExit("the watching app did not start")
            time.sleep(0.05)
        doctor = services.auth.login("dr.okafor", "meditrack-demo")
        patient = services.patients.list(doctor, query="").items[0]["id"]
        committed: dict[str, float] = {}
        for n in range(args.changes):
            reading = services.vitals.add(doctor, patient, {"heart_rate": 60 + n % 30})
            committed[reading["id"]] = time.time()
            time.sleep(0.15)
        time.sleep(1.5)
        Path(out + ".stop").write_text("stop")
        child.wait(timeout=args.idle + 60)
        result = json.loads(Path(out).read_text())
    finally:
        if child.poll() is None:
            child.kill()
        store.close()
    arrivals = result["arrivals"]
    missing = [rid for rid in committed if rid not in arrivals]
    latencies = [(arrivals[rid] - t) * 1000 for rid, t in committed.items() if rid in arrivals]
    print(f"changes made: {len(committed)}, seen by the other process: {len(latencies)}, "
          f"missed: {len(missing)}")
    summary("propagation latency between two processes", latencies, "<= 1000 ms")
    print(f"idle CPU of a watching app over {args.idle:.0f} s: "
          f"{result['idle_cpu'] * 100:.2f}% of one core   [target: < 3%]")


if __name__ == "__main__":
    main()
