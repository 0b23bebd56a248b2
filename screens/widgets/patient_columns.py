"""The patient records list's columns, its sort orders and its status line.

Pure functions of the list's state (the screen keeps the state): the headers with the sort
arrow, a patient's row, what the Sort key and a header click change, and the status line.
"""

from __future__ import annotations

from typing import Any

from rich.text import Text

from .table import Fit, short_doctor

# column key -> (header, service sort key or None, sort inverted relative to the column)
COLUMNS: dict[str, tuple[str, str | None, bool]] = {
    "mrn": ("MRN", "mrn", False),
    "name": ("Name", "name", False),
    "age": ("Age", "dob", True),
    "sex": ("Sex", "sex", False),
    "phone": ("Phone", "phone", False),
    "doctor": ("Doctor", "primary_doctor", False),
    "conditions": ("Conditions", None, False),
}
#: a narrow table leaves the phone column out (search still finds phones); the
#: conditions and doctors are cut with an ellipsis
FIT = Fit(flex=("conditions", "doctor"), drop=("phone",), minimum=12)
#: the columns' least widths, so that a search with other rows keeps the layout (re-laying
#: out the columns costs a full redraw of the table on every key); conditions always
#: take the room that is left
COLUMN_WIDTHS = {"mrn": 10, "name": 20, "age": 5, "sex": 5, "phone": 11, "doctor": 13,
                 "conditions": 200}

# what the Sort key cycles through: (service sort key, label, column or None)
SORT_CYCLE: list[tuple[str, str, str | None]] = [
    ("name", "name", "name"),
    ("mrn", "MRN", "mrn"),
    ("dob", "age", "age"),
    ("sex", "sex", "sex"),
    ("phone", "phone", "phone"),
    ("primary_doctor", "doctor", "doctor"),
    ("first_name", "first name", None),
    ("updated_at", "last update", None),
]


def headers(sort: str, descending: bool) -> list[tuple[str, Text]]:
    """The columns: (key, header), the sorted one with its arrow."""
    result = []
    for key, (label, sort_key, inverted) in COLUMNS.items():
        header = Text(label)
        if sort_key == sort and sort_key is not None:
            ascending = descending == inverted
            header.append(" ▲" if ascending else " ▼", style="bold")
        # room for the arrow: a column keeps its width when sorted
        header.append(" " * max(0, COLUMN_WIDTHS[key] - header.cell_len))
        result.append((key, header))
    return result


def patient_cells(item: dict[str, Any]) -> list[Text]:
    """A patient's row (every cell a Text: a DataTable reads str cells as markup)."""
    name = Text(item.get("name") or "")
    if item.get("archived"):
        name = Text(f"{item.get('name') or ''} (arch.)", style="italic")
    return [
        Text(item.get("mrn", "")),
        name,
        Text("" if item.get("age") is None else str(item["age"])),
        Text(item.get("sex") or ""),
        Text(item.get("phone") or ""),
        Text(short_doctor(item.get("primary_doctor_name"))),
        Text(", ".join(item.get("conditions") or [])),
    ]


def next_sort(sort: str) -> tuple[str, bool]:
    """The Sort key's next order after ``sort``: (sort key, descending). Ascending, except
    age (the youngest first = the latest birth date) and the newest updates first."""
    keys = [key for key, _, _ in SORT_CYCLE]
    index = keys.index(sort) if sort in keys else -1
    following = keys[(index + 1) % len(keys)]
    return following, following in ("dob", "updated_at")


def header_sort(column: str, sort: str, descending: bool) -> tuple[str, bool] | None:
    """The order after a click on ``column``'s header: the same column reverses, a new one
    starts ascending (for age: the youngest first); None for a column that does not sort."""
    _label, sort_key, inverted = COLUMNS[column]
    if sort_key is None:
        return None
    if sort_key == sort:
        return sort, not descending
    return sort_key, inverted


def status_text(*, total: int, page_no: int, pages: int, query: str, sort: str,
                descending: bool, filters: str) -> str:
    """The line under the list: page, count and order, or that nothing matches; and the
    filters in use."""
    label = next((lbl for key, lbl, _ in SORT_CYCLE if key == sort), sort)
    ascending = descending == (sort == "dob")  # age runs opposite to birth date
    arrow = "▲" if ascending else "▼"
    query = query.strip()
    if total == 0:
        text = f"No patients match “{query}”." if query else "No patients match."
    else:
        noun = "patient" if total == 1 else "patients"
        text = f"Page {page_no} of {pages} · {total} {noun} · sorted by {label} {arrow}"
    if filters:
        text += f" · filters: {filters}"
    return text


__all__ = ["COLUMNS", "FIT", "SORT_CYCLE", "header_sort", "headers", "next_sort",
           "patient_cells", "status_text"]
