"""The app shell: login messages, first-run setup, sign-up, navigation by role, the command
palette, leaving unsaved work, the idle lock and logout."""

from __future__ import annotations

from tests.conftest import sync


from textual.widgets import Input, Static

from meditrack_tui.app import MediTrackApp
from meditrack_tui.runtime import Backend
from screens.confirm import ConfirmScreen
from screens.lock import LockScreen
from screens.login import LoginScreen, SetupScreen, SignupScreen

from tests.conftest import login_as, make_config, settle

PASSWORD = "meditrack-demo"




def message(app) -> str:
    return str(app.screen.query_one("#login-message", Static).render())


async def try_login(app, pilot, username: str, password: str) -> None:
    await settle(app, pilot)
    app.screen.query_one("#username", Input).value = username
    box = app.screen.query_one("#password", Input)
    box.value = password
    box.focus()
    await pilot.press("enter")
    await settle(app, pilot)


@sync
async def test_login_messages_wrong_password_lockout_and_pending(make_app, demo_backend):
    demo_backend.call(lambda s: s.auth.signup_doctor("dr.newbie", "a-long-password",
                                                     full_name="Dr. New"))
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await try_login(app, pilot, "demo.doctor", "not-the-password")
        assert message(app) == "Wrong username or password."
        assert app.screen.query_one("#password", Input).value == ""
        for _ in range(4):
            await try_login(app, pilot, "demo.doctor", "not-the-password")
        assert "locked for 15 more minutes" in message(app)
        await try_login(app, pilot, "demo.doctor", PASSWORD)  # right password, still locked
        assert "locked" in message(app) and app.session is None
        await try_login(app, pilot, "dr.newbie", "a-long-password")
        assert "waiting for an administrator's approval" in message(app)
        assert isinstance(app.screen, LoginScreen)


@sync
async def test_first_run_asks_for_the_first_admin(tmp_path):
    backend = Backend(make_config(tmp_path / "empty"))
    app = MediTrackApp(backend, live=False)
    try:
        async with app.run_test(size=(80, 24)) as pilot:
            for _ in range(100):
                if isinstance(app.screen, SetupScreen):
                    break
                await pilot.pause(0.05)
            assert isinstance(app.screen, SetupScreen)
            await settle(app, pilot)
            for name, value in (("username", "clinic.admin"), ("full_name", "Ada Admin"),
                                ("password", "short"), ("password2", "short")):
                app.screen.query_one(f"#{name}", Input).value = value
            app.screen.query_one("#password2", Input).focus()
            await pilot.press("enter")
            await settle(app, pilot)
            error = app.screen.query_one("#err-password", Static)
            assert "at least 10 characters" in str(error.render())
            for name in ("password", "password2"):
                app.screen.query_one(f"#{name}", Input).value = "a-good-long-password"
            await pilot.press("enter")
            for _ in range(100):
                if app.session is not None:
                    break
                await pilot.pause(0.05)
            await settle(app, pilot)
            assert app.session.username == "clinic.admin" and app.session.role == "admin"
            assert type(app.screen).__name__ == "DashboardScreen"
    finally:
        backend.close()


@sync
async def test_patient_signup_then_login(make_app):
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(app, pilot)
        await pilot.press("f5")
        await settle(app, pilot)
        assert isinstance(app.screen, SignupScreen)
        values = {"username": "jo.patient", "password": "my-secret-pass",
                  "password2": "my-secret-pass", "first_name": "Jo", "last_name": "Marsh",
                  "dob": "1988-02-29", "sex": "F", "phone": "+1 555 0177"}
        for name, value in values.items():
            app.screen.query_one(f"#{name}", Input).value = value
        app.screen.query_one("#phone", Input).focus()
        await pilot.press("enter")
        await settle(app, pilot)
        assert isinstance(app.screen, LoginScreen)
        assert "created" in message(app)
        await try_login(app, pilot, "jo.patient", "my-secret-pass")
        assert app.session.role == "patient" and app.session.patient_id


@sync
async def test_keys_and_palette_offer_only_what_the_role_may_open(make_app):
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await login_as(app, pilot, "demo.patient")
        shown = {b.binding.description for b in app.active_bindings.values()
                 if b.binding.show and app.check_action(b.binding.action.split("(")[0],
                                                        _params(b.binding.action))}
        assert {"Dashboard", "Records", "Appointments", "Profile", "Logout"} <= shown
        assert not {"Users", "Audit"} & shown
        titles = [c.title for c in app.get_system_commands(app.screen)]
        assert "Go to Records" in titles and "Go to Users" not in titles
        await pilot.press("f7")
        await settle(app, pilot)
        assert type(app.screen).__name__ == "DashboardScreen"


def _params(action: str) -> tuple:
    if "(" not in action:
        return ()
    return (action.split("(", 1)[1].rstrip(")").strip("'\""),)


@sync
async def test_leaving_unsaved_changes_asks_first(make_app):
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await login_as(app, pilot, "demo.doctor")
        await pilot.press("f6")
        await settle(app, pilot)
        assert type(app.screen).__name__ == "ProfileScreen"
        app.screen.query_one("#full_name", Input).value = "Dr. Changed Name"
        await pilot.press("f2")
        await settle(app, pilot)
        assert isinstance(app.screen, ConfirmScreen)
        await pilot.press("n")
        await settle(app, pilot)
        assert type(app.screen).__name__ == "ProfileScreen"
        assert app.screen.query_one("#full_name", Input).value == "Dr. Changed Name"
        await pilot.press("f2")
        await settle(app, pilot)
        await pilot.press("y")
        await settle(app, pilot)
        assert type(app.screen).__name__ == "DashboardScreen"


@sync
async def test_idle_lock_hides_everything_and_returns_to_the_same_place(make_app):
    app = make_app(idle_lock_minutes=0.05)  # 3 s
    async with app.run_test(size=(80, 24)) as pilot:
        await login_as(app, pilot, "demo.doctor")
        await pilot.press("f3")
        await settle(app, pilot)
        before = app.screen
        assert "MRN" in app.export_screenshot()  # the patient list is showing
        app.check_idle_lock()
        await settle(app, pilot)
        assert app.screen is before  # not idle long enough yet
        await pilot.pause(3.1)
        app.check_idle_lock()
        await settle(app, pilot)
        assert isinstance(app.screen, LockScreen)
        shot = app.export_screenshot()
        assert "locked" in shot and "MRN" not in shot  # no patient data while locked
        await pilot.press(*"wrong-password", "enter")
        await settle(app, pilot)
        assert isinstance(app.screen, LockScreen)
        assert "not right" in str(app.screen.query_one("#unlock-message", Static).render())
        app.idle_lock_seconds = 600  # no second lock while the test finishes
        app.screen.query_one("#unlock-password", Input).value = PASSWORD
        await pilot.press("enter")
        await settle(app, pilot)
        assert app.screen is before and not app.locked


@sync
async def test_logout_ends_the_session_everywhere(make_app, demo_backend):
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await login_as(app, pilot, "demo.doctor")
        session = app.session
        await pilot.press("f10")
        await settle(app, pilot)
        assert isinstance(app.screen, LoginScreen) and app.session is None
        assert "logged out" in message(app)
    from meditrack_tui.errors import SessionExpired

    try:
        demo_backend.call(lambda s: s.auth.verify(session))
    except SessionExpired:
        pass
    else:
        raise AssertionError("the token still works after logout")
