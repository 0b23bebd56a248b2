"""Sign-up: a patient's own account (active at once, with a new record) or a doctor's
request (an administrator approves it). Opened from the login screen (OpenSignup)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.message import Message
from textual.widgets import Button, Footer, Input, RadioButton, RadioSet, Select, Static

from meditrack_tui.domain import SEX_LABELS, AccountStatus
from meditrack_tui.errors import SessionExpired, ValidationError

from .base import BaseScreen, error_text
from .forms.confirm import ConfirmScreen
from .forms.fields import clear_field_errors, error_line, field_row, show_field_errors
from .messages import ServiceFailed, SignedUp

if TYPE_CHECKING:
    from meditrack_tui.services import Services

MISMATCH = "The two passwords are not the same."


@dataclass
class AccountRequested(Message):
    """The service created the account (active, or pending an administrator)."""

    user: dict[str, Any]


def stacked(name: str, label: str, **options: Any) -> ComposeResult:
    """A labelled input above its error line (the narrow card's field)."""
    return field_row(name, label, Input(id=name, **options), stacked=True)


class SignupScreen(BaseScreen):
    """Patient self-sign-up (an active account and a new record) or a doctor's request."""

    DEFAULT_CLASSES = "auth"  # login.tcss styles these four screens through it
    AUTO_FOCUS = "#su-role"
    BINDINGS = [Binding("escape", "back", "Back", id="back")]

    def __init__(self) -> None:
        super().__init__()
        self.mismatch = False  # the passwords typed for the call on its way differ

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="signup-box", classes="card"):
            yield Static("Create an account", classes="title")
            with RadioSet(id="su-role"):
                yield RadioButton("I am a patient", value=True, id="as-patient")
                yield RadioButton("I am a doctor (an administrator approves)", id="as-doctor")
            yield from stacked("username", "Username")
            yield from stacked("password", "Password (at least 10 characters)", password=True)
            yield from stacked("password2", "Repeat password", password=True)
            with Vertical(id="patient-fields"):
                yield from stacked("first_name", "First name")
                yield from stacked("last_name", "Last name")
                yield from stacked("dob", "Date of birth (YYYY-MM-DD)", placeholder="1980-04-30")
                yield from field_row("sex", "Sex", Select(
                    [(label, code) for code, label in SEX_LABELS.items()], prompt="Choose…",
                    id="sex"), stacked=True)
                yield from stacked("phone", "Phone")
            with Vertical(id="doctor-fields"):
                yield from stacked("full_name", "Full name", placeholder="Dr. …")
                yield from stacked("specialty", "Specialty")
            yield from stacked("email", "Email")
            yield error_line("form")
            with Horizontal(classes="buttons"):
                yield Button("Create account", id="create", variant="primary")
                yield Button("Back (Esc)", id="back")
        yield Footer()

    def on_mount(self) -> None:
        self.query_one("#doctor-fields").display = False
        # the focus on the first choice scrolls the card to it: the title goes first
        self.call_after_refresh(self.show_title)

    def show_title(self) -> None:
        self.query_one("#signup-box", VerticalScroll).scroll_home(animate=False)

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
        self.mismatch = self.value("password") != self.value("password2")
        username = self.value("username")
        password = "" if self.mismatch else self.value("password")
        call: Callable[[Services], dict[str, Any]]
        if self.as_doctor:
            full_name, email, specialty = (self.value("full_name"), self.value("email"),
                                           self.value("specialty"))

            def call(s: Services) -> dict[str, Any]:
                return s.auth.signup_doctor(username, password, full_name=full_name,
                                            email=email or None, specialty=specialty or None)
        else:
            data = {k: self.value(k) for k in ("first_name", "last_name", "dob", "phone", "email")}
            choice = self.query_one("#sex", Select)
            sex = "" if choice.is_blank() else str(choice.value)

            def call(s: Services) -> dict[str, Any]:
                return s.auth.signup_patient(username, password, sex=sex,
                                             first_name=data["first_name"],
                                             last_name=data["last_name"], dob=data["dob"],
                                             phone=data["phone"] or None,
                                             email=data["email"] or None)
        self.ask(call, AccountRequested, group="signup")

    def on_account_requested(self, message: AccountRequested) -> None:
        user = message.user
        if user.get("status") == AccountStatus.PENDING:
            text = "Request sent. You can log in once an administrator approves it."
        else:
            text = f"Account {user['username']} created. You can log in now."
        self.app.pop_screen()
        self.app.notify(text, title="Sign-up", markup=False)
        self.app.screen.post_message(SignedUp(user["username"], text))  # the login screen

    def on_service_failed(self, message: ServiceFailed) -> None:
        """Show every field's error at once; focus and scroll to the first one."""
        exc = message.error
        if isinstance(exc, SessionExpired):
            return
        message.prevent_default()
        message.stop()
        if self.mismatch:  # the service saw an empty password: report the mismatch instead
            fields = dict(exc.fields) if isinstance(exc, ValidationError) else {}
            fields.pop("password", None)
            if not isinstance(exc, ValidationError):
                fields["_"] = error_text(exc)
            exc = ValidationError({**fields, "password2": MISMATCH})
        if not show_field_errors(self, exc):
            err = self.query_one("#err-form", Static)
            err.update(error_text(exc))
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
