"""Audit entries' outcomes, with the words people see."""

from __future__ import annotations

AUDIT_OUTCOMES: tuple[str, ...] = ("ok", "denied", "failed")
OUTCOME_LABELS: dict[str, str] = {"ok": "OK", "denied": "Denied", "failed": "Failed"}


def outcome_label(value: str | None) -> str:
    """'OK', 'Denied', 'Failed' (the stored word when unknown)."""
    return OUTCOME_LABELS.get(value or "", value or "")
