"""The app shell: login messages, first-run setup, sign-up, navigation by role, the command
palette, leaving unsaved work, the idle lock and logout."""

from __future__ import annotations

from meditrack_tui.screens.app import MediTrackApp
from meditrack_tui.screens.forms.confirm import ConfirmScreen
from meditrack_tui.screens.lock import LockScreen
from meditrack_tui.screens.login import LoginScreen
from meditrack_tui.screens.setup import SetupScreen
from meditrack_tui.screens.signup import SignupScreen
from textual import events
from textual.widgets import Input, Select, Static

from meditrack_tui.runtime import Backend
from tests.conftest import login_as, make_config, settle, sync

PASSWORD = "meditrack-demo"




def message(app) -> str:
    return str(app.screen.query_one("#login-message", Static).render())


async def connected(app, pilot) -> None:
    """Wait until the app has connected to the store (the login screen says so)."""
    for _ in range(100):
        if "Connected" in app.store_status:
            break
        await pilot.pause(0.05)
    await settle(app, pilot)


async def try_login(app, pilot, username: str, password: str) -> None:
    await settle(app, pilot)
    app.screen.query_one("#username", Input).value = username
    box = app.screen.query_one("#password", Input)
    box.value = password
    box.focus()
    await pilot.press("enter")
    await settle(app, pilot)


@sync
async def test_a_fast_typed_password_never_lands_in_the_username_box(make_app):
    """Keys typed right after Enter in the username box reached it before the focus
    moved: the password showed there in clear and was audited as a login name."""
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await connected(app, pilot)
        app.screen.query_one("#username", Input).focus()
        await pilot.pause()
        app.post_message(events.Key("enter", None))
        for ch in "pw-typed-fast":
            app.post_message(events.Key(ch, ch))
        await settle(app, pilot)
        assert app.screen.query_one("#username", Input).value == ""
        assert app.screen.query_one("#password", Input).value == "pw-typed-fast"


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
        assert "Too many failed attempts. Try again after 10:15" in message(app)
        await try_login(app, pilot, "demo.doctor", PASSWORD)  # right password, still locked
        assert "Try again after 10:15" in message(app) and app.session is None
        await try_login(app, pilot, "dr.newbie", "a-long-password")
        assert "waiting for an administrator's approval" in message(app)
        assert isinstance(app.screen, LoginScreen)


@sync
async def test_a_store_with_data_but_no_admin_does_not_offer_setup(tmp_path):
    """The review became admin from the login screen of a store holding patients."""
    config = make_config(tmp_path / "no-admin")
    backend = Backend(config)
    backend.call(lambda s: s.auth.signup_patient(
        "early.bird", "a-long-password", first_name="Early", last_name="Bird",
        dob="1980-01-01", sex="F"))
    app = MediTrackApp(backend, live=False)
    try:
        async with app.run_test(size=(80, 24)) as pilot:
            await connected(app, pilot)
            assert isinstance(app.screen, LoginScreen)
            assert "meditrack create-admin" in app.store_status
    finally:
        backend.close()


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
async def test_first_run_refusal_puts_the_cursor_in_the_refused_field(tmp_path):
    """Enter in "Repeat password" with a short password: the cursor goes to "Password",
    the first field with an error (it stayed in "Repeat password", seen with tui-drive)."""
    backend = Backend(make_config(tmp_path / "empty"))
    app = MediTrackApp(backend, live=False)
    try:
        async with app.run_test(size=(80, 24)) as pilot:
            for _ in range(100):
                if isinstance(app.screen, SetupScreen):
                    break
                await pilot.pause(0.05)
            await settle(app, pilot)
            values = {"username": "clinic.admin", "full_name": "Ada Admin",
                      "password": "short", "password2": "short"}
            for name, value in values.items():
                app.screen.query_one(f"#{name}", Input).value = value
            app.screen.query_one("#password2", Input).focus()
            await pilot.press("enter")
            await settle(app, pilot)
            assert app.screen.query_one("#err-password", Static).display
            assert app.screen.focused is app.screen.query_one("#password", Input)
            # passwords that differ: the cursor goes to the repeated one
            app.screen.query_one("#password", Input).value = "a-good-long-password"
            await pilot.press("enter")
            await settle(app, pilot)
            assert app.screen.query_one("#err-password2", Static).display
            assert app.screen.focused is app.screen.query_one("#password2", Input)
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
                  "dob": "1988-02-29", "phone": "+1 555 0177"}
        for name, value in values.items():
            app.screen.query_one(f"#{name}", Input).value = value
        app.screen.query_one("#sex", Select).value = "F"
        app.screen.query_one("#phone", Input).focus()
        await pilot.press("enter")
        await settle(app, pilot)
        assert isinstance(app.screen, LoginScreen)
        assert "created" in message(app)
        await try_login(app, pilot, "jo.patient", "my-secret-pass")
        assert app.session.role == "patient" and app.session.patient_id


@sync
async def test_sign_up_is_not_offered_when_the_clinic_switched_it_off(make_app, demo_backend):
    def switch_off(s):
        admin = s.auth.login("demo.admin", PASSWORD)
        s.settings.update(admin, {"self_signup": False},
                          version=s.settings.get(admin)["version"])

    demo_backend.call(switch_off)
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await connected(app, pilot)
        assert not app.screen.query_one("#signup").display
        await pilot.press("f5")
        await settle(app, pilot)
        assert isinstance(app.screen, LoginScreen)


@sync
async def test_signup_shows_every_error_at_once_and_goes_to_the_first(make_app):
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(app, pilot)
        await pilot.press("f5")
        await settle(app, pilot)
        screen = app.screen
        assert isinstance(screen, SignupScreen)
        for name, value in {"username": "jo.patient", "password": "short",
                            "password2": "short", "dob": "1988-02-29"}.items():
            screen.query_one(f"#{name}", Input).value = value
        screen.query_one("#sex", Select).value = "F"
        screen.query_one("#create").focus()  # the button at the bottom of the form
        await pilot.press("enter")
        await settle(app, pilot)

        def errors() -> set[str]:
            return {str(w.id).removeprefix("err-") for w in screen.query(".field-error")
                    if w.display}

        assert errors() == {"password", "first_name", "last_name"}
        box = screen.query_one("#signup-box")
        password = screen.query_one("#password", Input)
        assert screen.focused is password  # the first field with an error, scrolled into view
        assert box.region.contains_region(password.region)
        assert box.region.contains_region(screen.query_one("#err-password").region)

        # passwords that differ: reported together with the other fields' errors
        screen.query_one("#password", Input).value = "a-long-password"
        screen.query_one("#password2", Input).value = "another-password"
        screen.query_one("#phone", Input).focus()
        await pilot.press("enter")
        await settle(app, pilot)
        assert errors() == {"password2", "first_name", "last_name"}
        assert screen.focused is screen.query_one("#password2", Input)
        assert app.backend.call(lambda s: s.auth.find_user("jo.patient")) is None


@sync
async def test_signup_sex_is_a_choice_and_escape_asks_before_discarding(make_app):
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(app, pilot)
        login = app.screen
        # nothing typed: Escape goes straight back
        await pilot.press("f5")
        await settle(app, pilot)
        assert isinstance(app.screen, SignupScreen)
        await pilot.press("escape")
        await settle(app, pilot)
        assert app.screen is login

        await pilot.press("f5")
        await settle(app, pilot)
        screen = app.screen
        sex = screen.query_one("#sex", Select)
        assert sex.is_blank()  # nothing chosen for the person
        # by keyboard (Female, Male, Other / not stated, as on the patient form): focus the
        # choice, open it, pick the second entry
        sex.focus()
        await pilot.press("enter", "down", "down", "enter")
        await settle(app, pilot)
        assert sex.value == "M"
        screen.query_one("#first_name", Input).value = "Jo"
        screen.query_one("#first_name", Input).focus()
        await pilot.press("escape")
        await settle(app, pilot)
        assert isinstance(app.screen, ConfirmScreen)
        assert "Discard what you typed" in str(app.screen.query_one(".question").render())
        await pilot.press("escape")  # confirmations: Escape keeps editing, Enter discards
        await settle(app, pilot)
        assert app.screen is screen and screen.query_one("#first_name", Input).value == "Jo"
        await pilot.press("escape")
        await settle(app, pilot)
        await pilot.press("enter")
        await settle(app, pilot)
        assert app.screen is login


@sync
async def test_signup_opens_at_its_title_at_80x24(make_app):
    """The focus on the first choice scrolled the card past its title (tui-drive walk)."""
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await connected(app, pilot)
        await pilot.press("f5")
        await settle(app, pilot)
        screen = app.screen
        assert isinstance(screen, SignupScreen)
        box = screen.query_one("#signup-box")
        title = screen.query_one(".title")
        assert box.scroll_y == 0
        assert box.region.contains_region(title.region)
        assert screen.focused is screen.query_one("#su-role")


@sync
async def test_first_run_inputs_show_as_boxes_at_80x24(tmp_path):
    """On a short terminal the one-line inputs keep an edge and a placeholder (they were
    blank lines under their labels)."""
    backend = Backend(make_config(tmp_path / "empty"))
    app = MediTrackApp(backend, live=False)
    try:
        async with app.run_test(size=(80, 24)) as pilot:
            for _ in range(100):
                if isinstance(app.screen, SetupScreen):
                    break
                await pilot.pause(0.05)
            await settle(app, pilot)
            screen = app.screen
            assert screen.has_class("-short")
            boxes = list(screen.query(Input))
            assert len(boxes) == 4
            for box in boxes:
                assert box.placeholder, box.id
                assert box.styles.border_left[0] not in ("", "none"), box.id
                assert box.region.height == 1  # still one line: the button shows
            assert screen.query_one("#create").region.bottom <= 23
    finally:
        backend.close()


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
        await pilot.press("escape")
        await settle(app, pilot)
        assert type(app.screen).__name__ == "ProfileScreen"
        assert app.screen.query_one("#full_name", Input).value == "Dr. Changed Name"
        await pilot.press("f2")
        await settle(app, pilot)
        await pilot.press("enter")
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
async def test_the_idle_lock_logs_out_after_too_many_wrong_passwords(make_app):
    app = make_app(idle_lock_minutes=0.05)
    async with app.run_test(size=(80, 24)) as pilot:
        await login_as(app, pilot, "demo.doctor")
        await pilot.pause(3.1)
        app.check_idle_lock()
        await settle(app, pilot)
        assert isinstance(app.screen, LockScreen)
        for _ in range(5):
            await pilot.press(*"wrong-password", "enter")
            await settle(app, pilot)
        assert isinstance(app.screen, LoginScreen) and app.session is None
        assert "Too many wrong passwords" in message(app)


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


@sync
async def test_lock_screen_footer_offers_only_what_works_while_locked(make_app):
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await login_as(app, pilot, "demo.doctor")
        await pilot.press("f9")
        await settle(app, pilot)
        assert isinstance(app.screen, LockScreen)
        active = app.screen.active_bindings
        assert not {"f2", "f3", "f4", "f6", "f7", "f8", "f9"} & set(active)
        assert active["f10"].binding.id == "lock-logout"  # the lock screen's own log-out
        titles = {c.title for c in app.get_system_commands(app.screen)}
        assert not {"Go to Records", "Book an appointment", "Change my password"} & titles
        await pilot.press("f3")
        await settle(app, pilot)
        assert isinstance(app.screen, LockScreen)


def palette(app, screen=None) -> dict:
    return {c.title: c for c in app.get_system_commands(screen or app.screen)}


@sync
async def test_palette_finds_actions_by_role_and_never_a_screenshot(make_app):
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await login_as(app, pilot, "demo.admin")
        commands = palette(app)
        assert "Screenshot" not in commands and "Theme" in commands
        assert {"Change my password", "Book an appointment", "Lock the terminal",
                "Log out", "Go to Users"} <= set(commands)
        # on a patient's record: the tabs, and only the actions an admin may do
        pid = app.backend.call(lambda s: s.patients.list(app.session, query="Reyes")).items[0]
        from meditrack_tui.screens.patient_detail import PatientScreen

        await app.push_screen(PatientScreen(pid["id"]))
        await settle(app, pilot)
        commands = palette(app)
        assert {"Show Vitals", "Show Reports", "Edit this record", "Book an appointment"} \
            <= set(commands)
        assert not {"Add a vitals reading", "Prescribe a medication", "Upload a report"} \
            & set(commands)
        assert commands["Book an appointment"].help.startswith("For this patient")

        # typing "password" in the palette opens the profile in the password field
        await pilot.press("ctrl+p")
        await settle(app, pilot)
        await pilot.press(*"password")
        await pilot.pause(0.5)
        await pilot.press("enter")
        await settle(app, pilot)
        assert type(app.screen).__name__ == "ProfileScreen"
        assert app.screen.focused is app.screen.query_one("#current_password", Input)


@sync
async def test_palette_actions_on_a_patient_screen_for_a_doctor_and_a_patient(make_app):
    from meditrack_tui.screens.forms.reading import AddReadingScreen

    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await login_as(app, pilot, "demo.patient")
        commands = palette(app)
        assert {"My vitals", "My reports", "Book an appointment"} <= set(commands)
        assert "Screenshot" not in commands
        commands["My vitals"].callback()
        await settle(app, pilot)
        screen = app.screen
        assert type(screen).__name__ == "PatientScreen" and screen.own
        assert screen.tabs.active == "vitals"
        commands = palette(app)
        assert "My vitals" not in commands  # the record's own tab commands instead
        assert {"Add a vitals reading", "Upload a report"} <= set(commands)
        assert "Prescribe a medication" not in commands and "Edit this record" not in commands

        await login_again(app, pilot, "demo.doctor")
        pid = app.backend.call(lambda s: s.patients.list(app.session, query="Reyes")).items[0]
        from meditrack_tui.screens.patient_detail import PatientScreen

        await app.push_screen(PatientScreen(pid["id"]))
        await settle(app, pilot)
        commands = palette(app)
        assert {"Add a vitals reading", "Prescribe a medication", "Upload a report",
                "Edit this record"} <= set(commands)
        commands["Add a vitals reading"].callback()
        await settle(app, pilot)
        assert isinstance(app.screen, AddReadingScreen)


async def login_again(app, pilot, username: str) -> None:
    app.action_logout()
    await settle(app, pilot)
    await login_as(app, pilot, username)


@sync
async def test_a_screen_opened_while_the_app_had_no_focus_gets_it_when_it_comes_back(make_app):
    """A browser tab without the focus when the login screen opens: Textual skips the
    screen's AUTO_FOCUS then, and what the person typed after clicking in went nowhere."""
    app = make_app()
    async with app.run_test() as pilot:
        await pilot.pause()
        app.app_focus = False  # the tab loses the focus
        await pilot.pause()
        app.push_screen(LoginScreen())  # a login screen opens meanwhile
        await pilot.pause()
        assert app.screen.focused is None
        app.post_message(events.AppFocus())  # the person clicks in
        await pilot.pause()
        assert app.screen.focused is app.screen.query_one("#username", Input)
        await pilot.press("d", "r")
        assert app.screen.query_one("#username", Input).value == "dr"
