"""User accounts (admins): filters and paging; Enter opens the selected account's actions
(approve, reject, role, password, unlock, deactivate, reactivate); Ctrl+N a new account.
Any other role sees the service's refusal and no data."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from rich.text import Text
from textual import on
from textual.app import ComposeResult, SystemCommand
from textual.binding import Binding
from textual.containers import Horizontal
from textual.markup import escape
from textual.message import Message
from textual.widgets import DataTable, Input, Label, Select, Static

from meditrack_tui import policy
from meditrack_tui.domain import AccountStatus
from meditrack_tui.errors import PermissionDenied, SessionExpired, ValidationError

from .base import error_text, label_of
from .forms.accounts import ROLE_LABELS, NewUserScreen, PasswordPrompt, RoleScreen
from .forms.confirm import ActionMenu, ConfirmScreen
from .forms.fhir_import import FhirImportScreen
from .messages import OpenSettings, ServiceFailed
from .widgets.account_detail import USER_ACTIONS, detail_narrow, detail_wide, user_actions
from .widgets.admin_list import AdminListScreen, clip
from .widgets.footer import AppFooter
from .widgets.table import Fit

if TYPE_CHECKING:
    from meditrack_tui.services import Services

USER_COLUMNS = (("username", "Username"), ("name", "Name"), ("role", "Role"),
                ("status", "Status"), ("locked", "Locked"))

@dataclass
class UsersLoaded(Message):
    """One page of accounts and how many sign-ups wait for approval."""

    page: Any
    waiting: int


@dataclass
class AccountChanged(Message):
    """An action on one account was done: ``text`` tells the admin what changed."""

    text: str


class UsersScreen(AdminListScreen):
    """Accounts with filters and paging; Enter opens the selected account's actions.

    Text typed on the table goes to the search field (no letter acts on an account)."""

    CSS_PATH = "admin.tcss"
    WATCHES = frozenset({"users"})
    POLICY_ACTION = "user.manage"
    TITLE = "Users"
    TABLE_ID = "users-table"
    COLUMNS = USER_COLUMNS
    FIT = Fit(flex=("name",))
    AUTO_FOCUS = "#users-table"
    SEARCH_FIELD = "#filter-query"
    BINDINGS = [
        Binding("ctrl+n", "new_user", "New user", id="users-new"),
        Binding("insert", "new_user", "New user", show=False),  # a browser keeps ctrl+n
        Binding("slash", "search", "Search", id="users-search"),
        Binding("ctrl+g", "clinic_settings", "Clinic settings", id="users-settings"),
        Binding("ctrl+b", "import_fhir", "Import (FHIR)", id="users-import"),
        Binding("pageup", "page(-1)", "Prev page", id="users-prev-page", priority=True),
        Binding("pagedown", "page(1)", "Next page", id="users-next-page", priority=True),
        Binding("escape", "focus_table", "Table", id="users-focus-table", show=False),
    ]

    def __init__(self, *, status: str = "") -> None:
        super().__init__()
        self.filters = {"role": "", "status": status, "query": ""}
        #: the account whose new password is being asked for (re-asked when refused)
        self.resetting: dict[str, Any] | None = None

    def compose(self) -> ComposeResult:
        yield Static(self.title_text, id="users-title", classes="screen-title", markup=False)
        yield Static("", classes="denied", markup=False)
        with Horizontal(classes="filters admin-content"):
            yield Label("Role", classes="filter-label")
            yield Select([("Any", "")] + [(label, role) for role, label in ROLE_LABELS.items()],
                         value="", allow_blank=False, compact=True, id="filter-role")
            yield Label("Status", classes="filter-label")
            yield Select([("Any", "")] + [(s.label, s.value) for s in AccountStatus],
                         value=self.filters["status"], allow_blank=False, compact=True,
                         id="filter-status")
            yield Label("Search", classes="filter-label")
            yield Input(placeholder="username starts with… (/)", compact=True,
                        id="filter-query")
        with Horizontal(classes="body admin-content"):
            yield self.make_table()
            yield Static("", id="user-detail", classes="detail")
        yield AppFooter()

    # --- loading ---

    def reload(self) -> None:
        session, filters, page_no, size = self.session, dict(self.filters), self.page_no, \
            self.PAGE_SIZE

        def fetch(s: Services) -> UsersLoaded:
            page = s.users.list(session, role=filters["role"], status=filters["status"],
                                query=filters["query"], page=page_no, page_size=size)
            waiting = s.users.list(session, status=AccountStatus.PENDING.value,
                                   page_size=1).total
            return UsersLoaded(page, waiting)

        self.set_title(loading=True)
        self.ask(fetch, lambda loaded: loaded, group="users-list")

    def on_users_loaded(self, message: UsersLoaded) -> None:
        page = message.page
        self.page_no, self.pages = page.page, page.pages
        self.fill(page.items, self.cells)
        title = f"Users · {self.page_text(page.total, 'account')}"
        if message.waiting:
            title += f" · {message.waiting} waiting for approval"
        self.set_title(title)
        self.show_detail()

    def on_service_failed(self, message: ServiceFailed) -> None:
        """A refused list shows in place of the screen; a password the service refused
        asks again with its reason; any other failure is notified (the base handler) and
        an action's failure re-fetches what the list shows."""
        if message.group == "users-list":
            self.set_title()
            if isinstance(message.error, PermissionDenied):
                message.prevent_default()
                message.stop()
                self.denied(message.error)
        elif message.group == "users-password" and self.resetting is not None \
                and isinstance(message.error, ValidationError):
            message.prevent_default()
            message.stop()
            self.ask_password(self.resetting, error=error_text(message.error))
        elif message.group.startswith("users-") \
                and not isinstance(message.error, SessionExpired):
            self.reload()

    @staticmethod
    def cells(user: dict[str, Any]) -> tuple[Text, ...]:
        status = label_of(AccountStatus, user.get("status", ""))
        return (Text(user["username"]), Text(clip(user.get("full_name") or "", 28)),
                Text(ROLE_LABELS.get(user.get("role", ""), user.get("role", ""))),
                Text(status, style="bold" if user.get("status") == AccountStatus.PENDING else ""),
                Text("locked", style="bold") if user.get("locked") else Text(""))

    @on(DataTable.RowHighlighted)
    def show_detail(self) -> None:
        user = self.selected
        detail = self.query_one("#user-detail", Static)
        if user is None:
            detail.update("No accounts match these filters." if not self.rows else "")
        else:
            actions = user_actions(user, self.session.user_id)
            detail.update(detail_wide(user, actions) if self.has_class("-wide")
                          else detail_narrow(user, actions))
        self.refresh_bindings()

    def on_resize(self) -> None:
        self.call_after_refresh(self.show_detail)  # the layout may have changed breakpoint

    # --- filters ---

    @on(Select.Changed, "#filter-role, #filter-status")
    def _select_changed(self) -> None:
        self.apply_filters()

    @on(Input.Changed, "#filter-query")
    def _query_changed(self) -> None:
        self.debounce(self.apply_filters)

    @on(Input.Submitted, "#filter-query")
    def _query_submitted(self) -> None:
        self.cancel_debounce()
        self.table.focus()  # first: a loading table cannot take focus
        self.apply_filters()

    def apply_filters(self) -> None:
        role = self.query_one("#filter-role", Select).value
        status = self.query_one("#filter-status", Select).value
        new = {"role": role if isinstance(role, str) else "",
               "status": status if isinstance(status, str) else "",
               "query": self.query_one("#filter-query", Input).value.strip()}
        if new != self.filters:
            self.filters = new
            self.page_no, self.to_top = 1, True
            self.reload()

    def action_search(self) -> None:
        self.query_one("#filter-query", Input).focus()

    def action_clinic_settings(self) -> None:
        """Opening hours, doctors' hours, the appointment limit, sign-up (the App opens them)."""
        self.post_message(OpenSettings())

    def action_import_fhir(self) -> None:
        """Patient records from a FHIR file or bulk export in the admin's inbox."""
        if self.check_action("import_fhir", ()):
            self.app.push_screen(FhirImportScreen())

    def show_status(self, status: str) -> None:
        """Filter by status (e.g. the sign-ups waiting for approval)."""
        self.table.focus()
        self.query_one("#filter-status", Select).value = status

    # --- actions on the selected account ---

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action in USER_ACTIONS:
            user = self.selected if self.permitted else None
            if user is None:
                return False
            return action in user_actions(user, self.session.user_id)
        if action in ("new_user", "search", "clinic_settings"):
            return self.permitted
        if action == "import_fhir":
            return self.permitted and self.permissions.may("fhir.import")
        return super().check_action(action, parameters)

    def _target(self, action: str) -> dict[str, Any] | None:
        user = self.selected
        if user is None or not self.permitted \
                or action not in user_actions(user, self.session.user_id):
            return None
        return user

    @on(DataTable.RowSelected)
    def open_actions(self) -> None:
        user = self.selected
        if user is None or not self.permitted:
            return
        actions = user_actions(user, self.session.user_id)
        if not actions:
            self.notify(f"No actions apply to {user['username']} now.", title="Users", markup=False)
            return

        def chosen(action: str | None) -> None:
            if action:
                getattr(self, f"action_{action}")()

        title = f"{user['username']} · {user.get('full_name') or ''}"
        self.app.push_screen(ActionMenu(title, [(a, USER_ACTIONS[a][1]) for a in actions]),
                             chosen)

    def run_user_action(self, call: Callable[[Services], object], text: str,
                        group: str) -> None:
        """Call the service for one account, then tell the admin and re-fetch (each
        account's answer in a group of its own: one never drops another's)."""
        self.ask(call, lambda _result: AccountChanged(text), group=group)

    def on_account_changed(self, message: AccountChanged) -> None:
        self.notify(message.text, title="Users", markup=False)
        self.reload()

    def action_approve(self) -> None:
        stored = (self.selected or {}).get("role", "")
        role = ROLE_LABELS.get(stored, "user").lower()
        reach = "every patient's record" if stored == policy.DOCTOR else "their own record"
        self._confirmed("approve", f"Approve the sign-up of {{name}} as {role}? They can log "
                        f"in and read {reach}.",
                        lambda s, session, uid: s.users.approve(session, uid),
                        "{username} is approved and can log in now.", yes="Approve")

    def action_reject(self) -> None:
        self._confirmed("reject", "Reject the sign-up of {name}? They will not be able to log in.",
                        lambda s, session, uid: s.users.reject(session, uid),
                        "The sign-up of {username} is rejected.", yes="Reject")

    def action_deactivate(self) -> None:
        self._confirmed("deactivate", "Deactivate {name}? They are logged out at once and cannot "
                        "log in until an administrator reactivates the account.",
                        lambda s, session, uid: s.users.deactivate(session, uid),
                        "{username} is deactivated and logged out.", yes="Deactivate")

    def action_reactivate(self) -> None:
        self._confirmed("reactivate", "Reactivate {name}? They can log in again.",
                        lambda s, session, uid: s.users.reactivate(session, uid),
                        "{username} is active again.", yes="Reactivate")

    def action_unlock(self) -> None:
        self._confirmed("unlock", "Unlock {name}? Logins are allowed again at once.",
                        lambda s, session, uid: s.users.unlock(session, uid),
                        "{username} is unlocked and can log in again.", yes="Unlock")

    def _confirmed(self, action: str, question: str, call: Callable[[Any, Any, str], object],
                   message: str, *, yes: str) -> None:
        user = self._target(action)
        if user is None:
            return
        session, uid = self.session, str(user["id"])
        name = f"{user['username']} ({user.get('full_name') or user['username']})"

        def answered(ok: bool | None) -> None:
            if ok:
                self.run_user_action(lambda s: call(s, session, uid),
                                     message.format(username=user["username"]),
                                     group=f"users-{action}-{uid}")

        self.app.push_screen(ConfirmScreen(question.format(name=name), yes=yes, no="Cancel"),
                             answered)

    def action_change_role(self) -> None:
        user = self._target("change_role")
        if user is None:
            return

        def changed(result: dict[str, Any] | None) -> None:
            if result:
                self.notify(f"{result['username']}'s role is now {ROLE_LABELS[result['role']]}; "
                            "their open sessions were ended.", title="Users", markup=False)
                self.reload()

        self.app.push_screen(RoleScreen(user), changed)

    def action_reset_password(self) -> None:
        user = self._target("reset_password")
        if user is not None:
            self.ask_password(user)

    def ask_password(self, user: dict[str, Any], error: str = "") -> None:
        """The new password for ``user`` (asked again with the reason it was refused)."""
        session, uid = self.session, str(user["id"])
        self.resetting = user

        def typed(password: str | None) -> None:
            if password:
                self.run_user_action(
                    lambda s: s.users.reset_password(session, uid, password),
                    f"New password set for {user['username']}; their sessions were ended "
                    "and any lock lifted.", group="users-password")

        self.app.push_screen(PasswordPrompt(
            f"New password for {user['username']} (at least 10 characters). "
            "Their open sessions end.", error=error), typed)

    def action_new_user(self) -> None:
        if not self.permitted:
            return

        def created(user: dict[str, Any] | None) -> None:
            if user:
                self.notify(f"Account {user['username']} created "
                            f"({ROLE_LABELS[user['role']]}).", title="Users", markup=False)
                self.reload()

        self.app.push_screen(NewUserScreen(), created)

    def palette_commands(self) -> Iterable[SystemCommand]:
        if not self.permitted:
            return
        yield SystemCommand("New user", "Create an account (Ctrl+N)", self.action_new_user)
        if self.check_action("import_fhir", ()):
            yield SystemCommand("Import patient records (FHIR)", "From a file or bulk export "
                                "in your inbox, dry run first (Ctrl+B)", self.action_import_fhir)
        yield SystemCommand("Sign-ups waiting for approval", "Show pending accounts",
                            lambda: self.show_status(AccountStatus.PENDING.value))
        yield SystemCommand("All accounts", "Clear the status filter",
                            lambda: self.show_status(""))
        user = self.selected
        if user is not None:
            for action in user_actions(user, self.session.user_id):
                _short, label = USER_ACTIONS[action]
                yield SystemCommand(f"{label} of {escape(user['username'])}",
                                    "Also in the account's menu (Enter)",
                                    getattr(self, f"action_{action}"))
