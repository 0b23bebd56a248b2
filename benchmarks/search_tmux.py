"""Search as you type, in a real terminal: from a key typed in the records search to the
refilled list on the screen.

Launches MediTrack in a tmux session (80x24 unless --size) on a cached clinic of N synthetic
patients (plus the demo clinic), logs in as demo.doctor, opens the records (F3) and types
words into the search, one key at a time (``tmux send-keys``), polling
``tmux capture-pane`` every few milliseconds. For each key it times
- echo: the typed text showing in the search box;
- list: the list refilled for that text, i.e. the status line's count and the first row's
  MRN both as the service returns them for that text (asked beforehand, on a connection
  of the benchmark's own). A key whose result looks the same as the previous key's is
  not timed (nothing on the screen tells the refill apart).
Each key is sent once the previous key's list is shown plus a pause (--gap, 0.1 s).
Target (issue 12, item 6): list p95 <= 100 ms at 10,000 and 100,000 patients.

    python benchmarks/search_tmux.py --patients 10000 [--rounds 2] [--size 80x24]

BENCH_APP, when set, is the command launched instead of ``python -m meditrack_tui`` (for
instance a wrapper that logs or profiles the app); ``--data-dir DIR`` is appended.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

from common import ROOT, SECRET, open_services, percentile, seeded_dir

WORDS = ["smith", "olivia", "garcia", "ng", "patel", "kim", "lee", "mar", "chen", "rossi"]
# a private tmux server, its socket in a directory of our own (removed at exit)
SOCKET = os.path.join(tempfile.mkdtemp(prefix="meditrack-search-"), "tmux")
SESSION = "search"


def tmux(*args: str) -> str:
    return subprocess.run(["tmux", "-S", SOCKET, *args], capture_output=True,
                          text=True).stdout


def screen() -> str:
    return tmux("capture-pane", "-p", "-t", SESSION)


def wait_for(test, timeout: float = 20.0, poll: float = 0.003) -> tuple[float, str]:
    """(seconds until ``test(screen)`` held, the screen then); raises on timeout."""
    start = time.perf_counter()
    while True:
        text = screen()
        if test(text):
            return time.perf_counter() - start, text
        if time.perf_counter() - start > timeout:
            raise RuntimeError("timed out; the screen was:\n" + text)
        time.sleep(poll)


def expected_results(path, words: list[str]) -> dict[str, tuple[int, str]]:
    """(total, first MRN) of the name-sorted search for every prefix of every word."""
    store, services = open_services(path)
    try:
        session = services.auth.login("demo.doctor", "meditrack-demo")
        out: dict[str, tuple[int, str]] = {}
        for text in [""] + [w[:n] for w in words for n in range(1, len(w) + 1)]:
            page = services.patients.list(session, query=text or None, page_size=1)
            out[text] = (page.total, page.items[0]["mrn"] if page.items else "")
        return out
    finally:
        store.close()


def shows(text: str, total: int, mrn: str):
    noun = "patient" if total == 1 else "patients"
    status = f"· {total} {noun} ·" if total else "No patients match"
    return lambda frame: status in frame and (not mrn or mrn in frame)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--patients", type=int, default=10000)
    parser.add_argument("--rounds", type=int, default=2, help="times through the word list")
    parser.add_argument("--size", default="80x24")
    parser.add_argument("--gap", type=float, default=0.1,
                        help="seconds between a key's list showing and the next key")
    args = parser.parse_args()
    width, height = args.size.split("x")
    path = seeded_dir(args.patients)
    expect = expected_results(path, WORDS)
    tmux("new-session", "-d", "-s", SESSION, "-x", width, "-y", height, "-c", str(ROOT),
         "-e", f"MEDITRACK_SECRET={SECRET}", "-e", f"PYTHONPATH={ROOT}",
         *(os.environ.get("BENCH_APP", "").split() or [sys.executable, "-m", "meditrack_tui"]),
         "--data-dir", str(path))
    echo: list[float] = []
    listed: list[float] = []
    try:
        wait_for(lambda s: "your password" in s and "Connected" in s)
        for keys in (["-l", "demo.doctor"], ["Enter"], ["-l", "meditrack-demo"], ["Enter"]):
            tmux("send-keys", "-t", SESSION, *keys)
            time.sleep(0.3)  # the focus moves to the password field in between
        wait_for(lambda s: "your password" not in s and "palette" in s)
        time.sleep(2.0)  # the app warms its search up a second after login
        tmux("send-keys", "-t", SESSION, "F3")
        total, mrn = expect[""]
        wait_for(shows("", total, mrn))
        time.sleep(0.5)
        for _round in range(args.rounds):
            for word in WORDS:
                previous = expect[""]
                for n in range(1, len(word) + 1):
                    text = word[:n]
                    total, mrn = expect[text]
                    start = time.perf_counter()
                    tmux("send-keys", "-t", SESSION, "-l", text[-1])
                    typed, frame = wait_for(lambda s, t=text: t in s, timeout=5)
                    done, frame = wait_for(shows(text, total, mrn), timeout=10)
                    finished = time.perf_counter() - start
                    echo.append(typed * 1000)
                    if (total, mrn) != previous:
                        listed.append(finished * 1000)
                    previous = (total, mrn)
                    time.sleep(args.gap)
                tmux("send-keys", "-t", SESSION, "Escape")  # clear the search
                wait_for(shows("", *expect[""]))
                time.sleep(args.gap)
    finally:
        tmux("kill-server")
        shutil.rmtree(os.path.dirname(SOCKET), ignore_errors=True)

    def line(label: str, samples: list[float]) -> str:
        return (f"{label}: median {statistics.median(samples):.0f} ms, "
                f"p95 {percentile(samples, 0.95):.0f} ms, max {max(samples):.0f} ms "
                f"(n={len(samples)})")

    print(f"{args.patients} patients, {args.size}:")
    print("  " + line("key to the text in the search box", echo))
    print("  " + line("key to the refilled list", listed) + "   [target: p95 <= 100 ms]")
    with open("/proc/loadavg") as handle:
        print("  load average: " + " ".join(handle.read().split()[:3]))


if __name__ == "__main__":
    main()
