"""The Profile screen: own details, name/email edits, password change, unsaved-changes guard."""

from __future__ import annotations

import pytest
from meditrack_tui.screens.forms.confirm import ConfirmScreen
from meditrack_tui.screens.profile import ProfileScreen
from textual.widgets import Input, Static

from meditrack_tui.errors import AuthenticationFailed
from tests.conftest import notices, sync

try:  # tests/ is a package in some layouts, a plain folder in others
    from tests.conftest import login_as, settle
except ImportError:  # pragma: no cover
    from conftest import login_as, settle




async def open_profile(app, pilot, username: str) -> ProfileScreen:
    await login_as(app, pilot, username)
    await pilot.press("f6")
    await settle(app, pilot)
    assert isinstance(app.screen, ProfileScreen)
    return app.screen


def error_of(screen, name: str) -> str:
    label = screen.query_one(f"#err-{name}", Static)
    return str(label.render()) if label.display else ""


@pytest.mark.parametrize("username,role", [("demo.patient", "Patient"),
                                           ("demo.doctor", "Doctor"),
                                           ("demo.admin", "Administrator")])
@sync
async def test_every_role_sees_own_details(make_app, username, role):
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_profile(app, pilot, username)
        info = str(screen.query_one("#account-info", Static).render())
        assert username in info
        assert role in info
        assert "Last login  2026-03-04 10:00" in info
        assert screen.query_one("#full_name", Input).value == app.session.full_name


@sync
async def test_edit_details_inline_errors_then_saved(make_app, demo_backend):
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_profile(app, pilot, "demo.patient")
        screen.query_one("#email", Input).value = "not-an-email"
        screen.query_one("#email", Input).focus()
        await pilot.press("enter")
        await settle(app, pilot)
        assert "does not look right" in error_of(screen, "email")

        screen.query_one("#full_name", Input).value = ""
        await pilot.press("ctrl+o")
        await settle(app, pilot)
        assert error_of(screen, "full_name")

        screen.query_one("#full_name", Input).value = "Daniel A. Reyes"
        screen.query_one("#email", Input).value = "daniel.a.reyes@example.com"
        await pilot.press("ctrl+o")
        await settle(app, pilot)
        assert error_of(screen, "email") == "" and error_of(screen, "full_name") == ""
        assert not screen.has_unsaved_changes

    session = demo_backend.call(lambda s: s.auth.login("demo.patient", "meditrack-demo"))
    stored = demo_backend.call(lambda s: s.users.profile(session))
    assert stored["full_name"] == "Daniel A. Reyes"
    assert stored["email"] == "daniel.a.reyes@example.com"


@sync
async def test_change_password_refusals_inline_then_new_password_logs_in(make_app, demo_backend):
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_profile(app, pilot, "demo.doctor")

        async def submit(current: str, new: str, repeat: str) -> None:
            screen.query_one("#current_password", Input).value = current
            screen.query_one("#new_password", Input).value = new
            screen.query_one("#repeat_password", Input).value = repeat
            screen.query_one("#repeat_password", Input).focus()
            await pilot.press("enter")
            await settle(app, pilot)

        await submit("wrong-password", "a-new-secret-42", "a-new-secret-42")
        assert "current password is not right" in error_of(screen, "current_password")
        assert app.focused is screen.query_one("#current_password", Input)

        await submit("meditrack-demo", "short", "short")
        assert "at least 10 characters" in error_of(screen, "new_password")
        assert error_of(screen, "current_password") == ""

        await submit("meditrack-demo", "demo.doctor", "demo.doctor")
        assert "same as the username" in error_of(screen, "new_password")

        await submit("meditrack-demo", "a-new-secret-42", "a-new-secret-43")
        assert "not the same" in error_of(screen, "repeat_password")

        await submit("meditrack-demo", "a-new-secret-42", "a-new-secret-42")
        assert all(error_of(screen, n) == ""
                   for n in ("current_password", "new_password", "repeat_password"))
        assert screen.query_one("#current_password", Input).value == ""
        assert any("password is changed" in n.message for n in notices(app))

    session = demo_backend.call(lambda s: s.auth.login("demo.doctor", "a-new-secret-42"))
    assert session.username == "demo.doctor"
    with pytest.raises(AuthenticationFailed):
        demo_backend.call(lambda s: s.auth.login("demo.doctor", "meditrack-demo"))


@sync
async def test_escape_with_unsaved_changes_asks_before_leaving(make_app):
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_profile(app, pilot, "demo.admin")
        screen.query_one("#full_name", Input).value = "Morgan E."
        await pilot.press("escape")
        await pilot.pause()
        assert isinstance(app.screen, ConfirmScreen)
        await pilot.press("escape")
        await pilot.pause()
        assert app.screen is screen
        assert screen.query_one("#full_name", Input).value == "Morgan E."

        await pilot.press("escape")
        await pilot.pause()
        assert isinstance(app.screen, ConfirmScreen)
        await pilot.press("enter")
        await settle(app, pilot)
        assert not isinstance(app.screen, (ProfileScreen, ConfirmScreen))

        # nothing typed: Escape leaves at once
        await pilot.press("f6")
        await settle(app, pilot)
        assert isinstance(app.screen, ProfileScreen)
        await pilot.press("escape")
        await settle(app, pilot)
        assert not isinstance(app.screen, (ProfileScreen, ConfirmScreen))


@sync
async def test_typed_password_counts_as_unsaved(make_app):
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_profile(app, pilot, "demo.patient")
        assert not screen.has_unsaved_changes
        screen.query_one("#current_password", Input).value = "meditrack"
        assert screen.has_unsaved_changes
        await pilot.press("escape")
        await pilot.pause()
        assert isinstance(app.screen, ConfirmScreen)
