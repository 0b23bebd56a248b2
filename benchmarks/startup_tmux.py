"""Start-up in a real terminal: MediTrack's login screen against a minimal Textual app.

Launches, alternately, MediTrack (``python -m meditrack_tui --data-dir DIR`` on the cached
demo clinic) and ``benchmarks/minimal_login.py`` (one ``Input(password=True)``), each in a
fresh 80x24 tmux session, and times from the launch to the first captured frame that shows
the password field (its placeholder, "your password", in both apps), polling
``tmux capture-pane`` every few milliseconds. Prints the median and p95 of each and the
ratio of the medians. Target (issue 12, item 7): ratio <= 1.15.

The project's modules are byte-compiled first, as an installed package's are (pip writes
the .pyc files at install time): with PYTHONDONTWRITEBYTECODE set, as it is on some
machines, a module edited since its .pyc was written would otherwise be compiled again
at every launch, and the figure would measure the compiler.

    python benchmarks/startup_tmux.py [--runs 20]
"""

from __future__ import annotations

import argparse
import compileall
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

from common import ROOT, SECRET, percentile, seeded_dir

MARKER = "your password"
# a private tmux server, its socket in a directory of our own (removed at exit)
SOCKET = os.path.join(tempfile.mkdtemp(prefix="meditrack-bench-"), "tmux")


def tmux(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(["tmux", "-S", SOCKET, *args], capture_output=True, text=True)


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # pragma: no cover
        return True
    return True


def once(name: str, command: list[str], poll: float, timeout: float = 20.0,
         complete: str | None = None) -> tuple[float, float]:
    """Milliseconds from launching ``command`` in a new 80x24 session to the marker showing,
    and to ``complete`` showing too (the whole screen: buttons and footer), when given."""
    start = time.perf_counter()
    tmux("new-session", "-d", "-s", name, "-x", "80", "-y", "24", "-c", str(ROOT),
         "-e", f"MEDITRACK_SECRET={SECRET}", "-e", f"PYTHONPATH={ROOT}", *command)
    elapsed = whole = float("nan")
    screen = ""
    while time.perf_counter() - start < timeout:
        screen = tmux("capture-pane", "-p", "-t", name).stdout
        if elapsed != elapsed and MARKER in screen:
            elapsed = (time.perf_counter() - start) * 1000
        if elapsed == elapsed and (complete is None or complete in screen):
            whole = (time.perf_counter() - start) * 1000
            break
        time.sleep(poll)
    pid = tmux("display-message", "-p", "-t", name, "#{pane_pid}").stdout.strip()
    tmux("kill-session", "-t", name)
    if pid.isdigit():  # wait for the process to be gone, so runs never overlap
        end = time.perf_counter() + 10
        while pid_alive(int(pid)) and time.perf_counter() < end:
            time.sleep(0.01)
    if elapsed != elapsed:
        print(f"  {name}: the password field never showed; last frame:\n{screen}", flush=True)
    return elapsed, whole


def describe(label: str, samples: list[float]) -> str:
    good = [s for s in samples if s == s]
    return (f"{label}: median {statistics.median(good):.0f} ms, "
            f"p95 {percentile(good, 0.95):.0f} ms, min {min(good):.0f}, max {max(good):.0f} "
            f"(n={len(good)})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=20, help="runs of each app (default 20)")
    parser.add_argument("--poll", type=float, default=0.004,
                        help="seconds between two captures of the pane (default 0.004)")
    parser.add_argument("--pause", type=float, default=0.3,
                        help="seconds of quiet between two launches (default 0.3)")
    args = parser.parse_args()
    for package in ("meditrack_tui", "screens"):
        compileall.compile_dir(str(ROOT / package), quiet=1)
    data = str(seeded_dir(0))
    python = sys.executable
    apps = {
        "meditrack": [python, "-m", "meditrack_tui", "--data-dir", data],
        "minimal": [python, str(ROOT / "benchmarks" / "minimal_login.py")],
    }
    tmux("new-session", "-d", "-s", "keeper", "-x", "80", "-y", "24", "sleep 100000")
    # the whole login screen: its footer (last to be drawn) shows the Quit key
    complete = {"meditrack": "Quit", "minimal": None}
    samples: dict[str, list[float]] = {name: [] for name in apps}
    whole: list[float] = []
    try:
        for name, command in apps.items():  # warm the file cache and bytecode
            once(f"warm-{name}", command, args.poll, complete=complete[name])
        for n in range(args.runs):
            order = list(apps) if n % 2 == 0 else list(reversed(apps))
            for name in order:
                time.sleep(args.pause)
                first, done = once(f"{name}-{n}", apps[name], args.poll,
                                   complete=complete[name])
                samples[name].append(first)
                if name == "meditrack":
                    whole.append(done)
    finally:
        tmux("kill-server")
        shutil.rmtree(os.path.dirname(SOCKET), ignore_errors=True)
    for name in apps:
        print(describe(f"{name:9} launch to password field", samples[name]))
    print(describe("meditrack launch to the whole login screen (buttons, footer)", whole))
    ratio = statistics.median(samples["meditrack"]) / statistics.median(samples["minimal"])
    print(f"ratio of medians (meditrack / minimal): {ratio:.2f}   [target: <= 1.15]")
    with open("/proc/loadavg") as handle:
        print("load average: " + " ".join(handle.read().split()[:3]))


if __name__ == "__main__":
    main()
