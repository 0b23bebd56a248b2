"""The embedded store's patients: the record, its conditions (a side table) and its
search: each alternative of a NameSearch one range of an index."""

from __future__ import annotations

from typing import Any, ClassVar

from ..base import Doc, Found
from ..queries import PATIENT_SORTS, NameSearch, PatientQuery
from ..repos import PatientRepo
from ..rows import PatientRow
from .records import Extract, Paged, field, order, paging, prefix_clause, where


def _flag(value: bool | None) -> int | None:
    return None if value is None else int(bool(value))


def _phone_rev(doc: Doc) -> str | None:
    digits = doc.get("phone_digits")
    return digits[::-1] if isinstance(digits, str) else None


def _alternatives(search: NameSearch) -> list[tuple[str, list[Any]]]:
    """A NameSearch as alternative index ranges, any of which matches (see its docstring
    for the meaning)."""
    alternatives: list[tuple[str, list[Any]]] = []
    if search.pair is not None:
        family, given = search.pair
        alternatives.append(prefix_clause("full_key", search.text))
        last, last_args = prefix_clause("last_key", family)
        first, first_args = prefix_clause("first_key", given)
        alternatives.append((f"({last} AND {first})", last_args + first_args))
    else:
        alternatives += [prefix_clause("last_key", search.text),
                         prefix_clause("first_key", search.text)]
    if search.mrn is not None:
        alternatives.append(("mrn = ?", [search.mrn]))
    if search.mrn_prefix is not None:
        alternatives.append(prefix_clause("mrn", search.mrn_prefix))
    if search.phone is not None:
        alternatives.append(prefix_clause("phone_digits", search.phone))
        alternatives.append(prefix_clause("phone_rev", search.phone[::-1]))
    return alternatives


class SqlitePatients(Paged[PatientRow], PatientRepo):
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
        if query.mrn_after is not None:
            add(f"{broad}mrn > ?", query.mrn_after)
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
