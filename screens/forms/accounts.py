"""The account dialogs of the users screen: a new account, a role change, a new password."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.message import Message
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Select, Static

from meditrack_tui import policy
from meditrack_tui.errors import SessionExpired, ValidationError

from ..base import ServiceMixin, error_text
from ..messages import ServiceFailed
from .confirm import PromptScreen
from .fields import clear_field_errors, error_line, field_row, show_field_errors

ROLE_LABELS = {policy.PATIENT: "Patient", policy.DOCTOR: "Doctor", policy.ADMIN: "Admin"}

# below this many lines the new-user form drops the blank line between its rows
SHORT_TERMINAL = 30


@dataclass
class AccountCreated(Message):
    """The service created the account (its public record)."""

    user: dict[str, Any]


@dataclass
class RoleChanged(Message):
    """The service changed the account's role (its public record)."""

    user: dict[str, Any]


def inline_failure(message: ServiceFailed) -> bool:
    """Whether a form shows this failure itself (an expired session goes to the one
    default handler, which logs out)."""
    return not isinstance(message.error, SessionExpired)


class PasswordPrompt(PromptScreen):
    """The password prompt, re-opened with the service's reason when a password was refused."""

    def __init__(self, question: str, *, error: str = "") -> None:
        super().__init__(question, password=True, placeholder="new password")
        self.error = error

    def on_mount(self) -> None:
        if self.error:
            self.query_one("#prompt-error", Static).update(self.error)


class NewUserScreen(ServiceMixin, ModalScreen[dict[str, Any] | None]):
    """The create-account form; the service's refusals show next to each field."""

    CSS_PATH = "../admin.tcss"
    AUTO_FOCUS = "#new-username"
    BINDINGS = [Binding("escape", "cancel", "Cancel", id="new-user-cancel")]

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog", id="new-user-form"):
            yield Static("New user", classes="dialog-title")
            yield from field_row("username", "Username", Input(id="new-username", compact=True))
            yield from field_row("full_name", "Full name",
                                 Input(id="new-full_name", compact=True))
            yield from field_row("email", "Email",
                                 Input(id="new-email", compact=True, placeholder="optional"))
            yield from field_row("role", "Role", Select(
                [(label, role) for role, label in ROLE_LABELS.items()], value=policy.DOCTOR,
                allow_blank=False, compact=True, id="new-role"))
            # a patient's login is linked to their record (shown for the patient role only)
            yield from field_row("patient_mrn", "Record MRN", Input(
                id="new-patient_mrn", compact=True, placeholder="e.g. MRN-000123"))
            yield from field_row("password", "Password", Input(
                id="new-password", password=True, compact=True,
                placeholder="at least 10 characters"))
            yield from field_row("password2", "Repeat",
                                 Input(id="new-password2", password=True, compact=True))
            yield error_line("form")
            with Horizontal(classes="buttons"):
                yield Button("Create (Enter)", id="create", variant="primary")
                yield Button("Cancel (Esc)", id="cancel")

    def on_mount(self) -> None:
        self._show_mrn()

    def on_resize(self) -> None:
        self.set_class(self.app.size.height < SHORT_TERMINAL, "-short")

    @on(Select.Changed, "#new-role")
    def _show_mrn(self) -> None:
        """The record's MRN is asked for a patient account only."""
        patient = self.query_one("#new-role", Select).value == policy.PATIENT
        self.query_one("#row-patient_mrn").display = patient
        if not patient:
            self.query_one("#err-patient_mrn", Static).display = False

    def value(self, name: str) -> str:
        return self.query_one(f"#new-{name}", Input).value

    @on(Input.Submitted)
    @on(Button.Pressed, "#create")
    def create(self) -> None:
        clear_field_errors(self)
        if self.value("password") != self.value("password2"):
            show_field_errors(self, ValidationError(
                {"password2": "The two passwords are not the same."}))
            return
        session = self.ctx.session
        chosen = self.query_one("#new-role", Select).value
        role = chosen if isinstance(chosen, str) else ""
        data = {name: self.value(name).strip()
                for name in ("username", "full_name", "email", "patient_mrn")}
        mrn = data["patient_mrn"] if role == policy.PATIENT else ""
        if role == policy.PATIENT and not mrn:
            self.failed(ValidationError({"patient_mrn": "Enter the MRN of this patient's "
                                                        "record."}))
            return
        password = self.value("password")
        self.ask(lambda s: s.users.create(session, username=data["username"], password=password,
                                          role=role, full_name=data["full_name"],
                                          email=data["email"] or None, patient_mrn=mrn or None),
                 AccountCreated, group="new-user")

    def on_account_created(self, message: AccountCreated) -> None:
        self.dismiss(message.user)

    def on_service_failed(self, message: ServiceFailed) -> None:
        if inline_failure(message):
            message.prevent_default()
            message.stop()
            self.failed(message.error)

    def failed(self, exc: BaseException) -> None:
        if show_field_errors(self, exc):
            # the cursor goes to the first field refused, in the form's order
            fields = exc.fields if isinstance(exc, ValidationError) else {}
            for box in self.query(Input):
                if box.id and box.id.removeprefix("new-") in fields:
                    box.focus()
                    break
        else:
            err = self.query_one("#err-form", Static)
            err.update(error_text(exc))
            err.display = True

    @on(Button.Pressed, "#cancel")
    def action_cancel(self) -> None:
        self.dismiss(None)


class RoleScreen(ServiceMixin, ModalScreen[dict[str, Any] | None]):
    """Pick a new role for one account; their sessions end when it changes."""

    CSS_PATH = "../admin.tcss"
    AUTO_FOCUS = "#role-select"
    BINDINGS = [Binding("escape", "cancel", "Cancel", id="role-cancel")]

    def __init__(self, user: dict[str, Any]) -> None:
        super().__init__()
        self.user = user

    def compose(self) -> ComposeResult:
        user = self.user
        current = ROLE_LABELS.get(user["role"], user["role"])
        with Vertical(classes="dialog", id="role-form"):
            yield Static(f"Change the role of {user['username']}", classes="dialog-title",
                         markup=False)
            name = user.get("full_name") or user["username"]
            yield Static(f"{name}'s role today: {current}. Changing it ends their open "
                         "sessions.", classes="muted", markup=False)
            yield Select([(label, role) for role, label in ROLE_LABELS.items()],
                         value=user["role"], allow_blank=False, id="role-select")
            yield error_line("role")
            with Horizontal(classes="buttons"):
                yield Button("Change role", id="change", variant="primary")
                yield Button("Cancel (Esc)", id="cancel")

    @on(Select.Changed, "#role-select")
    def _picked(self, event: Select.Changed) -> None:
        if event.value != self.user["role"]:  # also posted once at start-up
            self.query_one("#change", Button).focus()

    @on(Button.Pressed, "#change")
    def change(self) -> None:
        clear_field_errors(self)
        session, uid = self.ctx.session, str(self.user["id"])
        chosen = self.query_one("#role-select", Select).value
        role = chosen if isinstance(chosen, str) else ""
        self.ask(lambda s: s.users.change_role(session, uid, role), RoleChanged, group="role")

    def on_role_changed(self, message: RoleChanged) -> None:
        self.dismiss(message.user)

    def on_service_failed(self, message: ServiceFailed) -> None:
        if not inline_failure(message):
            return
        message.prevent_default()
        message.stop()
        if not show_field_errors(self, message.error):
            err = self.query_one("#err-role", Static)
            err.update(error_text(message.error))
            err.display = True

    @on(Button.Pressed, "#cancel")
    def action_cancel(self) -> None:
        self.dismiss(None)
