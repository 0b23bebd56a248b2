"""One class for every table of whole JSON records: get, add, update, increment, delete.

A subclass names its table, the columns kept beside the JSON (each with the function that
takes its value from a record) and the unique columns; it adds its own queries and may
keep side tables in step (``_sync`` / ``_unsync``).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Sequence
from typing import Any, ClassVar

from ..base import Doc, Duplicate, Records, new_id
from .engine import Database, column, decode, encode

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


class JsonRecords(Records):
    """Records of one table: ``id``, ``version`` and ``doc`` (JSON) plus ``columns``."""

    table: ClassVar[str]
    columns: ClassVar[dict[str, Extract]] = {}
    unique: ClassVar[dict[str, str]] = {}   # column -> the field Duplicate names

    def __init__(self, db: Database) -> None:
        self.db = db
        names = ["id", "version", "doc", *self.columns]
        self._insert = (f"INSERT INTO {self.table} ({', '.join(names)}) "
                        f"VALUES ({', '.join('?' * len(names))})")
        self._update = (f"UPDATE {self.table} SET "
                        + ", ".join(f"{n} = ?" for n in names[1:]) + " WHERE id = ?")

    # --- helpers for subclasses ---

    def _row(self, doc: Doc) -> list[Any]:
        """The column values of a stored record, in ``_insert`` order after id."""
        return [doc.get("version"), encode(doc), *(f(doc) for f in self.columns.values())]

    def _docs(self, sql: str, params: Sequence[Any] = ()) -> list[Doc]:
        """Decode the ``doc`` column (the first) of every row."""
        return [decode(row[0]) for row in self.db.execute(sql, params).fetchall()]

    def _duplicate(self, exc: sqlite3.IntegrityError) -> Duplicate:
        message = str(exc)
        for col, name in self.unique.items():
            if f"{self.table}.{col}" in message:
                return Duplicate(name)
        return Duplicate("id")

    def _sync(self, record_id: str, doc: Doc) -> None:
        """Keep side tables in step with a record just written (inside its transaction)."""

    def _unsync(self, record_id: str) -> None:
        """Drop a deleted record's side-table rows (inside its transaction)."""

    def _write(self, record_id: str, doc: Doc, *, new: bool) -> None:
        try:
            if new:
                self.db.execute(self._insert, [record_id, *self._row(doc)])
            else:
                self.db.execute(self._update, [*self._row(doc), record_id])
        except sqlite3.IntegrityError as exc:
            raise self._duplicate(exc) from exc
        self._sync(record_id, doc)

    def _read(self, record_id: str) -> Doc | None:
        text = self.db.one(f"SELECT doc FROM {self.table} WHERE id = ?", (record_id,))
        return None if text is None else decode(text)

    # --- Records ---

    def get(self, record_id: str) -> Doc | None:
        return self._read(record_id)

    def add(self, doc: Doc) -> Doc:
        stored = decode(encode(doc))
        if stored.get("id") is None:
            stored["id"] = new_id()
        with self.db.transaction():
            self._write(stored["id"], stored, new=True)
        return stored

    def add_many(self, docs: Sequence[Doc]) -> list[Doc]:
        """Add several records in one transaction (joins the current one)."""
        with self.db.transaction():
            return [self.add(doc) for doc in docs]

    def update(self, record_id: str, fields: Doc, *, version: int | None = None,
               bump: bool = True) -> Doc | None:
        with self.db.transaction():
            doc = self._read(record_id)
            if doc is None or (version is not None and doc.get("version") != version):
                return None
            doc.update(decode(encode(fields)))
            doc["id"] = record_id
            if bump:
                doc["version"] = (doc.get("version") or 0) + 1
            self._write(record_id, doc, new=False)
        return doc

    def increment(self, record_id: str, name: str, by: int = 1) -> Doc | None:
        with self.db.transaction():
            doc = self._read(record_id)
            if doc is None:
                return None
            doc[name] = (doc.get(name) or 0) + by
            self._write(record_id, doc, new=False)
        return doc

    def delete(self, record_id: str) -> bool:
        with self.db.transaction():
            gone = self.db.execute(f"DELETE FROM {self.table} WHERE id = ?",
                                   (record_id,)).rowcount > 0
            if gone:
                self._unsync(record_id)
        return gone
