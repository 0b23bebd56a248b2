"""Shared helpers for the benchmark scripts: seeded data directories and statistics."""

from __future__ import annotations

import os
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

CACHE = Path(os.environ.get("MEDITRACK_BENCH_DIR", ROOT / "benchmarks" / ".data"))
SECRET = "benchmark-secret-" + "x" * 32


def config_for(path: Path):
    from meditrack_tui.config import Config

    return Config(data_dir=path, secret=SECRET)


def seeded_dir(patients: int) -> Path:
    """A data directory with the demo clinic plus ``patients`` synthetic ones (cached)."""
    from meditrack_tui import seed
    from meditrack_tui.services import Services
    from meditrack_tui.store import connect

    path = CACHE / f"clinic-{patients}"
    marker = path / "seeded"
    if marker.exists():
        marker.chmod(0o600)  # the app refuses a data directory with files others can read
        return path
    if path.exists():
        import shutil

        shutil.rmtree(path)
    print(f"(seeding {patients} patients into {path}; cached for later runs)", flush=True)
    cfg = config_for(path)
    store = connect(cfg)
    services = Services(store, cfg)
    seed.load_demo(services)
    if patients:
        seed.generate(services, patients)
    store.close()
    marker.write_text("ok")
    marker.chmod(0o600)
    return path


def open_services(path: Path, clock: Callable[[], object] | None = None):
    """(store, services) on the data directory ``path``."""
    from meditrack_tui.services import Services
    from meditrack_tui.store import connect

    cfg = config_for(path)
    store = connect(cfg)
    return store, Services(store, cfg, clock=clock)


def percentile(samples: list[float], q: float) -> float:
    """The ``q`` quantile (0..1) of ``samples``, nearest rank."""
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, max(0, round(q * len(ordered)) - 1))]


def summary(label: str, samples_ms: list[float], target: str = "") -> str:
    """'label: median X ms, p95 Y ms (n=N)' plus the target when given."""
    ordered = sorted(samples_ms)
    p95 = ordered[min(len(ordered) - 1, max(0, round(0.95 * len(ordered)) - 1))]
    line = (f"{label}: median {statistics.median(ordered):.1f} ms, p95 {p95:.1f} ms, "
            f"max {ordered[-1]:.1f} ms (n={len(ordered)})")
    if target:
        line += f"   [target: {target}]"
    print(line, flush=True)
    return line


def timed(fn: Callable[[], object]) -> float:
    start = time.perf_counter()
    fn()
    return (time.perf_counter() - start) * 1000


def reference_loop_ms() -> float:
    """A fixed pure-Python loop, timed: how fast this machine runs Python right now.

    Shared virtual machines change speed (this one by up to 2x within minutes); printing
    this beside wall-clock figures shows whether a run met a slow spell. About 225 ms on
    the development machine at its usual speed.
    """
    start = time.perf_counter()
    total = 0
    for i in range(3_000_000):
        total += i * i
    return (time.perf_counter() - start) * 1000
