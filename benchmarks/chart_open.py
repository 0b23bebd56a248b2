"""Open the Vitals pane on a patient with ~700 readings and draw the blood-pressure chart.

Seeds a temporary store (the demo clinic plus one patient with a reading a day
for two years), then in a headless app (``run_test``, 80x24 and 120x40) times,
N times each:

- the service call alone (``vitals.series`` for the pane's default range, and for "all");
- opening the pane cold (nothing fetched ahead) until the first frame showing the chart
  with its data has been composed and handed to the terminal driver (mount, fetch on
  the store thread, plotext build, compositing), and until the readings table is
  filled too;
- the usual way: the patient's record open on its overview (which fetches the Vitals
  tab's readings ahead), then ``v`` pressed, until the frame with the chart.

Target: median <= 150 ms to open the pane and draw the chart (both ways). The CPU time (all
threads) is printed too: on a busy machine wall-clock figures grow with the load.
Each open counts as a keypress for the app (as the key that opens the tab would) and
is followed by ``--think`` seconds of looking at the chart, during which the app does
its deferred work (full garbage collections run while the user is idle, see
meditrack_tui/quiet_gc.py); the full collections that still land inside an open are
counted and printed. Prints figures; not a test.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import shutil
import sys
import tempfile
import time
from datetime import datetime, timedelta
from pathlib import Path

from common import config_for, open_services, reference_loop_ms, summary

NOW = datetime(2026, 3, 4, 10, 0)


def seed_store(folder: Path, readings: int) -> None:
    """The demo clinic plus one patient with ``readings`` daily BP/HR readings."""
    from meditrack_tui import seed

    store, services = open_services(folder, clock=lambda: NOW)
    seed.load_demo(services)
    doctor = services.auth.login("demo.doctor", "meditrack-demo")
    patient = services.patients.create(doctor, {
        "first_name": "Bench", "last_name": "Marker", "dob": "1960-01-01", "sex": "M"})
    # the benchmark writes straight to the store's repository, like the seed
    rng = random.Random(11)
    docs = []
    for day in range(readings):
        taken = NOW - timedelta(days=readings - day, hours=rng.randint(0, 10))
        systolic = int(rng.gauss(150 - 25 * day / readings, 9))
        docs.append({"patient_id": patient["id"], "systolic": systolic,
                     "diastolic": int(systolic * 0.63 + rng.gauss(0, 4)),
                     "heart_rate": int(rng.gauss(74, 7)), "taken_at": taken, "source": "home",
                     "note": None, "recorded_by": "bench", "recorded_at": taken})
    with store.bulk():
        store.vitals.add_many(docs)
    store.close()
    (folder / "patient_id").write_text(patient["id"])


async def measure(folder: Path, runs: int, size: tuple[int, int],
                  think: float) -> dict[str, list[float]]:
    import gc

    from meditrack_tui.screens.app import MediTrackApp
    from meditrack_tui.screens.widgets.footer import AppFooter
    from meditrack_tui.screens.widgets.vitals import RANGE_DAYS, VitalsPane
    from meditrack_tui.screens.widgets.vitals_chart import TrendPlot
    from textual.screen import Screen

    from meditrack_tui.runtime import Backend

    pid = (folder / "patient_id").read_text()
    backend = Backend(config_for(folder), clock=lambda: NOW)
    backend.open()
    session = backend.call(lambda s: s.auth.login("demo.doctor", "meditrack-demo"))
    results: dict[str, list[float]] = {
        name: [] for name in ("service 1 year", "service all", "open pane + draw chart",
                              "chart built", "table filled", "open cpu", "floor", "full gcs",
                              "patient screen, v", "full gcs v")}
    since = NOW - timedelta(days=RANGE_DAYS["1y"])
    for _ in range(runs):
        for label, start in (("service 1 year", since), ("service all", None)):
            t0 = time.perf_counter()
            rows = backend.call(lambda s, start=start: s.vitals.series(session, pid, since=start))
            results[label].append((time.perf_counter() - t0) * 1000)
    print(f"  readings: {len(rows)} in all, "
          f"{len(backend.call(lambda s: s.vitals.series(session, pid, since=since)))} "
          "in the default range (1 year)", flush=True)

    drawn: list[float] = []
    original_build = TrendPlot._build

    def build(self):  # record when a chart with data has been built
        out = original_build(self)
        pane = next((a for a in self.ancestors if isinstance(a, VitalsPane)), None)
        if pane is not None and pane.loaded_range is not None:
            drawn.append(time.perf_counter())
        return out

    TrendPlot._build = build  # type: ignore[method-assign]

    from textual.widgets import Static

    class Probe(Static):
        """An empty pane that notes when it is first rendered (the floor: screen + footer)."""

        def render(self):
            drawn.append(time.perf_counter())
            return super().render()

    class Host(Screen):
        def __init__(self, pane) -> None:
            super().__init__()
            self.pane = pane

        def compose(self):
            yield self.pane
            yield AppFooter()  # the app's footer, as on the patient screen

    app = MediTrackApp(backend, live=False)
    try:
        async with app.run_test(size=size) as pilot:
            await pilot.pause(0.3)
            app.session = session
            full: list[float] = []

            def on_gc(phase: str, info: dict) -> None:
                if phase == "start" and info["generation"] == 2:
                    full.append(time.perf_counter())

            gc.callbacks.append(on_gc)
            # a frame is composed and handed to the driver (headless: not written out)
            frames: list[float] = []
            original_display = app._display

            def display(screen, renderable):
                frames.append(time.perf_counter())
                return original_display(screen, renderable)

            app._display = display  # type: ignore[method-assign]
            for _ in range(runs + 1):  # the first run warms imports and caches
                drawn.clear()
                frames.clear()
                pane = VitalsPane(pid)
                app.last_activity = time.monotonic()  # the key that opens the tab
                c0 = time.process_time()
                t0 = time.perf_counter()
                await app.push_screen(Host(pane))
                filled = None
                for _wait in range(4000):
                    if filled is None and pane.is_mounted and \
                            pane.query_one("#vitals-table").row_count:
                        filled = time.perf_counter()
                    if drawn and filled and any(t >= drawn[0] for t in frames):
                        break
                    await asyncio.sleep(0.0005)
                if drawn and filled:
                    results["chart built"].append((drawn[0] - t0) * 1000)
                    shown = next((t for t in frames if t >= drawn[0]), None)
                    if shown is not None:
                        results["open pane + draw chart"].append((shown - t0) * 1000)
                    results["table filled"].append((filled - t0) * 1000)
                    results["open cpu"].append((time.process_time() - c0) * 1000)
                    results["full gcs"].append(sum(1 for t in full if t0 <= t <= filled))
                await app.workers.wait_for_complete()
                await pilot.pause(think)  # the user looks at the chart
                await app.pop_screen()
                await pilot.pause()
            # the usual way there: the patient's record is open (the overview), the user
            # reads it, then presses v; the screen fetched the tab's readings meanwhile
            from meditrack_tui.screens.patient_detail import PatientScreen

            for _ in range(runs + 1):
                await app.push_screen(PatientScreen(pid))
                screen = app.screen
                for _wait in range(4000):
                    if screen.record is not None and screen.vitals_prefetch is not None:
                        break
                    await asyncio.sleep(0.001)
                await pilot.pause(think)  # reading the overview
                drawn.clear()
                frames.clear()
                app.last_activity = time.monotonic()
                t0 = time.perf_counter()
                await pilot.press("v")
                for _wait in range(4000):
                    if drawn and any(t >= drawn[0] for t in frames):
                        break
                    await asyncio.sleep(0.0005)
                shown = next((t for t in frames if drawn and t >= drawn[0]), None)
                if shown is not None:
                    results["patient screen, v"].append((shown - t0) * 1000)
                    results["full gcs v"].append(sum(1 for t in full if t0 <= t <= shown))
                await app.workers.wait_for_complete()
                await pilot.pause(think)
                await app.pop_screen()
                await pilot.pause()
            gc.callbacks.remove(on_gc)
            for _ in range(runs + 1):
                drawn.clear()
                t0 = time.perf_counter()
                await app.push_screen(Host(Probe("empty")))
                for _wait in range(4000):
                    if drawn:
                        break
                    await asyncio.sleep(0.0005)
                results["floor"].append((drawn[0] - t0) * 1000)
                await app.pop_screen()
                await pilot.pause()
    finally:
        TrendPlot._build = original_build  # type: ignore[method-assign]
        backend.close()
    for key in ("open pane + draw chart", "chart built", "table filled", "open cpu", "floor",
                "full gcs", "patient screen, v", "full gcs v"):
        results[key] = results[key][1:]
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--readings", type=int, default=700)
    parser.add_argument("--think", type=float, default=1.0,
                        help="seconds the user looks at each chart before the next open")
    args = parser.parse_args()
    import os

    print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs "
          "(figures are wall-clock unless marked CPU); "
          f"reference loop {reference_loop_ms():.0f} ms (usually ~225)", flush=True)
    folder = Path(tempfile.mkdtemp(prefix="meditrack-chart-bench-"))
    try:
        print(f"seeding a temporary store with {args.readings} readings…", flush=True)
        seed_store(folder, args.readings)
        for size in ((80, 24), (120, 40)):
            print(f"terminal {size[0]}x{size[1]}:", flush=True)
            results = asyncio.run(measure(folder, args.runs, size, args.think))
            summary("  service call, default range (1 year)", results["service 1 year"])
            summary("  service call, all readings", results["service all"])
            summary("  ... the chart built (plotext)", results["chart built"])
            summary("  open vitals pane + draw BP chart (frame with the chart composed)",
                    results["open pane + draw chart"],
                    "median <= 150 ms")
            summary("  ... and the readings table filled", results["table filled"])
            summary("  CPU time (all threads) until both", results["open cpu"])
            summary("  for comparison, an empty screen + footer first drawn", results["floor"])
            print(f"  full garbage collections during the opens: {int(sum(results['full gcs']))}"
                  f" in {len(results['full gcs'])} opens", flush=True)
            summary("  patient record open, v pressed: the chart on screen (readings fetched "
                    "while the overview was read)", results["patient screen, v"],
                    "median <= 150 ms")
            print(f"  full garbage collections during those: {int(sum(results['full gcs v']))}",
                  flush=True)
        print(f"reference loop at the end: {reference_loop_ms():.0f} ms", flush=True)
    finally:
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
