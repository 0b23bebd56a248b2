"""What the users screen says about one account: the actions that apply to it and its
details, under the table (narrow) or beside it (wide)."""

from __future__ import annotations

from typing import Any

from textual.content import Content

from meditrack_tui.domain import AccountStatus

from ..base import label_of
from ..forms.accounts import ROLE_LABELS
from .admin_list import stamp

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
    lines += [f"  {USER_ACTIONS[a][1]}" for a in actions] or ["  none apply"]
    return Content.from_markup("\n".join(lines), **values)
