"""The filter bar of the patient records list: sex, age range, primary doctor, condition
and, for the roles that archive records, active/archived; the criteria it sets for the
patient search and the one-line summary of them for the list's status line.

Its controls keep their ids (#flt-sex, #flt-age-min, …): the list screen reacts to their
Changed and Submitted messages, and patients.tcss lays them out.
"""

from __future__ import annotations

from typing import Any

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Horizontal
from textual.widgets import Input, Select

from meditrack_tui.domain import sex_label

from ..forms.patient import SEX_OPTIONS
from .table import short_doctor

ARCHIVE_OPTIONS = [("Active", "active"), ("Archived", "archived"), ("All", "all")]


class PatientFilters(Horizontal):
    """The filter controls in one row; ``archived`` offers the active/archived choice."""

    def __init__(self, *, archived: bool = False, id: str | None = "pl-filters") -> None:
        super().__init__(id=id)
        self.offer_archived = archived
        self.doctor_names: dict[str, str] = {}

    def compose(self) -> ComposeResult:
        yield Select(SEX_OPTIONS, prompt="Any sex", id="flt-sex", compact=True)
        yield Input(placeholder="Age ≥", id="flt-age-min", compact=True, type="integer",
                    max_length=3)
        yield Input(placeholder="Age ≤", id="flt-age-max", compact=True, type="integer",
                    max_length=3)
        yield Select([], prompt="Any doctor", id="flt-doctor", compact=True)
        yield Input(placeholder="Condition", id="flt-condition", compact=True)
        if self.offer_archived:
            yield Select(ARCHIVE_OPTIONS, allow_blank=False, value="active",
                         id="flt-archived", compact=True)

    def set_doctors(self, doctors: list[dict[str, Any]]) -> None:
        """The doctors the doctor filter offers."""
        self.doctor_names = {d["id"]: d["full_name"] for d in doctors}
        self.query_one("#flt-doctor", Select).set_options(
            [(Text(d["full_name"]), d["id"]) for d in doctors])

    def criteria(self) -> dict[str, Any]:
        """The filters as set, as typed (ages are the typed text; see :meth:`for_search`)."""
        def select(wid: str) -> Any:
            found = self.query(wid)  # the archived filter exists for some roles only
            if not found:
                return None
            value = found.first(Select).value
            return None if value is Select.NULL else value

        def text(wid: str) -> str | None:
            value = self.query_one(wid, Input).value.strip()
            return value or None

        return {
            "sex": select("#flt-sex"),
            "age_min": text("#flt-age-min"),
            "age_max": text("#flt-age-max"),
            "primary_doctor_id": select("#flt-doctor"),
            "condition": text("#flt-condition"),
            "archived": select("#flt-archived") or "active",
        }

    def for_search(self) -> dict[str, Any]:
        """The criteria for the patient search: ages as numbers when they are numbers (any
        other text goes as typed, and the service says what is wrong with it)."""
        criteria = self.criteria()
        for key in ("age_min", "age_max"):
            value = criteria[key]
            if value is not None and value.isdigit():
                criteria[key] = int(value)
        return criteria

    def summary(self) -> str:
        """The filters in use, in a few words ('female, age 30–40, Dr Reyes'); '' if none."""
        c = self.criteria()
        parts = []
        if c["sex"]:
            parts.append(sex_label(c["sex"]).split(" /")[0].lower())
        if c["age_min"] or c["age_max"]:
            parts.append(f"age {c['age_min'] or '0'}–{c['age_max'] or ''}".rstrip("–"))
        if c["primary_doctor_id"]:
            parts.append(short_doctor(self.doctor_names.get(c["primary_doctor_id"], "doctor")))
        if c["condition"]:
            parts.append(c["condition"])
        if c["archived"] != "active":
            parts.append(c["archived"])
        return ", ".join(parts)


__all__ = ["ARCHIVE_OPTIONS", "PatientFilters"]
