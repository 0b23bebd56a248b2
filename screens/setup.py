"""First run: the store is empty, so the first administrator is created here (over the
login screen), then logged in."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from textual import on
from textual.app import ComposeResult
from textual.containers import Center, VerticalScroll
from textual.message import Message
from textual.widgets import Button, Footer, Input, Static

from meditrack_tui.errors import ValidationError

from .base import BaseScreen, error_text
from .forms.fields import clear_field_errors, error_line, field_row, show_field_errors
from .messages import ServiceFailed

if TYPE_CHECKING:
    from meditrack_tui.services.base import Session


@dataclass
class AdminCreated(Message):
    """The first administrator exists (their account, and the password to log in with)."""

    user: dict[str, Any]
    password: str


@dataclass
class AdminLoggedIn(Message):
    """The new administrator's session."""

    session: Session


class SetupScreen(BaseScreen):
    """First run: there are no users, so create the first administrator."""

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
                for name, label, hint, secret in (
                        ("username", "Username", "e.g. clinic.admin", False),
                        ("full_name", "Full name", "e.g. Ada Lovelace", False),
                        ("password", "Password (at least 10 characters)",
                         "at least 10 characters", True),
                        ("password2", "Repeat password", "the same password again", True)):
                    yield from field_row(name, label, Input(id=name, password=secret,
                                                            placeholder=hint), stacked=True)
                yield error_line("form")
                yield Button("Create administrator", id="create", variant="primary")
        yield Footer()

    @on(Input.Submitted)
    @on(Button.Pressed, "#create")
    def create(self) -> None:
        clear_field_errors(self)
        values = {k: self.query_one(f"#{k}", Input).value
                  for k in ("username", "full_name", "password", "password2")}
        if values["password"] != values["password2"]:
            show_field_errors(self, ValidationError(
                {"password2": "The two passwords are not the same."}))
            self.focus_first_error()
            return
        password = values["password"]
        self.ask(lambda s: s.auth.create_first_admin(values["username"], password,
                                                     values["full_name"]),
                 lambda user: AdminCreated(user, password), group="setup")

    def on_admin_created(self, message: AdminCreated) -> None:
        username, password = str(message.user["username"]), message.password
        self.app.notify(f"Administrator {username} created.", title="Setup", markup=False)
        self.ask(lambda s: s.auth.login(username, password), AdminLoggedIn, group="setup")

    def on_admin_logged_in(self, message: AdminLoggedIn) -> None:
        self.app.logged_in(message.session)

    def on_service_failed(self, message: ServiceFailed) -> None:
        """A refusal shows under its field, the cursor there."""
        message.prevent_default()
        message.stop()
        if not show_field_errors(self, message.error):
            err = self.query_one("#err-form", Static)
            err.update(error_text(message.error))
            err.display = True
        self.focus_first_error()

    def focus_first_error(self) -> None:
        """The cursor goes to the first field (top to bottom) whose error is showing, so
        the person types the correction there (not into the field they pressed Enter in)."""
        for box in self.query(Input):
            if self.query_one(f"#err-{box.id}", Static).display:
                box.focus()
                return
