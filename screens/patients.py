"""Patient records: search as you type, filters, sortable columns and pages; open or create.

Also holds :class:`PatientFormScreen`, the create/edit form shared with the patient screen
(version-checked saves: a conflict keeps the typed values and offers to reload the latest).
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterable
from typing import Any

from rich.text import Text
from textual import events, on
from textual.app import ComposeResult, SystemCommand
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widget import Widget
from textual.widgets import Button, DataTable, Input, Label, Select, Static
from textual.widgets.data_table import CellDoesNotExist

from meditrack_tui.domain import SEX_LABELS, sex_label
from meditrack_tui.errors import Conflict, MediTrackError

from .base import BaseScreen, ServiceMixin, error_text, live_refresh
from .forms.confirm import ConfirmScreen
from .forms.fields import clear_field_errors, show_field_errors
from .messages import DataChanged
from .widgets.footer import AppFooter
from .widgets.table import Table, refilled, short_doctor

#: the sex choices, as the domain names them (label, stored value)
SEX_OPTIONS = [(label, value) for value, label in SEX_LABELS.items()]
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
COLUMN_WIDTHS = {"mrn": 10, "name": 20, "age": 5, "sex": 5, "phone": 11, "doctor": 13}
WIDE_NAME = 26  # the name column's width when there is room
ANSWER_WAIT = 2.0  # seconds a search may take before a newly typed key sends another
PHONE_MIN_WIDTH = 100  # narrower tables leave the phone column out (search still finds phones)
CONDITIONS_MIN = 12


def fit_columns(width: int) -> dict[str, int]:
    """Column widths for a table ``width`` cells wide; conditions take what is left.

    A page is as long as the table is high, so no vertical scrollbar takes room: every
    cell but the table's own width is given out (two cells of padding per column).
    """
    widths = dict(COLUMN_WIDTHS)
    if width < PHONE_MIN_WIDTH:
        widths.pop("phone")
    used = sum(w + 2 for w in widths.values())
    spare = width - used - 2 - CONDITIONS_MIN
    if spare > 0:
        widths["name"] += min(spare // 2, WIDE_NAME - COLUMN_WIDTHS["name"])
        used += widths["name"] - COLUMN_WIDTHS["name"]
    widths["conditions"] = max(CONDITIONS_MIN, width - used - 2)
    return widths


def clip(text: str, width: int) -> str:
    """Cut ``text`` to ``width`` cells with an ellipsis."""
    return text if len(text) <= width else text[: max(0, width - 1)] + "…"
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


def form_field(name: str, label: str, widget: Widget) -> ComposeResult:
    """A form row: label and control side by side, an inline error line and a 'saved now' line."""
    with Horizontal(classes="form-row", id=f"row-{name}"):
        yield Label(label, classes="form-label")
        yield widget
    err = Static("", id=f"err-{name}", classes="field-error", markup=False)
    err.display = False
    yield err
    latest = Static("", id=f"latest-{name}", classes="field-latest", markup=False)
    latest.display = False
    yield latest


# --- the create / edit form -------------------------------------------------------------

# name -> (label, kind, placeholder)
PATIENT_FIELDS: dict[str, tuple[str, str, str]] = {
    "first_name": ("First name", "text", ""),
    "last_name": ("Last name", "text", ""),
    "dob": ("Date of birth", "text", "YYYY-MM-DD"),
    "sex": ("Sex", "sex", ""),
    "phone": ("Phone", "text", "+1 555 0100"),
    "email": ("Email", "text", "name@example.com"),
    "address": ("Address", "text", ""),
    "allergies": ("Allergies", "list", "comma-separated, e.g. penicillin, latex"),
    "conditions": ("Conditions", "list", "comma-separated"),
    "primary_doctor_id": ("Primary doctor", "doctor", ""),
}


def split_list(text: str) -> list[str]:
    """'a, b; c' -> ['a', 'b', 'c'] (the way the service reads list fields)."""
    return [part.strip() for part in re.split(r"[,;\n]", text) if part.strip()]


class PatientFormScreen(ServiceMixin, ModalScreen[dict | None]):
    """Create a patient, or edit one with a version check; dismissed with the saved record.

    ``fields`` limits the form (a patient edits only their contact details). On a
    conflict the typed values stay; Ctrl+R fetches the latest record, puts it into
    the fields the user did not touch and shows it under the ones they did.
    """

    CSS_PATH = "patients.tcss"
    BINDINGS = [
        Binding("escape", "cancel", "Cancel", id="form-cancel"),
        Binding("ctrl+r", "reload_latest", "Reload latest", id="form-reload"),
    ]

    def __init__(self, *, patient: dict | None = None, doctors: Iterable[dict] = (),
                 fields: Iterable[str] = tuple(PATIENT_FIELDS), title: str = "") -> None:
        super().__init__()
        self.patient = patient
        self.doctors = list(doctors)
        self.fields = [f for f in PATIENT_FIELDS if f in set(fields)]
        self.heading = title or ("Edit patient" if patient else "New patient")
        self.original: dict[str, Any] = self._normal(patient or {})
        self.base: dict[str, Any] = dict(self.original)
        self.version = (patient or {}).get("version")
        self.in_conflict = False
        self.saving = False

    # --- layout ---

    def compose(self) -> ComposeResult:
        with Vertical(id="form-box"):
            yield Static(self.heading, classes="form-title", markup=False)
            with VerticalScroll(id="form-fields"):
                for name in self.fields:
                    yield from form_field(name, PATIENT_FIELDS[name][0], self._control(name))
            err = Static("", id="err-form", classes="field-error", markup=False)
            err.display = False
            yield err
            conflict = Static("", id="conflict", classes="conflict", markup=False)
            conflict.display = False
            yield conflict
            with Horizontal(classes="form-buttons"):
                yield Button("Save (Enter)", id="save", variant="primary")
                reload = Button("Reload latest (Ctrl+R)", id="reload", variant="warning")
                reload.display = False
                yield reload
                yield Button("Cancel (Esc)", id="cancel")

    def _control(self, name: str) -> Widget:
        _, kind, placeholder = PATIENT_FIELDS[name]
        value = self.original.get(name)
        wid = f"f-{name}"
        if kind == "sex":
            return Select(SEX_OPTIONS, prompt="Choose…", id=wid, compact=True,
                          value=value if value else Select.NULL)
        if kind == "doctor":
            options = [(Text(d["full_name"]), d["id"]) for d in self.doctors]
            if value and value not in {d["id"] for d in self.doctors}:
                current = (self.patient or {}).get("primary_doctor_name") or "Current doctor"
                options.append((Text(current), value))
            return Select(options, prompt="None", id=wid, compact=True,
                          value=value if value else Select.NULL)
        text = ", ".join(value) if kind == "list" else (value or "")
        return Input(text, placeholder=placeholder, id=wid, compact=True)

    def on_mount(self) -> None:
        if self.fields:
            self.query_one(f"#f-{self.fields[0]}").focus()

    # --- values ---

    @staticmethod
    def _normal(record: dict) -> dict[str, Any]:
        """Record values in the form's terms (lists as lists, blanks as '' / None)."""
        out: dict[str, Any] = {}
        for name, (_, kind, _) in PATIENT_FIELDS.items():
            value = record.get(name)
            if kind == "list":
                out[name] = list(value or [])
            elif kind in ("sex", "doctor"):
                out[name] = value or None
            else:
                out[name] = value or ""
        return out

    def typed(self) -> dict[str, Any]:
        """What the form holds now, normalised like :meth:`_normal`."""
        out: dict[str, Any] = {}
        for name in self.fields:
            kind = PATIENT_FIELDS[name][1]
            if kind in ("sex", "doctor"):
                value = self.query_one(f"#f-{name}", Select).value
                out[name] = None if value is Select.NULL else value
            else:
                text = self.query_one(f"#f-{name}", Input).value
                out[name] = split_list(text) if kind == "list" else text.strip()
        return out

    def changes(self) -> dict[str, Any]:
        """Fields whose typed value differs from the record the form is based on."""
        return {k: v for k, v in self.typed().items() if v != self.base.get(k)}

    @property
    def has_unsaved_changes(self) -> bool:
        """True when leaving now would lose something the user typed."""
        if self.patient is None:
            return any(v not in ("", None, []) for v in self.typed().values())
        return bool(self.changes())

    # --- saving ---

    @on(Input.Submitted)
    @on(Button.Pressed, "#save")
    def save(self) -> None:
        if self.saving:
            return
        clear_field_errors(self)
        session = self.app.session
        if self.patient is None:
            data = {k: v for k, v in self.typed().items() if v not in ("", None, [])}
            fn = lambda s: s.patients.create(session, data)  # noqa: E731
        else:
            changes = self.changes()
            if not changes:
                self._form_error("Nothing has changed yet.")
                return
            pid, version = self.patient["id"], self.version
            fn = lambda s: s.patients.update(session, pid, changes, version=version)  # noqa: E731
        self.saving = True
        self.call_service(fn, self._saved, error=self._failed, group="patient-form")

    def _saved(self, record: dict) -> None:
        self.saving = False
        self.dismiss(record)

    def _failed(self, exc: BaseException) -> None:
        self.saving = False
        if isinstance(exc, Conflict):
            self.in_conflict = True
            box = self.query_one("#conflict", Static)
            box.update(Text(f"{exc.message} (Ctrl+R)"))
            box.display = True
            self.query_one("#reload").display = True
            self.refresh_bindings()
            return
        if not show_field_errors(self, exc):
            self._form_error(error_text(exc))

    def _form_error(self, text: str) -> None:
        err = self.query_one("#err-form", Static)
        err.update(Text(text))
        err.display = True

    # --- conflict: reload the latest saved record ---

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "reload_latest":
            return self.in_conflict
        return True

    @on(Button.Pressed, "#reload")
    def action_reload_latest(self) -> None:
        if not self.in_conflict or self.patient is None:
            return
        session, pid = self.app.session, self.patient["id"]
        self.call_service(lambda s: s.patients.get(session, pid), self._show_latest,
                          error=lambda exc: self._form_error(error_text(exc)),
                          group="patient-form")

    def _show_latest(self, latest: dict) -> None:
        """Untouched fields take the latest values; touched ones keep the typed text and
        show the saved value under them. Saving then applies only the user's edits."""
        typed = self.typed()
        latest_norm = self._normal(latest)
        differing = []
        for name in self.fields:
            touched = typed[name] != self.base.get(name)
            now = latest_norm[name]
            line = self.query_one(f"#latest-{name}", Static)
            line.display = False
            if not touched:
                self._set_control(name, now)
            elif now != self.base.get(name) and now != typed[name]:
                # both changed this field: show theirs under the typed value
                line.update(Text(f"Saved now: {self._describe(name, now, latest)}"))
                line.display = True
                differing.append(PATIENT_FIELDS[name][0].lower())
        self.base = latest_norm
        self.version = latest.get("version")
        self.patient = latest
        self.in_conflict = False
        self.query_one("#reload").display = False
        box = self.query_one("#conflict", Static)
        who = latest.get("updated_by") or "someone else"
        if differing:
            box.update(Text(f"Loaded the latest version (changed by {who}). They also changed "
                            f"{', '.join(differing)}: compare with your typed value, then "
                            "save again."))
        else:
            box.update(Text(f"Loaded the latest version (changed by {who}). Your edits are "
                            "kept; save again to apply them."))
        self.refresh_bindings()

    def _describe(self, name: str, value: Any, record: dict) -> str:
        kind = PATIENT_FIELDS[name][1]
        if kind == "list":
            return ", ".join(value) or "(none)"
        if kind == "doctor":
            names = {d["id"]: d["full_name"] for d in self.doctors}
            return names.get(value) or record.get("primary_doctor_name") or "(none)"
        if kind == "sex":
            return sex_label(value) or "(not set)"
        return value or "(empty)"

    def _set_control(self, name: str, value: Any) -> None:
        kind = PATIENT_FIELDS[name][1]
        if kind in ("sex", "doctor"):
            select = self.query_one(f"#f-{name}", Select)
            if kind == "doctor" and value and value not in {d["id"] for d in self.doctors}:
                return
            select.value = value if value else Select.NULL
        else:
            text = ", ".join(value) if kind == "list" else (value or "")
            self.query_one(f"#f-{name}", Input).value = text

    # --- leaving ---

    @on(Button.Pressed, "#cancel")
    def action_cancel(self) -> None:
        if not self.has_unsaved_changes:
            self.dismiss(None)
            return
        self.app.push_screen(ConfirmScreen("Discard the changes you typed?", yes="Discard",
                                           no="Keep editing"),
                             lambda discard: self.dismiss(None) if discard else None)


# --- the list -------------------------------------------------------------------------


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
        self.doctors: list[dict] = []
        self.items: list[dict] = []
        self.widths: dict[str, int] = {}
        self._request = 0
        self._shown = 0
        self._sent_at = 0.0
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
        yield Table(id="pl-table", cursor_type="row", zebra_stripes=True)
        yield Static("", id="pl-status")
        yield AppFooter()

    @property
    def _is_admin(self) -> bool:
        """Whether archived records are offered (the role may archive and restore them)."""
        return self.permissions.may("patient.archive")

    def on_mount(self) -> None:
        self.query_one("#pl-filters").display = self.app.size.height >= 32
        session = self.session
        self.call_service(lambda s: s.users.doctors(session), self._got_doctors,
                          error=lambda exc: None, group="pl-doctors")
        self.call_after_refresh(self._first_load)

    def _first_load(self) -> None:
        self._set_columns()
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
        table = self.query_one("#pl-table", DataTable)
        if fit_columns(table.size.width) != self.widths:
            self._set_columns()
            self._render_rows()
        size = self._fitting_page_size()
        if size != self.page_size:
            first = (self.page_no - 1) * self.page_size
            self.page_size = size
            self.page_no = first // size + 1
            self.reload()

    def _got_doctors(self, doctors: list[dict]) -> None:
        self.doctors = doctors
        self.query_one("#flt-doctor", Select).set_options(
            [(Text(d["full_name"]), d["id"]) for d in doctors])

    def _set_columns(self) -> None:
        table = self.query_one("#pl-table", DataTable)
        self.widths = fit_columns(table.size.width or self.app.size.width)
        table.clear(columns=True)
        self._drawn = False  # rows went with the columns
        for key, width in self.widths.items():
            label, sort_key, inverted = COLUMNS[key]
            header = Text(label)
            if sort_key == self.sort and sort_key is not None:
                ascending = self.descending == inverted
                header.append(" ▲" if ascending else " ▼", style="bold")
            table.add_column(header, key=key, width=width)

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
        self._request += 1
        self._sent_at = time.monotonic()
        request = self._request
        self.call_service(
            lambda s: s.patients.list(session, sort=sort, descending=desc, page=page,
                                      page_size=size, **criteria),
            lambda result: self._show(request, result),
            error=lambda exc: self._list_failed(request, exc),
            group="patient-list",
        )

    def _show(self, request: int, result: Any) -> None:
        if request != self._request:
            return  # an older search finished after a newer one started
        if self._stale:  # typed on meanwhile: drawing this would only delay the next answer
            self.reload()
            return
        if result.items == [] and result.total and result.page > 1:
            self.page_no = result.pages  # the list shrank under us: show its last page
            self.reload()
            return
        if result.items != self.items or not self._drawn:
            # redrawing a table costs ~25 ms of the ~40 a key takes: only when rows changed
            self.items = result.items
            self._render_rows()
        self.total, self.pages, self.page_no = result.total, result.pages, result.page
        self._shown = request
        self._update_status()
        if self._open_pending:
            self._open_pending = False
            self._open_cursor_row()

    def _render_rows(self) -> None:
        """Fill the table from ``self.items``, keeping the cursor on the same patient."""
        table = self.query_one("#pl-table", DataTable)
        current = self._cursor_id()
        old_row, scroll_y = table.cursor_row, table.scroll_y
        table.clear()
        self._drawn = True
        keys = list(self.widths)
        for item in self.items:
            name = Text(clip(item.get("name") or "", self.widths["name"]))
            if item.get("archived"):
                mark = " (arch.)"
                name = Text(clip(item.get("name") or "", self.widths["name"] - len(mark)) + mark,
                            style="italic")
            # every cell a Text: a DataTable reads str cells as markup
            cells = {
                "mrn": Text(item.get("mrn", "")),
                "name": name,
                "age": Text("" if item.get("age") is None else str(item["age"])),
                "sex": Text(item.get("sex") or ""),
                "phone": Text(item.get("phone") or ""),
                "doctor": Text(clip(short_doctor(item.get("primary_doctor_name")),
                                    self.widths["doctor"])),
                "conditions": Text(clip(", ".join(item.get("conditions") or []),
                                        self.widths["conditions"])),
            }
            table.add_row(*(cells[k] for k in keys), key=item["id"])
        refilled(table, scroll_y)
        if self.items:
            ids = [item["id"] for item in self.items]
            row = ids.index(current) if current in ids else min(max(old_row, 0), len(ids) - 1)
            table.move_cursor(row=row, animate=False)

    def _list_failed(self, request: int, exc: MediTrackError) -> None:
        if request != self._request:
            return
        if self._stale:
            self.reload()
            return
        self._shown = request
        self._open_pending = False
        status = self.query_one("#pl-status", Static)
        status.update(Text(error_text(exc), style="bold"))
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
        if self._shown != self._request and waiting < ANSWER_WAIT:
            self._stale = True
        else:  # nothing on its way (or an answer that never came: a failure shown already)
            self.reload()

    @property
    def _searching(self) -> bool:
        """A request is on its way (or must be sent again): the list is not yet current."""
        return self._shown != self._request or self._stale

    @on(Input.Submitted, "#pl-search")
    def search_submitted(self) -> None:
        """Enter in the search box opens the highlighted (first) match, once it is shown."""
        if self._searching:
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
        if not patient_id:
            return
        from .patient_detail import PatientScreen

        self.app.push_screen(PatientScreen(patient_id))

    # --- actions ---

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "new_patient":
            return self.permissions.may("patient.create")
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
        self._set_columns()
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

    def _created(self, record: dict | None) -> None:
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
