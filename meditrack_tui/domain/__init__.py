"""Domain rules, defined once: record statuses with their transitions and labels, the
values a field may take with their labels, and what a role may do (a permissions object
built from the session). Services enforce these; screens show them. No Textual, no store.
"""

from __future__ import annotations

from .appointments import (
                           APPOINTMENT_STATUSES,
                           OPEN_STATUSES,
                           AppointmentStatus,
                           may_follow,
                           sources_of,
)
from .audit import (
    ACTION_LABELS,
    AUDIT_OUTCOMES,
    OUTCOME_LABELS,
    action_label,
    detail_text,
    outcome_label,
)
from .people import ACCOUNT_STATUSES, SEX_LABELS, SEXES, AccountStatus, sex_label
from .permissions import Permissions

__all__ = [
    "APPOINTMENT_STATUSES", "OPEN_STATUSES", "AppointmentStatus", "may_follow", "sources_of",
    "ACTION_LABELS", "AUDIT_OUTCOMES", "OUTCOME_LABELS", "action_label", "detail_text",
    "outcome_label",
    "ACCOUNT_STATUSES", "SEX_LABELS", "SEXES", "AccountStatus", "sex_label", "Permissions",
]
