"""The login screen: the first screen of every run (kept light: it loads neither the
services nor another screen; sign-up and setup are screens of their own)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.message import Message
from textual.widgets import Button, Footer, Input, Static

from .base import BaseScreen, error_text
from .messages import OpenSignup, ServiceFailed, SignedUp

if TYPE_CHECKING:
    from meditrack_tui.services.base import Session


@dataclass
class LoggedIn(Message):
    """The service accepted the username and password: the new session."""

    session: Session


class LoginScreen(BaseScreen):
    """Username and password; clear messages for wrong password, lockout and pending approval."""

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
        # (the screen centres the card: no Center container; the labels are Statics: the
        # first frame sets up as few widget classes as it can)
        with Vertical(id="login-box", classes="card"):
            yield Static("MediTrack", id="brand")
            yield Static("Patient health records", id="tagline")
            # (not forms.fields.field_row: the first screen loads no form machinery;
            # a login's refusal is one message, under the fields)
            yield Static("Username", classes="field-label")
            yield Input(id="username", placeholder="your username")
            yield Static("Password", classes="field-label")
            yield Input(id="password", password=True, placeholder="your password")
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
        self.ask(lambda s: s.auth.login(username, password), LoggedIn, group="login")

    def on_logged_in(self, message: LoggedIn) -> None:
        self.query_one("#password", Input).value = ""
        self.app.logged_in(message.session)

    def on_service_failed(self, message: ServiceFailed) -> None:
        """Every refusal (wrong password, locked, pending, the store down) is said here."""
        message.prevent_default()
        message.stop()
        self._set_checking(False)
        self.query_one("#login-message", Static).update(error_text(message.error))
        password = self.query_one("#password", Input)
        password.value = ""
        password.focus()

    def on_signed_up(self, message: SignedUp) -> None:
        """Back from a sign-up: the new username filled in and the cursor in the password
        field, so the password typed next never lands in the username box (in clear)."""
        self.query_one("#login-message", Static).update(message.text)
        self.query_one("#username", Input).value = message.username
        password = self.query_one("#password", Input)
        password.focus()
        # the screen coming back puts the focus where it was (the username box): after it
        self.call_after_refresh(password.focus)

    @on(Button.Pressed, "#signup")
    def action_signup(self) -> None:
        self.post_message(OpenSignup())
