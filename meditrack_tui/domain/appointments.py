"""Appointment statuses: their order, labels, the verb a message uses, and which status
may follow which (a checked-in patient is not sent back to 'scheduled')."""

from __future__ import annotations

from enum import StrEnum


class AppointmentStatus(StrEnum):
    """An appointment's status; the value is what the store keeps."""

    SCHEDULED = "scheduled"
    CHECKED_IN = "checked-in"
    COMPLETED = "completed"
    CANCELLED = "cancelled"
    NO_SHOW = "no-show"

    @property
    def label(self) -> str:
        """For people: 'Checked in', 'No-show', ..."""
        return _LABELS[self]

    @property
    def verb(self) -> str:
        """For messages: 'checked in', 'marked as a no-show', ..."""
        return _VERBS[self]

    @property
    def is_open(self) -> bool:
        """Still to happen (it blocks its slot and counts towards a patient's limit)."""
        return self in (AppointmentStatus.SCHEDULED, AppointmentStatus.CHECKED_IN)


_LABELS = {
    AppointmentStatus.SCHEDULED: "Scheduled",
    AppointmentStatus.CHECKED_IN: "Checked in",
    AppointmentStatus.COMPLETED: "Completed",
    AppointmentStatus.CANCELLED: "Cancelled",
    AppointmentStatus.NO_SHOW: "No-show",
}
_VERBS = {
    AppointmentStatus.SCHEDULED: "scheduled",
    AppointmentStatus.CHECKED_IN: "checked in",
    AppointmentStatus.COMPLETED: "completed",
    AppointmentStatus.CANCELLED: "cancelled",
    AppointmentStatus.NO_SHOW: "marked as a no-show",
}

#: status -> the statuses that may follow it (closed statuses are final)
TRANSITIONS: dict[AppointmentStatus, tuple[AppointmentStatus, ...]] = {
    AppointmentStatus.SCHEDULED: (AppointmentStatus.CHECKED_IN, AppointmentStatus.COMPLETED,
                                  AppointmentStatus.CANCELLED, AppointmentStatus.NO_SHOW),
    AppointmentStatus.CHECKED_IN: (AppointmentStatus.COMPLETED, AppointmentStatus.CANCELLED),
}

APPOINTMENT_STATUSES: tuple[str, ...] = tuple(s.value for s in AppointmentStatus)
OPEN_STATUSES: tuple[str, ...] = tuple(s.value for s in AppointmentStatus if s.is_open)


def may_follow(current: str, new: str) -> bool:
    """True when an appointment in ``current`` may be set to ``new``."""
    try:
        return AppointmentStatus(new) in TRANSITIONS.get(AppointmentStatus(current), ())
    except ValueError:
        return False


def sources_of(new: str) -> tuple[str, ...]:
    """The statuses from which an appointment may be set to ``new``."""
    target = AppointmentStatus(new)
    return tuple(s.value for s, nexts in TRANSITIONS.items() if target in nexts)
