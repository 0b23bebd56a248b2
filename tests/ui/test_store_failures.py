"""The app on a damaged, full or busy store: the login screen says what is wrong in a
sentence naming the data directory, and the app keeps running (issue 11)."""

from __future__ import annotations

import time

from meditrack_tui.screens.app import MediTrackApp
from meditrack_tui.screens.login import LoginScreen
from textual.widgets import Input, Static

from meditrack_tui.runtime import Backend
from meditrack_tui.store.sqlite import DB_FILE
from tests.conftest import make_config, settle, sync
from tests.test_store_failures import page_of, scribble, stopped_holder  # noqa: F401

PASSWORD = "meditrack-demo"


def text(app, selector: str) -> str:
    return str(app.screen.query_one(selector, Static).render())


async def try_login(app, pilot, username: str = "demo.doctor") -> None:
    await settle(app, pilot)
    app.screen.query_one("#username", Input).value = username
    box = app.screen.query_one("#password", Input)
    box.value = PASSWORD
    box.focus()
    await pilot.press("enter")
    await settle(app, pilot)


@sync
async def test_damaged_store_at_start_up_is_a_sentence(demo_dir):
    (demo_dir / DB_FILE).write_bytes(b"Dear clinic, this is a letter." * 500)
    backend = Backend(make_config(demo_dir))
    app = MediTrackApp(backend, live=False)
    try:
        async with app.run_test(size=(80, 24)) as pilot:
            await settle(app, pilot)
            status = text(app, "#store-status")
            assert "damaged" in status and str(demo_dir) in status and "backup" in status
            await try_login(app, pilot)  # the app still runs; a login says the same
            assert isinstance(app.screen, LoginScreen) and app.session is None
            assert "damaged" in text(app, "#login-message")
    finally:
        backend.close()


@sync
async def test_login_on_a_full_store_is_a_sentence(demo_backend, make_app, demo_dir):
    def limit(services):  # SQLite may not grow the file any more: SQLITE_FULL, for real
        conn = services.store.db.connection()
        pages = conn.execute("PRAGMA page_count").fetchone()[0]
        conn.execute(f"PRAGMA max_page_count = {pages}")
        for _ in range(200):  # use up the free pages, as a full disk would
            try:
                services.auth.login("demo.patient", PASSWORD)
            except Exception:  # noqa: BLE001 - until the store is full
                return

    demo_backend.call(limit)
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await try_login(app, pilot)
        message = text(app, "#login-message")
        assert str(demo_dir) in message, message
        # (SQLite's size limit, with space left on the disk: the message says to check the
        # account's disk quota; on a full disk, to free space: tests/test_store_failures.py)
        assert "cannot grow any larger" in message and "disk quota" in message, message
        assert "Traceback" not in message and "sqlite" not in message.lower()
        assert isinstance(app.screen, LoginScreen) and app.session is None


@sync
async def test_stopped_process_holding_the_lock(demo_dir, stopped_holder):  # noqa: F811
    """The app connects while another process holds the write lock; a login (a write)
    ends within seconds with the message, and the app keeps running."""
    backend = Backend(make_config(demo_dir))
    app = MediTrackApp(backend, live=False)
    try:
        async with app.run_test(size=(80, 24)) as pilot:
            await settle(app, pilot)
            assert text(app, "#store-status").startswith("Connected")
            began = time.monotonic()
            await try_login(app, pilot)
            assert time.monotonic() - began < 10
            message = text(app, "#login-message")
            assert "Another MediTrack process is holding the database" in message
            assert str(demo_dir) in message
            assert isinstance(app.screen, LoginScreen) and app.session is None
    finally:
        backend.close()
