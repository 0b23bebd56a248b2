"""Input checks shared by the services: every value a user typed is type-checked here.

Nothing that reaches a query is ever a dict or list a user supplied, so operator
injection (``{"$gt": ""}``) is impossible; search text is regex-escaped.
"""

from __future__ import annotations

import re
from datetime import date, datetime, time
from typing import Any, Iterable

from .errors import ValidationError


class Checker:
    """Collects one message per field, then raises a single ValidationError."""

    def __init__(self) -> None:
        self.errors: dict[str, str] = {}

    def fail(self, field: str, message: str) -> None:
        self.errors.setdefault(field, message)

    def done(self) -> None:
        if self.errors:
            raise ValidationError(self.errors)

    # --- typed readers: each returns a clean value or records an error and returns None ---

    def text(
        self,
        field: str,
        value: Any,
        *,
        required: bool = False,
        max_len: int = 200,
        min_len: int = 0,
        label: str | None = None,
    ) -> str | None:
        name = label or field.replace("_", " ")
        if value is None:
            if required:
                self.fail(field, f"{name.capitalize()} is required.")
            return None
        if not isinstance(value, str):
            self.fail(field, f"{name.capitalize()} must be text.")
            return None
        value = value.strip()
        if not value:
            if required:
                self.fail(field, f"{name.capitalize()} is required.")
            return None
        if "\x00" in value:
            self.fail(field, f"{name.capitalize()} contains characters that are not allowed.")
            return None
        if len(value) > max_len:
            self.fail(field, f"{name.capitalize()} is too long (at most {max_len} characters).")
            return None
        if len(value) < min_len:
            self.fail(field, f"{name.capitalize()} must be at least {min_len} characters.")
            return None
        return value

    def choice(
        self, field: str, value: Any, choices: Iterable[str], *, required: bool = True
    ) -> str | None:
        options = list(choices)
        if value is None or value == "":
            if required:
                self.fail(field, f"Choose one of: {', '.join(options)}.")
            return None
        if not isinstance(value, str) or value not in options:
            self.fail(field, f"Choose one of: {', '.join(options)}.")
            return None
        return value

    def number(
        self,
        field: str,
        value: Any,
        *,
        low: float,
        high: float,
        integer: bool = False,
        required: bool = False,
        label: str | None = None,
        unit: str = "",
    ) -> float | int | None:
        name = label or field.replace("_", " ")
        if value is None or (isinstance(value, str) and not value.strip()):
            if required:
                self.fail(field, f"{name.capitalize()} is required.")
            return None
        if isinstance(value, bool):
            self.fail(field, f"{name.capitalize()} must be a number.")
            return None
        if isinstance(value, str):
            try:
                value = float(value.strip())
            except ValueError:
                self.fail(field, f"{name.capitalize()} must be a number.")
                return None
        if not isinstance(value, (int, float)) or value != value:  # NaN check
            self.fail(field, f"{name.capitalize()} must be a number.")
            return None
        if integer and float(value) != int(value):
            self.fail(field, f"{name.capitalize()} must be a whole number.")
            return None
        if not (low <= value <= high):
            suffix = f" {unit}" if unit else ""
            self.fail(
                field,
                f"{name.capitalize()} of {_fmt(value)}{suffix} is not possible "
                f"(expected {_fmt(low)} to {_fmt(high)}{suffix}).",
            )
            return None
        return int(value) if integer else float(value)

    def day(self, field: str, value: Any, *, required: bool = False) -> date | None:
        name = field.replace("_", " ")
        if value is None or value == "":
            if required:
                self.fail(field, f"{name.capitalize()} is required.")
            return None
        if isinstance(value, datetime):
            return value.date()
        if isinstance(value, date):
            return value
        if isinstance(value, str):
            try:
                return date.fromisoformat(value.strip())
            except ValueError:
                pass
        self.fail(field, f"{name.capitalize()} must be a date like 2024-03-31.")
        return None

    def clock(self, field: str, value: Any, *, required: bool = False) -> time | None:
        name = field.replace("_", " ")
        if value is None or value == "":
            if required:
                self.fail(field, f"{name.capitalize()} is required.")
            return None
        if isinstance(value, time):
            return value
        if isinstance(value, str) and re.fullmatch(r"\d{1,2}:\d{2}", value.strip()):
            hours, minutes = (int(part) for part in value.strip().split(":"))
            if 0 <= hours < 24 and 0 <= minutes < 60:
                return time(hours, minutes)
        self.fail(field, f"{name.capitalize()} must be a time like 09:30 (24-hour clock).")
        return None

    def moment(self, field: str, value: Any, *, required: bool = False) -> datetime | None:
        name = field.replace("_", " ")
        if value is None or value == "":
            if required:
                self.fail(field, f"{name.capitalize()} is required.")
            return None
        if isinstance(value, datetime):
            return value.replace(tzinfo=None, microsecond=0)
        if isinstance(value, str):
            try:
                return datetime.fromisoformat(value.strip()).replace(tzinfo=None)
            except ValueError:
                pass
        self.fail(field, f"{name.capitalize()} must be a date and time like 2024-03-31 09:30.")
        return None

    def string_list(self, field: str, value: Any, *, max_items: int = 50) -> list[str] | None:
        name = field.replace("_", " ")
        if value is None:
            return []
        if isinstance(value, str):
            value = [part for part in re.split(r"[,;\n]", value)]
        if not isinstance(value, (list, tuple)) or not all(isinstance(v, str) for v in value):
            self.fail(field, f"{name.capitalize()} must be a list of words.")
            return None
        items: list[str] = []
        for item in value:
            item = item.strip()
            if item and item.lower() not in (i.lower() for i in items):
                if len(item) > 100:
                    self.fail(field, f"Each entry in {name} must be at most 100 characters.")
                    return None
                items.append(item)
        if len(items) > max_items:
            self.fail(field, f"{name.capitalize()} can hold at most {max_items} entries.")
            return None
        return items


def _fmt(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else f"{value:g}"


def require_text(value: Any, field: str, **kwargs: Any) -> str:
    """Check one required text value and return it (raises ValidationError)."""
    check = Checker()
    result = check.text(field, value, required=True, **kwargs)
    check.done()
    assert result is not None
    return result


def page_args(page: Any, page_size: Any, *, max_size: int = 500) -> tuple[int, int]:
    """Validate pagination arguments: page from 1, page size 1..max_size."""
    check = Checker()
    p = check.number("page", page, low=1, high=10**9, integer=True, required=True)
    s = check.number("page_size", page_size, low=1, high=max_size, integer=True, required=True)
    check.done()
    return int(p or 1), int(s or 25)


def literal_prefix(text: str) -> re.Pattern[str]:
    """An anchored regex matching ``text`` literally as a prefix (for lower-cased keys)."""
    return re.compile("^" + re.escape(text))


EMAIL_RE = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
PHONE_RE = re.compile(r"^[0-9+()\-.\s]{5,30}$")
