"""The idle lock: an opaque screen over everything until the user's password is typed."""

from __future__ import annotations

from dataclasses import dataclass

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Center, Vertical
from textual.message import Message
from textual.widgets import Button, Footer, Input, Static

from .base import BaseScreen


@dataclass
class PasswordChecked(Message):
    """The service's answer to the password typed on the lock screen."""

    ok: bool


class LockScreen(BaseScreen):
    """Shows no patient data; the password returns the user to where they were."""

    DEFAULT_CLASSES = "auth"  # login.tcss styles these four screens through it
    AUTO_FOCUS = "#unlock-password"
    BINDINGS = [Binding("f10", "logout", "Logout", id="lock-logout", priority=True)]

    def compose(self) -> ComposeResult:
        with Center():
            with Vertical(id="lock-box", classes="card"):
                yield Static("🔒 MediTrack is locked", classes="title")
                yield Static(f"Locked for {self.session.full_name}. Type your password to "
                             "continue, or F10 to log out.", classes="hint", markup=False)
                yield Input(id="unlock-password", password=True, placeholder="password")
                yield Static("", id="unlock-message")
                yield Button("Unlock", id="unlock", variant="primary")
        yield Footer()

    @on(Input.Submitted)
    @on(Button.Pressed, "#unlock")
    def unlock(self) -> None:
        password = self.query_one("#unlock-password", Input).value
        session = self.session
        self.ask(lambda s: s.auth.confirm_password(session, password), PasswordChecked,
                 group="unlock")

    def on_password_checked(self, message: PasswordChecked) -> None:
        box = self.query_one("#unlock-password", Input)
        box.value = ""
        if message.ok:
            self.dismiss(None)
        else:
            self.query_one("#unlock-message", Static).update("That password is not right.")
            box.focus()

    def action_logout(self) -> None:
        self.app.action_logout()
