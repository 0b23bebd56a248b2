"""Values for people: a patient's recorded sex and an account's status, with labels."""

from __future__ import annotations

from enum import StrEnum

SEXES: tuple[str, ...] = ("F", "M", "X")
SEX_LABELS: dict[str, str] = {"F": "Female", "M": "Male", "X": "Other / not stated"}


def sex_label(value: str | None) -> str:
    """'Female', 'Male', 'Other / not stated' (the stored letter when unknown)."""
    return SEX_LABELS.get(value or "", value or "")


class AccountStatus(StrEnum):
    """An account's status; the value is what the store keeps."""

    ACTIVE = "active"
    PENDING = "pending"      # a doctor's sign-up waiting for an administrator
    REJECTED = "rejected"
    INACTIVE = "inactive"    # deactivated by an administrator

    @property
    def label(self) -> str:
        return {"active": "Active", "pending": "Pending", "rejected": "Rejected",
                "inactive": "Deactivated"}[self.value]


ACCOUNT_STATUSES: tuple[str, ...] = tuple(s.value for s in AccountStatus)
