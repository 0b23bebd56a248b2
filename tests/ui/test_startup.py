"""Start-up is felt on every login: the login screen needs neither the services nor a
store, a driver, a chart library or another screen, and the app connects only once the
whole login screen is on the terminal (docs/benchmarks.md, benchmarks/startup_tmux.py)."""

from __future__ import annotations

import json
import subprocess
import sys

from tests.conftest import make_config

# what the login screen must not need: the store and everything behind it, the password
# hashing and token libraries, charts, PDF parsing, and every screen but its own
HEAVY = ("meditrack_tui.services", "meditrack_tui.store", "meditrack_tui.live",
         "meditrack_tui.seed", "sqlite3", "pymongo", "bson", "gridfs", "argon2", "jwt",
         "plotext", "textual_plotext", "pypdf")
UI = "meditrack_tui.screens"
LOGIN_SCREENS = {UI, *(f"{UI}.{name}" for name in (
    "app", "base", "browser", "context", "feed", "keys", "login", "messages"))}

PROBE = """
import asyncio, gc, json, sys
from pathlib import Path

from meditrack_tui.quiet_gc import pause_for_startup

pause_for_startup()  # as `meditrack` does before it imports the app

from meditrack_tui.screens.app import MediTrackApp
from meditrack_tui.config import Config
from meditrack_tui.runtime import Backend
import meditrack_tui.screens.login

HEAVY = {heavy!r}
LOGIN_SCREENS = {login_screens!r}


def heavy_loaded():
    return sorted(m for m in sys.modules
                  if m.startswith(HEAVY)
                  or (m.startswith("meditrack_tui.screens") and m not in LOGIN_SCREENS))


seen = {{"imported": heavy_loaded()}}


class Probe(MediTrackApp):
    CSS_PATH = {css!r}

    def on_login_screen_drawn(self):
        seen.setdefault("drawn", heavy_loaded())
        seen.setdefault("open_when_drawn", self.backend.is_open)
        seen.setdefault("buttons", len(self.screen.query("#login, #signup")))
        seen.setdefault("gc_when_drawn", gc.isenabled())
        seen.setdefault("card_width", self.screen.query_one("#login-box").outer_size.width)


async def main():
    app = Probe(Backend(Config(data_dir=Path({data!r}), secret="t" * 40)), live=False)
    async with app.run_test(size=(80, 24)) as pilot:
        for _ in range(200):
            if "Connected" in app.store_status:
                break
            await pilot.pause(0.05)
        seen["status"] = app.store_status
        seen["gc_after"] = gc.isenabled()
        seen["stack"] = [type(s).__name__ for s in app.screen_stack]
        seen["connected"] = heavy_loaded()


asyncio.run(main())
print(json.dumps(seen))
"""


def run_probe(tmp_path) -> dict:
    from pathlib import Path

    from meditrack_tui.screens import app

    # the app's sheets, by absolute path (a CSS_PATH is relative to its class's module)
    css = [str(Path(app.__file__).parent / name) for name in app.MediTrackApp.CSS_PATH]
    config = make_config(tmp_path / "data")
    code = PROBE.format(heavy=HEAVY, login_screens=LOGIN_SCREENS, css=css,
                        data=str(config.data_dir))
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_login_screen_is_drawn_before_anything_heavy_loads_and_then_connects(tmp_path):
    seen = run_probe(tmp_path)
    assert seen["imported"] == [], "importing the app and the login screen loads " + \
        ", ".join(seen["imported"])
    assert "drawn" in seen, "the login screen never said it was drawn"
    assert seen["drawn"] == [], "the login screen needed " + ", ".join(seen["drawn"])
    assert seen["open_when_drawn"] is False  # connecting waits for the drawn screen
    assert seen["buttons"] == 2  # the buttons, mounted after the first frame, are there
    assert seen["card_width"] == 60  # styled by login.tcss (read with the app's sheet)
    # no garbage collection while starting; collecting again once the screen is up
    assert seen["gc_when_drawn"] is False and seen["gc_after"] is True
    # the login screen is the first screen, not pushed over a blank one (an empty store
    # then asks for the first administrator over it)
    assert seen["stack"] == ["LoginScreen", "SetupScreen"]
    # ... and then the app connects (the store and the services load only now)
    assert seen["status"].startswith("Connected"), seen["status"]
    assert "meditrack_tui.services" in seen["connected"]


def test_startup_pause_of_the_collector_only_undoes_itself():
    import gc

    from meditrack_tui.quiet_gc import pause_for_startup, resume_after_startup

    assert gc.isenabled()
    try:
        pause_for_startup()
        assert not gc.isenabled()
        resume_after_startup()
        assert gc.isenabled()
        resume_after_startup()  # twice: nothing more
        assert gc.isenabled()
        gc.disable()  # someone else turned it off: start-up leaves it off
        pause_for_startup()
        resume_after_startup()
        assert not gc.isenabled()
    finally:
        gc.enable()
        gc.unfreeze()
