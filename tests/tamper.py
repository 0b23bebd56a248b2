"""Change a store's audit trail behind the app's back, for the audit chain's tests: raw
sqlite3 on the database file, raw pymongo on the collection, never a repository.

    tamper = Tamper(store)
    tamper.edit(3, detail="nothing to see")     # entry seq 3, in place
    tamper.delete(5)                            # entry seq 5 gone
    tamper.insert({"id": "ab12", "seq": 9, "ts": ..., "action": "login", ...})
"""

from __future__ import annotations

import json
import sqlite3
from datetime import datetime
from typing import Any

from meditrack_tui.store import EMBEDDED

HEAD = "audit_head"


def _json(value: Any) -> Any:
    """A value as the embedded store keeps it in JSON (datetimes as {"$dt": ISO})."""
    if isinstance(value, datetime):
        return {"$dt": value.isoformat(timespec="milliseconds")}
    if isinstance(value, dict):
        return {k: _json(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_json(v) for v in value]
    return value


def _unjson(value: Any) -> Any:
    if isinstance(value, dict):
        if set(value) == {"$dt"}:
            return datetime.fromisoformat(value["$dt"])
        return {k: _unjson(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_unjson(v) for v in value]
    return value


class Tamper:
    """Raw edits of a store's audit trail (SQLite file or MongoDB collection)."""

    def __init__(self, store: Any) -> None:
        self.store = store
        self.sqlite = store.info.kind == EMBEDDED

    # --- SQLite ---

    def _sql(self) -> sqlite3.Connection:
        return sqlite3.connect(self.store.path, timeout=10, isolation_level=None)

    def _run(self, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        conn = self._sql()
        try:
            return conn.execute(sql, params).fetchall()
        finally:
            conn.close()

    # --- MongoDB ---

    @property
    def _coll(self) -> Any:
        return self.store.db["audit"]

    @property
    def _meta(self) -> Any:
        return self.store.db["meta"]

    # --- what tests use ---

    def entry(self, seq: int) -> dict[str, Any]:
        """The stored entry at ``seq`` (its chain fields included)."""
        if self.sqlite:
            rows = self._run("SELECT doc, seq FROM audit WHERE seq = ?", (seq,))
            assert len(rows) == 1, seq
            return {**_unjson(json.loads(rows[0][0])), "seq": rows[0][1]}
        doc = self._coll.find_one({"seq": seq})
        assert doc is not None, seq
        doc["id"] = doc.pop("_id")
        return doc

    def last_seq(self) -> int:
        if self.sqlite:
            return self._run("SELECT max(seq) FROM audit")[0][0] or 0
        doc = self._coll.find_one({"seq": {"$gt": 0}}, sort=[("seq", -1)])
        return doc["seq"] if doc else 0

    def edit(self, seq: int, **fields: Any) -> None:
        """Change fields of the entry at ``seq`` in place (its hash left as it was)."""
        if self.sqlite:
            doc = json.loads(self._run("SELECT doc FROM audit WHERE seq = ?", (seq,))[0][0])
            doc.update(_json(fields))
            columns = {k: v for k, v in fields.items()
                       if k in ("username", "action", "outcome", "patient_id")}
            sets = ", ".join(["doc = ?", *(f"{k} = ?" for k in columns)])
            self._run(f"UPDATE audit SET {sets} WHERE seq = ?",
                      (json.dumps(doc), *columns.values(), seq))
        else:
            assert self._coll.update_one({"seq": seq}, {"$set": fields}).matched_count == 1

    def delete(self, seq: int) -> None:
        if self.sqlite:
            self._run("DELETE FROM audit WHERE seq = ?", (seq,))
        else:
            assert self._coll.delete_one({"seq": seq}).deleted_count == 1

    def insert(self, entry: dict[str, Any]) -> None:
        """Store an entry as given (``seq`` None or missing: an entry without a seal)."""
        entry = dict(entry)
        record_id, seq = entry.pop("id"), entry.pop("seq", None)
        if self.sqlite:
            ts = entry.get("ts")
            self._run("INSERT INTO audit (id, doc, ts, username, action, outcome, patient_id, "
                      "seq) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                      (record_id, json.dumps({"id": record_id, **_json(entry)}),
                       ts.isoformat(timespec="milliseconds") if ts else None,
                       entry.get("username"), entry.get("action"), entry.get("outcome"),
                       entry.get("patient_id"), seq))
        else:
            doc = {"_id": record_id, **entry}
            if seq is not None:
                doc["seq"] = seq
            self._coll.insert_one(doc)

    def allow_duplicate_seq(self) -> None:
        """Drop the unique index on seq (what someone forging entries could do)."""
        if self.sqlite:
            self._run("DROP INDEX audit_seq")
        else:
            self._coll.drop_index("uniq_seq")

    def head(self) -> dict[str, Any] | None:
        if self.sqlite:
            rows = self._run("SELECT seq, hash, seal FROM audit_head")
            return dict(zip(("seq", "hash", "seal"), rows[0], strict=True)) if rows else None
        doc = self._meta.find_one({"_id": HEAD})
        return None if doc is None else {k: doc[k] for k in ("seq", "hash", "seal")}

    def set_head(self, **fields: Any) -> None:
        if self.sqlite:
            sets = ", ".join(f"{k} = ?" for k in fields)
            self._run(f"UPDATE audit_head SET {sets}", tuple(fields.values()))
        else:
            self._meta.update_one({"_id": HEAD}, {"$set": fields})

    def delete_head(self) -> None:
        if self.sqlite:
            self._run("DELETE FROM audit_head")
        else:
            self._meta.delete_one({"_id": HEAD})
