"""The user's own account: details, name and email, and a password change (every role)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from rich.text import Text
from textual import on
from textual.app import ComposeResult, SystemCommand
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.message import Message
from textual.widgets import Button, Input, Static

from meditrack_tui.errors import MediTrackError, SessionExpired, ValidationError

from .base import BaseScreen
from .forms.fields import clear_field_errors, error_line, field_row, show_field_errors
from .messages import ServiceFailed
from .widgets.footer import AppFooter

ROLE_NAMES = {"admin": "Administrator", "doctor": "Doctor", "patient": "Patient"}
PASSWORD_FIELDS = ("current_password", "new_password", "repeat_password")


@dataclass
class ProfileLoaded(Message):
    """The caller's account as stored (``saved``: after a save of the details)."""

    profile: dict[str, Any]
    saved: bool = False


class PasswordChanged(Message):
    """The password was changed (other sessions of the user were logged out)."""


def field(label: str, name: str, **options: Any) -> ComposeResult:
    """A stacked field row with an Input named ``name`` (``#name``)."""
    yield from field_row(name, label, Input(id=name, **options), stacked=True)


def when(value: Any) -> str:
    """A stored time as 'YYYY-MM-DD HH:MM' (or 'never')."""
    if isinstance(value, datetime):
        return f"{value:%Y-%m-%d %H:%M}"
    return "never" if value in (None, "") else str(value)


class ProfileScreen(BaseScreen):
    """Shows the caller's account; edits full name and email; changes the password.

    Leaving with Escape while something is typed but not saved asks first.
    """

    CSS_PATH = "profile.tcss"
    AUTO_FOCUS = "#full_name"
    WATCHES = frozenset({"users"})
    BINDINGS = [
        Binding("ctrl+o", "save_details", "Save details", id="profile-save"),
        Binding("ctrl+t", "change_password", "Change password", id="profile-password"),
        Binding("escape", "leave", "Back", id="profile-back"),
    ]

    def __init__(self, *, focus: str | None = None) -> None:
        """``focus``: the field to start in (the password one from "Change my password")."""
        super().__init__()
        self.profile: dict[str, Any] | None = None
        self.start_in = focus

    def on_mount(self) -> None:
        if self.start_in is not None:  # after AUTO_FOCUS (focus() takes effect later)
            self.query_one(f"#{self.start_in}", Input).focus()

    def compose(self) -> ComposeResult:
        yield Static("My profile", classes="screen-title")
        with Horizontal(id="profile-body"):
            with Vertical(id="profile-details", classes="panel"):
                yield Static("Account", classes="section-title")
                yield Static("Loading…", id="account-info")
                yield from field("Full name", "full_name")
                yield from field("Email", "email", placeholder="name@example.com")
                yield error_line("form-details")
                with Horizontal(classes="buttons"):
                    yield Button("Save details (Ctrl+O)", id="save-details", variant="primary")
            with Vertical(id="profile-password", classes="panel"):
                yield Static("Change password", classes="section-title")
                yield from field("Current password", "current_password", password=True)
                yield from field("New password (10+ characters)", "new_password",
                                 password=True)
                yield from field("Repeat the new password", "repeat_password", password=True)
                yield error_line("form-password")
                with Horizontal(classes="buttons"):
                    yield Button("Change password (Ctrl+T)", id="change-password",
                                 variant="primary")
        yield AppFooter()

    # --- loading ---

    def reload(self) -> None:
        session = self.session
        self.ask(lambda s: s.users.profile(session), ProfileLoaded,
                 busy=self.query_one("#account-info"), group="profile")

    def on_profile_loaded(self, message: ProfileLoaded) -> None:
        if message.saved:
            self.profile = None  # not editing any more: show what was stored
        self.show_profile(message.profile)
        if message.saved:
            self.app.notify("Your details are saved.", title="Profile", markup=False)

    def show_profile(self, profile: dict[str, Any]) -> None:
        """Fill the account summary; the inputs too, unless the user is editing them."""
        editing = self.details_dirty
        self.profile = profile
        role = ROLE_NAMES.get(profile.get("role", ""), profile.get("role", ""))
        self.query_one("#account-info", Static).update(Text(
            f"Username    {profile['username']}\n"
            f"Role        {role}\n"
            f"Last login  {when(profile.get('last_login'))}"
        ))
        if not editing:
            self.query_one("#full_name", Input).value = profile.get("full_name") or ""
            self.query_one("#email", Input).value = profile.get("email") or ""

    # --- unsaved changes ---

    def value(self, name: str) -> str:
        return self.query_one(f"#{name}", Input).value

    @property
    def details_dirty(self) -> bool:
        if self.profile is None:
            return False
        return (self.value("full_name").strip() != (self.profile.get("full_name") or "")
                or self.value("email").strip() != (self.profile.get("email") or ""))

    @property
    def has_unsaved_changes(self) -> bool:
        """True when the name/email differ from the saved ones or a password field is typed in."""
        return self.details_dirty or any(self.value(name) for name in PASSWORD_FIELDS)

    def action_leave(self) -> None:
        """Back to the dashboard; the app asks first when something typed would be lost."""
        self.app.goto("dashboard")

    # --- details ---

    @on(Input.Submitted, "#full_name, #email")
    @on(Button.Pressed, "#save-details")
    def action_save_details(self) -> None:
        box = self.query_one("#profile-details")
        clear_field_errors(box)
        if self.profile is None:
            return
        if not self.details_dirty:
            self.show_form_error("details", "Nothing to save: change your name or email first.")
            return
        session = self.session
        full_name, email = self.value("full_name").strip(), self.value("email").strip()
        self.ask(lambda s: s.users.update_profile(session, full_name=full_name, email=email),
                 lambda profile: ProfileLoaded(profile, saved=True), group="profile-save")

    # --- password ---

    @on(Input.Submitted, "#current_password")
    def _to_new(self) -> None:
        self.query_one("#new_password", Input).focus()

    @on(Input.Submitted, "#new_password")
    def _to_repeat(self) -> None:
        self.query_one("#repeat_password", Input).focus()

    @on(Input.Submitted, "#repeat_password")
    @on(Button.Pressed, "#change-password")
    def action_change_password(self) -> None:
        box = self.query_one("#profile-password")
        clear_field_errors(box)
        current, new = self.value("current_password"), self.value("new_password")
        errors: dict[str, str] = {}
        if not current:
            errors["current_password"] = "Type your current password."
        if not new:
            errors["new_password"] = "Type a new password."
        elif new != self.value("repeat_password"):
            errors["repeat_password"] = "The two new passwords are not the same."
        if errors:
            show_field_errors(box, ValidationError(errors))
            return
        session = self.session
        self.ask(lambda s: s.users.change_password(session, current, new),
                 lambda _result: PasswordChanged(), group="profile-password")

    def on_password_changed(self, _message: PasswordChanged) -> None:
        for name in PASSWORD_FIELDS:
            self.query_one(f"#{name}", Input).value = ""
        self.app.notify("Your password is changed. Other sessions of yours were logged out.",
                        title="Profile", markup=False)

    # --- errors ---

    def show_form_error(self, form: str, text: str) -> None:
        label = self.query_one(f"#err-form-{form}", Static)
        label.update(text)
        label.display = True

    def on_service_failed(self, message: ServiceFailed) -> None:
        """A refused save or password change is shown in its panel."""
        forms = {"profile-save": "details", "profile-password": "password"}
        error = message.error
        if message.group not in forms or isinstance(error, SessionExpired) \
                or not isinstance(error, MediTrackError):
            return  # the base handler
        message.prevent_default()
        self.form_failed(forms[message.group], error)

    def form_failed(self, form: str, exc: MediTrackError) -> None:
        box = self.query_one("#profile-details" if form == "details" else "#profile-password")
        if not show_field_errors(box, exc):
            self.show_form_error(form, exc.message)
        if form == "password" and isinstance(exc, ValidationError) \
                and "current_password" in exc.fields:
            current = self.query_one("#current_password", Input)
            current.value = ""
            current.focus()

    def palette_commands(self) -> Iterable[SystemCommand]:
        yield SystemCommand("Save my details", "Store the name and email typed here (Ctrl+O)",
                            self.action_save_details)
        yield SystemCommand("Change my password", "Use the password fields here (Ctrl+T)",
                            self._palette_password)

    def _palette_password(self) -> None:
        """Change the password if one is typed; otherwise start typing one."""
        if any(self.value(name) for name in PASSWORD_FIELDS):
            self.action_change_password()
        else:
            self.focus_password()

    def focus_password(self) -> None:
        """Put the cursor in the current-password field."""
        self.query_one("#current_password", Input).focus()

