"""The audit log (admins): newest first, filtered by user, action, outcome, day range and
patient; each entry's action and recorded query in words, its code in the detail line."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from rich.text import Text
from textual import on
from textual.app import ComposeResult, SystemCommand
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.content import Content
from textual.message import Message
from textual.widgets import DataTable, Input, Select, Static

from meditrack_tui.domain import OUTCOME_LABELS, action_label, detail_text
from meditrack_tui.errors import PermissionDenied, ValidationError
from meditrack_tui.validation import date_problem

from .forms.fields import clear_field_errors, error_line, show_field_errors
from .messages import ServiceFailed
from .widgets.admin_list import AdminListScreen, clip, stamp
from .widgets.footer import AppFooter
from .widgets.table import Fit, Short

if TYPE_CHECKING:
    from meditrack_tui.services import Services

AUDIT_COLUMNS = (("time", "Time"), ("user", "User"), ("role", "Role"), ("action", "Action"),
                 ("patient", "Patient"), ("outcome", "Outcome"), ("detail", "Detail"))
DAY_RE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def patient_ref(entry: dict[str, Any]) -> str:
    """The patient an audit entry is about: 'Grace Whitaker (MRN-000002)' as the audit
    service names it, or, for a record that no longer exists, the id's last characters."""
    if entry.get("patient_name"):
        return f"{entry['patient_name']} ({entry.get('patient_mrn') or '?'})"
    patient_id = entry.get("patient_id")
    return f"record …{str(patient_id)[-6:]}" if patient_id else ""


def patient_short(entry: dict[str, Any]) -> Short | Text:
    """The audit table's patient cell: name and MRN, the name alone when narrow."""
    if entry.get("patient_name"):
        return Short(Text(patient_ref(entry)), Text(str(entry["patient_name"])))
    return Text(patient_ref(entry))


def check_day(text: str) -> str | None:
    """Why ``text`` is not a YYYY-MM-DD date (None when it is, or empty)."""
    if not text:
        return None
    if not DAY_RE.match(text):
        return "Use YYYY-MM-DD, e.g. 2026-03-04."
    problem = date_problem(text)
    if problem:
        return f"{text}: {problem}."
    return None


@dataclass
class AuditLoaded(Message):
    """One page of audit entries."""

    page: Any


class AuditScreen(AdminListScreen):
    """The audit log, newest first, filtered by user, action, outcome and day range."""

    CSS_PATH = "admin.tcss"
    WATCHES = frozenset({"audit"})
    POLICY_ACTION = "audit.read"
    TITLE = "Audit log"
    TABLE_ID = "audit-table"
    COLUMNS = AUDIT_COLUMNS
    # narrow: the role goes first (the detail line shows it), then the detail column;
    # the action, the detail and the patient's name share what is left
    FIT = Fit(flex=("detail", "action", "patient"), drop=("role", "detail"), minimum=14)
    AUTO_FOCUS = "#audit-table"
    FILTER_INPUTS = ("username", "action", "date_from", "date_to")
    BINDINGS = [
        Binding("u", "by_user", "This user", id="audit-by-user"),
        Binding("p", "by_patient", "This patient", id="audit-by-patient"),
        Binding("a", "by_action", "This action", id="audit-by-action"),
        Binding("c", "clear_filters", "Clear filters", id="audit-clear"),
        Binding("slash", "filter", "Filter", id="audit-filter"),
        Binding("ctrl+r", "refresh", "Refresh", id="audit-refresh"),
        Binding("pageup", "page(-1)", "Newer", id="audit-prev-page", priority=True),
        Binding("pagedown", "page(1)", "Older", id="audit-next-page", priority=True),
        Binding("escape", "focus_table", "Table", id="audit-focus-table", show=False),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.filters: dict[str, str] = {"username": "", "action": "", "outcome": "",
                                        "date_from": "", "date_to": "", "patient_id": ""}
        self.patient_filter = ""  # the p key's patient id (there is no box to type it in)
        self.patient_label = ""  # how the title names that patient
        self.items: list[dict[str, Any]] = []

    def compose(self) -> ComposeResult:
        yield Static(self.title_text, id="audit-title", classes="screen-title", markup=False)
        yield Static("", classes="denied", markup=False)
        with Horizontal(classes="filters admin-content"):
            yield Input(placeholder="user", compact=True, id="filter-username")
            yield Input(placeholder="action code starts…", compact=True, id="filter-action")
            yield Select([("Any outcome", "")] + [(v, k) for k, v in OUTCOME_LABELS.items()],
                         value="", allow_blank=False, compact=True, id="filter-outcome")
            yield Input(placeholder="from YYYY-MM-DD", compact=True, id="filter-date_from",
                        max_length=10)
            yield Input(placeholder="to YYYY-MM-DD", compact=True, id="filter-date_to",
                        max_length=10)
        with Vertical(id="audit-errors", classes="admin-content"):
            for name in self.FILTER_INPUTS:
                yield error_line(name)
        with Horizontal(classes="body admin-content"):
            yield self.make_table()
            yield Static("", id="audit-detail", classes="detail")
        yield AppFooter()

    # --- loading ---

    def reload(self) -> None:
        session, filters, page_no, size = self.session, dict(self.filters), self.page_no, \
            self.PAGE_SIZE

        def fetch(s: Services) -> Any:
            return s.audit.list(session, username=filters["username"],
                                action=filters["action"], outcome=filters["outcome"],
                                date_from=filters["date_from"] or None,
                                date_to=filters["date_to"] or None,
                                patient_id=filters["patient_id"] or None,
                                page=page_no, page_size=size)

        self.ask(fetch, AuditLoaded, group="audit-list")
        self.set_title(loading=True)

    def on_service_failed(self, message: ServiceFailed) -> None:
        """A refusal shows in place of the log; a filter the service refused, under it."""
        self.set_title()
        if isinstance(message.error, PermissionDenied):
            self.denied(message.error)
        elif not show_field_errors(self.query_one("#audit-errors"), message.error):
            return  # the base handler says it
        message.prevent_default()
        message.stop()

    def on_audit_loaded(self, message: AuditLoaded) -> None:
        page = message.page
        self.page_no, self.pages = page.page, page.pages
        self.items = page.items
        self.refill()
        noun = "entry" if page.total == 1 else "entries"
        text = f"Audit log · {page.total} {noun}"
        if any(self.filters.values()):
            text += " (filtered)"
        if self.filters["patient_id"]:
            text += f" · {self.patient_label or 'one patient'}"
        if self.pages > 1:
            text += f" · page {self.page_no} of {self.pages} (PgDn older, PgUp newer)"
        self.set_title(text)
        self.show_detail()

    @staticmethod
    def cells(entry: dict[str, Any]) -> tuple[Any, ...]:
        """The table's cells for an audit entry: its action and detail in words."""
        outcome = entry.get("outcome") or ""
        return (Text(stamp(entry.get("ts"))), Text(clip(entry.get("username"), 16)),
                Text(str(entry.get("role") or "")), Text(action_label(entry.get("action"))),
                patient_short(entry),
                Text(OUTCOME_LABELS.get(outcome, outcome), style="" if outcome == "ok" else "bold"),
                Text(detail_text(entry.get("detail"))))

    def refill(self) -> None:
        """Show ``self.items`` (the table fits its columns to its width)."""
        self.fill(self.items, self.cells)

    @on(DataTable.RowHighlighted)
    def show_detail(self) -> None:
        entry = self.selected
        detail = self.query_one("#audit-detail", Static)
        if entry is None:
            detail.update("No entries match these filters." if not self.rows else "")
        else:
            detail.update(self.describe(entry))
        self.refresh_bindings()

    @staticmethod
    def describe(entry: dict[str, Any]) -> Content:
        """The detail lines of one entry (its fields are template variables: inserted as
        plain text, never read as markup)."""
        record = entry.get("record_type") or ""
        if entry.get("record_id") and entry["record_id"] == entry.get("patient_id") \
                and entry.get("patient_name"):
            record = f"patient {patient_ref(entry)}"
        elif entry.get("record_id"):
            record += f" {entry['record_id']}"
        lines = [
            "$when · [b]$username[/b] ($role) · $action ($code) · $outcome",
            ("Record: $record" if record.strip() else "No record")
            + (" · patient $patient"
               if entry.get("patient_id") and entry["patient_id"] != entry.get("record_id")
               else "")
            + (" · p: this patient's entries" if entry.get("patient_id") else ""),
        ]
        if entry.get("detail"):
            lines.append("$detail")
        outcome = entry.get("outcome", "")
        return Content.from_markup(
            "\n".join(lines), when=stamp(entry.get("ts"), seconds=True),
            username=str(entry.get("username")), role=str(entry.get("role")),
            action=action_label(entry.get("action")), code=str(entry.get("action")),
            outcome=OUTCOME_LABELS.get(outcome, outcome), record=record.strip(),
            patient=patient_ref(entry), detail=detail_text(entry.get("detail")))

    # --- filters ---

    def filter_input(self, name: str) -> Input:
        return self.query_one(f"#filter-{name}", Input)

    @on(Input.Changed, "#filter-username, #filter-action, #filter-date_from, #filter-date_to")
    def _typed(self) -> None:
        self.debounce(lambda: self.apply_filters(strict=False))

    @on(Input.Submitted, "#filter-username, #filter-action, #filter-date_from, #filter-date_to")
    def _submitted(self) -> None:
        self.cancel_debounce()
        if self.read_filters(strict=True) is not None:
            self.table.focus()  # first: a loading table cannot take focus
            self.apply_filters(strict=True)

    @on(Select.Changed, "#filter-outcome")
    def _outcome(self) -> None:
        self.apply_filters(strict=True)

    def read_filters(self, strict: bool) -> dict[str, str] | None:
        """The filters as typed, or None (with inline errors) when a date is wrong.

        While typing (not ``strict``), a date that is not complete yet waits silently.
        """
        box = self.query_one("#audit-errors")
        clear_field_errors(box)
        values = {name: self.filter_input(name).value.strip() for name in self.FILTER_INPUTS}
        outcome = self.query_one("#filter-outcome", Select).value
        values["outcome"] = outcome if isinstance(outcome, str) else ""
        values["patient_id"] = self.patient_filter
        errors: dict[str, str] = {}
        for name, label in (("date_from", "From"), ("date_to", "To")):
            problem = check_day(values[name])
            if problem:
                errors[name] = f"{label}: {problem}"
        if not errors and values["date_from"] and values["date_to"] \
                and values["date_to"] < values["date_from"]:
            errors["date_to"] = "To: the end day is before the start day."
        if errors:
            shown = {k: v for k, v in errors.items() if strict or len(values[k]) >= 10}
            if shown:
                show_field_errors(box, ValidationError(shown))
            return None
        return values

    def apply_filters(self, strict: bool) -> bool:
        """Re-fetch from page 1 when the filters changed; False when they are not valid."""
        values = self.read_filters(strict)
        if values is None:
            return False
        if values != self.filters:
            self.filters = values
            self.page_no, self.to_top = 1, True
            self.reload()
        return True

    def set_filter(self, name: str, value: str) -> None:
        self.filter_input(name).value = value
        self.apply_filters(strict=True)

    def action_by_user(self) -> None:
        entry = self.selected
        if entry and entry.get("username"):
            self.set_filter("username", entry["username"])

    def action_by_action(self) -> None:
        entry = self.selected
        if entry and entry.get("action"):
            self.set_filter("action", entry["action"])

    def action_by_patient(self) -> None:
        """Only the entries about the selected entry's patient (one about nobody says so)."""
        entry = self.selected
        if entry is None:
            return
        if not entry.get("patient_id"):
            self.notify("This entry is not about a patient: choose one that names a patient "
                        "to see that patient's entries.", title="Audit log", markup=False)
            return
        self.patient_filter = str(entry["patient_id"])
        self.patient_label = patient_ref(entry)
        self.apply_filters(strict=True)

    def action_clear_filters(self) -> None:
        self.patient_filter = ""
        for name in self.FILTER_INPUTS:
            self.filter_input(name).value = ""
        self.query_one("#filter-outcome", Select).value = ""
        self.table.focus()
        self.apply_filters(strict=True)

    def action_filter(self) -> None:
        self.filter_input("username").focus()

    def action_refresh(self) -> None:
        self.reload()

    def show_outcome(self, outcome: str) -> None:
        self.table.focus()
        self.query_one("#filter-outcome", Select).value = outcome

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action in ("by_user", "by_action", "by_patient"):
            return self.permitted and self.selected is not None
        if action in ("clear_filters", "filter", "refresh"):
            return self.permitted
        return super().check_action(action, parameters)

    def palette_commands(self) -> Iterable[SystemCommand]:
        if not self.permitted:
            return
        yield SystemCommand("Audit: denied actions", "Show only refused actions",
                            lambda: self.show_outcome("denied"))
        yield SystemCommand("Audit: failed actions", "Show only failed attempts (e.g. logins)",
                            lambda: self.show_outcome("failed"))
        yield SystemCommand("Audit: clear filters", "Show every entry (C)",
                            self.action_clear_filters)
        if (self.selected or {}).get("patient_id"):
            yield SystemCommand("Audit: this patient", "Entries about the selected entry's "
                                "patient (P)", self.action_by_patient)
