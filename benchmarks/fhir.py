"""FHIR bulk export and import at 10,000 synthetic patients (issue 14): time and peak memory.

For each clinic size (default 1,000 and 10,000 synthetic patients plus the demo clinic,
each with 8 vitals readings and 2 appointments, seeded once and cached; see common.py),
on a scratch copy of the cached data directory:

- ``meditrack export fhir --all DIR`` in a subprocess: wall time and peak resident memory
  (``ru_maxrss`` of that process, from ``os.wait4``);
- ``meditrack import fhir DIR`` of that folder into an empty data directory, likewise.

Floors measured in the same run:

- time: ``json.dumps`` of every exported resource (the export's serialisation alone) and
  ``json.loads`` of every line (the import's parsing alone), in this process;
- memory: a process that imports what the commands import and does nothing (its peak
  RSS is the interpreter and the modules), and the size of the exported resources as
  Python objects (tracemalloc): what a command holding the whole export would hold.

Run: ``python benchmarks/fhir.py [--patients 1000 10000]``.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import tracemalloc
from datetime import date
from pathlib import Path

from common import ROOT, SECRET, reference_loop_ms, seeded_dir

BASELINE = ("import meditrack_tui.cli, meditrack_tui.fhir.cli, meditrack_tui.fhir.bulk, "
            "meditrack_tui.fhir.imports, meditrack_tui.runtime, meditrack_tui.services, "
            "meditrack_tui.store, rich.progress, rich.table")


#: runs ``-m module args`` or ``-c code`` and, at exit, writes the process's peak RSS
#: (VmHWM: since its exec, so not the parent's size that ``ru_maxrss`` inherits) and its
#: peak anonymous RSS (sampled every 20 ms: the heap, without the pages of files mapped
#: into memory such as the store's 64 MB SQLite memory map) to the file named by BENCH_HWM
LAUNCH = """
import atexit, os, runpy, sys, threading, time

def status(key):
    with open("/proc/self/status") as lines:
        return int(next(line for line in lines if line.startswith(key)).split()[1])

anon = [0]

def sample():
    while True:
        anon[0] = max(anon[0], status("RssAnon"))
        time.sleep(0.02)

def hwm():
    with open(os.environ["BENCH_HWM"], "w") as out:
        out.write(f"{status('VmHWM')} {max(anon[0], status('RssAnon'))}")

threading.Thread(target=sample, daemon=True).start()
atexit.register(hwm)
if sys.argv[1] == "-c":
    exec(sys.argv[2])
else:
    sys.argv = sys.argv[2:]
    runpy.run_module(MODULE, run_name="__main__", alter_sys=True)
"""


def run(args: list[str]) -> tuple[float, tuple[float, float], str]:
    """(seconds, (peak RSS, peak anonymous RSS) in MB, stdout) of ``python args``
    (``-m module ...`` or ``-c code``) as a child process."""
    with tempfile.TemporaryDirectory() as tmp:
        env = {**os.environ, "MEDITRACK_SECRET": SECRET, "PYTHONPATH": str(ROOT),
               "BENCH_HWM": str(Path(tmp) / "hwm")}
        code = LAUNCH.replace("MODULE", repr(args[1]))
        start = time.perf_counter()
        done = subprocess.run([sys.executable, "-c", code, *args], env=env, cwd=ROOT,
                              capture_output=True, text=True)
        elapsed = time.perf_counter() - start
        if done.returncode:
            raise SystemExit(f"{args} failed:\n{done.stderr}")
        peak, anon = (int(v) / 1024 for v in (Path(tmp) / "hwm").read_text().split())
        return elapsed, (peak, anon), done.stdout


def floors(folder: Path) -> tuple[int, float, float, float]:
    """(resources, dumps seconds, loads seconds, MB as Python objects) of the export:
    each line parsed and dumped one at a time (this process stays small); the size as
    objects measured on the first 5,000 and scaled."""
    n = 0
    dumps = loads = 0.0
    for path in sorted(folder.glob("*.ndjson")):
        with open(path, encoding="utf-8") as handle:
            for line in handle:
                start = time.perf_counter()
                res = json.loads(line)
                loads += time.perf_counter() - start
                start = time.perf_counter()
                json.dumps(res, ensure_ascii=False, separators=(",", ":"))
                dumps += time.perf_counter() - start
                n += 1
    sample: list[str] = []
    for path in sorted(folder.glob("*.ndjson")):
        with open(path, encoding="utf-8") as handle:
            sample += list(itertools.islice(handle, 5000 - len(sample)))
    tracemalloc.start()
    held = [json.loads(line) for line in sample]
    size = tracemalloc.get_traced_memory()[0] / 2**20 * n / max(1, len(held))
    tracemalloc.stop()
    del held
    return n, dumps, loads, size


def bench(patients: int, scratch: Path) -> list[str]:
    source = scratch / f"clinic-{patients}"
    shutil.copytree(seeded_dir(patients), source)  # the export's audit entries go here
    out = scratch / f"export-{patients}"
    t_exp, m_exp, text = run(["-m", "meditrack_tui.cli", "export", "fhir", "--data-dir",
                              str(source), "--all", str(out)])
    print(text.strip()[:300])
    target = scratch / f"imported-{patients}"
    t_imp, m_imp, text = run(["-m", "meditrack_tui.cli", "import", "fhir", "--data-dir",
                              str(target), str(out)])
    print("\n".join(text.strip().splitlines()[:14]))
    _, m_base, _ = run(["-c", BASELINE])
    n, dumps, loads, held = floors(out)
    size = sum(p.stat().st_size for p in out.glob("*.ndjson")) / 2**20
    with open(out / "Patient.ndjson", encoding="utf-8") as handle:
        total = sum(1 for _ in handle)  # the demo clinic's patients too
    rows = [
        f"| export --all, {total:,} patients ({n:,} resources, {size:.0f} MB NDJSON) "
        f"| {t_exp:.1f} s ({t_exp / total * 1000:.2f} ms/patient; {t_exp / dumps:.0f}x "
        f"json.dumps of the resources, {dumps:.2f} s) | {m_exp[0]:.0f} MB "
        f"| {m_exp[1]:.0f} MB ({m_exp[1] - m_base[1]:+.0f} MB over the {m_base[1]:.0f} MB "
        f"of a process that only imports the modules; the resources as Python objects: "
        f"{held:.0f} MB) |",
        f"| import into an empty store | {t_imp:.1f} s ({t_imp / total * 1000:.2f} "
        f"ms/patient; {t_imp / loads:.0f}x json.loads of the lines, {loads:.2f} s) | "
        f"{m_imp[0]:.0f} MB | {m_imp[1]:.0f} MB ({m_imp[1] - m_base[1]:+.0f} MB) |",
    ]
    for row in rows:
        print(row, flush=True)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--patients", type=int, nargs="+", default=[1000, 10000])
    args = parser.parse_args()
    print(f"{date.today()}; reference loop {reference_loop_ms():.0f} ms; load "
          f"{os.getloadavg()[0]:.1f}", flush=True)
    rows = ["| what | time | peak RSS | peak anonymous RSS (heap) |", "|---|---|---|---|"]
    with tempfile.TemporaryDirectory(prefix="meditrack-fhir-bench-") as tmp:
        for patients in args.patients:
            # seeding (once, cached; not timed) in a child: this process stays small
            subprocess.run([sys.executable, "-c", "import sys; sys.path.insert(0, "
                            f"{str(ROOT / 'benchmarks')!r}); from common import seeded_dir; "
                            f"seeded_dir({patients})"], check=True)
            rows += bench(patients, Path(tmp))
    print(f"reference loop {reference_loop_ms():.0f} ms")
    print("\n".join(rows))


if __name__ == "__main__":
    main()
