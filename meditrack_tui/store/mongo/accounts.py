"""The MongoDB store's accounts: users, their login sessions, and the clinic's settings."""

from __future__ import annotations

from ..base import Doc, Found
from ..queries import UserQuery
from ..repos import SessionRepo, SettingsRepo, UserRepo
from ..rows import SessionRow, SettingsRow, UserRow
from .records import RecordRepo, Repo, clean, prefix, sort_spec


class Users(RecordRepo[UserRow], UserRepo):
    def by_username(self, username_lc: str) -> UserRow | None:
        if not isinstance(username_lc, str):
            return None
        return self.out(self.coll.find_one({"username_lc": username_lc}, session=self.s))

    def by_patient(self, patient_id: str) -> UserRow | None:
        if not isinstance(patient_id, str):
            return None
        return self.out(self.coll.find_one({"patient_id": patient_id}, session=self.s))

    def find(self, query: UserQuery) -> Found[UserRow]:
        filt: Doc = {}
        if query.role is not None:
            filt["role"] = query.role
        if query.status is not None:
            filt["status"] = query.status
        if query.username_prefix:
            filt["username_lc"] = prefix(query.username_prefix)
        return self.query(filt, sort_spec(("role", "username_lc"), 1), query.skip,
                          query.limit, query.count)

    def count(self, *, role: str | None = None, status: str | None = None) -> int:
        filt: Doc = {}
        if role is not None:
            filt["role"] = role
        if status is not None:
            filt["status"] = status
        return self.count_matching(filt)


class Sessions(RecordRepo[SessionRow], SessionRepo):
    def revoke_user(self, user_id: str, *, keep: str | None = None) -> int:
        filt: Doc = {"user_id": user_id, "revoked": {"$ne": True}}
        if keep is not None:
            filt["_id"] = {"$ne": keep}
        return int(self.coll.update_many(filt, {"$set": {"revoked": True}},
                                         session=self.s).modified_count)


class Settings(Repo[SettingsRow], SettingsRepo):
    """The clinic's settings: one document (``_id`` "clinic") of the ``settings``
    collection; a save matches on the stored version."""

    ID = "clinic"

    def get(self) -> SettingsRow | None:
        return self.out(self.coll.find_one({"_id": self.ID}, session=self.s))

    def save(self, fields: Doc, *, version: int) -> SettingsRow | None:
        from pymongo import ReturnDocument
        from pymongo.errors import DuplicateKeyError

        body = clean({k: v for k, v in fields.items() if k not in ("id", "_id", "version")})
        body["version"] = int(version) + 1
        if version == 0:
            try:
                self.coll.insert_one({"_id": self.ID, **body}, session=self.s)
            except DuplicateKeyError:  # someone saved them first
                return None
            return self.out({"_id": self.ID, **body})
        doc = self.coll.find_one_and_replace({"_id": self.ID, "version": int(version)}, body,
                                             session=self.s,
                                             return_document=ReturnDocument.AFTER)
        return self.out(doc)
