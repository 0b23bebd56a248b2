"""An in-memory directory of patients for search, filter, sort and count on the embedded store.

The embedded store evaluates a prefix search or a sort by decoding every patient
document (hundreds of milliseconds at 10,000 patients). The directory keeps just
the searchable and sortable fields of every patient in memory, answers a list
query with plain Python, and then fetches only the page's documents by id.

It is kept fresh from the change log the services write (so changes made by
other processes are seen before each query). A sync first reads the log's mark:
unchanged means nothing was written anywhere, and the directory is current. When
the log cannot vouch for the whole gap since the last sync (it keeps ``keep``;
``MARGIN`` allows for processes' clocks) or a bulk load happened, it reloads
from the store. Real MongoDB answers the same queries with its own indexes, so
there the directory is not used.
"""

from __future__ import annotations

import threading
from datetime import datetime, timedelta
from typing import Any, Callable, Iterable

from bson import ObjectId

FIELDS = {"mrn": 1, "first_key": 1, "last_key": 1, "full_key": 1, "phone_digits": 1, "sex": 1,
          "dob": 1, "primary_doctor_id": 1, "primary_doctor_name": 1, "conditions_lc": 1,
          "archived": 1, "updated_at": 1}


class Row:
    """The fields of one patient that lists search, filter and sort on."""

    __slots__ = ("id", "mrn", "first_key", "last_key", "full_key", "phone_digits", "sex", "dob",
                 "primary_doctor_id", "doctor_key", "conditions", "archived", "updated_at")

    def __init__(self, doc: dict[str, Any]) -> None:
        self.id: ObjectId = doc["_id"]
        self.mrn: str = doc.get("mrn") or ""
        self.first_key: str = doc.get("first_key") or ""
        self.last_key: str = doc.get("last_key") or ""
        self.full_key: str = doc.get("full_key") or ""
        self.phone_digits: str = doc.get("phone_digits") or ""
        self.sex: str | None = doc.get("sex")
        self.dob: str | None = doc.get("dob")
        self.primary_doctor_id: ObjectId | None = doc.get("primary_doctor_id")
        self.doctor_key: str | None = doc.get("primary_doctor_name")
        self.conditions: frozenset[str] = frozenset(doc.get("conditions_lc") or ())
        self.archived: bool = bool(doc.get("archived"))
        self.updated_at: datetime | None = doc.get("updated_at")


def _k(value: Any) -> tuple[int, Any]:
    """Sort key with MongoDB's order of missing/null values before everything else."""
    return (0, "") if value is None else (1, value)


# sort name -> function giving the sort tuple (mirrors patients.SORTS)
SORT_KEYS: dict[str, Callable[[Row], tuple]] = {
    "mrn": lambda r: (_k(r.mrn),),
    "name": lambda r: (_k(r.last_key), _k(r.first_key)),
    "last_name": lambda r: (_k(r.last_key), _k(r.first_key)),
    "first_name": lambda r: (_k(r.first_key), _k(r.last_key)),
    "dob": lambda r: (_k(r.dob),),
    "sex": lambda r: (_k(r.sex), _k(r.last_key)),
    "phone": lambda r: (_k(r.phone_digits or None),),
    "primary_doctor": lambda r: (_k(r.doctor_key), _k(r.last_key)),
    "updated_at": lambda r: (_k(r.updated_at),),
}


class PatientDirectory:
    """Patients' list fields in memory, synced from the change log before each query."""

    MARGIN = timedelta(minutes=1)  # the log is trusted for ``keep - MARGIN`` (clock skew)

    def __init__(self, db: Any, clock_utc: Callable[[], datetime], keep: timedelta,
                 scan: Callable[[str, Iterable[str]], Iterable[dict[str, Any]]] | None = None
                 ) -> None:
        self.db = db
        # reads a whole collection's listed fields (Store.scan: fast on the embedded store)
        self.scan = scan or (lambda coll, fields: db[coll].find({}, dict.fromkeys(fields, 1)))
        self.utcnow = clock_utc
        self.keep = keep
        self.rows: dict[ObjectId, Row] = {}
        self.loaded = False
        self._feed: Any = None
        self._last_sync: datetime | None = None
        self._loaded_at = datetime.min
        self._sorted: dict[tuple[str, bool], list[Row]] = {}
        self._prefix: dict[str, list[Row]] | None = None
        self._by_mrn: dict[str, Row] | None = None
        self._lock = threading.Lock()

    def reload(self) -> None:
        from ..db.feed import ChangeLogFeed, read_mark

        start = self.utcnow()
        # The mark is read before the patients: any later write moves it, so the next sync
        # reads the log from just before ``start``.
        mark = read_mark(self.db)
        self.rows = {doc["_id"]: Row(doc) for doc in self.scan("patients", FIELDS)}
        # It reads the log itself whenever the mark moved (so it also sees bulk loads noted
        # without the mark), and has no timed rescans (they would make an idle directory
        # reload needlessly).
        self._feed = ChangeLogFeed(self.db, start=start - timedelta(seconds=1),
                                   collections=("patients",), mark=mark, rescan_every=None,
                                   recent=False)
        self._last_sync = start
        self._loaded_at = start
        self._invalidate()
        self.loaded = True

    def sync(self) -> None:
        """Apply patient changes from the log; reload when the log cannot cover the gap."""
        with self._lock:
            now = self.utcnow()
            if not self.loaded or self._last_sync is None:
                self.reload()
                return
            if not self._feed.pending():
                self._last_sync = now  # nothing was appended to the log since the last sync
                return
            if now - self._last_sync > self.keep - self.MARGIN:
                self.reload()
                return
            events = self._feed.poll()
            self._last_sync = now
            if not events:
                return
            if any(e.op == "bulk" and (e.ts is None or e.ts >= self._loaded_at)
                   for e in events):
                self.reload()
                return
            events = [e for e in events if e.op != "bulk"]
            if not events:
                return
            ids = []
            for event in events:
                try:
                    ids.append(ObjectId(event.record_id))
                except Exception:  # noqa: BLE001 - a malformed log entry: reload to be safe
                    self.reload()
                    return
            found = {doc["_id"]: doc for doc in self.db.patients.find({"_id": {"$in": ids}},
                                                                       FIELDS)}
            for pid in ids:
                if pid in found:
                    self.rows[pid] = Row(found[pid])
                else:
                    self.rows.pop(pid, None)
            self._invalidate()

    def _invalidate(self) -> None:
        self._sorted.clear()
        self._prefix = None
        self._by_mrn = None

    def _prefixes(self) -> dict[str, list[Row]]:
        """Rows by the first one and two letters of their first and last names."""
        if self._prefix is None:
            index: dict[str, list[Row]] = {}
            for row in self.rows.values():
                keys = {row.last_key[:1], row.last_key[:2], row.first_key[:1], row.first_key[:2]}
                for key in keys:
                    index.setdefault(key, []).append(row)
            self._prefix = index
        return self._prefix

    def candidates(self, search: dict[str, Any]) -> list[Row]:
        """A superset of the rows a search can match, found without scanning every row."""
        text = search["text"]
        found: dict[ObjectId, Row] = {}
        for key in {text[:2], search["pair"][0][:2] if "pair" in search else text[:2]}:
            for row in self._prefixes().get(key, ()):
                found[row.id] = row
        if "mrn" in search:
            if self._by_mrn is None:
                self._by_mrn = {row.mrn: row for row in self.rows.values()}
            row = self._by_mrn.get(search["mrn"])
            if row is not None:
                found[row.id] = row
        prefix, phone = search.get("mrn_prefix"), search.get("phone")
        if prefix or phone:  # digits: MRN prefixes and phone numbers
            for row in self.rows.values():
                if (prefix and row.mrn.startswith(prefix)) or (phone and (
                        row.phone_digits.startswith(phone) or row.phone_digits.endswith(phone))):
                    found[row.id] = row
        return list(found.values())

    def ordered(self, sort: str, descending: bool) -> list[Row]:
        """All rows in a sort order (cached until the next change)."""
        key = (sort, descending)
        rows = self._sorted.get(key)
        if rows is None:
            keyfn = SORT_KEYS[sort]
            rows = sorted(self.rows.values(), key=lambda r: (*keyfn(r), r.id),
                          reverse=descending)
            self._sorted[key] = rows
        return rows

    def query(self, predicates: Iterable[Callable[[Row], bool]], sort: str, descending: bool,
              skip: int, limit: int, search: dict[str, Any] | None = None
              ) -> tuple[list[ObjectId], int]:
        """(ids of one page, total) for rows matching every predicate, in sort order.

        With a search, candidates come from the prefix index and only they are sorted.
        """
        self.sync()
        preds = list(predicates)
        if search:
            keyfn = SORT_KEYS[sort]
            matches = [r for r in self.candidates(search) if all(p(r) for p in preds)]
            matches.sort(key=lambda r: (*keyfn(r), r.id), reverse=descending)
            return [r.id for r in matches[skip:skip + limit]], len(matches)
        rows = self.ordered(sort, descending)
        if not preds:
            return [r.id for r in rows[skip:skip + limit]], len(rows)
        if len(preds) == 1:
            pred = preds[0]
            matches = [r for r in rows if pred(r)]
        else:
            matches = [r for r in rows if all(p(r) for p in preds)]
        return [r.id for r in matches[skip:skip + limit]], len(matches)
