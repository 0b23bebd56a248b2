"""Shared fixtures: temporary data directories (never the user's), a fixed clock, demo data.

The demo clinic is seeded once per test session into a template directory and
copied for each test that needs it, so every test gets its own store quickly.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from meditrack_tui.config import Config

FIXED_NOW = datetime(2026, 3, 4, 10, 0, 0)  # a Wednesday mid-morning


class Clock:
    """A settable clock for the services (tests move time for expiry and lockout)."""

    def __init__(self, now: datetime = FIXED_NOW) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **kwargs: Any) -> None:
        from datetime import timedelta

        self.now = self.now + timedelta(**kwargs)


@pytest.fixture(autouse=True)
def _isolate_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No test ever touches the user's data directory or a configured MongoDB."""
    monkeypatch.setenv("MEDITRACK_DATA_DIR", str(tmp_path / "default-data"))
    monkeypatch.delenv("MEDITRACK_MONGO_URI", raising=False)
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))


def make_config(data_dir: Path, **overrides: Any) -> Config:
    cfg = Config(data_dir=data_dir, secret="test-secret-" + "x" * 40)
    for key, value in overrides.items():
        setattr(cfg, key, value)
    return cfg


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def config(tmp_path: Path) -> Config:
    return make_config(tmp_path / "data")


@pytest.fixture
def services(config: Config, clock: Clock):
    """Services on an empty embedded store in a temporary directory (used on this thread)."""
    from meditrack_tui.services import Services
    from meditrack_tui.store import connect

    store = connect(config)
    yield Services(store, config, clock=clock)
    store.close()


@pytest.fixture(scope="session")
def demo_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A data directory with the demo clinic seeded at FIXED_NOW (copied per test)."""
    from meditrack_tui import seed
    from meditrack_tui.services import Services
    from meditrack_tui.store import connect

    folder = tmp_path_factory.mktemp("demo-template")
    cfg = make_config(folder)
    store = connect(cfg)
    seed.load_demo(Services(store, cfg, clock=Clock()))
    store.close()
    return folder


@pytest.fixture
def demo_dir(demo_template: Path, tmp_path: Path) -> Path:
    target = tmp_path / "demo-data"
    shutil.copytree(demo_template, target)
    return target


@pytest.fixture
def demo_services(demo_dir: Path, clock: Clock):
    """Services on a private copy of the demo clinic."""
    from meditrack_tui.services import Services
    from meditrack_tui.store import connect

    cfg = make_config(demo_dir)
    store = connect(cfg)
    yield Services(store, cfg, clock=clock)
    store.close()


@pytest.fixture
def s(demo_sessions):
    """The demo clinic's services (with logged-in sessions in ``who``)."""
    return demo_sessions[0]


@pytest.fixture
def who(demo_sessions):
    """The demo clinic's logged-in sessions by username."""
    return demo_sessions[1]


@pytest.fixture
def demo_backend(demo_dir: Path, clock: Clock):
    """A Backend (store thread) on a private copy of the demo clinic, for app tests."""
    from meditrack_tui.runtime import Backend

    backend = Backend(make_config(demo_dir), clock=clock)
    backend.open()
    yield backend
    backend.close()


@pytest.fixture
def make_app(demo_backend) -> Callable[..., Any]:
    """Build the app on the demo backend (live feed off unless asked for)."""
    from meditrack_tui.screens.app import MediTrackApp

    from meditrack_tui.seed import DEMO_LOGINS, DEMO_PASSWORD

    def factory(**kwargs: Any) -> MediTrackApp:
        kwargs.setdefault("live", False)
        # keys right after a dialog opens are dropped after 0.3 s in use (screens.keys);
        # Pilot presses keys faster than a person: only the tests of that rule wait for it
        kwargs.setdefault("key_settle", 0.0)
        kwargs.setdefault("demo_logins", (DEMO_LOGINS, DEMO_PASSWORD))
        return record_notices(MediTrackApp(demo_backend, **kwargs))

    return factory


@dataclass(frozen=True)
class Notice:
    """One notification the app showed the user (the arguments of ``App.notify``)."""

    message: str
    title: str
    severity: str


def record_notices(app: Any) -> Any:
    """Record every notification ``app`` shows, for :func:`notices`; returns ``app``.

    Wraps this instance's public ``notify`` (screens and widgets notify through
    ``self.app.notify``) and ``clear_notifications``, which empties the record too, so
    a test that clears the toasts before an action sees only what that action said.
    ``make_app`` does this for every app it builds; call it on an app built another way.
    """
    notified: list[Notice] = []
    notify, clear = app.notify, app.clear_notifications

    def recording_notify(message: str, *, title: str = "", severity: str = "information",
                         **kwargs: Any) -> None:
        notified.append(Notice(message, title, severity))
        notify(message, title=title, severity=severity, **kwargs)

    def recording_clear() -> None:
        notified.clear()
        clear()

    app.notify = recording_notify
    app.clear_notifications = recording_clear
    app.notified = notified
    return app


def notices(app: Any) -> list[Notice]:
    """What the app told the user since it started (or since ``clear_notifications``),
    oldest first. Fails if the app's notifications are not recorded (see
    :func:`record_notices`), so a check that nothing was said can never pass unseen."""
    notified = getattr(app, "notified", None)
    assert isinstance(notified, list), "build the app with make_app or record_notices(app)"
    return notified


async def login_as(app: Any, pilot: Any, username: str, password: str = "meditrack-demo") -> None:
    """Log in through the real login screen and wait until the dashboard is up."""
    await pilot.pause()
    for _ in range(50):
        if type(app.screen).__name__ == "LoginScreen":
            break
        await pilot.pause(0.05)
    app.screen.query_one("#username").value = username
    app.screen.query_one("#password").value = password
    app.screen.query_one("#password").focus()
    await pilot.press("enter")
    for _ in range(100):
        if app.session is not None and type(app.screen).__name__ != "LoginScreen":
            break
        await pilot.pause(0.05)
    await app.workers.wait_for_complete()
    await pilot.pause()


async def open_own_record(app: Any, pilot: Any) -> Any:
    """Log in as the demo patient and open their record (F3); returns the PatientScreen."""
    await login_as(app, pilot, "demo.patient")
    await pilot.press("f3")
    await settle(app, pilot)
    return app.screen


async def open_own_vitals(app: Any, pilot: Any) -> Any:
    """Log in as the demo patient, open their record and its Vitals tab; returns the pane."""
    screen = await open_own_record(app, pilot)
    await pilot.press("2")
    await settle(app, pilot)
    return screen.query_one("VitalsPane")


async def answer_discard(app: Any, pilot: Any, key: str, answer: str) -> None:
    """Press a key that would leave a form with unsaved changes, see that the app asks
    first, and answer ("y" discards: Enter; "n" stays: Escape; letters never answer)."""
    from meditrack_tui.screens.forms.confirm import ConfirmScreen

    await pilot.press(key)
    await settle(app, pilot)
    assert isinstance(app.screen, ConfirmScreen)
    await pilot.press({"y": "enter", "n": "escape"}.get(answer, answer))
    await settle(app, pilot)


async def settle(app: Any, pilot: Any) -> None:
    """Wait for every service worker to finish and the screen to refresh (twice: a
    table's new rows are laid out on the refresh after the one that adds them)."""
    await pilot.pause()
    await app.workers.wait_for_complete()
    await pilot.pause()
    await pilot.pause()


DEMO_SESSION_USERS = ("demo.admin", "demo.doctor", "demo.patient", "dr.okafor")


@pytest.fixture(scope="session")
def demo_login_template(demo_template: Path, tmp_path_factory: pytest.TempPathFactory):
    """The demo clinic with a live session per demo login (each login costs an argon2 hash)."""
    from meditrack_tui.seed import DEMO_PASSWORD
    from meditrack_tui.services import Services
    from meditrack_tui.store import connect

    folder = tmp_path_factory.mktemp("demo-login-template") / "data"
    shutil.copytree(demo_template, folder)
    cfg = make_config(folder)
    store = connect(cfg)
    services = Services(store, cfg, clock=Clock())
    sessions = {name: services.auth.login(name, DEMO_PASSWORD) for name in DEMO_SESSION_USERS}
    store.close()
    return folder, sessions


@pytest.fixture
def demo_sessions(demo_login_template, tmp_path: Path, clock: Clock):
    """(services, {username: Session}) on a private copy of the demo clinic, already logged in."""
    from meditrack_tui.services import Services
    from meditrack_tui.store import connect

    folder, sessions = demo_login_template
    target = tmp_path / "demo-sessions-data"
    shutil.copytree(folder, target)
    cfg = make_config(target)
    store = connect(cfg)
    yield Services(store, cfg, clock=clock), dict(sessions)
    store.close()


def sync(test: Callable[..., Any]) -> Callable[..., Any]:
    """Run an async Pilot test with asyncio.run (no async pytest plugin needed)."""
    import asyncio
    import functools

    @functools.wraps(test)
    def runner(*args: Any, **kwargs: Any) -> Any:
        return asyncio.run(test(*args, **kwargs))

    return runner
