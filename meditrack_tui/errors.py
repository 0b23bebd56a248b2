"""One small family of typed errors, each carrying a sentence a clinic worker understands."""

from __future__ import annotations

from datetime import datetime
from typing import Any


class MediTrackError(Exception):
    """Base of every error the services raise on purpose; ``message`` is shown to the user."""

    title = "Something went wrong"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:  # pragma: no cover - trivial
        return self.message


# How a field is named in a message (anything not listed: its name with spaces for "_").
FIELD_LABELS = {
    "dob": "date of birth",
    "mrn": "MRN",
    "patient_mrn": "patient's MRN",
    "patient_id": "patient",
    "doctor_id": "doctor",
    "primary_doctor_id": "primary doctor",
    "duration_min": "duration (minutes)",
    "date_from": "from date",
    "date_to": "to date",
    "start_date": "start date",
    "taken_at": "time taken",
    "age_min": "minimum age",
    "age_max": "maximum age",
    "glucose_fasting": "fasting",
    "spo2": "SpO2",
    "password2": "repeated password",
    "full_name": "full name",
}


def field_label(name: str) -> str:
    """The words for a field in a message, lower-case: 'dob' -> 'date of birth'."""
    return FIELD_LABELS.get(name, name.replace("_", " "))


def sentence_label(name: str) -> str:
    """A field's label starting a sentence: 'Date of birth', 'MRN'."""
    label = field_label(name)
    return label[:1].upper() + label[1:]


class ValidationError(MediTrackError):
    """Input was refused; ``fields`` maps each field name to what is wrong with it."""

    title = "Please check the form"

    def __init__(self, fields: dict[str, str] | str, message: str | None = None) -> None:
        if isinstance(fields, str):
            fields = {"_": fields}
        self.fields = dict(fields)
        if message is None:
            message = " ".join(_field_sentence(name, text) for name, text in self.fields.items())
        super().__init__(message)


def _field_sentence(name: str, text: str) -> str:
    """One field's message as a sentence that names the field (once)."""
    text = text.strip()
    if not text.endswith((".", "?", "!")):
        text += "."
    if name == "_" or text.lower().startswith(field_label(name).lower()):
        return text
    return f"{sentence_label(name)}: {text}"


class PermissionDenied(MediTrackError):
    """The caller's role (or ownership) does not allow the action."""

    title = "Not allowed"


class NotFound(MediTrackError):
    """The record does not exist (or is not visible to the caller)."""

    title = "Not found"


class Conflict(MediTrackError):
    """Someone else changed the record since it was read, or a rule like double booking clashed."""

    title = "Conflict"

    def __init__(
        self,
        message: str,
        *,
        changed_by: str | None = None,
        changed_at: datetime | None = None,
        current: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(message)
        self.changed_by = changed_by
        self.changed_at = changed_at
        self.current = current


class AllergyConflict(MediTrackError):
    """A prescription clashes with a recorded allergy; a doctor may override with a reason."""

    title = "Allergy warning"

    def __init__(self, message: str, *, allergy: str, drug: str) -> None:
        super().__init__(message)
        self.allergy = allergy
        self.drug = drug


class AuthenticationFailed(MediTrackError):
    """Wrong username or password."""

    title = "Login failed"


class AccountLocked(MediTrackError):
    """Too many failed logins; the account is locked until ``until``."""

    title = "Account locked"

    def __init__(self, message: str, *, until: datetime | None = None) -> None:
        super().__init__(message)
        self.until = until


class AccountPending(MediTrackError):
    """A doctor's sign-up still waits for an admin's approval (or was rejected)."""

    title = "Awaiting approval"


class AccountInactive(MediTrackError):
    """The account was deactivated by an admin."""

    title = "Account deactivated"


class SessionExpired(MediTrackError):
    """The session token expired, was revoked (logout, role change) or is not valid."""

    title = "Session ended"


class RateLimited(MediTrackError):
    """Too many of something (sign-ups) in too short a time; try again later."""

    title = "Please wait"


class StoreUnavailable(MediTrackError):
    """The database cannot be reached or opened."""

    title = "Database unavailable"


class StoreBusy(StoreUnavailable):
    """Another process held the database for longer than the busy timeout."""

    title = "Database busy"


class StoreReadOnly(StoreUnavailable):
    """The store's files or the disk holding them cannot be written."""

    title = "Database is read-only"


class StoreFull(StoreUnavailable):
    """The disk holding the store is full (or the server ran out of space)."""

    title = "Disk full"


class StoreCorrupt(StoreUnavailable):
    """The database file is damaged or is not a MediTrack database."""

    title = "Database damaged"


class DemoIncomplete(MediTrackError):
    """An earlier demo seed stopped before it finished."""

    title = "Demo data incomplete"
