"""The aggregates of the embedded store: each a table of JSON records and its queries.

Every query is a range or equality on indexed columns (prefixes as ``col >= p AND
col < prefix_end(p)``), so a page costs what it matches, not the table's size.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from datetime import datetime
from typing import Any, ClassVar, cast

from ...audit_chain import GENESIS, AuditSeal
from ...live import PATIENT_SCOPED
from ..base import (
    AppointmentRepo,
    AuditRepo,
    ChangeRepo,
    ChangeRow,
    Corrupt,
    CounterRepo,
    Doc,
    Found,
    PatientRepo,
    PrescriptionRepo,
    R,
    ReportRepo,
    SessionRepo,
    SettingsRepo,
    UserRepo,
    VitalsRepo,
    new_id,
    prefix_end,
)
from ..queries import (
    APPOINTMENT_SORTS,
    PATIENT_SORTS,
    AppointmentQuery,
    AuditQuery,
    NameSearch,
    PatientQuery,
    UserQuery,
)
from ..rows import (
    AppointmentRow,
    AuditHead,
    AuditRow,
    PatientRow,
    PrescriptionRow,
    ReadingRow,
    ReportRow,
    SessionRow,
    SettingsRow,
    UserRow,
)
from .engine import Database, column, decode, encode, iso
from .records import Extract, JsonRecords, field, order, paging, where

CHUNK_SIZE = 255 * 1024


def _in(col: str, values: Sequence[Any]) -> str:
    """``col IN (?, ...)`` for ``values`` (never true for none)."""
    return f"{col} IN ({', '.join('?' * len(values))})" if values else "0"


def _prefix(col: str, prefix: str) -> tuple[str, list[str]]:
    return f"({col} >= ? AND {col} < ?)", [prefix, prefix_end(prefix)]


def _flag(value: bool | None) -> int | None:
    return None if value is None else int(bool(value))


class _Paged(JsonRecords[R]):
    def _page(self, clauses: list[str], params: list[Any], sort: str, skip: int,
              limit: int | None, count: bool) -> Found[R]:
        cond = where(clauses)
        tail, page = paging(skip, limit)
        items = self._docs(f"SELECT doc FROM {self.table}{cond} ORDER BY {sort}{tail}",
                           params + page)
        total = (self.db.one(f"SELECT count(*) FROM {self.table}{cond}", params)
                 if count else None)
        return Found(items, total)


class SqliteUsers(_Paged[UserRow], UserRepo):
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
            sql, args = _prefix("username_lc", query.username_prefix)
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


def _phone_rev(doc: Doc) -> str | None:
    digits = doc.get("phone_digits")
    return digits[::-1] if isinstance(digits, str) else None


def _alternatives(search: NameSearch) -> list[tuple[str, list[Any]]]:
    """A NameSearch as alternative index ranges, any of which matches (see its docstring
    for the meaning)."""
    alternatives: list[tuple[str, list[Any]]] = []
    if search.pair is not None:
        family, given = search.pair
        alternatives.append(_prefix("full_key", search.text))
        last, last_args = _prefix("last_key", family)
        first, first_args = _prefix("first_key", given)
        alternatives.append((f"({last} AND {first})", last_args + first_args))
    else:
        alternatives += [_prefix("last_key", search.text), _prefix("first_key", search.text)]
    if search.mrn is not None:
        alternatives.append(("mrn = ?", [search.mrn]))
    if search.mrn_prefix is not None:
        alternatives.append(_prefix("mrn", search.mrn_prefix))
    if search.phone is not None:
        alternatives.append(_prefix("phone_digits", search.phone))
        alternatives.append(_prefix("phone_rev", search.phone[::-1]))
    return alternatives


class SqlitePatients(_Paged[PatientRow], PatientRepo):
    table = "patients"
    columns: ClassVar[dict[str, Extract]] = {name: field(name) for name in (
        "mrn", "last_key", "first_key", "full_key", "phone_digits")}
    columns |= {"phone_rev": _phone_rev}
    columns |= {name: field(name) for name in (
        "sex", "dob", "primary_doctor_id", "primary_doctor_name", "archived", "updated_at",
        "vitals_alert", "vitals_alert_at")}
    unique: ClassVar[dict[str, str]] = {"mrn": "mrn"}

    side_table = "patient_conditions"
    side_key = "patient_id"
    side_insert = "INSERT INTO patient_conditions (condition, patient_id) VALUES (?, ?)"

    def _side_rows(self, record_id: str, doc: Doc) -> list[tuple[Any, ...]]:
        conditions = {c for c in doc.get("conditions_lc") or () if isinstance(c, str)}
        return [(c, record_id) for c in sorted(conditions)]

    def by_mrn(self, mrn: str) -> PatientRow | None:
        found = self._docs("SELECT doc FROM patients WHERE mrn = ?", (mrn,))
        return found[0] if found else None

    def find(self, query: PatientQuery) -> Found[PatientRow]:
        if query.sort not in PATIENT_SORTS:
            raise ValueError(f"unknown patient sort {query.sort!r}")
        clauses: list[str] = []
        params: list[Any] = []

        def add(sql: str, *args: Any) -> None:
            clauses.append(sql)
            params.extend(args)

        # with a narrow criterion (a record, a search, a condition, a doctor) that one's
        # index leads: the broad filters get a unary + so SQLite checks them row by row
        # instead of walking, say, every unarchived patient in an archived-first index
        narrow = (query.only_id is not None or query.search is not None
                  or query.condition is not None or query.primary_doctor_id is not None)
        broad = "+" if narrow else ""
        if query.only_id is not None:
            add("id = ?", query.only_id)
        if query.sex is not None:
            add(f"{broad}sex = ?", query.sex)
        if query.dob_max is not None:
            add(f"{broad}dob <= ?", query.dob_max)
        if query.dob_min_excl is not None:
            add(f"{broad}dob > ?", query.dob_min_excl)
        if query.primary_doctor_id is not None:
            add("primary_doctor_id = ?", query.primary_doctor_id)
        if query.condition is not None:
            add("id IN (SELECT patient_id FROM patient_conditions WHERE condition = ?)",
                query.condition)
        if query.archived is not None:
            add(f"{broad}archived = ?", _flag(query.archived))
        if query.vitals_alert is not None:
            add(f"{broad}vitals_alert = ?", _flag(query.vitals_alert))
        sort = order((*PATIENT_SORTS[query.sort], "id"), query.descending)
        if query.search is None:
            return self._page(clauses, params, sort, query.skip, query.limit, query.count)
        return self._search_page(_alternatives(query.search), clauses, params, sort, query)

    def _search_page(self, alternatives: list[tuple[str, list[Any]]], clauses: list[str],
                     params: list[Any], sort: str, query: PatientQuery) -> Found[PatientRow]:
        """A search page as the union of each alternative's own first rows: each is one
        index range walked in sort order (or sorted within the index) and stopped after
        skip + limit rows, so the page costs the page, not every match; the count is the
        union of the alternatives' ids, read from their indexes."""
        branches: list[str] = []
        args: list[Any] = []
        for sql, values in alternatives:
            branches.append(f"SELECT id FROM patients{where([sql, *clauses])}")
            args += [*values, *params]
        total = None
        if query.count:
            total = self._count_alternatives(alternatives, clauses, params)
        if query.limit is None:
            ids = " UNION ".join(branches)
            tail, page = paging(query.skip, None)
            return Found(self._docs(f"SELECT doc FROM patients WHERE id IN ({ids}) "
                                    f"ORDER BY {sort}{tail}", [*args, *page]), total)
        first = max(0, query.skip) + max(0, query.limit)
        limited = " UNION ".join(f"SELECT id FROM ({branch} ORDER BY {sort} LIMIT {first})"
                                 for branch in branches)
        items = self._docs(f"SELECT doc FROM patients WHERE id IN ({limited}) "
                           f"ORDER BY {sort} LIMIT ? OFFSET ?",
                           [*args, max(0, query.limit), max(0, query.skip)])
        return Found(items, total)

    def _count_alternatives(self, alternatives: list[tuple[str, list[Any]]],
                            clauses: list[str], params: list[Any]) -> int:
        """How many records match any alternative: each alternative counts the records
        that no earlier one matched, so every count is one range of its index (no set of
        ids is built to drop the doubles)."""
        total = 0
        for at, (sql, values) in enumerate(alternatives):
            earlier = [(f"NOT coalesce({s}, 0)", v) for s, v in alternatives[:at]]
            conds = [sql, *(s for s, _ in earlier), *clauses]
            args = [*values, *(x for _, v in earlier for x in v), *params]
            total += self.db.one(f"SELECT count(*) FROM patients{where(conds)}", args)
        return total

    def alerts(self, limit: int) -> list[PatientRow]:
        return self._docs("SELECT doc FROM patients WHERE vitals_alert = 1 AND archived = 0 "
                          "ORDER BY vitals_alert_at DESC, id DESC LIMIT ?", (limit,))

    def count(self, *, archived: bool | None = None) -> int:
        if archived is None:
            return int(self.db.one("SELECT count(*) FROM patients"))
        return int(self.db.one("SELECT count(*) FROM patients WHERE archived = ?",
                               (_flag(archived),)))


def _day(doc: Doc) -> Any:
    day = doc.get("day")
    if day is None and isinstance(doc.get("start"), datetime):
        return doc["start"].date().isoformat()
    return column(day)


def _equal(query: Any, cols: tuple[str, ...]) -> tuple[list[str], list[Any]]:
    """``col = ?`` clauses (and their values) for the query's given fields among ``cols``."""
    clauses: list[str] = []
    params: list[Any] = []
    for col in cols:
        value = getattr(query, col)
        if value is not None:
            clauses.append(f"{col} = ?")
            params.append(value)
    return clauses, params


def _window(col: str, low: datetime | None, high: datetime | None, clauses: list[str],
            params: list[Any]) -> None:
    """Add ``low <= col < high`` (either end optional) to a query's clauses."""
    if low is not None:
        clauses.append(f"{col} >= ?")
        params.append(iso(low))
    if high is not None:
        clauses.append(f"{col} < ?")
        params.append(iso(high))


def _text_keys(doc: Doc) -> set[str]:
    """What AppointmentQuery.text matches by prefix: every word-start of the patient's
    name and of the reason (each to its end), and the MRN, lower-cased."""
    keys: set[str] = set()
    for name in ("patient_name", "reason"):
        value = doc.get(name)
        if isinstance(value, str):
            words = value.lower().split()
            keys.update(" ".join(words[i:]) for i in range(len(words)))
    mrn = doc.get("mrn")
    if isinstance(mrn, str) and mrn:
        keys.add(mrn.lower())
    return keys


class SqliteAppointments(_Paged[AppointmentRow], AppointmentRepo):
    table = "appointments"
    columns: ClassVar[dict[str, Extract]] = {
        "patient_id": field("patient_id"), "doctor_id": field("doctor_id"), "day": _day}
    columns |= {name: field(name) for name in (
        "start", "status", "patient_name", "doctor_name", "reason", "mrn")}

    side_table = "appointment_keys"
    side_key = "appointment_id"
    side_insert = "INSERT INTO appointment_keys (key, appointment_id) VALUES (?, ?)"

    def _side_rows(self, record_id: str, doc: Doc) -> list[tuple[Any, ...]]:
        return [(k, record_id) for k in sorted(_text_keys(doc))]

    def find(self, query: AppointmentQuery) -> Found[AppointmentRow]:
        if query.sort not in APPOINTMENT_SORTS:
            raise ValueError(f"unknown appointment sort {query.sort!r}")
        clauses, params = _equal(query, ("patient_id", "doctor_id", "day"))
        if query.days is not None:
            clauses.append(_in("day", query.days))
            params += query.days
        if query.statuses is not None:
            clauses.append(_in("status", query.statuses))
            params += query.statuses
        _window("start", query.start_from, query.start_before, clauses, params)
        if query.text:
            text = query.text.lower()
            clauses.append("id IN (SELECT appointment_id FROM appointment_keys "
                           "WHERE key >= ? AND key < ?)")
            params += [text, prefix_end(text)]
        cols = ("start", "id") if query.sort == "start" else (query.sort, "start", "id")
        return self._page(clauses, params, order(cols, query.descending), query.skip,
                          query.limit, query.count)

    def count_day(self, day: str) -> int:
        return int(self.db.one("SELECT count(*) FROM appointments WHERE day = ?", (day,)))


class SqlitePrescriptions(JsonRecords[PrescriptionRow], PrescriptionRepo):
    table = "prescriptions"
    columns: ClassVar[dict[str, Extract]] = {
        name: field(name) for name in ("patient_id", "status", "start_date")}

    def for_patient(self, patient_id: str, *, status: str | None = None
                    ) -> list[PrescriptionRow]:
        if status is None:
            return self._docs("SELECT doc FROM prescriptions WHERE patient_id = ? "
                              "ORDER BY start_date DESC, id DESC", (patient_id,))
        return self._docs("SELECT doc FROM prescriptions WHERE patient_id = ? AND status = ? "
                          "ORDER BY start_date DESC, id DESC", (patient_id, status))


class SqliteVitals(JsonRecords[ReadingRow], VitalsRepo):
    table = "vitals"
    columns: ClassVar[dict[str, Extract]] = {
        name: field(name) for name in ("patient_id", "taken_at")}

    def series(self, patient_id: str, since: datetime | None = None,
               until: datetime | None = None) -> list[ReadingRow]:
        clauses, params = ["patient_id = ?"], [patient_id]
        if since is not None:
            clauses.append("taken_at >= ?")
            params.append(iso(since))
        if until is not None:
            clauses.append("taken_at <= ?")
            params.append(iso(until))
        return self._docs(f"SELECT doc FROM vitals{where(clauses)} ORDER BY taken_at, id",
                          params)

    def latest(self, patient_id: str, count: int) -> list[ReadingRow]:
        return self._docs("SELECT doc FROM vitals WHERE patient_id = ? "
                          "ORDER BY taken_at DESC, id DESC LIMIT ?", (patient_id, count))


class SqliteReports(JsonRecords[ReportRow], ReportRepo):
    table = "reports"
    columns: ClassVar[dict[str, Extract]] = {
        name: field(name) for name in ("patient_id", "kind", "uploaded_at")}

    def for_patient(self, patient_id: str, *, kind: str | None = None, limit: int = 500,
                    deleted: bool | None = False) -> list[ReportRow]:
        # the patient's index narrows to a few rows; the deleted mark is read from the doc
        sql, params = "SELECT doc FROM reports WHERE patient_id = ?", [patient_id]
        if kind is not None:
            sql, params = sql + " AND kind = ?", params + [kind]
        if deleted is not None:
            sql += (" AND json_extract(doc, '$.deleted_at') IS "
                    + ("NOT NULL" if deleted else "NULL"))
        return self._docs(sql + " ORDER BY uploaded_at DESC, id DESC LIMIT ?",
                          (*params, limit))

    def put_file(self, filename: str, data: bytes, metadata: Doc) -> str:
        file_id = new_id()
        with self.db.transaction():
            self.db.execute("INSERT INTO report_files (file_id, filename, length, sha256, "
                            "metadata) VALUES (?, ?, ?, ?, ?)",
                            (file_id, filename, len(data), hashlib.sha256(data).hexdigest(),
                             encode(metadata)))
            self.db.executemany(
                "INSERT INTO report_chunks (file_id, n, data) VALUES (?, ?, ?)",
                ((file_id, n, data[at:at + CHUNK_SIZE])
                 for n, at in enumerate(range(0, len(data), CHUNK_SIZE))))
        return file_id

    def read_file(self, file_id: str) -> bytes:
        row = self.db.execute("SELECT length, sha256 FROM report_files WHERE file_id = ?",
                              (file_id,)).fetchone()
        if row is None:
            raise Corrupt(f"stored file {file_id} is missing")
        data = b"".join(r[0] for r in self.db.execute(
            "SELECT data FROM report_chunks WHERE file_id = ? ORDER BY n", (file_id,)))
        if len(data) != row[0] or hashlib.sha256(data).hexdigest() != row[1]:
            raise Corrupt(f"stored file {file_id} no longer matches its checksum")
        return data

    def delete_file(self, file_id: str) -> None:
        with self.db.transaction():
            self.db.execute("DELETE FROM report_chunks WHERE file_id = ?", (file_id,))
            self.db.execute("DELETE FROM report_files WHERE file_id = ?", (file_id,))


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
        clauses, params = _equal(query, ("username", "outcome", "patient_id"))
        if query.action_prefix is not None:
            sql, args = _prefix("action", query.action_prefix)
            clauses.append(sql)
            params += args
        _window("ts", query.ts_from, query.ts_before, clauses, params)
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
            clauses.append(_in("coll", colls))
            params += colls
        if patient_id is not None or user_id is not None:
            scope = []
            if patient_id is not None:
                scope.append(f"({_in('coll', PATIENT_SCOPED)} AND patient_id = ?)")
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
