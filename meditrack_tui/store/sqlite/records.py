"""One class for every table of whole JSON records: get, add, update, increment, delete.

A subclass names its table, the columns kept beside the JSON (each with the function that
takes its value from a record) and the unique columns; it adds its own queries and may
keep side tables in step (``_sync`` / ``_unsync``). The query helpers below (clauses,
paging, ``Paged``) are shared by the aggregates: accounts.py, patients.py, clinical.py,
journal.py. Every query is a range or equality on indexed columns (prefixes as ``col >= p
AND col < prefix_end(p)``), so a page costs what it matches, not the table's size.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import Any, ClassVar, cast

from ..base import Doc, Duplicate, Found, R, chunks, new_id, prefix_end
from ..repos import Records
from .engine import Database, column, decode, encode, iso

Extract = Callable[[Doc], Any]


def field(name: str) -> Extract:
    """The column value of a record's top-level field ``name`` (NULL when missing)."""
    return lambda doc: column(doc.get(name))


def order(columns: Sequence[str], descending: bool) -> str:
    """An ORDER BY list of ``columns`` all in one direction."""
    direction = " DESC" if descending else ""
    return ", ".join(c + direction for c in columns)


def paging(skip: int, limit: int | None) -> tuple[str, list[int]]:
    """The LIMIT/OFFSET clause of a page (limit None: every row)."""
    return " LIMIT ? OFFSET ?", [-1 if limit is None else max(0, limit), max(0, skip)]


def where(clauses: list[str]) -> str:
    return " WHERE " + " AND ".join(clauses) if clauses else ""


class JsonRecords(Records[R]):
    """Records of one table: ``id``, ``version`` and ``doc`` (JSON) plus ``columns``.

    A subclass with a side table (rows derived from a record, e.g. its search keys) names
    the table (``side_table``, ``side_key``: the column holding the record id), its
    ``side_insert`` statement and ``_side_rows``; they are kept in step on every write.
    """

    table: ClassVar[str]
    columns: ClassVar[dict[str, Extract]] = {}
    unique: ClassVar[dict[str, str]] = {}   # column -> the field Duplicate names
    side_table: ClassVar[str | None] = None
    side_key: ClassVar[str] = ""
    side_insert: ClassVar[str] = ""

    def __init__(self, db: Database) -> None:
        self.db = db
        names = ["id", "version", "doc", *self.columns]
        self._insert = (f"INSERT INTO {self.table} ({', '.join(names)}) "
                        f"VALUES ({', '.join('?' * len(names))})")

    # --- helpers for subclasses ---

    def _columns(self, doc: Doc) -> list[Any]:
        """The column values of a record, in ``columns`` order."""
        return [f(doc) for f in self.columns.values()]

    def _row(self, doc: Doc) -> R:
        """A decoded record of this table as its row type: the JSON holds what ``add`` and
        ``update`` stored, the fields the row type names (a TypedDict: no check at run
        time)."""
        return cast(R, doc)

    def _docs(self, sql: str, params: Sequence[Any] = ()) -> list[R]:
        """Decode the ``doc`` column (the first) of every row."""
        return [self._row(decode(row[0])) for row in self.db.execute(sql, params).fetchall()]

    def _duplicate(self, exc: sqlite3.IntegrityError) -> Duplicate:
        message = str(exc)
        for col, name in self.unique.items():
            if f"{self.table}.{col}" in message:
                return Duplicate(name)
        return Duplicate("id")

    def _side_rows(self, record_id: str, doc: Doc) -> list[tuple[Any, ...]]:
        """The side-table rows of a record (none without a side table)."""
        return []

    def _unsync(self, record_id: str) -> None:
        """Drop a record's side-table rows (inside its transaction)."""
        if self.side_table:
            self.db.execute(f"DELETE FROM {self.side_table} WHERE {self.side_key} = ?",
                            (record_id,))

    def _prepare(self, doc: Mapping[str, Any]) -> tuple[Doc, list[Any]]:
        """A new record as stored (the caller's own copy, with an id) and its insert row;
        the JSON is encoded once."""
        record = dict(doc)
        if record.get("id") is None:
            record["id"] = new_id()
        text = encode(record)
        stored = decode(text)
        return stored, [stored["id"], stored.get("version"), text, *self._columns(stored)]

    def _insert_rows(self, rows: list[list[Any]], records: list[Doc]) -> None:
        try:
            self.db.executemany(self._insert, rows)
        except sqlite3.IntegrityError as exc:
            raise self._duplicate(exc) from exc
        if self.side_table:
            self.db.executemany(self.side_insert, [
                side for record in records for side in self._side_rows(record["id"], record)])

    def _rewrite(self, before: Doc, after: Doc) -> None:
        """Store a changed record: its JSON, its version and only the columns whose values
        changed (so the indexes of unchanged columns are not touched)."""
        old, new = self._columns(before), self._columns(after)
        names = ["version", "doc"]
        values: list[Any] = [after.get("version"), encode(after)]
        for name, was, now in zip(self.columns, old, new, strict=True):
            if was != now or type(was) is not type(now):
                names.append(name)
                values.append(now)
        try:
            self.db.execute(f"UPDATE {self.table} SET {', '.join(n + ' = ?' for n in names)} "
                            "WHERE id = ?", [*values, after["id"]])
        except sqlite3.IntegrityError as exc:
            raise self._duplicate(exc) from exc
        if self.side_table:
            rows = self._side_rows(after["id"], after)
            if rows != self._side_rows(before["id"], before):
                self._unsync(after["id"])
                self.db.executemany(self.side_insert, rows)

    def _read(self, record_id: str) -> Doc | None:
        text = self.db.one(f"SELECT doc FROM {self.table} WHERE id = ?", (record_id,))
        return None if text is None else decode(text)

    # --- Records ---

    def get(self, record_id: str) -> R | None:
        doc = self._read(record_id)
        return None if doc is None else self._row(doc)

    def get_many(self, record_ids: Sequence[str]) -> dict[str, R]:
        ids = sorted({i for i in record_ids if isinstance(i, str)})
        out: dict[str, R] = {}
        for batch in chunks(ids, 500):  # below SQLite's limit of bound parameters
            marks = ", ".join("?" * len(batch))
            for doc in self._docs(f"SELECT doc FROM {self.table} WHERE id IN ({marks})", batch):
                out[cast(Doc, doc)["id"]] = doc
        return out

    def add(self, doc: R) -> R:
        stored, row = self._prepare(cast(Doc, doc))
        with self.db.transaction():
            self._insert_rows([row], [stored])
        return self._row(stored)

    def add_many(self, docs: Sequence[R]) -> list[R]:
        """Add several records in one transaction (joins the current one): one statement
        for all rows, one for all side-table rows."""
        prepared = [self._prepare(cast(Doc, doc)) for doc in docs]
        stored = [record for record, _ in prepared]
        with self.db.transaction():
            self._insert_rows([row for _, row in prepared], stored)
        return [self._row(record) for record in stored]

    def update(self, record_id: str, fields: Mapping[str, Any], *, version: int | None = None,
               bump: bool = True) -> R | None:
        with self.db.transaction():
            before = self._read(record_id)
            if before is None or (version is not None and before.get("version") != version):
                return None
            doc = dict(before)
            doc.update(decode(encode(fields)))
            doc["id"] = record_id
            if bump:
                doc["version"] = (doc.get("version") or 0) + 1
            self._rewrite(before, doc)
        return self._row(doc)

    def increment(self, record_id: str, name: str, by: int = 1) -> R | None:
        with self.db.transaction():
            before = self._read(record_id)
            if before is None:
                return None
            doc = dict(before)
            doc[name] = (doc.get(name) or 0) + by
            self._rewrite(before, doc)
        return self._row(doc)

    def delete(self, record_id: str) -> bool:
        with self.db.transaction():
            gone = self.db.execute(f"DELETE FROM {self.table} WHERE id = ?",
                                   (record_id,)).rowcount > 0
            if gone:
                self._unsync(record_id)
        return gone


def in_clause(col: str, values: Sequence[Any]) -> str:
    """``col IN (?, ...)`` for ``values`` (never true for none)."""
    return f"{col} IN ({', '.join('?' * len(values))})" if values else "0"


def prefix_clause(col: str, prefix: str) -> tuple[str, list[str]]:
    return f"({col} >= ? AND {col} < ?)", [prefix, prefix_end(prefix)]


def equal_clauses(query: Any, cols: tuple[str, ...]) -> tuple[list[str], list[Any]]:
    """``col = ?`` clauses (and their values) for the query's given fields among ``cols``."""
    clauses: list[str] = []
    params: list[Any] = []
    for col in cols:
        value = getattr(query, col)
        if value is not None:
            clauses.append(f"{col} = ?")
            params.append(value)
    return clauses, params


def window(col: str, low: datetime | None, high: datetime | None, clauses: list[str],
            params: list[Any]) -> None:
    """Add ``low <= col < high`` (either end optional) to a query's clauses."""
    if low is not None:
        clauses.append(f"{col} >= ?")
        params.append(iso(low))
    if high is not None:
        clauses.append(f"{col} < ?")
        params.append(iso(high))


class Paged(JsonRecords[R]):
    def _page(self, clauses: list[str], params: list[Any], sort: str, skip: int,
              limit: int | None, count: bool) -> Found[R]:
        cond = where(clauses)
        tail, page = paging(skip, limit)
        items = self._docs(f"SELECT doc FROM {self.table}{cond} ORDER BY {sort}{tail}",
                           params + page)
        total = (self.db.one(f"SELECT count(*) FROM {self.table}{cond}", params)
                 if count else None)
        return Found(items, total)
