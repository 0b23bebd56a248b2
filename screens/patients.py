"""Patient records: search as you type, filters, sortable columns and pages; open or create.

The create/edit form is screens/forms/patient.py; a record opens by OpenPatient (the App
routes it to the patient screen).
"""

from __future__ import annotations

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

from meditrack_tui.errors import MediTrackError, SessionExpired
from meditrack_tui.services.base import Page

from .base import BaseScreen, error_text, live_refresh
from .forms.patient import PatientFormScreen
from .messages import DataChanged, OpenPatient, ServiceFailed
from .widgets import patient_columns as columns
from .widgets.footer import AppFooter
from .widgets.patient_filters import PatientFilters
from .widgets.search_pace import SearchPace
from .widgets.table import Table, refilled

LIST = "patient-list"  # the list's ask() group: a newer search drops an older answer


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
        Binding("insert", "new_patient", "New patient", show=False),  # a browser keeps ctrl+n
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
        self.pace = SearchPace()  # when a typed key sends the search
        self._drawn = False  # the table has been filled from self.items at least once
        self._open_pending = False  # Enter came before the latest search was shown
        self._loaded = False

    # --- layout ---

    def compose(self) -> ComposeResult:
        with Horizontal(id="pl-top"):
            yield Static("Patient records", id="pl-title", classes="section-title")
            yield Input(self.query_text, placeholder="Search name, MRN or phone…",
                        id="pl-search", compact=True)
        # archived records are offered to the roles that may archive and restore them
        yield PatientFilters(archived=self.permissions.may("patient.archive"))
        table = Table(id="pl-table", cursor_type="row", zebra_stripes=True)
        table.fit = columns.FIT
        yield table
        yield Static("", id="pl-status")
        yield AppFooter()

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
        self.query_one(PatientFilters).set_doctors(self.doctors)

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

    def reload(self) -> None:
        """Fetch the current page; a newer request always wins over an older one."""
        if not self._loaded:
            return
        criteria = self.query_one(PatientFilters).for_search()
        query = self.query_text.strip() or None
        session = self.session
        page, size, sort, desc = self.page_no, self.page_size, self.sort, self.descending
        self.pace.sent()
        # a newer search in the group drops the answer of an older one still on its way
        self.ask(lambda s: s.patients.list(session, sort=sort, descending=desc, page=page,
                                           page_size=size, query=query, **criteria),
                 PatientsLoaded, group=LIST)

    def on_patients_loaded(self, message: PatientsLoaded) -> None:
        if not self.pace.answered():  # typed on meanwhile: drawing it would only delay the next
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
        rows = [(item["id"], columns.patient_cells(item)) for item in self.items]
        table.fill_fitted(columns.headers(self.sort, self.descending), rows)
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
        current = self.pace.answered()
        error = message.error
        if isinstance(error, SessionExpired) or not isinstance(error, MediTrackError):
            return
        message.prevent_default()
        message.stop()
        if not current:
            self.reload()
            return
        self._open_pending = False
        status = self.query_one("#pl-status", Static)
        status.update(Text(error_text(error), style="bold"))
        status.add_class("error")

    def _update_status(self) -> None:
        status = self.query_one("#pl-status", Static)
        status.remove_class("error")
        status.update(Text(columns.status_text(
            total=self.total, page_no=self.page_no, pages=self.pages, query=self.query_text,
            sort=self.sort, descending=self.descending,
            filters=self.query_one(PatientFilters).summary())))

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
        """Search at once for what was typed, or once the search on its way answers (see
        :class:`SearchPace`)."""
        self.page_no = 1
        self._open_pending = False
        if self.pace.typed():
            self.reload()

    @property
    def searching(self) -> bool:
        """A search is on its way (or must be sent again): the list is not yet current."""
        return self.pace.searching

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
        order = columns.header_sort(str(event.column_key.value), self.sort, self.descending)
        if order is not None:
            self.sort, self.descending = order
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
        self.sort, self.descending = columns.next_sort(self.sort)
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
