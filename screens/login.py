"""Login, sign-up (patient or doctor request) and first-run setup of the first admin."""

from __future__ import annotations

from typing import Any

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Center, Horizontal, Vertical, VerticalScroll
from textual.message import Message
from textual.widgets import Button, Footer, Input, Label, RadioButton, RadioSet, Select, Static

from meditrack_tui.domain import SEX_LABELS, AccountStatus
from meditrack_tui.errors import MediTrackError, ValidationError

from .base import BaseScreen
from .forms.fields import clear_field_errors, show_field_errors


def field(label: str, input_id: str, **kwargs: Any) -> ComposeResult:
    """A labelled input with an inline error line under it (``#err-<id>``)."""
    yield Label(label, classes="field-label")
    yield Input(id=input_id, **kwargs)
    err = Static("", id=f"err-{input_id}", classes="field-error", markup=False)
    err.display = False
    yield err


class LoginScreen(BaseScreen):
    """Username and password; clear messages for wrong password, lockout and pending approval."""

    CSS_PATH = "login.tcss"
    DEFAULT_CLASSES = "auth"  # login.tcss styles these four screens through it
    AUTO_FOCUS = "#username"
    BINDINGS = [
        Binding("f5", "signup", "Sign up", id="signup"),
        Binding("ctrl+q", "app.quit", "Quit", id="quit"),
        # Enter and Tab in the username box move to the password box at once, before the
        # next key is delivered: handled as the keys arrive (priority), not after the
        # input's Submitted message, so a fast typist's password never lands in the
        # username box (where it would be shown, and audited as a failed login's name).
        Binding("enter,tab", "to_password", show=False, priority=True, id="to-password"),
    ]

    def __init__(self, message: str | None = None) -> None:
        super().__init__()
        self.initial_message = message

    def compose(self) -> ComposeResult:
        with Center():
            with Vertical(id="login-box", classes="card"):
                yield Static("MediTrack", id="brand")
                yield Static("Patient health records", id="tagline")
                yield from field("Username", "username", placeholder="your username")
                yield from field("Password", "password", password=True,
                                 placeholder="your password")
                yield Static("", id="login-message", markup=False)
                # the buttons and the footer follow in the next frame (finish_compose)
                yield Horizontal(id="login-buttons", classes="buttons")
                yield Static("", id="store-status", markup=False)
                if self.app.demo_logins:
                    names, password = self.app.demo_logins
                    yield Static(f"Demo: {', '.join(names)} / {password}", id="demo-hint",
                                 markup=False)

    def on_mount(self) -> None:
        if self.initial_message:
            self.query_one("#login-message", Static).update(self.initial_message)
        self.show_store_status(self.app.store_status)
        # Start-up is felt on every login: the first frame shows the fields (the user can
        # type at once); the buttons and the footer, whose styles and widgets cost as much
        # again to set up, are mounted right after it.
        self.call_after_refresh(self.finish_compose)

    class Drawn(Message):
        """The whole login screen is on the terminal: the app may connect to the store now
        (its imports and queries would otherwise compete with drawing for the interpreter)."""

    async def finish_compose(self) -> None:
        if not self.query("#login"):
            await self.query_one("#login-buttons", Horizontal).mount(
                Button("Log in", id="login", variant="primary", disabled=self._checking),
                Button("Sign up (F5)", id="signup"))
            await self.mount(Footer())
            self._show_signup()
            self.refresh_bindings()  # the footer shows the keys once bindings are announced
        self.call_after_refresh(self.post_message, self.Drawn())

    _checking = False  # a login is being checked (the Log in button is disabled meanwhile)

    def _set_checking(self, checking: bool) -> None:
        self._checking = checking
        for button in self.query("#login").results(Button):
            button.disabled = checking

    def _show_signup(self) -> None:
        # sign-up is offered only where the clinic allows it (known once connected)
        for button in self.query("#signup").results(Button):
            button.display = self.app.signup_open

    def show_store_status(self, text: str) -> None:
        self.query_one("#store-status", Static).update(Text(text))
        self._show_signup()
        self.refresh_bindings()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "signup":
            return self.app.signup_open
        if action == "to_password":
            return self.focused is not None and self.focused.id == "username"
        return True

    def action_to_password(self) -> None:
        self.set_focus(self.query_one("#password", Input))

    @on(Input.Submitted, "#password")
    @on(Button.Pressed, "#login")
    def submit(self) -> None:
        username = self.query_one("#username", Input).value
        password = self.query_one("#password", Input).value
        message = self.query_one("#login-message", Static)
        if not username.strip() or not password:
            message.update("Enter your username and password.")
            return
        message.update("Checking…")
        self._set_checking(True)
        self.call_service(lambda s: s.auth.login(username, password), self.logged_in,
                          error=self.failed, group="login")

    def logged_in(self, session: Any) -> None:
        self.query_one("#password", Input).value = ""
        self.app.logged_in(session)

    def failed(self, exc: BaseException) -> None:
        self._set_checking(False)
        text = exc.message if isinstance(exc, MediTrackError) else str(exc)
        self.query_one("#login-message", Static).update(text)
        password = self.query_one("#password", Input)
        password.value = ""
        password.focus()

    def signed_up(self, username: str, text: str) -> None:
        """Back from a sign-up: the new username filled in and the cursor in the password
        field, so the password typed next never lands in the username box (in clear)."""
        self.query_one("#login-message", Static).update(text)
        self.query_one("#username", Input).value = username
        password = self.query_one("#password", Input)
        password.focus()
        # the screen coming back puts the focus where it was (the username box): after it
        self.call_after_refresh(password.focus)

    @on(Button.Pressed, "#signup")
    def action_signup(self) -> None:
        self.app.push_screen(SignupScreen())


class SignupScreen(BaseScreen):
    """Patient self-sign-up (an active account and a new record) or a doctor's request."""

    CSS_PATH = "login.tcss"
    DEFAULT_CLASSES = "auth"  # login.tcss styles these four screens through it
    AUTO_FOCUS = "#su-role"
    BINDINGS = [Binding("escape", "back", "Back", id="back")]

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="signup-box", classes="card"):
            yield Static("Create an account", classes="title")
            with RadioSet(id="su-role"):
                yield RadioButton("I am a patient", value=True, id="as-patient")
                yield RadioButton("I am a doctor (an administrator approves)", id="as-doctor")
            yield from field("Username", "username")
            yield from field("Password (at least 10 characters)", "password", password=True)
            yield from field("Repeat password", "password2", password=True)
            with Vertical(id="patient-fields"):
                yield from field("First name", "first_name")
                yield from field("Last name", "last_name")
                yield from field("Date of birth (YYYY-MM-DD)", "dob", placeholder="1980-04-30")
                yield Label("Sex", classes="field-label")
                yield Select([(label, code) for code, label in SEX_LABELS.items()],
                             prompt="Choose…", id="sex")
                err = Static("", id="err-sex", classes="field-error", markup=False)
                err.display = False
                yield err
                yield from field("Phone", "phone")
            with Vertical(id="doctor-fields"):
                yield from field("Full name", "full_name", placeholder="Dr. …")
                yield from field("Specialty", "specialty")
            yield from field("Email", "email")
            err = Static("", id="err-form", classes="field-error", markup=False)
            err.display = False
            yield err
            with Horizontal(classes="buttons"):
                yield Button("Create account", id="create", variant="primary")
                yield Button("Back (Esc)", id="back")
        yield Footer()

    def on_mount(self) -> None:
        self.query_one("#doctor-fields").display = False

    @property
    def as_doctor(self) -> bool:
        return self.query_one("#as-doctor", RadioButton).value

    @on(RadioSet.Changed)
    def role_changed(self) -> None:
        self.query_one("#doctor-fields").display = self.as_doctor
        self.query_one("#patient-fields").display = not self.as_doctor

    @property
    def has_unsaved_changes(self) -> bool:
        """True when going back would lose something typed or chosen (asks first)."""
        return (any(box.value for box in self.query(Input))
                or not self.query_one("#sex", Select).is_blank())

    @on(Button.Pressed, "#back")
    def action_back(self) -> None:
        if not self.has_unsaved_changes:
            self.app.pop_screen()
            return

        def answered(discard: bool | None) -> None:
            if discard:
                self.app.pop_screen()

        from .forms.confirm import ConfirmScreen  # only when asked: the login screen loads light

        self.app.push_screen(ConfirmScreen("Discard what you typed for the new account?",
                                           yes="Discard", no="Keep editing"), answered)

    def value(self, name: str) -> str:
        return self.query_one(f"#{name}", Input).value

    @on(Input.Submitted)
    @on(Button.Pressed, "#create")
    def create(self) -> None:
        clear_field_errors(self)
        # Passwords that differ are sent as an empty one, which the service always refuses:
        # the call then only checks the other fields, so every error shows at once.
        mismatch = self.value("password") != self.value("password2")
        username = self.value("username")
        password = "" if mismatch else self.value("password")
        if self.as_doctor:
            full_name, email, specialty = (self.value("full_name"), self.value("email"),
                                           self.value("specialty"))
            fn = lambda s: s.auth.signup_doctor(username, password, full_name=full_name,  # noqa: E731
                                                email=email or None, specialty=specialty or None)
        else:
            data = {k: self.value(k) for k in ("first_name", "last_name", "dob", "phone", "email")}
            choice = self.query_one("#sex", Select)
            sex = "" if choice.is_blank() else str(choice.value)
            fn = lambda s: s.auth.signup_patient(username, password, sex=sex,  # noqa: E731
                                                 first_name=data["first_name"],
                                                 last_name=data["last_name"], dob=data["dob"],
                                                 phone=data["phone"] or None,
                                                 email=data["email"] or None)
        self.call_service(fn, self.created, error=lambda exc: self.failed(exc, mismatch),
                          group="signup")

    def created(self, user: dict) -> None:
        self.app.pop_screen()
        if user.get("status") == AccountStatus.PENDING:
            text = "Request sent. You can log in once an administrator approves it."
        else:
            text = f"Account {user['username']} created. You can log in now."
        self.app.notify(text, title="Sign-up", markup=False)
        if isinstance(self.app.screen, LoginScreen):
            self.app.screen.signed_up(user["username"], text)

    def failed(self, exc: BaseException, mismatch: bool = False) -> None:
        """Show every field's error at once; focus and scroll to the first one."""
        if mismatch:  # the service saw an empty password: report the mismatch instead
            fields = dict(exc.fields) if isinstance(exc, ValidationError) else {}
            fields.pop("password", None)
            if not isinstance(exc, ValidationError):
                fields["_"] = getattr(exc, "message", str(exc))
            exc = ValidationError({**fields, **_mismatch().fields})
        if not show_field_errors(self, exc):
            err = self.query_one("#err-form", Static)
            err.update(getattr(exc, "message", str(exc)))
            err.display = True
        self.call_after_refresh(self.show_first_error)

    def show_first_error(self) -> None:
        """Focus the first field (top to bottom) whose error is showing, centred in view."""
        box = self.query_one("#signup-box", VerticalScroll)
        for field_input in self.query("Input, Select"):
            if self.query_one(f"#err-{field_input.id}", Static).display:
                field_input.focus(scroll_visible=False)
                box.scroll_to_center(field_input, animate=False)
                return
        box.scroll_to_widget(self.query_one("#err-form", Static), animate=False)


def _mismatch() -> ValidationError:
    return ValidationError({"password2": "The two passwords are not the same."})


class SetupScreen(BaseScreen):
    """First run: there are no users, so create the first administrator."""

    CSS_PATH = "login.tcss"
    DEFAULT_CLASSES = "auth"  # login.tcss styles these four screens through it
    AUTO_FOCUS = "#username"
    # a short terminal (80x24) gets one-line inputs, so that the button shows without scrolling
    VERTICAL_BREAKPOINTS = [(0, "-short"), (32, "-tall")]

    def compose(self) -> ComposeResult:
        with Center():
            with VerticalScroll(id="setup-box", classes="card"):
                yield Static("Welcome to MediTrack", classes="title")
                yield Static("There are no accounts yet. Create the first administrator.",
                             classes="hint")
                yield from field("Username", "username")
                yield from field("Full name", "full_name")
                yield from field("Password (at least 10 characters)", "password", password=True)
                yield from field("Repeat password", "password2", password=True)
                err = Static("", id="err-form", classes="field-error", markup=False)
                err.display = False
                yield err
                yield Button("Create administrator", id="create", variant="primary")
        yield Footer()

    @on(Input.Submitted)
    @on(Button.Pressed, "#create")
    def create(self) -> None:
        clear_field_errors(self)
        values = {k: self.query_one(f"#{k}", Input).value
                  for k in ("username", "full_name", "password", "password2")}
        if values["password"] != values["password2"]:
            show_field_errors(self, _mismatch())
            self.focus_first_error()
            return
        self.call_service(
            lambda s: s.auth.create_first_admin(values["username"], values["password"],
                                                values["full_name"]),
            lambda user: self.created(user, values["password"]), error=self.failed)

    def created(self, user: dict, password: str) -> None:
        self.app.notify(f"Administrator {user['username']} created.", title="Setup", markup=False)
        self.call_service(lambda s: s.auth.login(user["username"], password), self.app.logged_in)

    def failed(self, exc: BaseException) -> None:
        if not show_field_errors(self, exc):
            err = self.query_one("#err-form", Static)
            err.update(getattr(exc, "message", str(exc)))
            err.display = True
        self.focus_first_error()

    def focus_first_error(self) -> None:
        """The cursor goes to the first field (top to bottom) whose error is showing, so
        the person types the correction there (not into the field they pressed Enter in)."""
        for box in self.query(Input):
            if self.query_one(f"#err-{box.id}", Static).display:
                box.focus()
                return
