"""Input checks shared by the services: every value a user typed is type-checked here.

Nothing that reaches a query is ever a dict or list a user supplied, so operator
injection (``{"$gt": ""}``) is impossible; search text is regex-escaped.
"""

from __future__ import annotations

import calendar
import math
import re
import unicodedata
from collections.abc import Iterable, Mapping
from datetime import date, datetime, time, timedelta
from typing import Any

from .errors import ValidationError, field_label

# Bidirectional controls: they reorder what a screen shows ("Trojan Source"), so a name or
# note could display as something other than what is stored. Refused in every text field.
BIDI_CONTROLS = frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"
                          "\u200e\u200f\u061c")
# Control characters a multi-line text may hold; every other one (escape sequences
# included) is refused.
ALLOWED_CONTROLS = frozenset("\n\r\t")

# The widest window any date a user types may fall in (callers narrow it): dates outside
# it are typing mistakes, and keeping to it means date arithmetic never overflows.
EARLIEST_DATE = date(1900, 1, 1)
LATEST_DATE = date(2100, 12, 31)
# A number typed as text longer than this is not a value anyone means.
MAX_NUMBER_TEXT = 40


# Letters and symbols that are drawn as nothing at all: the Hangul fillers and the blank
# Braille pattern (used to make "empty" names look filled in).
BLANK_CHARACTERS = frozenset("\u115f\u1160\u3164\uffa0\u2800")


def visible_text(text: str) -> str:
    """``text`` without whitespace and invisible characters (Unicode format characters,
    category Cf: zero-width spaces and joiners, bidi marks, soft hyphens, ...; blank
    letters such as the Hangul filler; combining marks with nothing to combine with)."""
    return "".join(ch for ch in text
                   if not ch.isspace() and ch not in BLANK_CHARACTERS
                   and unicodedata.category(ch) not in ("Cf", "Mn", "Me"))


def text_problem(text: str) -> str | None:
    """Why ``text`` cannot be stored (a phrase completing "<Field> ..."), or None."""
    if any(ch in BIDI_CONTROLS for ch in text):
        return "contains direction-changing characters that are not allowed"
    if any(unicodedata.category(ch) == "Cc" and ch not in ALLOWED_CONTROLS for ch in text):
        return "contains control characters that are not allowed"
    if not visible_text(text):
        return "contains only invisible characters"
    return None


def _cap(text: str) -> str:
    """``text`` starting with a capital, the rest as written ('MRN', 'SpO2' stay so)."""
    return text[:1].upper() + text[1:]


DATE_SHAPE = re.compile(r"^\s*(\d{4})-(\d{1,2})-(\d{1,2})")
MONTHS = ("January", "February", "March", "April", "May", "June", "July", "August",
          "September", "October", "November", "December")


def date_problem(text: str) -> str | None:
    """Why a date written like 2026-02-30 is not a real day ('that day does not exist:
    February 2026 has 28 days'), or None when it is one or is not written that way."""
    match = DATE_SHAPE.match(text)
    if not match:
        return None
    year, month, day = (int(part) for part in match.groups())
    if not 1 <= month <= 12:
        return f"that day does not exist (there is no month {month:02d})"
    if year < 1:
        return "that day does not exist (years start at 0001)"
    last = calendar.monthrange(year, month)[1]
    if not 1 <= day <= last:
        return f"that day does not exist ({MONTHS[month - 1]} {year} has {last} days)"
    return None


def add_safely(moment: datetime, delta: timedelta) -> datetime | None:
    """``moment + delta``, or None where the calendar ends (year 1 or 9999)."""
    try:
        return moment + delta
    except OverflowError:
        return None


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
        name = label or field_label(field)
        if value is None:
            if required:
                self.fail(field, f"{_cap(name)} is required.")
            return None
        if not isinstance(value, str):
            self.fail(field, f"{_cap(name)} must be text.")
            return None
        text = value.strip()
        if not text:
            if required:
                self.fail(field, f"{_cap(name)} is required.")
            return None
        if len(text) > max_len:
            self.fail(field, f"{_cap(name)} is too long (at most {max_len} characters).")
            return None
        problem = text_problem(text)
        if problem is not None:
            if required and not visible_text(text) and problem.endswith("invisible characters"):
                self.fail(field, f"{_cap(name)} is required (invisible characters alone "
                                 "do not count).")
            else:
                self.fail(field, f"{_cap(name)} {problem}.")
            return None
        if len(text) < min_len:
            self.fail(field, f"{_cap(name)} must be at least {min_len} characters.")
            return None
        return text

    def choice(
        self, field: str, value: Any, choices: Iterable[str], *, required: bool = True,
        labels: Mapping[str, str] | None = None,
    ) -> str | None:
        """``value`` if it is one of ``choices``; the message names them by their
        ``labels`` (what the form shows, e.g. "Female" for "F") when given."""
        options = list(choices)
        named = ", ".join((labels or {}).get(option, option) for option in options)
        if value is None or value == "":
            if required:
                self.fail(field, f"Choose one of: {named}.")
            return None
        if not isinstance(value, str) or value not in options:
            self.fail(field, f"Choose one of: {named}.")
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
        """A number within [low, high]: an int or float, or text holding one. Infinity, NaN,
        huge values and over-long text are refused with the field's range, never an
        OverflowError."""
        name = label or field_label(field)
        suffix = f" {unit}" if unit else ""
        expected = f"{_fmt(low)} to {_fmt(high)}{suffix}"
        if value is None or (isinstance(value, str) and not value.strip()):
            if required:
                self.fail(field, f"{_cap(name)} is required.")
            return None
        if isinstance(value, bool):
            self.fail(field, f"{_cap(name)} must be a number.")
            return None
        if isinstance(value, str):
            text = value.strip()
            try:
                if len(text) > MAX_NUMBER_TEXT:
                    raise ValueError(text)
                value = int(text) if re.fullmatch(r"[+-]?\d+", text) else float(text)
            except ValueError:
                self.fail(field, f"{_cap(name)} must be a number "
                                 f"(expected {expected}).")
                return None
        if not isinstance(value, (int, float)) or (
                isinstance(value, float) and not math.isfinite(value)):
            self.fail(field, f"{_cap(name)} must be a number (expected {expected}).")
            return None
        # Compared before any conversion: an int of any size compares exactly with a float.
        if not (low <= value <= high):
            shown = f" of {_fmt(value)}{suffix}" if abs(value) < 1e12 else ""
            self.fail(field, f"{_cap(name)}{shown} is not possible "
                             f"(expected {expected}).")
            return None
        if integer and float(value) != int(value):
            self.fail(field, f"{_cap(name)} must be a whole number.")
            return None
        return int(value) if integer else float(value)

    def day(self, field: str, value: Any, *, required: bool = False,
            low: date = EARLIEST_DATE, high: date = LATEST_DATE, label: str | None = None,
            window: str | None = None) -> date | None:
        """A date from ``low`` to ``high`` (``window`` words the range for the message)."""
        name = label or field_label(field)
        if value is None or value == "":
            if required:
                self.fail(field, f"{_cap(name)} is required.")
            return None
        found: date | None = None
        if isinstance(value, datetime):
            found = value.date()
        elif isinstance(value, date):
            found = value
        elif isinstance(value, str) and len(value) <= 40:
            try:
                found = date.fromisoformat(value.strip())
            except ValueError:
                pass
        if found is None:
            problem = date_problem(value) if isinstance(value, str) and len(value) <= 40 \
                else None
            self.fail(field, f"{_cap(name)} {value.strip()}: {problem}." if problem
                      else f"{_cap(name)} must be a date like 2024-03-31.")
            return None
        if not (low <= found <= high):
            self.fail(field, f"{_cap(name)} must be "
                             f"{window or f'from {low.isoformat()} to {high.isoformat()}'}.")
            return None
        return found

    def clock(self, field: str, value: Any, *, required: bool = False) -> time | None:
        name = field_label(field)
        if value is None or value == "":
            if required:
                self.fail(field, f"{_cap(name)} is required.")
            return None
        if isinstance(value, time):
            return value
        if isinstance(value, str) and re.fullmatch(r"\d{1,2}:\d{2}", value.strip()):
            hours, minutes = (int(part) for part in value.strip().split(":"))
            if 0 <= hours < 24 and 0 <= minutes < 60:
                return time(hours, minutes)
        self.fail(field, f"{_cap(name)} must be a time like 09:30 (24-hour clock).")
        return None

    def moment(self, field: str, value: Any, *, required: bool = False,
               low: date = EARLIEST_DATE, high: date = LATEST_DATE,
               label: str | None = None) -> datetime | None:
        """A date and time whose date is from ``low`` to ``high``."""
        name = label or field_label(field)
        if value is None or value == "":
            if required:
                self.fail(field, f"{_cap(name)} is required.")
            return None
        found: datetime | None = None
        if isinstance(value, datetime):
            found = value.replace(tzinfo=None, microsecond=0)
        elif isinstance(value, str) and len(value) <= 40:
            try:
                found = datetime.fromisoformat(value.strip()).replace(tzinfo=None)
            except ValueError:
                pass
        if found is None:
            problem = date_problem(value) if isinstance(value, str) and len(value) <= 40 \
                else None
            self.fail(field, f"{_cap(name)} {value.strip()}: {problem}." if problem
                      else f"{_cap(name)} must be a date and time like 2024-03-31 09:30.")
            return None
        if not (low <= found.date() <= high):
            self.fail(field, f"{_cap(name)} must be from {low.isoformat()} to "
                             f"{high.isoformat()}.")
            return None
        return found

    def string_list(self, field: str, value: Any, *, max_items: int = 50) -> list[str] | None:
        name = field_label(field)
        if value is None:
            return []
        if isinstance(value, str):
            value = [part for part in re.split(r"[,;\n]", value)]
        if isinstance(value, (list, tuple)) and len(value) > 4 * max_items:
            self.fail(field, f"{_cap(name)} can hold at most {max_items} entries.")
            return None
        if not isinstance(value, (list, tuple)) or not all(isinstance(v, str) for v in value):
            self.fail(field, f"{_cap(name)} must be a list of words.")
            return None
        items: list[str] = []
        for item in value:
            item = item.strip()
            if item and item.lower() not in (i.lower() for i in items):
                if len(item) > 100:
                    self.fail(field, f"Each entry in {name} must be at most 100 characters.")
                    return None
                problem = text_problem(item)
                if problem is not None:
                    self.fail(field, f"An entry in {name} {problem}.")
                    return None
                items.append(item)
        if len(items) > max_items:
            self.fail(field, f"{_cap(name)} can hold at most {max_items} entries.")
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


MAX_PAGE = 1_000_000


def page_args(page: Any, page_size: Any, *, max_size: int = 500) -> tuple[int, int]:
    """Validate pagination arguments: page from 1, page size 1..max_size."""
    check = Checker()
    p = check.number("page", page, low=1, high=MAX_PAGE, integer=True, required=True)
    s = check.number("page_size", page_size, low=1, high=max_size, integer=True, required=True)
    check.done()
    return int(p or 1), int(s or 25)


def literal_prefix(text: str) -> re.Pattern[str]:
    """An anchored regex matching ``text`` literally as a prefix (for lower-cased keys)."""
    return re.compile("^" + re.escape(text))


EMAIL_RE = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
PHONE_RE = re.compile(r"^[0-9+()\-.\s]{5,30}$")
