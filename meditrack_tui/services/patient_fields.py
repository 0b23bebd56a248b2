"""A patient record's fields: checked into a document (``build_patient_doc``), the name
keys searches use, the MRN's format and the age shown."""

from __future__ import annotations

import re
from datetime import date
from typing import Any

from ..domain import SEX_LABELS, SEXES
from ..errors import ValidationError
from ..store import PatientRow
from ..validation import EMAIL_RE, PHONE_RE, Checker

# Dates of birth are accepted from this day to today.
EARLIEST_DOB = date(1900, 1, 1)


def format_mrn(number: int) -> str:
    return f"MRN-{number:06d}"


def age_on(dob: str | None, today: date) -> int | None:
    """Whole years between an ISO date of birth and today."""
    if not dob:
        return None
    born = date.fromisoformat(dob)
    return today.year - born.year - ((today.month, today.day) < (born.month, born.day))


def search_keys(first: str, last: str) -> PatientRow:
    """Lower-cased name keys so searches are anchored prefix matches that work on both stores."""
    first_key, last_key = first.strip().lower(), last.strip().lower()
    return {
        "first_key": first_key,
        "last_key": last_key,
        "full_key": f"{first_key} {last_key}",
    }


def build_patient_doc(check: Checker, data: dict[str, Any], *, today: date,
                      partial: bool = False) -> PatientRow:
    """Validate patient fields into a document fragment (all fields, or only given ones).
    A field that fails its check is left out (``check.done()`` then refuses the lot)."""
    if not isinstance(data, dict):
        raise ValidationError("Patient details must be a set of fields.")
    out: PatientRow = {}

    def given(name: str) -> bool:
        return not partial or name in data

    if given("first_name"):
        first = check.text("first_name", data.get("first_name"), required=True, max_len=60)
        if first is not None:
            out["first_name"] = first
    if given("last_name"):
        last = check.text("last_name", data.get("last_name"), required=True, max_len=60)
        if last is not None:
            out["last_name"] = last
    if given("dob"):
        born = check.day("dob", data.get("dob"), required=True, low=EARLIEST_DOB,
                         label="date of birth",
                         window=f"from {EARLIEST_DOB.isoformat()} to today ({today.isoformat()})")
        if born is not None and born > today:
            check.fail("dob", "Date of birth cannot be in the future.")
        out["dob"] = born.isoformat() if born is not None else None
    if given("sex"):
        out["sex"] = check.choice("sex", data.get("sex"), SEXES, labels=SEX_LABELS)
    if given("phone"):
        phone = check.text("phone", data.get("phone"), max_len=30)
        if phone and not PHONE_RE.match(phone):
            check.fail("phone", "Phone number may contain digits, spaces, +, -, ( and ).")
        out["phone"] = phone
        out["phone_digits"] = re.sub(r"\D", "", phone or "")
    if given("email"):
        email = check.text("email", data.get("email"), max_len=120)
        if email and not EMAIL_RE.match(email):
            check.fail("email", "Email address does not look right.")
        out["email"] = email
    if given("address"):
        out["address"] = check.text("address", data.get("address"), max_len=300)
    if given("allergies"):
        allergies = check.string_list("allergies", data.get("allergies"))
        if allergies is not None:
            out["allergies"] = allergies
    if given("conditions"):
        conditions = check.string_list("conditions", data.get("conditions"))
        if conditions is not None:
            out["conditions"] = conditions
            out["conditions_lc"] = [c.lower() for c in conditions]
    return out
