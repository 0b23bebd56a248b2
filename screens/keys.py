"""Keys are data: every global action with its id, default key, label and who gets it."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from textual import events
from textual.binding import Binding
from textual.screen import ModalScreen

from meditrack_tui.domain.permissions import Permissions


@dataclass(frozen=True)
class KeySpec:
    """One global action: ``needs`` is the policy action a role must be allowed (from the
    one policy table); None means every logged-in role."""

    id: str
    key: str
    action: str
    label: str
    needs: str | None = None
    help: str = ""

    def offered_to(self, permissions: Permissions) -> bool:
        """Whether a session with these permissions gets this key."""
        return permissions.role is not None and (
            self.needs is None or permissions.may(self.needs))


GLOBAL_KEYS: tuple[KeySpec, ...] = (
    KeySpec("dashboard", "f2", "app.goto('dashboard')", "Dashboard", help="Your dashboard"),
    KeySpec("patients", "f3", "app.goto('records')", "Records",
            help="Patient records (a patient's own record for patients)"),
    KeySpec("appointments", "f4", "app.goto('appointments')", "Appointments",
            help="Agenda and appointment list"),
    KeySpec("profile", "f6", "app.goto('profile')", "Profile", help="Your account and password"),
    KeySpec("users", "f7", "app.goto('users')", "Users", "user.manage",
            "Accounts, approvals, roles"),
    KeySpec("audit", "f8", "app.goto('audit')", "Audit", "audit.read",
            "The audit log"),
    KeySpec("lock", "f9", "app.lock", "Lock", help="Lock the terminal now"),
    KeySpec("logout", "f10", "app.logout", "Logout", help="End your session"),
)


# The footer on a narrow terminal (screens.base.AppFooter): shorter labels by binding id,
# then the keys it leaves out first (each is also in the command palette, or obvious).
FOOTER_SHORT: dict[str, str] = {
    "dashboard": "Home", "patients": "Records", "appointments": "Appts", "logout": "Log out",
    "dash-find": "Find", "dash-refresh": "Refresh",
    "patients-new": "New", "patients-next-page": "Next", "patients-prev-page": "Prev",
    "patients-reverse": "Rev", "patients-filters": "Filters",
    "patient-edit": "Edit", "patient-edit-contacts": "Edit", "patient-back": "Back",
    "patient-archive": "Archive", "patient-restore": "Restore",
    "vitals-add": "Add", "vitals-metric": "Metric", "vitals-range": "Range",
    "rx-add": "New", "rx-stop": "Stop",
    "reports-save": "Copy", "reports-upload": "Upload", "reports-preview": "View",
    "reports-delete": "Delete", "reports-deleted": "Deleted",
    "pane-next": "Next", "pane-prev": "Prev", "pane-book": "Book",
    "appt-open": "Actions", "appt-cancel": "Cancel appt", "appt-book": "Book",
    "appt-view": "View", "agenda-prev": "Prev", "agenda-next": "Next", "agenda-goto": "Date",
    "agenda-today": "Today",
    "list-prev": "Prev", "list-next": "Next",
    "users-new": "New", "users-next-page": "Next", "users-prev-page": "Prev",
    "users-settings": "Settings", "users-search": "Search", "users-import": "Import",
    "patient-export": "Export",
    "audit-by-user": "User", "audit-by-action": "Action", "audit-by-patient": "Patient",
    "audit-clear": "Clear", "audit-filter": "Filter",
    "profile-save": "Save", "profile-password": "Password", "profile-back": "Back",
    "settings-save": "Save", "settings-doctors": "Doctors", "settings-back": "Back",
}
FOOTER_OPTIONAL: tuple[str, ...] = (
    "patient-tab-vitals", "dash-refresh", "audit-refresh", "appt-refresh", "appt-cancel",
    "agenda-prev", "agenda-next", "list-prev", "list-next", "pane-prev", "pane-next",
    "lock", "profile", "agenda-today", "agenda-goto", "patients-reverse", "patients-sort",
    "audit", "users",
)


def keys_for(permissions: Permissions) -> list[KeySpec]:
    """The global keys a session is offered (nothing it may not do)."""
    return [k for k in GLOBAL_KEYS if k.offered_to(permissions)]


def global_bindings() -> list[Binding]:
    """Textual bindings for every global key, with ids so they can be listed and remapped;
    the app hides those a role may not use (``check_action``)."""
    return [Binding(k.key, k.action.removeprefix("app."), k.label, id=k.id, priority=True)
            for k in GLOBAL_KEYS]


#: area -> its global key (what the role must be allowed to open it)
AREA_KEYS: dict[str, KeySpec] = {
    k.action.removeprefix("app.goto('").removesuffix("')"): k
    for k in GLOBAL_KEYS if k.action.startswith("app.goto(")
}


# --- keys that are safe to mistype --------------------------------------------------------

#: the global keys the footer always shows, on every screen and at 80 columns
FOOTER_KEEP: tuple[str, ...] = ("dashboard", "patients", "appointments", "logout")

#: seconds after a dialog or form appears during which key presses are dropped: a second
#: press of the key that opened it (or the next letters of a word being typed) would
#: otherwise land in its first field, or confirm it
KEY_SETTLE = 0.3


class KeyGuard:
    """Drops the key presses that reach a dialog or form while it opens.

    A form focuses its first field as it mounts; an Input selects its text when focused,
    so a key pressed twice (``e`` for "edit") replaced the first name with "e". Every
    key that arrives before the new modal screen has been drawn, or within ``settle``
    seconds after that, goes nowhere (Escape apart: it only closes). The App calls
    :meth:`screen_changed` on Textual's ``screen_change_signal`` and :meth:`drops` for
    every key it receives.
    """

    def __init__(self, settle: float = KEY_SETTLE, clock: Any = time.monotonic) -> None:
        self.settle = settle
        self.clock = clock
        self.screen: Any = None
        self.since: float | None = None  # when self.screen was drawn (None: not yet)

    def screen_changed(self, screen: Any) -> None:
        self.screen, self.since = screen, None
        screen.call_after_refresh(self._drawn, screen)

    def _drawn(self, screen: Any) -> None:
        if screen is self.screen and self.since is None:
            self.since = self.clock()

    def drops(self, event: Any, screen: Any) -> bool:
        """True when ``event`` (a key) must not reach ``screen``."""
        if not isinstance(event, events.Key) or not isinstance(screen, ModalScreen) \
                or event.key == "escape":
            return False  # Escape only ever closes: a quick "oops, no" must work
        if screen is not self.screen:
            self.screen_changed(screen)
        return self.since is None or self.clock() - self.since < self.settle

