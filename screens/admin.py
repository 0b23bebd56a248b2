"""Administration: user accounts (create, approve, roles, deactivate, passwords, unlock) and
the audit log. Admins only; any other role sees the service's refusal and no data."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from datetime import datetime
from typing import Any

from rich.text import Text
from textual import on
from textual.app import ComposeResult, SystemCommand
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.content import Content
from textual.markup import escape
from textual.screen import ModalScreen
from textual.timer import Timer
from textual.widgets import Button, DataTable, Input, Label, Select, Static

from meditrack_tui import policy
from meditrack_tui.domain import OUTCOME_LABELS, AccountStatus
from meditrack_tui.errors import MediTrackError, PermissionDenied, ValidationError
from meditrack_tui.validation import date_problem

from .base import BaseScreen, ServiceMixin, error_text, label_of
from .forms.confirm import ActionMenu, ConfirmScreen, PromptScreen
from .forms.fields import clear_field_errors, show_field_errors
from .widgets.footer import AppFooter
from .widgets.table import Fit, Short, Table, refilled, short_day

ROLE_LABELS = {policy.PATIENT: "Patient", policy.DOCTOR: "Doctor", policy.ADMIN: "Admin"}
AUDIT_COLUMNS = (("time", "Time"), ("user", "User"), ("role", "Role"), ("action", "Action"),
                 ("patient", "Patient"), ("outcome", "Outcome"), ("detail", "Detail"))
USER_COLUMNS = (("username", "Username"), ("name", "Name"), ("role", "Role"),
                ("status", "Status"), ("locked", "Locked"))
DAY_RE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def stamp(value: Any, seconds: bool = False) -> str:
    """A stored time for a table cell."""
    if isinstance(value, datetime):
        return f"{value:%Y-%m-%d %H:%M:%S}" if seconds else f"{value:%Y-%m-%d %H:%M}"
    return "—" if value in (None, "") else str(value)


def patient_ref(entry: dict[str, Any]) -> str:
    """The patient an audit entry is about: 'Grace Whitaker (MRN-000002)' as the audit
    service names it, or, for a record that no longer exists, the id's last characters."""
    if entry.get("patient_name"):
        return f"{entry['patient_name']} ({entry.get('patient_mrn') or '?'})"
    patient_id = entry.get("patient_id")
    return f"record …{str(patient_id)[-6:]}" if patient_id else ""


def patient_short(entry: dict[str, Any]) -> Short | Text:
    """The audit table's patient cell: name and MRN, the name alone when narrow."""
    if entry.get("patient_name"):
        return Short(Text(patient_ref(entry)), Text(str(entry["patient_name"])))
    return Text(patient_ref(entry))


def clip(text: Any, width: int) -> str:
    """Shorten text to ``width`` characters with an ellipsis."""
    value = "" if text is None else str(text)
    return value if len(value) <= width else value[: width - 1] + "…"


class AdminListScreen(BaseScreen):
    """What the users and audit screens share: one page in a table, paging, the refusal."""

    HORIZONTAL_BREAKPOINTS = [(0, "-narrow"), (110, "-wide")]
    #: the policy action that lets a role use the screen
    POLICY_ACTION = ""
    TITLE = ""
    PAGE_SIZE = 50
    TABLE_ID = ""
    #: the table's (key, label) columns, and how they give way on a narrow terminal
    COLUMNS: tuple[tuple[str, str], ...] = ()
    FIT = Fit()

    def __init__(self) -> None:
        super().__init__()
        self.page_no = 1
        self.pages = 1
        self.rows: dict[str, dict[str, Any]] = {}
        self.title_text = self.TITLE
        self.to_top = False  # a new page or new filters start at the first row
        self._debounce: Timer | None = None

    @property
    def permitted(self) -> bool:
        """Whether the role may use this screen (decides what is offered; the service decides)."""
        return self.permissions.may(self.POLICY_ACTION)

    @property
    def table(self) -> DataTable:
        return self.query_one(f"#{self.TABLE_ID}", DataTable)

    @property
    def selected(self) -> dict[str, Any] | None:
        """The record under the table's cursor."""
        table = self.table
        if table.row_count == 0:
            return None
        try:
            key = table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value
        except Exception:  # noqa: BLE001 - the cursor is outside the rows
            return None
        return self.rows.get(str(key))

    def fill(self, items: list[dict[str, Any]], cells: Callable[[dict[str, Any]], tuple]) -> None:
        """Replace the rows, keeping the cursor on the same record (or at the same place)."""
        table = self.table
        old = self.selected
        old_row, scroll_y = table.cursor_row, table.scroll_y
        self.rows = {item["id"]: item for item in items}
        assert isinstance(table, Table)
        table.fit = self.FIT
        table.fill_fitted(self.COLUMNS, [(item["id"], list(cells(item))) for item in items])
        refilled(table, 0 if self.to_top else scroll_y)
        to_top, self.to_top = self.to_top, False
        if not items:
            return
        if to_top:
            row = 0
        elif old is not None and old["id"] in self.rows:
            row = table.get_row_index(old["id"])
        else:
            row = min(max(old_row, 0), len(items) - 1)
        table.move_cursor(row=row, animate=False)

    def set_title(self, text: str | None = None, *, loading: bool = False) -> None:
        """The title line: what is shown, and 'loading…' while a fetch runs.

        (The table is not put in a loading state: that would take its focus away.)
        """
        if text is not None:
            self.title_text = text
        title = self.query_one(".screen-title", Static)
        title.update(self.title_text + (" · loading…" if loading else ""))

    def denied(self, exc: BaseException) -> None:
        """Show the refusal instead of the screen's content."""
        self.set_title(self.TITLE)
        message = self.query_one(".denied", Static)
        message.update(error_text(exc))
        message.display = True
        for widget in self.query(".admin-content"):
            widget.display = False
        self.refresh_bindings()

    def action_page(self, delta: int) -> None:
        target = min(max(1, self.page_no + delta), self.pages)
        if target != self.page_no:
            self.page_no, self.to_top = target, True
            self.reload()

    def action_focus_table(self) -> None:
        if self.permitted:
            self.table.focus()

    def debounce(self, callback: Callable[[], None], delay: float = 0.3) -> None:
        """Run ``callback`` once typing pauses."""
        self.cancel_debounce()
        self._debounce = self.set_timer(delay, callback)

    def cancel_debounce(self) -> None:
        """Forget a pending :meth:`debounce` (Enter applies at once)."""
        if self._debounce is not None:
            self._debounce.stop()
            self._debounce = None

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "page":
            if not self.permitted or not parameters:
                return False
            delta = int(parameters[0])  # type: ignore[call-overload]
            return self.page_no + delta >= 1 and self.page_no + delta <= self.pages
        return True

    def page_text(self, total: int, noun: str) -> str:
        plural = noun if total == 1 else noun + "s"
        text = f"{total} {plural}"
        if self.pages > 1:
            text += f" · page {self.page_no} of {self.pages} (PgUp/PgDn)"
        return text


# --- users ---

#: action -> (short name, what it does); the order is the order the menu offers them in.
#: None has a key of its own: the menu (Enter) names the account, and each change that
#: grants or takes away access asks for a confirmation naming it again.
USER_ACTIONS: dict[str, tuple[str, str]] = {
    "approve": ("approve", "Approve the sign-up"),
    "reject": ("reject", "Reject the sign-up"),
    "change_role": ("role", "Change the role"),
    "reset_password": ("password", "Reset the password"),
    "unlock": ("unlock", "Unlock after failed logins"),
    "deactivate": ("deactivate", "Deactivate the account"),
    "reactivate": ("reactivate", "Reactivate the account"),
}


def user_actions(user: dict[str, Any], me: str | None) -> list[str]:
    """The actions that apply to ``user`` (an admin never demotes, deactivates or resets self)."""
    status = user.get("status")
    mine = user.get("id") == me
    actions: list[str] = []
    if status == AccountStatus.PENDING:
        actions += ["approve", "reject"]
    if status in (AccountStatus.ACTIVE, AccountStatus.INACTIVE) and not mine:
        actions += ["change_role", "reset_password"]
    if user.get("locked"):
        actions.append("unlock")
    if status == AccountStatus.ACTIVE and not mine:
        actions.append("deactivate")
    if status == AccountStatus.INACTIVE:
        actions.append("reactivate")
    return actions


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
        Binding("slash", "search", "Search", id="users-search"),
        Binding("ctrl+g", "clinic_settings", "Clinic settings", id="users-settings"),
        Binding("pageup", "page(-1)", "Prev page", id="users-prev-page", priority=True),
        Binding("pagedown", "page(1)", "Next page", id="users-next-page", priority=True),
        Binding("escape", "focus_table", "Table", id="users-focus-table", show=False),
    ]

    def __init__(self, *, status: str = "") -> None:
        super().__init__()
        self.filters = {"role": "", "status": status, "query": ""}

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
            table: DataTable = Table(id="users-table", cursor_type="row", zebra_stripes=True)
            for key, label in self.COLUMNS:
                table.add_column(label, key=key)
            yield table
            yield Static("", id="user-detail", classes="detail")
        yield AppFooter()

    # --- loading ---

    def reload(self) -> None:
        if self.session is None:
            return
        session, filters, page_no, size = self.session, dict(self.filters), self.page_no, \
            self.PAGE_SIZE

        def fetch(s: Any) -> tuple[Any, int]:
            page = s.users.list(session, role=filters["role"], status=filters["status"],
                                query=filters["query"], page=page_no, page_size=size)
            waiting = s.users.list(session, status=AccountStatus.PENDING.value,
                                   page_size=1).total
            return page, waiting

        self.set_title(loading=True)
        self.call_service(fetch, self.show_page, error=self.load_failed, group="users-list")

    def load_failed(self, exc: BaseException) -> None:
        self.set_title()
        if isinstance(exc, PermissionDenied):
            self.denied(exc)
        else:
            self.notify(error_text(exc), title="Users", severity="error", timeout=8, markup=False)

    def show_page(self, result: tuple[Any, int]) -> None:
        page, waiting = result
        self.page_no, self.pages = page.page, page.pages
        self.fill(page.items, self.cells)
        title = f"Users · {self.page_text(page.total, 'account')}"
        if waiting:
            title += f" · {waiting} waiting for approval"
        self.set_title(title)
        self.show_detail()

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
            me = self.session.user_id if self.session else None
            actions = user_actions(user, me)
            detail.update(self.detail_wide(user, actions) if self.has_class("-wide")
                          else self.detail_narrow(user, actions))
        self.refresh_bindings()

    @staticmethod
    def detail_narrow(user: dict[str, Any], actions: list[str]) -> Content:
        """Three lines under the table (the account's fields are template variables:
        inserted as plain text, never read as markup)."""
        keys = ", ".join(USER_ACTIONS[a][0] for a in actions)
        locked = " · [b]locked[/b]" if user.get("locked") else ""
        return Content.from_markup(
            f"[b]$username[/b] · $name · $role\n$email · last login $login{locked}\n$keys",
            username=user["username"], name=user.get("full_name") or "",
            role=ROLE_LABELS.get(user.get("role", ""), ""),
            email=user.get("email") or "no email", login=stamp(user.get("last_login")),
            keys=f"Enter: actions · {keys}" if keys else "Enter: actions · none apply")

    @staticmethod
    def detail_wide(user: dict[str, Any], actions: list[str]) -> Content:
        """A panel beside the table: one fact a line, then the actions with their keys."""
        rows = [
            ("Name", user.get("full_name") or ""),
            ("Role", ROLE_LABELS.get(user.get("role", ""), user.get("role", ""))),
            ("Status", label_of(AccountStatus, user.get("status", ""))
             + (" · locked" if user.get("locked") else "")),
            ("Email", user.get("email") or "—"),
            ("Specialty", user.get("specialty") or ""),
            ("Last login", stamp(user.get("last_login"))),
            ("Created", stamp(user.get("created_at"))),
        ]
        lines = ["[b]$username[/b]", ""]
        values = {"username": user["username"]}  # inserted as plain text, never markup
        for index, (label, value) in enumerate(rows):
            if value:  # a long value (an email) goes under its label instead of wrapping
                gap = "\n  " if len(str(value)) > 30 else " " * (11 - len(label))
                lines.append(f"{label}{gap}$value{index}")
                values[f"value{index}"] = str(value)
        lines += ["", "[b]Actions[/b] (Enter for the menu)"]
        lines += [f"  {USER_ACTIONS[a][1]}" for a in actions] \
            or ["  none apply"]
        return Content.from_markup("\n".join(lines), **values)

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
        """Opening hours, doctors' hours, the appointment limit, sign-up (screens.settings)."""
        from .settings import SettingsScreen

        self.app.push_screen(SettingsScreen())

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

    def run_user_action(self, user: dict[str, Any], fn: Callable[[Any], Any],
                        message: str) -> None:
        """Call the service for one account, then tell the admin and re-fetch."""

        def failed(exc: BaseException) -> None:
            self.notify(error_text(exc), title="Users", severity="error", timeout=8, markup=False)
            self.reload()

        self.call_service(fn, lambda _result: self.run_done(message), error=failed,
                          group="users-action", exclusive=False)

    def run_done(self, message: str) -> None:
        self.notify(message, title="Users", markup=False)
        self.reload()

    def action_approve(self) -> None:
        role = ROLE_LABELS.get((self.selected or {}).get("role", ""), "user").lower()
        reach = "every patient's record" if role == "doctor" else "their own record"
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

    def _confirmed(self, action: str, question: str, call: Callable[[Any, Any, str], Any],
                   message: str, *, yes: str) -> None:
        user = self._target(action)
        if user is None:
            return
        session, uid = self.session, user["id"]
        name = f"{user['username']} ({user.get('full_name') or user['username']})"

        def answered(ok: bool | None) -> None:
            if ok:
                self.run_user_action(user, lambda s: call(s, session, uid),
                                     message.format(username=user["username"]))

        self.app.push_screen(ConfirmScreen(question.format(name=name), yes=yes, no="Cancel"),
                             answered)

    def action_unlock(self) -> None:
        self._confirmed("unlock", "Unlock {name}? Logins are allowed again at once.",
                        lambda s, session, uid: s.users.unlock(session, uid),
                        "{username} is unlocked and can log in again.", yes="Unlock")

    def action_change_role(self) -> None:
        user = self._target("change_role")
        if user is None:
            return

        def changed(result: dict[str, Any] | None) -> None:
            if result:
                self.notify(f"{result['username']} is now {ROLE_LABELS[result['role']]}; "
                            "their open sessions were ended.", title="Users", markup=False)
                self.reload()

        self.app.push_screen(RoleScreen(user), changed)

    def action_reset_password(self, error: str = "") -> None:
        user = self._target("reset_password")
        if user is None:
            return
        session, uid = self.session, user["id"]

        def typed(password: str | None) -> None:
            if not password:
                return

            def failed(exc: BaseException) -> None:
                if isinstance(exc, ValidationError):
                    self.action_reset_password(error=error_text(exc))
                else:
                    self.notify(error_text(exc), title="Users", severity="error", timeout=8,
                                markup=False)

            self.call_service(lambda s: s.users.reset_password(session, uid, password),
                              lambda _r: self.run_done(
                                  f"New password set for {user['username']}; their sessions "
                                  "were ended and any lock lifted."),
                              error=failed, group="users-action", exclusive=False)

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


class PasswordPrompt(PromptScreen):
    """The password prompt, re-opened with the service's reason when a password was refused."""

    def __init__(self, question: str, *, error: str = "") -> None:
        super().__init__(question, password=True, placeholder="new password")
        self.error = error

    def on_mount(self) -> None:
        if self.error:
            self.query_one("#prompt-error", Static).update(self.error)


def form_row(label: str, widget: Any, name: str) -> ComposeResult:
    """A label and a compact input on one line, with its inline error line below."""
    with Horizontal(classes="form-row"):
        yield Label(label, classes="form-label")
        yield widget
    err = Static("", id=f"err-{name}", classes="field-error", markup=False)
    err.display = False
    yield err


# below this many lines the new-user form drops the blank line between its rows
SHORT_TERMINAL = 30


class NewUserScreen(ServiceMixin, ModalScreen[dict[str, Any] | None]):
    """The create-account form; the service's refusals show next to each field."""

    CSS_PATH = "admin.tcss"
    AUTO_FOCUS = "#new-username"
    BINDINGS = [Binding("escape", "cancel", "Cancel", id="new-user-cancel")]

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog", id="new-user-form"):
            yield Static("New user", classes="dialog-title")
            yield from form_row("Username", Input(id="new-username", compact=True), "username")
            yield from form_row("Full name", Input(id="new-full_name", compact=True),
                                "full_name")
            yield from form_row("Email", Input(id="new-email", compact=True,
                                               placeholder="optional"), "email")
            yield from form_row("Role", Select([(label, role) for role, label in
                                                ROLE_LABELS.items()], value=policy.DOCTOR,
                                               allow_blank=False, compact=True, id="new-role"),
                                "role")
            # a patient's login is linked to their record (shown for the patient role only)
            yield from form_row("Record MRN", Input(id="new-patient_mrn", compact=True,
                                                    placeholder="e.g. MRN-000123"),
                                "patient_mrn")
            yield from form_row("Password", Input(id="new-password", password=True,
                                                  compact=True,
                                                  placeholder="at least 10 characters"),
                                "password")
            yield from form_row("Repeat", Input(id="new-password2", password=True,
                                                compact=True), "password2")
            err = Static("", id="err-form", classes="field-error", markup=False)
            err.display = False
            yield err
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
        self.query_one("#new-patient_mrn", Input).parent.display = patient  # type: ignore[union-attr]
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
        session = self.app.session
        role = self.query_one("#new-role", Select).value
        data = {name: self.value(name).strip()
                for name in ("username", "full_name", "email", "patient_mrn")}
        mrn = data["patient_mrn"] if role == policy.PATIENT else ""
        if role == policy.PATIENT and not mrn:
            self.failed(ValidationError({"patient_mrn": "Enter the MRN of this patient's "
                                                        "record."}))
            return
        password = self.value("password")
        self.call_service(
            lambda s: s.users.create(session, username=data["username"], password=password,
                                     role=role, full_name=data["full_name"],
                                     email=data["email"] or None, patient_mrn=mrn or None),
            self.dismiss, error=self.failed, group="new-user")

    def failed(self, exc: BaseException) -> None:
        if show_field_errors(self, exc):
            # the cursor goes to the first field refused, in the form's order
            fields = getattr(exc, "fields", {})
            for field in self.query(Input):
                if field.id and field.id.removeprefix("new-") in fields:
                    field.focus()
                    break
        else:
            err = self.query_one("#err-form", Static)
            err.update(exc.message if isinstance(exc, MediTrackError) else str(exc))
            err.display = True

    @on(Button.Pressed, "#cancel")
    def action_cancel(self) -> None:
        self.dismiss(None)


class RoleScreen(ServiceMixin, ModalScreen[dict[str, Any] | None]):
    """Pick a new role for one account; their sessions end when it changes."""

    CSS_PATH = "admin.tcss"
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
            yield Static(f"{user.get('full_name') or ''} is now {current}. Their open sessions "
                         "end when the role changes.", classes="muted", markup=False)
            yield Select([(label, role) for role, label in ROLE_LABELS.items()],
                         value=user["role"], allow_blank=False, id="role-select")
            err = Static("", id="err-role", classes="field-error", markup=False)
            err.display = False
            yield err
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
        session, uid = self.app.session, self.user["id"]
        role = self.query_one("#role-select", Select).value
        self.call_service(lambda s: s.users.change_role(session, uid, role), self.dismiss,
                          error=self.failed, group="role")

    def failed(self, exc: BaseException) -> None:
        if not show_field_errors(self, exc):
            err = self.query_one("#err-role", Static)
            err.update(error_text(exc))
            err.display = True

    @on(Button.Pressed, "#cancel")
    def action_cancel(self) -> None:
        self.dismiss(None)


# --- audit ---


def check_day(text: str) -> str | None:
    """Why ``text`` is not a YYYY-MM-DD date (None when it is, or empty)."""
    if not text:
        return None
    if not DAY_RE.match(text):
        return "Use YYYY-MM-DD, e.g. 2026-03-04."
    problem = date_problem(text)
    if problem:
        return f"{text}: {problem}."
    return None


class AuditScreen(AdminListScreen):
    """The audit log, newest first, filtered by user, action, outcome and day range."""

    CSS_PATH = "admin.tcss"
    WATCHES = frozenset({"audit"})
    POLICY_ACTION = "audit.read"
    TITLE = "Audit log"
    TABLE_ID = "audit-table"
    COLUMNS = AUDIT_COLUMNS
    # narrow: '27 Nov 13:50' times, the role goes (the detail line shows it), Detail gives way
    FIT = Fit(flex=("detail", "action"), drop=("role",), minimum=24)
    AUTO_FOCUS = "#audit-table"
    FILTER_INPUTS = ("username", "action", "date_from", "date_to")
    BINDINGS = [
        Binding("u", "by_user", "This user", id="audit-by-user"),
        Binding("p", "by_patient", "This patient", id="audit-by-patient"),
        Binding("a", "by_action", "This action", id="audit-by-action"),
        Binding("c", "clear_filters", "Clear filters", id="audit-clear"),
        Binding("slash", "filter", "Filter", id="audit-filter"),
        Binding("ctrl+r", "refresh", "Refresh", id="audit-refresh"),
        Binding("pageup", "page(-1)", "Newer", id="audit-prev-page", priority=True),
        Binding("pagedown", "page(1)", "Older", id="audit-next-page", priority=True),
        Binding("escape", "focus_table", "Table", id="audit-focus-table", show=False),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.filters: dict[str, str] = {"username": "", "action": "", "outcome": "",
                                        "date_from": "", "date_to": "", "patient_id": ""}
        self.patient_filter = ""  # the p key's patient id (there is no box to type it in)
        self.patient_label = ""  # how the title names that patient
        self.items: list[dict[str, Any]] = []

    def compose(self) -> ComposeResult:
        yield Static(self.title_text, id="audit-title", classes="screen-title", markup=False)
        yield Static("", classes="denied", markup=False)
        with Horizontal(classes="filters admin-content"):
            yield Input(placeholder="user", compact=True, id="filter-username")
            yield Input(placeholder="action starts…", compact=True, id="filter-action")
            yield Select([("Any outcome", "")] + [(v, k) for k, v in OUTCOME_LABELS.items()],
                         value="", allow_blank=False, compact=True, id="filter-outcome")
            yield Input(placeholder="from YYYY-MM-DD", compact=True, id="filter-date_from",
                        max_length=10)
            yield Input(placeholder="to YYYY-MM-DD", compact=True, id="filter-date_to",
                        max_length=10)
        with Vertical(id="audit-errors", classes="admin-content"):
            for name in ("username", "action", "date_from", "date_to"):
                err = Static("", id=f"err-{name}", classes="field-error", markup=False)
                err.display = False
                yield err
        with Horizontal(classes="body admin-content"):
            table: DataTable = Table(id="audit-table", cursor_type="row", zebra_stripes=True)
            for key, label in self.COLUMNS:
                table.add_column(label, key=key)
            yield table
            yield Static("", id="audit-detail", classes="detail")
        yield AppFooter()

    # --- loading ---

    def reload(self) -> None:
        if self.session is None:
            return
        session, filters, page_no, size = self.session, dict(self.filters), self.page_no, \
            self.PAGE_SIZE
        self.call_service(
            lambda s: s.audit.list(session, username=filters["username"],
                                   action=filters["action"], outcome=filters["outcome"],
                                   date_from=filters["date_from"] or None,
                                   date_to=filters["date_to"] or None,
                                   patient_id=filters["patient_id"] or None,
                                   page=page_no, page_size=size),
            self.show_page, error=self.load_failed, group="audit-list")
        self.set_title(loading=True)

    def load_failed(self, exc: BaseException) -> None:
        self.set_title()
        if isinstance(exc, PermissionDenied):
            self.denied(exc)
        elif not show_field_errors(self.query_one("#audit-errors"), exc):
            self.notify(error_text(exc), title="Audit log", severity="error", timeout=8,
                        markup=False)

    def show_page(self, page: Any) -> None:
        self.page_no, self.pages = page.page, page.pages
        self.items = page.items
        self.refill()
        noun = "entry" if page.total == 1 else "entries"
        text = f"Audit log · {page.total} {noun}"
        if any(self.filters.values()):
            text += " (filtered)"
        if self.filters["patient_id"]:
            text += f" · {self.patient_label or 'one patient'}"
        if self.pages > 1:
            text += f" · page {self.page_no} of {self.pages} (PgDn older, PgUp newer)"
        self.set_title(text)
        self.show_detail()

    def cells(self, entry: dict[str, Any]) -> tuple[Any, ...]:
        """The table's cells for an audit entry (the time shorter on a narrow table)."""
        outcome = entry.get("outcome") or ""
        ts = entry.get("ts")
        when = Short(Text(stamp(ts)), Text(f"{short_day(ts, self.app.now())} {ts:%H:%M}")) \
            if isinstance(ts, datetime) else Text(stamp(ts))
        return (when, Text(clip(entry.get("username"), 16)),
                Text(str(entry.get("role") or "")), Text(str(entry.get("action") or "")),
                patient_short(entry),
                Text(OUTCOME_LABELS.get(outcome, outcome), style="" if outcome == "ok" else "bold"),
                Text(entry.get("detail") or ""))

    def refill(self) -> None:
        """Show ``self.items`` (the table fits its columns to its width)."""
        self.fill(self.items, self.cells)

    @on(DataTable.RowHighlighted)
    def show_detail(self) -> None:
        entry = self.selected
        detail = self.query_one("#audit-detail", Static)
        if entry is None:
            detail.update("No entries match these filters." if not self.rows else "")
        else:
            record = entry.get("record_type") or ""
            if entry.get("record_id") and entry["record_id"] == entry.get("patient_id") \
                    and entry.get("patient_name"):
                record = f"patient {patient_ref(entry)}"
            elif entry.get("record_id"):
                record += f" {entry['record_id']}"
            lines = [
                "$when · [b]$username[/b] ($role) · $action · $outcome",
                ("Record: $record" if record.strip() else "No record")
                + (" · patient $patient"
                   if entry.get("patient_id") and entry["patient_id"] != entry.get("record_id")
                   else "")
                + (" · p: this patient's entries" if entry.get("patient_id") else ""),
            ]
            if entry.get("detail"):
                lines.append("$detail")
            outcome = entry.get("outcome", "")
            # the entry's fields are template variables: inserted as plain text, never markup
            detail.update(Content.from_markup(
                "\n".join(lines), when=stamp(entry.get("ts"), seconds=True),
                username=str(entry.get("username")), role=str(entry.get("role")),
                action=str(entry.get("action")), outcome=OUTCOME_LABELS.get(outcome, outcome),
                record=record.strip(), patient=patient_ref(entry),
                detail=str(entry.get("detail"))))
        self.refresh_bindings()

    # --- filters ---

    def filter_input(self, name: str) -> Input:
        return self.query_one(f"#filter-{name}", Input)

    @on(Input.Changed, "#filter-username, #filter-action, #filter-date_from, #filter-date_to")
    def _typed(self) -> None:
        self.debounce(lambda: self.apply_filters(strict=False))

    @on(Input.Submitted, "#filter-username, #filter-action, #filter-date_from, #filter-date_to")
    def _submitted(self) -> None:
        self.cancel_debounce()
        if self.read_filters(strict=True) is not None:
            self.table.focus()  # first: a loading table cannot take focus
            self.apply_filters(strict=True)

    @on(Select.Changed, "#filter-outcome")
    def _outcome(self) -> None:
        self.apply_filters(strict=True)

    def read_filters(self, strict: bool) -> dict[str, str] | None:
        """The filters as typed, or None (with inline errors) when a date is wrong.

        While typing (not ``strict``), a date that is not complete yet waits silently.
        """
        box = self.query_one("#audit-errors")
        clear_field_errors(box)
        values = {name: self.filter_input(name).value.strip() for name in self.FILTER_INPUTS}
        outcome = self.query_one("#filter-outcome", Select).value
        values["outcome"] = outcome if isinstance(outcome, str) else ""
        values["patient_id"] = self.patient_filter
        errors: dict[str, str] = {}
        for name, label in (("date_from", "From"), ("date_to", "To")):
            problem = check_day(values[name])
            if problem:
                errors[name] = f"{label}: {problem}"
        if not errors and values["date_from"] and values["date_to"] \
                and values["date_to"] < values["date_from"]:
            errors["date_to"] = "To: the end day is before the start day."
        if errors:
            shown = {k: v for k, v in errors.items() if strict or len(values[k]) >= 10}
            if shown:
                show_field_errors(box, ValidationError(shown))
            return None
        return values

    def apply_filters(self, strict: bool) -> bool:
        """Re-fetch from page 1 when the filters changed; False when they are not valid."""
        values = self.read_filters(strict)
        if values is None:
            return False
        if values != self.filters:
            self.filters = values
            self.page_no, self.to_top = 1, True
            self.reload()
        return True

    def set_filter(self, name: str, value: str) -> None:
        self.filter_input(name).value = value
        self.apply_filters(strict=True)

    def action_by_user(self) -> None:
        entry = self.selected
        if entry and entry.get("username"):
            self.set_filter("username", entry["username"])

    def action_by_action(self) -> None:
        entry = self.selected
        if entry and entry.get("action"):
            self.set_filter("action", entry["action"])

    def action_by_patient(self) -> None:
        """Only the entries about the selected entry's patient."""
        entry = self.selected
        if entry and entry.get("patient_id"):
            self.patient_filter = str(entry["patient_id"])
            self.patient_label = patient_ref(entry)
            self.apply_filters(strict=True)

    def action_clear_filters(self) -> None:
        self.patient_filter = ""
        for name in self.FILTER_INPUTS:
            self.filter_input(name).value = ""
        self.query_one("#filter-outcome", Select).value = ""
        self.table.focus()
        self.apply_filters(strict=True)

    def action_filter(self) -> None:
        self.filter_input("username").focus()

    def action_refresh(self) -> None:
        self.reload()

    def show_outcome(self, outcome: str) -> None:
        self.table.focus()
        self.query_one("#filter-outcome", Select).value = outcome

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action in ("by_user", "by_action"):
            return self.permitted and self.selected is not None
        if action == "by_patient":
            return self.permitted and bool((self.selected or {}).get("patient_id"))
        if action in ("clear_filters", "filter", "refresh"):
            return self.permitted
        return super().check_action(action, parameters)

    def palette_commands(self) -> Iterable[SystemCommand]:
        if not self.permitted:
            return
        yield SystemCommand("Audit: denied actions", "Show only refused actions",
                            lambda: self.show_outcome("denied"))
        yield SystemCommand("Audit: failed actions", "Show only failed attempts (e.g. logins)",
                            lambda: self.show_outcome("failed"))
        yield SystemCommand("Audit: clear filters", "Show every entry (C)",
                            self.action_clear_filters)
        if self.check_action("by_patient", ()):
            yield SystemCommand("Audit: this patient", "Entries about the selected entry's "
                                "patient (P)", self.action_by_patient)
