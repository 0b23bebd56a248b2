"""The embedded store's journals: the audit trail (a chain, with its head row), the
change events and the named counters."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any, cast

from ...audit_chain import GENESIS, AuditSeal
from ...live import PATIENT_SCOPED
from ..base import ChangeRow, Doc, Found, new_id
from ..queries import AuditQuery
from ..repos import AuditRepo, ChangeRepo, CounterRepo
from ..rows import AuditHead, AuditRow
from .engine import Database, column, decode, encode, iso
from .records import equal_clauses, in_clause, paging, prefix_clause, where, window

# entries with a place in the chain (a positive integer: text sorts above every number in
# SQLite, so a forged text seq falls outside), and the others
_IN_CHAIN = "seq BETWEEN 1 AND 9223372036854775807"
_OFF_CHAIN = f"(seq IS NULL OR NOT ({_IN_CHAIN}))"


class SqliteAudit(AuditRepo):
    """The audit trail: JSON entries with their filter columns; never changed. The chain's
    ``seq`` is a unique column (not in the JSON); ``prev`` and ``hash`` are in the JSON."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def append(self, entry: AuditRow, seal: AuditSeal) -> AuditRow:
        stored = decode(encode({k: v for k, v in entry.items()
                                if k not in ("seq", "prev", "hash")}))
        if stored.get("id") is None:
            stored["id"] = new_id()
        # BEGIN IMMEDIATE (the unit of work's): no other writer until this one commits,
        # so the newest entry read here is still the newest at the insert
        with self.db.transaction():
            last = self.db.execute("SELECT seq, json_extract(doc, '$.hash') FROM audit "
                                   "WHERE seq IS NOT NULL ORDER BY seq DESC LIMIT 1").fetchone()
            seq = last[0] + 1 if last else 1
            prev = str(last[1] or "") if last else GENESIS
            stored["prev"] = prev
            stored["hash"] = seal.seal(stored, seq, prev)
            self.db.execute(
                "INSERT INTO audit (id, doc, ts, username, action, outcome, patient_id, seq) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (stored["id"], encode(stored), *(column(stored.get(k)) for k in (
                    "ts", "username", "action", "outcome", "patient_id")), seq))
            self.db.execute(
                "INSERT INTO audit_head (id, seq, hash, seal) VALUES (1, ?, ?, ?) "
                "ON CONFLICT (id) DO UPDATE SET seq = excluded.seq, hash = excluded.hash, "
                "seal = excluded.seal",
                (seq, stored["hash"], seal.seal_head(seq, stored["hash"])))
        stored["seq"] = seq
        return cast(AuditRow, stored)

    @staticmethod
    def _entry(doc: str, seq: int | None) -> AuditRow:
        """An entry from its JSON (as ``append`` stored it) and its ``seq`` column."""
        entry = decode(doc)
        entry.pop("seq", None)
        if seq is not None:
            entry["seq"] = seq
        return cast(AuditRow, entry)

    def find(self, query: AuditQuery) -> Found[AuditRow]:
        clauses, params = equal_clauses(query, ("username", "outcome", "patient_id"))
        if query.action_prefix is not None:
            sql, args = prefix_clause("action", query.action_prefix)
            clauses.append(sql)
            params += args
        window("ts", query.ts_from, query.ts_before, clauses, params)
        cond = where(clauses)
        tail, page = paging(query.skip, query.limit)
        rows = self.db.execute(
            f"SELECT doc, seq FROM audit{cond} ORDER BY ts DESC, id DESC{tail}",
            params + page).fetchall()
        total = self.db.one(f"SELECT count(*) FROM audit{cond}", params) if query.count else None
        return Found([self._entry(r[0], r[1]) for r in rows], total)

    def chain(self, after: tuple[int, str] | None, limit: int) -> list[AuditRow]:
        if after is None:
            rows = self.db.execute(f"SELECT doc, seq FROM audit WHERE {_IN_CHAIN} "
                                   "ORDER BY seq, id LIMIT ?", (int(limit),))
        else:
            rows = self.db.execute(f"SELECT doc, seq FROM audit WHERE {_IN_CHAIN} AND "
                                   "(seq, id) > (?, ?) ORDER BY seq, id LIMIT ?",
                                   (int(after[0]), after[1], int(limit)))
        return [self._entry(doc, seq) for doc, seq in rows.fetchall()]

    def head(self) -> AuditHead | None:
        row = self.db.execute("SELECT seq, hash, seal FROM audit_head WHERE id = 1").fetchone()
        return None if row is None else {"seq": row[0], "hash": row[1], "seal": row[2]}

    def unsealed(self, after: datetime | None, limit: int
                 ) -> tuple[int, int, list[AuditRow]]:
        total = int(self.db.one(f"SELECT count(*) FROM audit WHERE {_OFF_CHAIN}"))
        if after is None or not total:
            return total, 0, []
        later = int(self.db.one(f"SELECT count(*) FROM audit WHERE {_OFF_CHAIN} AND ts > ?",
                                (iso(after),)))
        rows = self.db.execute(f"SELECT doc FROM audit WHERE {_OFF_CHAIN} AND ts > ? "
                               "ORDER BY ts, id LIMIT ?", (iso(after), int(limit))).fetchall()
        return total, later, [self._entry(r[0], None) for r in rows]


class SqliteChanges(ChangeRepo):
    """The change events, numbered by ``seq`` in commit order (writers are serialized)."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def append(self, coll: str, op: str, *, ts: datetime, record_id: str | None = None,
               patient_id: str | None = None, by: str | None = None,
               extra: Doc | None = None) -> int:
        with self.db.transaction():
            cur = self.db.execute(
                "INSERT INTO changes (ts, coll, op, record_id, patient_id, by, extra) "
                "VALUES (?, ?, ?, ?, ?, ?, ?)",
                (iso(ts), coll, op, record_id, patient_id, by, encode(extra or {})))
        return int(cur.lastrowid or 0)

    def last_seq(self) -> int:
        """One read of SQLite's own AUTOINCREMENT mark (kept when events are pruned)."""
        seq = self.db.one("SELECT seq FROM sqlite_sequence WHERE name = 'changes'")
        return int(seq or 0)

    def after(self, seq: int, *, colls: Sequence[str] | None = None,
              patient_id: str | None = None, user_id: str | None = None,
              limit: int = 1000) -> list[ChangeRow]:
        clauses: list[str] = ["seq > ?"]
        params: list[Any] = [seq]
        if colls is not None:
            clauses.append(in_clause("coll", colls))
            params += colls
        if patient_id is not None or user_id is not None:
            scope = []
            if patient_id is not None:
                scope.append(f"({in_clause('coll', PATIENT_SCOPED)} AND patient_id = ?)")
                params += [*PATIENT_SCOPED, patient_id]
            if user_id is not None:
                scope.append("(coll = 'users' AND record_id = ?)")
                params.append(user_id)
            clauses.append("(" + " OR ".join(scope) + ")")
        rows = self.db.execute(
            "SELECT seq, ts, coll, op, record_id, patient_id, by, extra FROM changes"
            f"{where(clauses)} ORDER BY seq LIMIT ?", params + [limit]).fetchall()
        return [ChangeRow(r[0], datetime.fromisoformat(r[1]), r[2], r[3], r[4], r[5], r[6],
                          decode(r[7]) if r[7] else {}) for r in rows]

    def prune(self, before: datetime) -> int:
        with self.db.transaction():
            return self.db.execute("DELETE FROM changes WHERE ts < ?", (iso(before),)).rowcount


class SqliteCounters(CounterRepo):
    def __init__(self, db: Database) -> None:
        self.db = db

    def next(self, name: str, count: int = 1) -> int:
        with self.db.transaction():
            rows = self.db.execute(
                "INSERT INTO counters (name, value) VALUES (?, ?) ON CONFLICT (name) "
                "DO UPDATE SET value = value + excluded.value RETURNING value",
                (name, int(count))).fetchall()
        return int(rows[0][0])
