"""The embedded store's accounts: users, their login sessions, and the clinic's settings."""

from __future__ import annotations

from typing import Any, ClassVar, cast

from ..base import Doc, Found
from ..queries import UserQuery
from ..repos import SessionRepo, SettingsRepo, UserRepo
from ..rows import SessionRow, SettingsRow, UserRow
from .engine import Database, decode, encode
from .records import Extract, JsonRecords, Paged, field, prefix_clause, where


class SqliteUsers(Paged[UserRow], UserRepo):
    table = "users"
    columns: ClassVar[dict[str, Extract]] = {
        name: field(name) for name in ("username_lc", "patient_id", "role", "status")}
    unique: ClassVar[dict[str, str]] = {"username_lc": "username"}

    def by_username(self, username_lc: str) -> UserRow | None:
        found = self._docs("SELECT doc FROM users WHERE username_lc = ?", (username_lc,))
        return found[0] if found else None

    def by_patient(self, patient_id: str) -> UserRow | None:
        found = self._docs("SELECT doc FROM users WHERE patient_id = ? LIMIT 1", (patient_id,))
        return found[0] if found else None

    def find(self, query: UserQuery) -> Found[UserRow]:
        clauses, params = self._filters(query.role, query.status)
        if query.username_prefix is not None:
            sql, args = prefix_clause("username_lc", query.username_prefix)
            clauses.append(sql)
            params += args
        return self._page(clauses, params, "role, username_lc, id", query.skip, query.limit,
                          query.count)

    def count(self, *, role: str | None = None, status: str | None = None) -> int:
        clauses, params = self._filters(role, status)
        return int(self.db.one(f"SELECT count(*) FROM users{where(clauses)}", params))

    @staticmethod
    def _filters(role: str | None, status: str | None) -> tuple[list[str], list[Any]]:
        clauses: list[str] = []
        params: list[Any] = []
        if role is not None:
            clauses.append("role = ?")
            params.append(role)
        if status is not None:
            clauses.append("status = ?")
            params.append(status)
        return clauses, params


class SqliteSessions(JsonRecords[SessionRow], SessionRepo):
    table = "sessions"
    columns: ClassVar[dict[str, Extract]] = {
        "user_id": field("user_id"), "revoked": lambda d: int(bool(d.get("revoked")))}

    def revoke_user(self, user_id: str, *, keep: str | None = None) -> int:
        with self.db.transaction():
            ids = [r[0] for r in self.db.execute(
                "SELECT id FROM sessions WHERE user_id = ? AND revoked = 0 AND id IS NOT ?",
                (user_id, keep)).fetchall()]
            for session_id in ids:
                self.update(session_id, {"revoked": True}, bump=False)
        return len(ids)


class SqliteSettings(SettingsRepo):
    """The clinic's settings: one row of the ``settings`` table."""

    ID = "clinic"

    def __init__(self, db: Database) -> None:
        self.db = db

    def get(self) -> SettingsRow | None:
        text = self.db.one("SELECT doc FROM settings WHERE id = ?", (self.ID,))
        return None if text is None else cast(SettingsRow, decode(text))

    def save(self, fields: Doc, *, version: int) -> SettingsRow | None:
        record = {**fields, "id": self.ID, "version": int(version) + 1}
        text = encode(record)
        with self.db.transaction():
            if version == 0:
                row = self.db.execute(
                    "INSERT INTO settings (id, version, doc) VALUES (?, 1, ?) "
                    "ON CONFLICT (id) DO NOTHING RETURNING id", (self.ID, text)).fetchone()
            else:
                row = self.db.execute(
                    "UPDATE settings SET version = version + 1, doc = ? "
                    "WHERE id = ? AND version = ? RETURNING id",
                    (text, self.ID, int(version))).fetchone()
        return None if row is None else cast(SettingsRow, decode(text))
