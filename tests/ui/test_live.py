"""Live updates between processes on one embedded store: the app in this process, and a
second process (another clinic worker's session) making changes through the services."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest
from meditrack_tui.screens.app import MediTrackApp
from meditrack_tui.screens.messages import DataChanged

from tests.conftest import FIXED_NOW, sync

PASSWORD = "meditrack-demo"
ROOT = Path(__file__).resolve().parents[2]

WRITER = """
import json, sys
from datetime import datetime
from meditrack_tui.config import Config
from meditrack_tui.store import connect
from meditrack_tui.services import Services
data_dir, secret, username, script, now = sys.argv[1:6]
cfg = Config(data_dir=data_dir, secret=secret)
store = connect(cfg)
s = Services(store, cfg, clock=lambda: datetime.fromisoformat(now))  # the tests' clock
me = s.auth.login(username, "meditrack-demo")
out = []
for op, args in json.loads(script):
    if op == "book":
        out.append(s.appointments.book(me, args)["id"])
    elif op == "vital":
        out.append(s.vitals.add(me, args["patient_id"], args["values"])["id"])
    elif op == "phone":
        version = s.patients.get(me, args["patient_id"])["version"]
        out.append(s.patients.update(me, args["patient_id"], {"phone": args["phone"]},
                                     version=version)["id"])
print(json.dumps(out))
store.close()
"""


def other_process(app: MediTrackApp, username: str, script: list) -> subprocess.Popen:
    """Start a second process that performs ``script`` on the same data directory."""
    cfg = app.backend.config
    return subprocess.Popen([sys.executable, "-c", WRITER, str(cfg.data_dir), cfg.secret or "",
                             username, json.dumps(script), FIXED_NOW.isoformat()], cwd=ROOT,
                            stdout=subprocess.PIPE,
                            text=True)




async def start(app: MediTrackApp, pilot, username: str):
    for _ in range(100):
        if app.backend.is_open and type(app.screen).__name__ == "LoginScreen":
            break
        await pilot.pause(0.05)
    session = app.backend.call(lambda s: s.auth.login(username, PASSWORD))
    app.logged_in(session)
    await pilot.pause(0.5)  # (not wait_for_complete: the feed worker runs until exit)
    return session


async def wait_until(pilot, condition, seconds: float) -> float:
    """Wait (polling) until condition() is true; returns how long it took."""
    began = time.perf_counter()
    while time.perf_counter() - began < seconds:
        if condition():
            return time.perf_counter() - began
        await pilot.pause(0.05)
    raise AssertionError(f"not seen within {seconds} s")


async def finished(pilot, proc: subprocess.Popen) -> list:
    while proc.poll() is None:
        await pilot.pause(0.05)
    assert proc.returncode == 0
    return json.loads(proc.stdout.read())


@pytest.fixture
def live_app(make_app):
    return make_app(live=True)


@sync
async def test_a_booking_in_another_process_appears_in_the_agenda(live_app):
    from meditrack_tui.screens.appointments import AppointmentsScreen
    from meditrack_tui.screens.widgets.appointment_table import AppointmentTable

    app = live_app
    async with app.run_test(size=(100, 30)) as pilot:
        me = await start(app, pilot, "demo.doctor")
        await pilot.press("f4")
        await wait_until(pilot, lambda: isinstance(app.screen, AppointmentsScreen), 5)
        table = app.screen.query_one("#agenda-table", AppointmentTable)
        await wait_until(pilot, lambda: len(table.records) > 0, 5)
        before = set(table.records)
        patient = app.backend.call(lambda s: s.patients.list(me, query="").items[3]["id"])
        proc = other_process(app, "dr.okafor", [["book", {
            "patient_id": patient, "doctor_id": me.user_id,
            "date": FIXED_NOW.date().isoformat(), "time": "17:40", "reason": "Live test"}]])
        (booked,) = await finished(pilot, proc)
        took = await wait_until(pilot, lambda: booked in table.records, 3)
        assert set(table.records) - before == {booked}
        assert took < 1.0  # committed in the other process -> on this screen (the target: 1 s)


@sync
async def test_a_reading_added_in_another_process_appears_in_the_chart(live_app):
    from meditrack_tui.screens.patient_detail import PatientScreen

    app = live_app
    async with app.run_test(size=(100, 30)) as pilot:
        me = await start(app, pilot, "demo.patient")
        await pilot.press("f3")
        await wait_until(pilot, lambda: isinstance(app.screen, PatientScreen), 5)
        await pilot.press("v")
        pane = await _vitals_pane(app, pilot)
        await wait_until(pilot, lambda: bool(pane.readings), 5)
        count = len(pane.readings)
        proc = other_process(app, "demo.doctor", [["vital", {
            "patient_id": me.patient_id, "values": {"systolic": 204, "diastolic": 126}}]])
        (reading,) = await finished(pilot, proc)
        await wait_until(pilot, lambda: any(r["id"] == reading for r in pane.readings), 3)
        assert len(pane.readings) == count + 1


@sync
async def test_a_reading_added_before_the_vitals_tab_opens_is_in_its_chart(live_app):
    """The Vitals tab's readings are fetched ahead while the overview is shown; a reading
    another process adds meanwhile makes the screen fetch them again."""
    from meditrack_tui.screens.patient_detail import PatientScreen

    app = live_app
    async with app.run_test(size=(100, 30)) as pilot:
        me = await start(app, pilot, "demo.patient")
        await pilot.press("f3")
        await wait_until(pilot, lambda: isinstance(app.screen, PatientScreen), 5)
        screen = app.screen
        await wait_until(pilot, lambda: screen.vitals_prefetch is not None, 5)
        count = len(screen.vitals_prefetch.rows)
        proc = other_process(app, "demo.doctor", [["vital", {
            "patient_id": me.patient_id, "values": {"systolic": 204, "diastolic": 126}}]])
        (reading,) = await finished(pilot, proc)
        await wait_until(pilot, lambda: screen.vitals_prefetch is not None
                         and len(screen.vitals_prefetch.rows) == count + 1, 3)
        await pilot.press("v")
        pane = await _vitals_pane(app, pilot)
        await wait_until(pilot, lambda: any(r["id"] == reading for r in pane.readings), 3)


async def _vitals_pane(app, pilot):
    from meditrack_tui.screens.widgets.vitals import VitalsPane

    async def found():
        return list(app.screen.query(VitalsPane))

    for _ in range(100):
        panes = await found()
        if panes:
            return panes[0]
        await pilot.pause(0.05)
    raise AssertionError("no vitals pane")


@sync
async def test_a_patient_session_receives_no_foreign_events(make_app):
    heard: list[DataChanged] = []

    def hook(message):
        if isinstance(message, DataChanged):
            heard.append(message)

    app = make_app(live=True)
    async with app.run_test(size=(100, 30), message_hook=hook) as pilot:
        me = await start(app, pilot, "demo.patient")
        doctor = app.backend.call(lambda s: s.auth.login("demo.doctor", PASSWORD))
        others = app.backend.call(lambda s: [p["id"] for p in s.patients.list(doctor).items
                                             if p["id"] != me.patient_id][:3])
        script = []
        for other in others:
            script.append(["vital", {"patient_id": other, "values": {"heart_rate": 88}}])
            script.append(["phone", {"patient_id": other, "phone": "+1 555 0199"}])
        await finished(pilot, other_process(app, "demo.doctor", script))
        await pilot.pause(1.0)
        assert heard == []  # nothing about other patients reached this session
        await finished(pilot, other_process(app, "demo.doctor", [["vital", {
            "patient_id": me.patient_id, "values": {"heart_rate": 64}}]]))
        await wait_until(pilot, lambda: bool(heard), 3)
        assert all(m.patient_ids == frozenset({me.patient_id}) for m in heard)
        assert all(m.collections <= {"vitals", "patients"} for m in heard)
