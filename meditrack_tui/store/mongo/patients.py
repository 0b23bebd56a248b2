"""The MongoDB store's patients: the record, its search (indexed prefixes) and filters.

A patient's ``phone_rev`` (its phone digits reversed, for a search by the last digits)
is stored beside the record and never returned.
"""

from __future__ import annotations

from typing import Any

from ..base import Doc, Found
from ..queries import PATIENT_SORTS, NameSearch, PatientQuery
from ..repos import PatientRepo
from ..rows import PatientRow
from .records import RecordRepo, prefix, sort_spec


def _flag(value: bool) -> Any:
    """A boolean filter where a missing field counts as False."""
    return True if value else {"$ne": True}


def name_clauses(search: NameSearch) -> list[Doc]:
    """The alternatives of a patient search (see NameSearch), each an indexed prefix."""
    text = search.text
    either: list[Doc] = []
    if search.pair:
        family, given = search.pair
        either.append({"last_key": prefix(family), "first_key": prefix(given)})
        # the full name "first last" starts with the text: the first name starts with it,
        # or is the text up to one of its spaces and the last name starts with the rest
        either.append({"first_key": prefix(text)})
        for at, char in enumerate(text):
            if char == " ":
                either.append({"first_key": text[:at], "last_key": prefix(text[at + 1:])})
    elif text:
        either += [{"last_key": prefix(text)}, {"first_key": prefix(text)}]
    if search.mrn:
        either.append({"mrn": search.mrn})
    if search.mrn_prefix:
        either.append({"mrn": prefix(search.mrn_prefix)})
    if search.phone:
        either.append({"phone_digits": prefix(search.phone)})
        either.append({"phone_rev": prefix(search.phone[::-1])})
    return either


class Patients(RecordRepo[PatientRow], PatientRepo):
    internal = ("phone_rev",)

    def derived(self, fields: Doc) -> Doc:
        if "phone_digits" not in fields:
            return {}
        digits = fields["phone_digits"]
        return {"phone_rev": digits[::-1] if isinstance(digits, str) else None}

    def by_mrn(self, mrn: str) -> PatientRow | None:
        if not isinstance(mrn, str):
            return None
        return self.out(self.coll.find_one({"mrn": mrn}, session=self.s))

    def find(self, query: PatientQuery) -> Found[PatientRow]:
        clauses: list[Doc] = []
        if query.only_id is not None:
            clauses.append({"_id": str(query.only_id)})
        if query.search is not None:
            either = name_clauses(query.search)
            clauses.append({"$or": either} if either else {"_id": {"$exists": False}})
        if query.sex is not None:
            clauses.append({"sex": query.sex})
        dob: Doc = {}
        if query.dob_max is not None:
            dob["$lte"] = query.dob_max
        if query.dob_min_excl is not None:
            dob["$gt"] = query.dob_min_excl
        if dob:
            clauses.append({"dob": dob})
        if query.primary_doctor_id is not None:
            clauses.append({"primary_doctor_id": query.primary_doctor_id})
        if query.condition is not None:
            clauses.append({"conditions_lc": query.condition})
        if query.archived is not None:
            clauses.append({"archived": _flag(query.archived)})
        if query.vitals_alert is not None:
            clauses.append({"vitals_alert": _flag(query.vitals_alert)})
        if query.mrn_after is not None:
            clauses.append({"mrn": {"$gt": str(query.mrn_after)}})
        filt = {} if not clauses else clauses[0] if len(clauses) == 1 else {"$and": clauses}
        if query.sort not in PATIENT_SORTS:
            raise ValueError(f"unknown patient sort {query.sort!r}")
        fields = PATIENT_SORTS[query.sort]
        return self.query(filt, sort_spec(fields, -1 if query.descending else 1),
                          query.skip, query.limit, query.count)

    def alerts(self, limit: int) -> list[PatientRow]:
        return self.rows({"vitals_alert": True, "archived": {"$ne": True}},
                         sort_spec(("vitals_alert_at",), -1), limit)

    def count(self, *, archived: bool | None = None) -> int:
        filt = {} if archived is None else {"archived": _flag(archived)}
        return self.count_matching(filt)
