"""Screens show the domain rules, they do not restate them (issue 12, item 4).

The appointment statuses (labels, verbs, transitions), the sex labels and the account
statuses are defined once in ``meditrack_tui.domain``; who may do what comes from the one
policy table through a :class:`~meditrack_tui.domain.Permissions` object. These tests read
the UI's source (``screens/`` and the App) and fail when a screen writes its own copy
again: a label or status word as a literal, a table keyed by status values, a role's
"may I?" asked of the policy module instead of the session's permissions object.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
from meditrack_tui.screens.keys import AREA_KEYS, GLOBAL_KEYS, keys_for

from meditrack_tui import policy
from meditrack_tui.domain import SEX_LABELS, AccountStatus, AppointmentStatus, Permissions

ROOT = Path(__file__).resolve().parents[1]
UI_FILES = sorted((ROOT / "screens").rglob("*.py"))

#: words only the domain may spell: the appointment statuses (stored values, labels,
#: verbs) and the sex labels
DOMAIN_WORDS = ({s.value for s in AppointmentStatus} | {s.label for s in AppointmentStatus}
                | {s.verb for s in AppointmentStatus} | set(SEX_LABELS.values()))
#: value sets a table or a tuple of the UI must not restate (two or more of one set)
VALUE_SETS = {
    "appointment statuses": {s.value for s in AppointmentStatus},
    "account statuses": {s.value for s in AccountStatus},
    "sexes": set(SEX_LABELS),
}
#: policy questions only the permissions object answers in the UI
POLICY_CALLS = {"allowed", "scope_for", "require"}


def _constants(node: ast.AST) -> list[str]:
    return [n.value for n in ast.walk(node) if isinstance(n, ast.Constant)
            and isinstance(n.value, str)]


def _restatements(source: str) -> list[str]:
    """What in ``source`` restates a domain rule (empty when nothing does)."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Constant) and isinstance(node.value, str) \
                and node.value in DOMAIN_WORDS:
            found.append(f"line {node.lineno}: the literal {node.value!r}")
        if isinstance(node, (ast.Dict, ast.Tuple, ast.List, ast.Set)):
            items = node.keys if isinstance(node, ast.Dict) else node.elts
            words = {n.value for n in items if isinstance(n, ast.Constant)}
            for name, values in VALUE_SETS.items():
                if len(words & values) >= 2:
                    found.append(f"line {node.lineno}: a table of {name} "
                                 f"{sorted(words & values)}")
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) \
                and node.func.attr in POLICY_CALLS and isinstance(node.func.value, ast.Name) \
                and node.func.value.id == "policy":
            found.append(f"line {node.lineno}: policy.{node.func.attr}(...) instead of the "
                         "session's permissions")
    return found


@pytest.mark.parametrize("path", UI_FILES, ids=lambda p: str(p.relative_to(ROOT)))
def test_no_screen_restates_a_domain_rule(path):
    found = _restatements(path.read_text(encoding="utf-8"))
    assert not found, (f"{path.relative_to(ROOT)} restates what meditrack_tui.domain "
                       f"defines (use AppointmentStatus, SEX_LABELS/sex_label, AccountStatus, "
                       f"self.permissions): " + "; ".join(found))


@pytest.mark.parametrize("source", [
    'STATUS_LABELS = {"scheduled": "Scheduled", "no-show": "No-show"}',
    'SEX_OPTIONS = [("Female", "F"), ("Male", "M")]',
    'if status in ("scheduled", "checked-in"): pass',
    'LABELS = {"active": "Active", "inactive": "Inactive"}',
    'ok = policy.allowed(session.role, "patient.create")',
    'staff = policy.scope_for(role, "patient.update") == policy.ANY',
    'verb = "marked as a no-show"',
])
def test_the_scan_finds_a_restated_rule(source):
    """The scan above is not vacuous: each kind of copy the screens used to hold is found."""
    assert _restatements(source)


@pytest.mark.parametrize("role", [*policy.ROLES, None])
def test_global_keys_follow_the_policy_table(role):
    may = Permissions(role)
    offered = {k.id for k in keys_for(may)}
    expected = {k.id for k in GLOBAL_KEYS if role is not None
                and (k.needs is None or may.may(k.needs))}
    assert offered == expected
    assert ("users" in offered) is may.may("user.manage")
    assert ("audit" in offered) is may.may("audit.read")
    assert AREA_KEYS["users"].needs == "user.manage" and AREA_KEYS["audit"].needs == "audit.read"


def test_a_changed_policy_changes_the_keys(monkeypatch):
    """The keys are derived, not copied: granting doctors the audit log offers them F8."""
    assert "audit" not in {k.id for k in keys_for(Permissions(policy.DOCTOR))}
    monkeypatch.setitem(policy.POLICY, "audit.read",
                        {policy.ADMIN: policy.ANY, policy.DOCTOR: policy.ANY})
    assert "audit" in {k.id for k in keys_for(Permissions(policy.DOCTOR))}
    monkeypatch.setitem(policy.POLICY, "user.manage", {})
    assert "users" not in {k.id for k in keys_for(Permissions(policy.ADMIN))}


def test_the_users_screen_shows_the_domain_account_labels():
    """One word for a deactivated account: the list said "Inactive" where the action, the
    confirmation and the login refusal say "deactivated"; it now shows the domain's label."""
    from meditrack_tui.screens.users import UsersScreen

    cells = UsersScreen.cells({"username": "dr.old", "full_name": "Dr. Old", "role": "doctor",
                               "status": AccountStatus.INACTIVE.value})
    assert cells[3].plain == AccountStatus.INACTIVE.label == "Deactivated"
    assert UsersScreen.cells({"username": "x", "status": "odd"})[3].plain == "odd"
