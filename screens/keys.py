"""Keys are data: every global action with its id, default key, label and who gets it."""

from __future__ import annotations

from dataclasses import dataclass

from textual.binding import Binding

from meditrack_tui import policy


@dataclass(frozen=True)
class KeySpec:
    """One global action: ``roles`` empty means every logged-in role."""

    id: str
    key: str
    action: str
    label: str
    roles: tuple[str, ...] = ()
    help: str = ""


GLOBAL_KEYS: tuple[KeySpec, ...] = (
    KeySpec("dashboard", "f2", "app.goto('dashboard')", "Dashboard", help="Your dashboard"),
    KeySpec("patients", "f3", "app.goto('records')", "Records",
            help="Patient records (a patient's own record for patients)"),
    KeySpec("appointments", "f4", "app.goto('appointments')", "Appointments",
            help="Agenda and appointment list"),
    KeySpec("profile", "f6", "app.goto('profile')", "Profile", help="Your account and password"),
    KeySpec("users", "f7", "app.goto('users')", "Users", (policy.ADMIN,),
            "Accounts, approvals, roles"),
    KeySpec("audit", "f8", "app.goto('audit')", "Audit", (policy.ADMIN,), "The audit log"),
    KeySpec("lock", "f9", "app.lock", "Lock", help="Lock the terminal now"),
    KeySpec("logout", "f10", "app.logout", "Logout", help="End your session"),
)


# The footer on a narrow terminal (screens.base.AppFooter): shorter labels by binding id,
# then the keys it leaves out first (each is also in the command palette, or obvious).
FOOTER_SHORT: dict[str, str] = {
    "dashboard": "Home", "appointments": "Appts", "logout": "Log out",
    "dash-find": "Find", "dash-refresh": "Refresh",
    "patients-new": "New", "patients-next-page": "Next", "patients-prev-page": "Prev",
    "patients-reverse": "Rev",
    "patient-edit": "Edit", "patient-edit-contacts": "Edit",
    "vitals-add": "Add", "rx-change": "Dose", "reports-save": "Copy",
    "pane-next": "Next", "pane-prev": "Prev",
    "appt-view": "View", "agenda-prev": "Prev", "agenda-next": "Next", "agenda-goto": "Date",
    "list-prev": "Prev", "list-next": "Next",
    "users-new": "New", "users-next-page": "Next", "users-prev-page": "Prev",
    "users-settings": "Settings",
    "audit-by-user": "User", "audit-by-action": "Action", "audit-by-patient": "Patient",
    "audit-clear": "Clear", "profile-save": "Save", "profile-password": "Password",
}
FOOTER_OPTIONAL: tuple[str, ...] = (
    "patient-tab-vitals", "dash-refresh", "audit-refresh", "appt-refresh", "appt-open",
    "agenda-prev", "agenda-next", "list-prev", "list-next", "pane-prev", "pane-next",
    "lock", "profile", "agenda-today", "agenda-goto", "patients-reverse", "patients-sort",
    "audit", "users", "logout",
)


def keys_for(role: str | None) -> list[KeySpec]:
    """The global keys a role is offered (nothing it may not do)."""
    if role is None:
        return []
    return [k for k in GLOBAL_KEYS if not k.roles or role in k.roles]


def global_bindings() -> list[Binding]:
    """Textual bindings for every global key, with ids so they can be listed and remapped;
    the app hides those a role may not use (``check_action``)."""
    return [Binding(k.key, k.action.removeprefix("app."), k.label, id=k.id, priority=True)
            for k in GLOBAL_KEYS]


AREA_ROLES: dict[str, tuple[str, ...]] = {
    k.action.removeprefix("app.goto('").removesuffix("')"): k.roles
    for k in GLOBAL_KEYS if k.action.startswith("app.goto(")
}
