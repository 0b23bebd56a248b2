"""An account's fields: the username and password rules, and a user as plain data."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..errors import ValidationError
from ..validation import Checker

USERNAME_CHARS = set("abcdefghijklmnopqrstuvwxyz0123456789._-")


def check_password_rules(password: Any, username: str | None, field: str = "password") -> str:
    """Passwords: text, at least 10 characters, not the username."""
    if not isinstance(password, str) or not password:
        raise ValidationError({field: "Password is required."})
    if len(password) < 10:
        raise ValidationError({field: "Password must be at least 10 characters long."})
    if len(password) > 256:
        raise ValidationError({field: "Password is too long (at most 256 characters)."})
    if username and password.strip().lower() == username.strip().lower():
        raise ValidationError({field: "Password must not be the same as the username."})
    return password


def check_username(check: Checker, value: Any) -> str | None:
    """Usernames: 3-40 characters of letters, digits, dot, dash or underscore."""
    name = check.text("username", value, required=True, max_len=40, min_len=3)
    if name is not None and not set(name.lower()) <= USERNAME_CHARS:
        check.fail("username", "Username may contain only letters, digits, '.', '-' and '_'.")
        return None
    return name


def user_public(doc: Mapping[str, Any]) -> dict[str, Any]:
    """A user as plain data (a copy), without the password hash."""
    return {k: v for k, v in doc.items()
            if k not in ("password_hash", "username_lc", "failed_logins")}
