"""Patient records: search as you type, filters, sortable columns and pages; open or create.

The create/edit form is screens/forms/patient.py; a record opens by OpenPatient (the App
routes it to the patient screen).
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from rich.text import Text
from textual import events, on
from textual.app import ComposeResult, SystemCommand
from textual.binding import Binding
from textual.containers import Horizontal
from textual.message import Message
from textual.widgets import DataTable, Input, Select, Static
from textual.widgets.data_table import CellDoesNotExist

from meditrack_tui.domain import sex_label
from meditrack_tui.errors import MediTrackError, SessionExpired
from meditrack_tui.services.base import Page

from .base import BaseScreen, error_text, live_refresh
from .forms.patient import SEX_OPTIONS, PatientFormScreen
from .messages import DataChanged, OpenPatient, ServiceFailed
from .widgets.footer import AppFooter
from .widgets.table import Fit, Table, refilled, short_doctor

ARCHIVE_OPTIONS = [("Active", "active"), ("Archived", "archived"), ("All", "all")]

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
ANSWER_WAIT = 2.0  # seconds a search may take before a newly typed key sends another
LIST = "patient-list"  # the list's ask() group: a newer search drops an older answer

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


@dataclass
class PatientsLoaded(Message):
    """A page of the patient list, as the service answered the latest search."""

    page: Page[dict[str, Any]]


@dataclass
class DoctorsLoaded(Message):
    """The doctors (for the doctor filter and the new-patient form)."""

    doctors: list[dict[str, Any]]


class PatientListScreen(BaseScreen):
    """Patient records for staff: search as you type, filter, sort, page, open, create."""

    CSS_PATH = "patients.tcss"
    WATCHES = frozenset({"patients"})
    AUTO_FOCUS = "#pl-search"
    SEARCH_FIELD = "#pl-search"  # text typed on the table goes back to the search
    BINDINGS = [
        Binding("ctrl+n", "new_patient", "New patient", id="patients-new"),
        Binding("ctrl+f", "toggle_filters", "Filters", id="patients-filters"),
        Binding("ctrl+o", "cycle_sort", "Sort", id="patients-sort"),
        Binding("ctrl+t", "reverse_sort", "Reverse", id="patients-reverse"),
        Binding("pagedown", "page(1)", "Next page", id="patients-next-page", priority=True),
        Binding("pageup", "page(-1)", "Prev page", id="patients-prev-page", priority=True),
        Binding("down", "focus_table", "To the table", show=False, id="patients-to-table"),
        Binding("escape", "clear_search", "Clear search", show=False, id="patients-clear"),
    ]

    def __init__(self, query: str = "") -> None:
        super().__init__()
        self.query_text = query
        self.sort = "name"
        self.descending = False
        self.page_no = 1
        self.page_size = 20
        self.pages = 1
        self.total = 0
        self.doctors: list[dict[str, Any]] = []
        self.items: list[dict[str, Any]] = []
        self._sent_at = 0.0
        #: a search is on its way (its answer, or its failure, not shown yet)
        self._asked = False
        self._drawn = False  # the table has been filled from self.items at least once
        #: typed while a search was on its way: search again as soon as it answers
        self._stale = False
        self._open_pending = False
        self._loaded = False

    # --- layout ---

    def compose(self) -> ComposeResult:
        with Horizontal(id="pl-top"):
            yield Static("Patient records", id="pl-title", classes="section-title")
            yield Input(self.query_text, placeholder="Search name, MRN or phone…",
                        id="pl-search", compact=True)
        with Horizontal(id="pl-filters"):
            yield Select(SEX_OPTIONS, prompt="Any sex", id="flt-sex", compact=True)
            yield Input(placeholder="Age ≥", id="flt-age-min", compact=True, type="integer",
                        max_length=3)
            yield Input(placeholder="Age ≤", id="flt-age-max", compact=True, type="integer",
                        max_length=3)
            yield Select([], prompt="Any doctor", id="flt-doctor", compact=True)
            yield Input(placeholder="Condition", id="flt-condition", compact=True)
            if self._is_admin:
                yield Select(ARCHIVE_OPTIONS, allow_blank=False, value="active",
                             id="flt-archived", compact=True)
        table = Table(id="pl-table", cursor_type="row", zebra_stripes=True)
        table.fit = FIT
        yield table
        yield Static("", id="pl-status")
        yield AppFooter()

    @property
    def _is_admin(self) -> bool:
        """Whether archived records are offered (the role may archive and restore them)."""
        return self.permissions.may("patient.archive")

    def on_mount(self) -> None:
        self.query_one("#pl-filters").display = self.app.size.height >= 32
        session = self.session
        self.ask(lambda s: s.users.doctors(session), DoctorsLoaded, group="pl-doctors")
        self.call_after_refresh(self._first_load)

    def _first_load(self) -> None:
        self.page_size = self._fitting_page_size()
        self._loaded = True
        self.reload()

    def _fitting_page_size(self) -> int:
        """As many rows as the table shows without scrolling (header and scrollbar aside)."""
        height = self.query_one("#pl-table", DataTable).size.height
        return max(5, min(100, height - 2)) if height > 4 else 20

    def on_resize(self, event: events.Resize) -> None:
        if self._loaded:
            self.call_after_refresh(self._refit)

    def _refit(self) -> None:
        """A page as long as the table is high (the table fits its columns itself)."""
        size = self._fitting_page_size()
        if size != self.page_size:
            first = (self.page_no - 1) * self.page_size
            self.page_size = size
            self.page_no = first // size + 1
            self.reload()

    def on_doctors_loaded(self, message: DoctorsLoaded) -> None:
        self.doctors = message.doctors
        self.query_one("#flt-doctor", Select).set_options(
            [(Text(d["full_name"]), d["id"]) for d in self.doctors])

    def _headers(self) -> list[tuple[str, Text]]:
        """The columns: (key, header), the sorted one with its arrow."""
        headers = []
        for key, (label, sort_key, inverted) in COLUMNS.items():
            header = Text(label)
            if sort_key == self.sort and sort_key is not None:
                ascending = self.descending == inverted
                header.append(" ▲" if ascending else " ▼", style="bold")
            # room for the arrow: a column keeps its width when sorted
            header.append(" " * max(0, COLUMN_WIDTHS[key] - header.cell_len))
            headers.append((key, header))
        return headers

    @property
    def widths(self) -> dict[str, int]:
        """The shown columns and their widths (the table fits them to its width)."""
        table = self.query_one("#pl-table", Table)
        return {str(key.value): column.width for key, column in table.columns.items()}

    # --- loading ---

    def set_query(self, text: str) -> None:
        """Pre-fill the search (e.g. from the dashboard) and search at once."""
        self.query_text = text
        if not self.is_mounted:
            return
        search = self.query_one("#pl-search", Input)
        if search.value != text:
            search.value = text
        self.page_no = 1
        if self._loaded:
            self.reload()

    def _criteria(self) -> dict[str, Any]:
        def select(wid: str) -> Any:
            found = self.query(wid)  # the archived filter exists for admins only
            if not found:
                return None
            value = found.first(Select).value
            return None if value is Select.NULL else value

        def text(wid: str) -> str | None:
            value = self.query_one(wid, Input).value.strip()
            return value or None

        return {
            "query": self.query_text.strip() or None,
            "sex": select("#flt-sex"),
            "age_min": text("#flt-age-min"),
            "age_max": text("#flt-age-max"),
            "primary_doctor_id": select("#flt-doctor"),
            "condition": text("#flt-condition"),
            "archived": select("#flt-archived") or "active",
        }

    def reload(self) -> None:
        """Fetch the current page; a newer request always wins over an older one."""
        self._stale = False
        if not self._loaded:
            return
        criteria = self._criteria()
        for key in ("age_min", "age_max"):
            if criteria[key] is not None:
                criteria[key] = int(criteria[key]) if criteria[key].isdigit() else criteria[key]
        session = self.session
        page, size, sort, desc = self.page_no, self.page_size, self.sort, self.descending
        self._sent_at = time.monotonic()
        self._asked = True
        # a newer search in the group drops the answer of an older one still on its way
        self.ask(lambda s: s.patients.list(session, sort=sort, descending=desc, page=page,
                                           page_size=size, **criteria),
                 PatientsLoaded, group=LIST)

    def on_patients_loaded(self, message: PatientsLoaded) -> None:
        self._asked = False
        if self._stale:  # typed on meanwhile: drawing this would only delay the next answer
            self.reload()
            return
        self.show_page(message.page)

    def show_page(self, result: Page[dict[str, Any]]) -> None:
        """Show the answer to the latest search."""
        if result.items == [] and result.total and result.page > 1:
            self.page_no = result.pages  # the list shrank under us: show its last page
            self.reload()
            return
        if result.items != self.items or not self._drawn:
            # redrawing a table costs ~25 ms of the ~40 a key takes: only when rows changed
            self.items = result.items
            self._render_rows()
        paging = (self.pages, self.page_no)
        self.total, self.pages, self.page_no = result.total, result.pages, result.page
        if (self.pages, self.page_no) != paging:
            self.refresh_bindings()
        self._update_status()
        if self._open_pending:
            self._open_pending = False
            self._open_cursor_row()

    def _render_rows(self) -> None:
        """Fill the table from ``self.items``, keeping the cursor on the same patient."""
        table = self.query_one("#pl-table", Table)
        current = self._cursor_id()
        old_row, scroll_y = table.cursor_row, table.scroll_y
        self._drawn = True
        rows = []
        for item in self.items:
            name = Text(item.get("name") or "")
            if item.get("archived"):
                name = Text(f"{item.get('name') or ''} (arch.)", style="italic")
            # every cell a Text: a DataTable reads str cells as markup
            rows.append((item["id"], [
                Text(item.get("mrn", "")),
                name,
                Text("" if item.get("age") is None else str(item["age"])),
                Text(item.get("sex") or ""),
                Text(item.get("phone") or ""),
                Text(short_doctor(item.get("primary_doctor_name"))),
                Text(", ".join(item.get("conditions") or [])),
            ]))
        table.fill_fitted(self._headers(), rows)
        refilled(table, scroll_y)
        if self.items:
            ids = [item["id"] for item in self.items]
            row = ids.index(current) if current in ids else min(max(old_row, 0), len(ids) - 1)
            table.move_cursor(row=row, animate=False)

    def on_service_failed(self, message: ServiceFailed) -> None:
        """A refused search (e.g. a minimum age above the maximum) is said in the status
        line; other failures go to the base handler."""
        if message.group != LIST:
            return
        self._asked = False
        error = message.error
        if isinstance(error, SessionExpired) or not isinstance(error, MediTrackError):
            return
        message.prevent_default()
        message.stop()
        if self._stale:
            self.reload()
            return
        self._open_pending = False
        status = self.query_one("#pl-status", Static)
        status.update(Text(error_text(error), style="bold"))
        status.add_class("error")

    def _update_status(self) -> None:
        status = self.query_one("#pl-status", Static)
        status.remove_class("error")
        label = next((lbl for key, lbl, _ in SORT_CYCLE if key == self.sort), self.sort)
        ascending = self.descending == (self.sort == "dob")  # age runs opposite to birth date
        arrow = "▲" if ascending else "▼"
        if self.total == 0:
            what = f"No patients match “{self.query_text.strip()}”" if self.query_text.strip() \
                else "No patients match"
            text = f"{what}."
        else:
            noun = "patient" if self.total == 1 else "patients"
            text = (f"Page {self.page_no} of {self.pages} · {self.total} {noun} · "
                    f"sorted by {label} {arrow}")
        active = self._active_filters()
        if active:
            text += f" · filters: {active}"
        status.update(Text(text))

    def _active_filters(self) -> str:
        c = self._criteria()
        parts = []
        if c["sex"]:
            parts.append(sex_label(c["sex"]).split(" /")[0].lower())
        if c["age_min"] or c["age_max"]:
            parts.append(f"age {c['age_min'] or '0'}–{c['age_max'] or ''}".rstrip("–"))
        if c["primary_doctor_id"]:
            names = {d["id"]: d["full_name"] for d in self.doctors}
            parts.append(short_doctor(names.get(c["primary_doctor_id"], "doctor")))
        if c["condition"]:
            parts.append(c["condition"])
        if c["archived"] != "active":
            parts.append(c["archived"])
        return ", ".join(parts)

    def on_data_changed(self, message: DataChanged) -> None:
        message.prevent_default()  # handled here (keeps the cursor); not again by BaseScreen
        if message.touches("patients"):
            with live_refresh(self.app):
                self.reload()

    # --- searching and filtering ---

    @on(Input.Changed, "#pl-search")
    def search_changed(self, event: Input.Changed) -> None:
        if event.value == self.query_text:
            return
        self.query_text = event.value
        self._debounced_reload()

    @on(Input.Changed, "#flt-age-min, #flt-age-max, #flt-condition")
    def filter_typed(self) -> None:
        self._debounced_reload()

    @on(Select.Changed, "#flt-sex, #flt-doctor, #flt-archived")
    def filter_chosen(self) -> None:
        self.page_no = 1
        self.reload()

    def _debounced_reload(self) -> None:
        """Search at once for what was typed, without waiting for a pause in the typing: a
        search takes a few milliseconds. While one is on its way, keys typed meanwhile only
        mark it stale; its answer is then dropped and one search for the latest text goes
        out (so fast typing never queues a search per key)."""
        self.page_no = 1
        self._open_pending = False
        waiting = time.monotonic() - self._sent_at
        if self._asked and waiting < ANSWER_WAIT:
            self._stale = True
        else:  # nothing on its way (or an answer that never came)
            self.reload()

    @property
    def searching(self) -> bool:
        """A search is on its way (or must be sent again): the list is not yet current."""
        return self._asked or self._stale

    @on(Input.Submitted, "#pl-search")
    def search_submitted(self) -> None:
        """Enter in the search box opens the highlighted (first) match, once it is shown."""
        if self.searching:
            self._open_pending = True  # opened once the latest search is shown
            return
        self._open_cursor_row()

    def _open_cursor_row(self) -> None:
        if self.query_one("#pl-table", DataTable).row_count:
            self.open_patient(self._cursor_id())
        else:
            self.notify("No patient matches that search.", severity="warning", timeout=3,
                        markup=False)

    @on(Input.Submitted, "#pl-filters Input")
    def filter_submitted(self) -> None:
        self.action_focus_table()

    # --- table ---

    def _cursor_id(self) -> str | None:
        table = self.query_one("#pl-table", DataTable)
        if not table.row_count:
            return None
        try:
            key = table.coordinate_to_cell_key(table.cursor_coordinate).row_key
        except CellDoesNotExist:
            return None
        return key.value

    @on(DataTable.RowSelected, "#pl-table")
    def row_selected(self, event: DataTable.RowSelected) -> None:
        self.open_patient(event.row_key.value)

    @on(DataTable.HeaderSelected, "#pl-table")
    def header_selected(self, event: DataTable.HeaderSelected) -> None:
        sort_key = COLUMNS[str(event.column_key.value)][1]
        if sort_key is None:
            return
        if sort_key == self.sort:
            self.descending = not self.descending
        else:  # a new column starts ascending (for age: the youngest first)
            self.sort, self.descending = sort_key, COLUMNS[str(event.column_key.value)][2]
        self._resort()

    def open_patient(self, patient_id: str | None) -> None:
        if patient_id:
            self.post_message(OpenPatient(patient_id))

    # --- actions ---

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "new_patient":
            return self.permissions.may("patient.create")
        if action == "page" and parameters:  # Prev only past page 1, Next before the last
            step = parameters[0]
            return self.page_no > 1 if step == -1 else self.page_no < self.pages
        return True

    def action_focus_table(self) -> None:
        self.query_one("#pl-table", DataTable).focus()

    def action_clear_search(self) -> None:
        search = self.query_one("#pl-search", Input)
        if search.value:
            search.value = ""
        search.focus()

    def action_toggle_filters(self) -> None:
        bar = self.query_one("#pl-filters")
        bar.display = not bar.display
        if bar.display:
            self.query_one("#flt-sex", Select).focus()
        else:
            self.query_one("#pl-search", Input).focus()
        self.call_after_refresh(self._refit)

    def action_cycle_sort(self) -> None:
        keys = [key for key, _, _ in SORT_CYCLE]
        index = keys.index(self.sort) if self.sort in keys else -1
        self.sort = keys[(index + 1) % len(keys)]
        # ascending, except age (youngest first = latest birth date) and newest updates first
        self.descending = self.sort in ("dob", "updated_at")
        self._resort()

    def action_reverse_sort(self) -> None:
        self.descending = not self.descending
        self._resort()

    def _resort(self) -> None:
        self.page_no = 1
        self._drawn = False  # the headers' sort arrows change even if the rows do not
        self.reload()

    def action_page(self, step: int) -> None:
        target = min(max(1, self.page_no + step), self.pages)
        if target == self.page_no:
            self.app.bell()
            return
        self.page_no = target
        self.reload()

    def action_new_patient(self) -> None:
        if not self.permissions.may("patient.create"):
            return
        self.app.push_screen(PatientFormScreen(doctors=self.doctors, title="New patient"),
                             self._created)

    def _created(self, record: dict[str, Any] | None) -> None:
        if not record:
            return
        self.app.notify(f"Created {record['name']} ({record['mrn']}).", title="New patient",
                        markup=False)
        self.reload()
        self.open_patient(record["id"])

    def palette_commands(self) -> Iterable[SystemCommand]:
        if self.permissions.may("patient.create"):
            yield SystemCommand("New patient", "Create a patient record (Ctrl+N)",
                                self.action_new_patient)
        yield SystemCommand("Show or hide filters", "Sex, age, doctor, condition (Ctrl+F)",
                            self.action_toggle_filters)
        yield SystemCommand("Change the sort order", "Cycle the sort column (Ctrl+O)",
                            self.action_cycle_sort)
