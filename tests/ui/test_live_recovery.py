"""The app's feed worker: it survives errors (retrying with backoff, telling the user once
when live updates stop and once when they resume, then having screens re-fetch), follows
the session's scope, and a live refresh of an open record is not audited as an opening."""

from __future__ import annotations

import logging
import sqlite3
import time

import pytest
from meditrack_tui.screens.messages import DataChanged

from meditrack_tui.live import RESYNC, WATCHED, Scope
from tests.conftest import sync

PASSWORD = "meditrack-demo"


async def wait_until(pilot, condition, seconds: float = 5.0) -> None:
    began = time.perf_counter()
    while time.perf_counter() - began < seconds:
        if condition():
            return
        await pilot.pause(0.02)
    raise AssertionError(f"not within {seconds} s")


async def ready(app, pilot) -> None:
    await wait_until(pilot, lambda: app.backend.is_open
                     and type(app.screen).__name__ == "LoginScreen")


class FakeFeed:
    """A feed that fails as often as the test says, else reports nothing."""

    def __init__(self, plan: dict, scope) -> None:
        self.plan = plan
        self.scope = scope
        plan["opened"].append(scope)

    def poll(self):
        self.plan["polls"] += 1
        if self.plan["poll_errors"] > 0:
            self.plan["poll_errors"] -= 1
            raise sqlite3.OperationalError("database is locked")
        return []

    def close(self) -> None:
        pass


@pytest.fixture
def fake_feed(monkeypatch):
    """open_feed and connect (as the worker imports them), failing on demand."""
    import meditrack_tui.live as feed_mod
    import meditrack_tui.store as db_pkg

    plan = {"poll_errors": 0, "connect_errors": 0, "connects": 0, "polls": 0, "opened": []}
    real_connect = db_pkg.connect

    def connect(config, **kwargs):
        plan["connects"] += 1
        if plan["connect_errors"] > 0:
            plan["connect_errors"] -= 1
            raise sqlite3.OperationalError("unable to open database file")
        return real_connect(config, **kwargs)

    monkeypatch.setattr(db_pkg, "connect", connect)
    monkeypatch.setattr(feed_mod, "open_feed", lambda store, scope=None: FakeFeed(plan, scope))
    return plan


@sync
async def test_the_feed_recovers_from_errors_and_says_so_once(make_app, fake_feed, caplog):
    heard: list[DataChanged] = []
    notes: list[str] = []

    def hook(message):
        if isinstance(message, DataChanged):
            heard.append(message)

    app = make_app(live=True)
    app.FEED_RETRY = (0.01, 0.05)
    app.notify = lambda message, **kwargs: notes.append(message)  # type: ignore[method-assign]
    caplog.set_level(logging.WARNING, logger="meditrack_tui.feed")
    async with app.run_test(size=(100, 30), message_hook=hook) as pilot:
        await ready(app, pilot)
        app.logged_in(app.backend.call(lambda s: s.auth.login("demo.doctor", PASSWORD)))
        await wait_until(pilot, lambda: fake_feed["polls"] > 2)
        notes.clear()
        heard.clear()
        # Three failed polls (then the connection is dropped), one failed reconnection.
        fake_feed["poll_errors"], fake_feed["connect_errors"] = 3, 1
        connects = fake_feed["connects"]
        await wait_until(pilot, lambda: app.feed_ok is False)
        await wait_until(pilot, lambda: fake_feed["poll_errors"] == 0
                         and fake_feed["connect_errors"] == 0)
        await wait_until(pilot, lambda: app.feed_ok)
        await wait_until(pilot, lambda: bool(heard))
        await pilot.pause(0.3)
        assert fake_feed["connects"] == connects + 2  # the failed one and the good one
        assert len(notes) == 2
        assert "interrupted" in notes[0] and "resumed" in notes[1]
        # Events may have been missed: every screen re-fetches everything it shows.
        assert heard[0].collections == frozenset(WATCHED) and not heard[0].patient_ids
        assert heard[0].touches("vitals", "any patient")
        failures = [r for r in caplog.records if "retrying" in r.getMessage()]
        assert len(failures) == 4
        assert any("resumed" in r.getMessage() for r in caplog.records)
        assert app.workers  # the feed worker is still running


@sync
async def test_the_feed_follows_the_session_scope(make_app, fake_feed):
    app = make_app(live=True)
    async with app.run_test(size=(100, 30)) as pilot:
        await ready(app, pilot)
        await wait_until(pilot, lambda: fake_feed["opened"] == [None])
        patient = app.backend.call(lambda s: s.auth.login("demo.patient", PASSWORD))
        app.logged_in(patient)
        mine = Scope(patient.patient_id, patient.user_id)
        await wait_until(pilot, lambda: fake_feed["opened"][-1] == mine)
        app._logout()
        await wait_until(pilot, lambda: fake_feed["opened"][-1] is None)
        doctor = app.backend.call(lambda s: s.auth.login("demo.doctor", PASSWORD))
        app.logged_in(doctor)
        await pilot.pause(0.5)
        assert fake_feed["opened"] == [None, mine, None]  # staff: unfiltered, as before
        assert fake_feed["connects"] == 1  # one connection throughout


@sync
async def test_a_resync_reaches_a_patient_session(make_app):
    from meditrack_tui.live import ChangeEvent

    heard: list[DataChanged] = []
    app = make_app(live=False)
    async with app.run_test(size=(100, 30), message_hook=lambda m: heard.append(m)
                            if isinstance(m, DataChanged) else None) as pilot:
        await ready(app, pilot)
        app.session = app.backend.call(lambda s: s.auth.login("demo.patient", PASSWORD))
        app.dispatch_changes([ChangeEvent(c, RESYNC) for c in WATCHED])
        await pilot.pause(0.2)
        assert heard and heard[0].collections == frozenset(
            {"patients", "appointments", "prescriptions", "vitals", "reports"})
        assert heard[0].touches("vitals", app.session.patient_id)


@sync
async def test_a_live_refresh_of_an_open_record_is_not_an_opening(make_app):
    from meditrack_tui.screens.patient_detail import PatientScreen

    app = make_app(live=True)
    async with app.run_test(size=(100, 30)) as pilot:
        await ready(app, pilot)
        doctor = app.backend.call(lambda s: s.auth.login("demo.doctor", PASSWORD))
        app.logged_in(doctor)
        pid = app.backend.call(lambda s: s.patients.list(doctor, query="").items[2]["id"])
        await pilot.pause(0.3)
        app.push_screen(PatientScreen(pid))
        await wait_until(pilot, lambda: isinstance(app.screen, PatientScreen)
                         and app.screen.record is not None)
        screen = app.screen
        other = app.backend.call(lambda s: s.auth.login("dr.okafor", PASSWORD))
        for phone in ("+1 555 0101", "+1 555 0102"):
            version = screen.record["version"]
            app.backend.call(lambda s, v=version, p=phone: s.patients.update(
                other, pid, {"phone": p}, version=v))
            await wait_until(pilot, lambda p=phone: screen.record.get("phone") == p, 3)

        def opened() -> int:
            from tests.peek import Peek

            return app.backend.call(lambda s: Peek(s.store).count(
                "audit", action="patient.open", username="demo.doctor", record_id=pid))

        assert opened() == 1
