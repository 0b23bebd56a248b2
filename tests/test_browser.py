"""MediTrack in a real browser: ``meditrack serve`` (textual-serve) on a loopback port with
the demo clinic, driven by Debian's headless Chromium through the Chrome DevTools Protocol
(tests/cdp.py). Chromium is installed with apt-get when missing (this test runs as root in
CI; it is skipped, saying why, only where it cannot install it: not root, or no apt-get).

Two browser sessions, each its own MediTrack process: the first logs in as demo.doctor,
opens a patient's vitals and the blood-pressure chart (a screenshot is saved, its path
printed, and the chart's title is read from the terminal's buffer); the second, on another
patient's appointments pane, shows within a second a booking the first makes through the
booking form (the delay is measured and printed), then saves copies of that patient's PDF
report and of another patient's CSV report, which arrive as browser downloads with the
stored bytes.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from tests.cdp import Browser, Page, find_chromium, kill_group

pytestmark = [pytest.mark.browser, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[1]
PASSWORD = "meditrack-demo"
LIVE_LIMIT = 1.0  # seconds: another session's change on screen within this
BOOKED_REASON = "Booked in the browser"
REPORT = "p01_lipid_panel.csv"  # Daniel Reyes's
PDF_REPORT = "p02_hba1c_metabolic_panel.pdf"  # Grace Whitaker's


def install_debian(package: str, find: Callable[[], str | None], what: str) -> str:
    """A command from Debian's ``package``: found, or installed with apt-get (never
    downloaded otherwise); the test is skipped, saying why, where it cannot be installed."""
    found = find()
    if found:
        return found
    if not hasattr(os, "geteuid") or os.geteuid() != 0:
        pytest.skip(f"{what} needs Debian's {package}, which is not installed, and only "
                    f"root can install it (apt-get install {package})")
    if not shutil.which("apt-get"):
        pytest.skip(f"{what} needs {package}, which is not installed, and this machine has "
                    "no apt-get to install it with")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    # a package with a service (nginx) is not started by its installation: Debian asks
    # policy-rc.d (container images ship one saying no); one is put there for the install
    policy = Path("/usr/sbin/policy-rc.d")
    made_policy = not policy.exists()
    if made_policy:
        policy.write_text("#!/bin/sh\n# the MediTrack tests: start no service\nexit 101\n")
        policy.chmod(0o755)
    try:
        for command in (["apt-get", "update", "-q"],
                        ["apt-get", "install", "-y", "-q", "--no-install-recommends", package]):
            done = subprocess.run(command, env=env, capture_output=True, text=True,
                                  timeout=1200, stdin=subprocess.DEVNULL)
            assert done.returncode == 0, f"{' '.join(command)} failed:\n" \
                                         f"{done.stdout[-2000:]}\n{done.stderr[-2000:]}"
    finally:
        if made_policy:
            policy.unlink()
    found = find()
    assert found, f"apt-get installed {package} but its command was not found"
    return found


def install_chromium() -> str:
    return install_debian("chromium", find_chromium, "the browser test")


@pytest.fixture(scope="module")
def chromium() -> str:
    began = time.monotonic()
    path = install_chromium()
    print(f"\nchromium: {path} (ready in {time.monotonic() - began:.1f} s)")
    return path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def meditrack_serve(tmp_path: Path, *extra: str) -> Iterator[tuple[int, Path]]:
    """``meditrack serve --demo`` on a free loopback port; ended with all its sessions.
    Yields the port and the data directory once the page is served."""
    port = free_port()
    log = tmp_path / "serve.log"
    env = {k: v for k, v in os.environ.items() if not k.startswith("MEDITRACK_")}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    env["HOME"] = str(tmp_path)
    env["XDG_DATA_HOME"] = str(tmp_path / "xdg")
    began = time.monotonic()
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "meditrack_tui", "--data-dir", str(tmp_path / "data"),
             "--demo", "serve", "--port", str(port), *extra],
            stdout=out, stderr=subprocess.STDOUT, env=env, cwd=tmp_path,
            start_new_session=True)  # its own process group: the sessions end with it
    try:
        url = f"http://127.0.0.1:{port}/"
        while True:
            assert proc.poll() is None, f"meditrack serve stopped:\n{log.read_text()}"
            assert time.monotonic() - began < 60, f"no page after 60 s:\n{log.read_text()}"
            try:
                with urllib.request.urlopen(url, timeout=2) as page:
                    assert b"textual-terminal" in page.read()
                    break
            except OSError:
                time.sleep(0.1)
        print(f"meditrack serve: page served {time.monotonic() - began:.1f} s after start")
        yield port, tmp_path / "data"
    finally:
        kill_group(proc)
        print(f"meditrack serve log: {log}")


@pytest.fixture
def server(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    with meditrack_serve(tmp_path) as (port, data):
        yield f"http://127.0.0.1:{port}/", data


async def log_in(page: Page, url: str, username: str) -> None:
    await page.goto(url)
    await page.wait_text("Username", timeout=30)
    await page.focus()
    await page.type(username)
    await page.key("Tab")
    await page.type(PASSWORD)
    await page.key("Enter")
    await page.wait_text("Welcome")


async def open_patient(page: Page, search: str, mrn: str, name: str) -> None:
    """From the dashboard: the patient list, a search, the record (README's keystrokes)."""
    await page.key("F3")
    await page.wait_text("Patient records")
    await page.type(search)
    await page.wait_text(mrn)
    await page.key("Enter")
    await page.wait_text("1 Overview", name)


async def open_reyes(page: Page) -> None:
    await open_patient(page, "reyes", "MRN-000001", "Daniel Reyes")


async def save_arrives(page: Page, downloads: Path, name: str, began: float) -> None:
    """The app says the copy is on its way, and the browser's download holds the stored
    bytes: those of the demo file, whose SHA-256 the store checked when it read them."""
    # the toast wraps a long name's sentence ("... by your" / "browser."): its middle only
    await page.wait_text("is being downloaded")
    target = downloads / name
    shipped = (ROOT / "sample_data" / "reports" / name).read_bytes()
    while (not target.is_file() or target.read_bytes() != shipped) \
            and time.monotonic() - began < 20:
        await asyncio.sleep(0.05)
    assert target.is_file(), f"no download of {name} arrived; downloads: " \
                             f"{sorted(p.name for p in downloads.iterdir())}"
    got = hashlib.sha256(target.read_bytes()).hexdigest()
    assert got == hashlib.sha256(shipped).hexdigest(), \
        f"{name} arrived with other bytes ({target.stat().st_size} bytes, SHA-256 {got})"
    print(f"downloaded through the browser: {target} (SHA-256 {got})")


async def scenario(executable: str, url: str, workdir: Path) -> dict[str, float]:
    timings: dict[str, float] = {}
    browser = Browser(executable, workdir)
    began = time.monotonic()
    await browser.start()
    timings["browser start"] = time.monotonic() - began
    try:
        downloads = workdir / "downloads"
        downloads.mkdir()
        await browser.send("Browser.setDownloadBehavior",
                           {"behavior": "allow", "downloadPath": str(downloads),
                            "eventsEnabled": True})
        first, second = await browser.new_page(), await browser.new_page()

        # the first session: log in, a patient's vitals, the blood-pressure chart
        step = time.monotonic()
        await log_in(first, url, "demo.doctor")
        timings["page to logged in"] = time.monotonic() - step
        await open_reyes(first)
        step = time.monotonic()
        await first.type("v")  # the Vitals tab: the blood-pressure chart
        await first.wait_text("Metric (m): Blood pressure",
                              "ACC/AHA 2017 blood pressure", "diastolic (mmHg)")
        timings["record to BP chart"] = time.monotonic() - step
        shot = await first.screenshot(workdir / "bp-chart.png")
        print(f"screenshot of the BP chart in the browser: {shot}")
        assert shot.stat().st_size > 10_000  # a PNG of a drawn page, not a blank one

        # the second session (its own process) on another patient's appointments pane
        step = time.monotonic()
        await log_in(second, url, "demo.doctor")
        await open_patient(second, "whitaker", "MRN-000002", "Grace Whitaker")
        await second.type("5")  # the Appointments tab
        await second.wait_text("Diabetes review")
        timings["second session to appointments"] = time.monotonic() - step
        assert BOOKED_REASON not in await second.screen()

        # the first books her a visit through the booking form, as a person does; the
        # second shows it without a key pressed. (Insert, not Ctrl+N: a browser keeps
        # Ctrl+N, Ctrl+T and Ctrl+W for itself and never passes them to a page.)
        step = time.monotonic()
        await first.focus()
        await first.key("F4")
        await first.wait_text("Day agenda")
        await first.key("Insert")
        await first.wait_text("Book an appointment", "Patient")
        # Keys typed in the first instant after the form is drawn were lost in this harness
        # (the field already shows its cursor; the cause is not found yet): a person's pause.
        await asyncio.sleep(1)
        await first.type("whitaker")
        await first.key("Enter")  # picks the match once the search answers
        await first.wait_text("Grace Whitaker (MRN-000002)")
        for _ in range(3):  # doctor, then the day, then the free times
            await first.key("Tab")
            await asyncio.sleep(0.3)
        await first.key("Down")
        await first.key("Enter")  # a free time: the cursor moves on to the reason
        await asyncio.sleep(0.5)
        await first.type(BOOKED_REASON)
        await first.wait_text(BOOKED_REASON)
        await first.key("Enter")
        await first.wait_text("Book an appointment", gone=True)
        saved = time.monotonic()
        timings["booking through the form"] = saved - step
        await second.wait_text(BOOKED_REASON, timeout=10)
        seen = time.monotonic() - saved  # from the form closing (the booking committed)
        timings["live update in the second session"] = seen
        print(f"the booking appeared in the second session {seen:.2f} s after it was made")
        assert seen < LIVE_LIMIT, f"the second session showed the booking after {seen:.2f} s"

        # saved copies reach the second browser as downloads (deliver_binary): Whitaker's
        # PDF, from her Reports tab after her Appointments tab (issue 13: nothing arrived),
        # then Reyes's CSV on another record, in the same session
        step = time.monotonic()
        await second.focus()
        await second.type("4")  # the Reports tab
        await second.wait_text(PDF_REPORT)
        await second.key("ctrl+o")
        await save_arrives(second, downloads, PDF_REPORT, step)
        timings["save a PDF copy to downloaded"] = time.monotonic() - step
        step = time.monotonic()
        await open_reyes(second)
        await second.type("4")
        await second.wait_text(REPORT)
        await second.key("ctrl+o")
        await save_arrives(second, downloads, REPORT, step)
        timings["save a CSV copy to downloaded"] = time.monotonic() - step
    finally:
        await browser.stop()
    return timings


def test_doctor_in_the_browser(chromium: str, server, tmp_path: Path) -> None:
    url, _data = server
    began = time.monotonic()
    timings = asyncio.run(asyncio.wait_for(scenario(chromium, url, tmp_path), 180))
    timings["browser scenario"] = time.monotonic() - began
    print("timings: " + ", ".join(f"{k} {v:.2f} s" for k, v in timings.items()))
