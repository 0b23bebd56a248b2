"""A scratch file for grouping more records than fit in memory: the FHIR import's spool.

Not the store: a temporary SQLite file the caller creates in a private folder and
deletes after use (nothing durable: no journal, no sync). It lives here because only the
store implementations speak to a database driver.

Groups are added with the names they are known by, items with the name of the group they
belong to (or as loose items of no group, read back by kind), in any order; when all are
in, :meth:`GroupSpool.groups` reads each group back with its items (in the order added),
one group at a time, from an index: memory holds one group, whatever the number of groups
and items.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path

_SCHEMA = """
PRAGMA journal_mode = OFF;
PRAGMA synchronous = OFF;
CREATE TABLE groups (seq INTEGER PRIMARY KEY, payload TEXT NOT NULL, origin TEXT NOT NULL);
CREATE TABLE names (name TEXT PRIMARY KEY, seq INTEGER NOT NULL) WITHOUT ROWID;
CREATE TABLE items (seq INTEGER PRIMARY KEY, name TEXT NOT NULL, kind TEXT NOT NULL,
                    payload TEXT NOT NULL, origin TEXT NOT NULL, extra TEXT);
CREATE TABLE loose (seq INTEGER PRIMARY KEY, kind TEXT NOT NULL, payload TEXT NOT NULL,
                    origin TEXT NOT NULL, extra TEXT);
"""

#: an item as added: (kind, payload, origin, extra)
SpoolItem = tuple[str, str, str, str | None]


class GroupSpool:
    """Groups and their items in a new file at ``path`` (see the module docstring)."""

    def __init__(self, path: Path) -> None:
        self.db = sqlite3.connect(path, isolation_level=None)
        self.db.executescript(_SCHEMA)
        self.db.execute("BEGIN")
        self._sealed = False

    def add_group(self, names: list[str], payload: str, origin: str) -> None:
        """A group known by ``names`` (a later group with the same name takes it)."""
        seq = self.db.execute("INSERT INTO groups (payload, origin) VALUES (?, ?)",
                              (payload, origin)).lastrowid
        self.db.executemany("INSERT OR REPLACE INTO names (name, seq) VALUES (?, ?)",
                            [(name, seq) for name in names])

    def add_item(self, name: str, kind: str, payload: str, origin: str,
                 extra: str | None = None) -> None:
        """An item of the group named ``name`` (which may be added later)."""
        self.db.execute("INSERT INTO items (name, kind, payload, origin, extra) "
                        "VALUES (?, ?, ?, ?, ?)", (name, kind, payload, origin, extra))

    def add_loose(self, kind: str, payload: str, origin: str, extra: str | None = None) -> None:
        """An item of no group (the FHIR import's Practitioners), read back by kind."""
        self.db.execute("INSERT INTO loose (kind, payload, origin, extra) VALUES (?, ?, ?, ?)",
                        (kind, payload, origin, extra))

    def loose(self, kind: str) -> Iterator[SpoolItem]:
        """The items of no group of ``kind``, in the order added, one at a time."""
        self._seal()
        yield from self.db.execute("SELECT kind, payload, origin, extra FROM loose "
                                   "WHERE kind = ? ORDER BY seq", (kind,))

    def _seal(self) -> None:
        if not self._sealed:
            self.db.execute("CREATE INDEX items_name ON items (name, seq)")
            self.db.execute("CREATE INDEX names_seq ON names (seq)")
            self.db.execute("COMMIT")
            self._sealed = True

    def orphans(self) -> Iterator[tuple[str, str, str]]:
        """(kind, origin, name) of each item whose group never came, in the order added."""
        self._seal()
        yield from self.db.execute(
            "SELECT kind, origin, name FROM items WHERE name NOT IN (SELECT name FROM names) "
            "ORDER BY seq")

    def groups(self) -> Iterator[tuple[str, str, list[SpoolItem]]]:
        """(payload, origin, items) of each group, in the order added."""
        self._seal()
        for seq, payload, origin in self.db.execute(
                "SELECT seq, payload, origin FROM groups ORDER BY seq"):
            items = self.db.execute(
                "SELECT i.kind, i.payload, i.origin, i.extra FROM names n JOIN items i "
                "ON i.name = n.name WHERE n.seq = ? ORDER BY i.seq", (seq,)).fetchall()
            yield payload, origin, items

    def close(self) -> None:
        self.db.close()
