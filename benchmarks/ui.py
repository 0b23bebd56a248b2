"""UI figures at 10,000 patients, in a headless app (Textual's run_test) on the embedded store.

- keypress to updated table: in the patient list, type search text one key at a time
  (as a person does, ~8 keys a second) and time each key from the press to the table
  showing the results for the text typed so far (p95 <= 100 ms);
- resident memory after browsing: log in as a doctor, page through the patient list,
  search, open a patient's blood-pressure chart, open the agenda and the appointment
  list; then read the process's resident set size (<= 100 MB).
"""

from __future__ import annotations

import argparse
import asyncio
import time

from common import config_for, seeded_dir, summary

WORDS = ["smith", "olivia", "garcia", "ng", "patel", "kim", "lee", "mar", "chen", "rossi"]


def rss_mb(field: str = "VmRSS") -> float:
    """A size from /proc/self/status in MB: VmRSS (resident), or its parts RssAnon (the
    process's own memory) and RssFile (file pages mapped in: libraries, and the database
    file's pages the store's SQLite mmap has touched)."""
    with open("/proc/self/status") as handle:
        for line in handle:
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024
    return float("nan")


async def login(app, pilot, username: str = "demo.doctor") -> None:
    for _ in range(400):
        if app.backend.is_open and type(app.screen).__name__ == "LoginScreen":
            break
        await pilot.pause(0.05)
    session = app.backend.call(lambda s: s.auth.login(username, "meditrack-demo"))
    app.logged_in(session)
    await pilot.pause(0.5)
    # let the background warm-up (patient directory, indexes) finish, as it would while the
    # user reads the dashboard
    app.backend.call(lambda s: s.warm_up(session))


async def wait_for(pilot, condition, seconds: float = 10.0) -> None:
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        if condition():
            return
        await pilot.pause(0.002)
    raise RuntimeError("timed out")


async def keypress(patients: int, rounds: int) -> None:
    """Key to table, timed inside the app: from the moment the search box handles the key
    (Input.Changed) to the moment the table has been refilled with that text's results."""
    from meditrack_tui.screens.app import MediTrackApp
    from meditrack_tui.screens.patients import PatientListScreen

    from meditrack_tui.runtime import Backend

    backend = Backend(config_for(seeded_dir(patients)))
    app = MediTrackApp(backend, live=False)
    samples: list[float] = []
    typed: dict[str, float] = {}
    shown: dict[str, float] = {}

    def hook(message) -> None:
        from textual.widgets import Input

        if isinstance(message, Input.Changed) and message.input.id == "pl-search":
            typed.setdefault(message.value, time.perf_counter())

    async with app.run_test(size=(120, 40), message_hook=hook) as pilot:
        await login(app, pilot)
        await pilot.press("f3")
        await wait_for(pilot, lambda: isinstance(app.screen, PatientListScreen))
        screen = app.screen
        await wait_for(pilot, lambda: screen._drawn and not screen.searching)
        original_show = screen.show_page

        def show(result):  # called with the answer to the latest search only
            original_show(result)
            shown.setdefault(screen.query_text, time.perf_counter())

        screen.show_page = show
        for n in range(rounds):
            word = WORDS[n % len(WORDS)]
            await pilot.press("escape")  # clear the search
            await pilot.pause(0.3)
            typed.clear()
            shown.clear()
            for char in word:
                await pilot.press(char)
                await pilot.pause(0.12)  # about 8 keys a second
            await wait_for(pilot, lambda: not screen.searching)
            for text, began in typed.items():
                if text in shown:
                    samples.append((shown[text] - began) * 1000)
    backend.close()
    summary(f"search keypress to updated table at {patients} patients", samples,
            "p95 <= 100 ms")


async def memory(patients: int) -> None:
    from meditrack_tui.screens.app import MediTrackApp
    from meditrack_tui.screens.patients import PatientListScreen

    from meditrack_tui.runtime import Backend

    backend = Backend(config_for(seeded_dir(patients)))
    app = MediTrackApp(backend, live=True)
    async with app.run_test(size=(120, 40)) as pilot:
        await login(app, pilot)
        await pilot.pause(0.5)
        await pilot.press("f3")
        await wait_for(pilot, lambda: isinstance(app.screen, PatientListScreen))
        screen = app.screen
        await wait_for(pilot, lambda: screen._drawn and not screen.searching)
        for _ in range(5):
            await pilot.press("pagedown")
            await pilot.pause(0.2)
        for char in "reyes":
            await pilot.press(char)
        await pilot.pause(0.5)
        await pilot.press("enter")  # open the patient
        await pilot.pause(1.0)
        await pilot.press("v")  # vitals: the blood-pressure chart
        await pilot.pause(1.5)
        await pilot.press("f4")  # the agenda
        await pilot.pause(1.0)
        await pilot.press("v")  # the appointment list
        await pilot.pause(1.5)
        await pilot.pause(0.5)
        used = rss_mb()
        parts = {k: rss_mb(k) for k in ("RssAnon", "RssFile", "RssShmem")}
        where = type(app.screen).__name__
    backend.close()
    print(f"resident memory after browsing at {patients} patients (ended on {where}): "
          f"{used:.0f} MB   [target: <= 100 MB]")
    print("  of which " + ", ".join(f"{k} {v:.0f} MB" for k, v in parts.items()))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("what", nargs="*", default=["keypress", "memory"])
    parser.add_argument("--patients", type=int, default=10000)
    parser.add_argument("--rounds", type=int, default=10)
    args = parser.parse_args()
    for what in args.what:
        if what == "keypress":
            asyncio.run(keypress(args.patients, args.rounds))
        elif what == "memory":
            asyncio.run(memory(args.patients))
        else:
            raise SystemExit(f"unknown benchmark {what}")


if __name__ == "__main__":
    main()
