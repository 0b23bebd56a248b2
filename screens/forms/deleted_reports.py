"""An administrator's list of a patient's deleted reports, to restore one."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.message import Message
from textual.screen import ModalScreen
from textual.widgets import DataTable, Static

from ..base import ServiceMixin
from ..widgets.table import Fit, Table
from .confirm import ConfirmScreen
from .report_dialog import MODAL_CSS

DELETED_COLUMNS = (("deleted", "Deleted"), ("file", "File"), ("by", "By"),
                   ("reason", "Reason"))


@dataclass
class DeletedListed(Message):
    """The patient's deleted reports, newest first."""

    reports: list[dict[str, Any]]


@dataclass
class ReportRestored(Message):
    """The service restored this report (as it was listed)."""

    report: dict[str, Any]


class DeletedReportsScreen(ServiceMixin, ModalScreen[bool]):
    """An administrator's list of a patient's deleted reports; Enter restores one after a
    confirmation naming it, who deleted it and why. Dismissed with True when one was
    restored."""

    DEFAULT_CSS = MODAL_CSS.format(name="DeletedReportsScreen") + """
    DeletedReportsScreen DataTable { height: auto; max-height: 12; }
    """
    BINDINGS = [Binding("escape", "close", "Close", id="deleted-close")]
    AUTO_FOCUS = "#deleted-table"

    def __init__(self, patient_id: str) -> None:
        super().__init__()
        self.patient_id = patient_id
        self.reports: list[dict[str, Any]] = []
        self.restored = False

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Static("Deleted reports", classes="rp-title")
            yield Static("Enter restores the selected report. Escape closes.",
                         classes="rp-hint")
            table = Table(id="deleted-table", cursor_type="row", zebra_stripes=True)
            # at 80 columns the reason and the file name share what is left, with an
            # ellipsis (the confirmation names both in full)
            table.fit = Fit(flex=("reason", "file"), minimum=14)
            yield table
            yield Static("", id="deleted-empty", classes="rp-hint")

    def on_mount(self) -> None:
        self.reload()

    def reload(self) -> None:
        session, pid = self.ctx.session, self.patient_id
        self.ask(lambda s: s.reports.deleted(session, pid), DeletedListed,
                 group="reports-deleted")

    def on_deleted_listed(self, message: DeletedListed) -> None:
        reports = message.reports
        self.reports = reports
        self.query_one("#deleted-table", Table).fill_fitted(DELETED_COLUMNS, [
            (str(index), [f"{report['deleted_at']:%Y-%m-%d %H:%M}", Text(report["filename"]),
                          Text(report.get("deleted_by") or ""),
                          Text(report.get("delete_reason") or "")])
            for index, report in enumerate(reports)])
        self.query_one("#deleted-empty", Static).update(
            "" if reports else "No deleted reports for this patient.")

    @on(DataTable.RowSelected, "#deleted-table")
    def restore_asked(self, event: DataTable.RowSelected) -> None:
        if not self.reports or event.cursor_row >= len(self.reports):
            return
        report = self.reports[event.cursor_row]
        question = (f"Restore the report {report['filename']}, deleted by "
                    f"{report.get('deleted_by') or '?'} ({report.get('delete_reason') or ''})?")

        def answered(yes: bool | None) -> None:
            if yes:
                self.restore(report)

        self.app.push_screen(ConfirmScreen(question, yes="Restore", no="Leave deleted"),
                             answered)

    def restore(self, report: dict[str, Any]) -> None:
        session, rid = self.ctx.session, report["id"]
        self.ask(lambda s: s.reports.restore(session, rid), lambda _r: ReportRestored(report),
                 group="reports-restore")

    def on_report_restored(self, message: ReportRestored) -> None:
        self.restored = True
        self.app.notify(f"{message.report['filename']} restored.", title="Reports",
                        markup=False)
        self.reload()

    def action_close(self) -> None:
        self.dismiss(self.restored)
