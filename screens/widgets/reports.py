"""The Reports pane: a patient's report files, upload, preview (text, CSV; of a PDF what
the app can show), save a copy, delete."""

from __future__ import annotations

import io
from dataclasses import dataclass
from typing import Any

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal
from textual.message import Message
from textual.widget import Widget
from textual.widgets import Button, DataTable, Static

from meditrack_tui import policy
from meditrack_tui.errors import MediTrackError, SessionExpired
from meditrack_tui.files import safe_name
from meditrack_tui.services.reports import PREVIEWABLE

from ..base import ServiceMixin
from ..forms.confirm import PromptScreen
from ..forms.deleted_reports import DeletedReportsScreen
from ..forms.preview import PreviewScreen
from ..forms.report_dialog import size_text, type_label
from ..forms.upload import UploadReportScreen
from ..messages import ServiceFailed
from .table import Fit, Table, refilled


@dataclass
class ReportsLoaded(Message):
    """The patient's reports, as the service listed them."""

    reports: list[dict[str, Any]]


@dataclass
class PreviewRead(Message):
    """What the app can show of ``report`` (text, CSV, or a PDF's pages, title and text)."""

    report: dict[str, Any]
    text: str


@dataclass
class CopyRead(Message):
    """A report's file, read for the browser to download."""

    info: dict[str, Any]
    data: bytes


@dataclass
class CopySaved(Message):
    """Where the copy of a report was saved (the user's outbox), if anywhere."""

    path: str | None


@dataclass
class ReportDeleted(Message):
    """The service deleted this report (as it was listed)."""

    report: dict[str, Any]


REPORT_COLUMNS = (("uploaded", "Uploaded"), ("file", "File"), ("kind", "Kind"), ("type", "Type"),
                  ("size", "Size"), ("by", "By"), ("note", "Note"))


class ReportsPane(ServiceMixin, Widget):
    """A patient's reports: the list, and the actions the role allows."""

    DEFAULT_CSS = """
    ReportsPane { height: 1fr; layout: vertical; }
    ReportsPane #reports-bar { height: 1; margin-bottom: 1; }
    ReportsPane #reports-bar Button { margin-right: 2; }
    ReportsPane #reports-summary { height: 1; text-style: bold; }
    ReportsPane DataTable { height: 1fr; }
    ReportsPane #reports-detail { height: auto; max-height: 3; color: $text-muted; }
    ReportsPane #reports-empty { height: 1fr; content-align: center middle; color: $text-muted; }
    """
    BINDINGS = [
        Binding("ctrl+n", "upload", "Upload", id="reports-upload"),
        Binding("insert", "upload", "Upload", show=False),  # a browser keeps ctrl+n
        Binding("p", "preview", "Preview", id="reports-preview"),
        Binding("ctrl+o", "save_copy", "Save copy", id="reports-save"),
        Binding("delete", "delete", "Delete", id="reports-delete"),
        # the same key on a report this user may not delete: say why instead of nothing
        Binding("delete", "delete_refused", show=False, id="reports-delete-refused"),
        Binding("t", "deleted", "Deleted reports", id="reports-deleted"),
    ]

    #: collections whose changes make the pane re-fetch
    WATCHES: frozenset[str] = frozenset({"reports"})

    class Ready(Message):
        """The pane shows its first answer (the list, or a failure the user was told
        about): posted once, so the patient screen can move the focus into it."""

    def __init__(self, patient_id: str, *, id: str | None = "reports-pane",
                 classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes)
        self.patient_id = str(patient_id)
        self.reports: list[dict[str, Any]] = []
        self.select_next: str | None = None  # a report to put the cursor on after a reload
        self._ready_sent = False

    def compose(self) -> ComposeResult:
        with Horizontal(id="reports-bar"):
            if self.permissions.may("report.upload"):
                yield Button("Upload (^N)", id="reports-upload", compact=True)
            yield Button("Preview (p)", id="reports-preview", compact=True)
            yield Button("Save copy (^O)", id="reports-save", compact=True)
            if self.permissions.may("report.delete"):
                yield Button("Delete (Del)", id="reports-delete", compact=True)
            if self.permissions.may("report.restore"):
                yield Button("Deleted reports (t)", id="reports-deleted", compact=True)
        yield Static("", id="reports-summary")
        table = Table(id="reports-table", cursor_type="row", zebra_stripes=True)
        # narrow: the note (shown under the table) goes first, then who and the type
        table.fit = Fit(flex=("note", "file"), drop=("note", "by", "type"), minimum=30)
        for key, label in REPORT_COLUMNS:
            table.add_column(label, key=key)
        yield table
        empty = Static("No reports for this patient yet.", id="reports-empty")
        empty.display = False
        yield empty
        yield Static("", id="reports-detail")

    def on_mount(self) -> None:
        self.reload()

    def reload(self) -> None:
        """Fetch the patient's reports."""
        if not self.permissions.may("report.read"):
            return  # logged out meanwhile
        session, pid = self.ctx.session, self.patient_id
        self.ask(lambda s: s.reports.list(session, pid), ReportsLoaded,
                 busy=self.query_one("#reports-summary"), group="reports-list")

    def on_reports_loaded(self, message: ReportsLoaded) -> None:
        message.stop()
        self.loaded(message.reports)
        self.shown()

    def shown(self) -> None:
        """The first answer is on screen: tell the patient screen, once."""
        if not self._ready_sent:
            self._ready_sent = True
            self.post_message(self.Ready())

    def loaded(self, reports: list[dict[str, Any]]) -> None:
        table = self.query_one("#reports-table", Table)
        selected = self.selected
        keep = self.select_next or (selected["id"] if selected else None)
        self.select_next = None
        self.reports = reports
        scroll_y = table.scroll_y
        table.fill_fitted(REPORT_COLUMNS, [
            (report["id"], [report["uploaded_at"].strftime("%Y-%m-%d"), report["filename"],
                            report.get("kind") or "", type_label(report.get("content_type")),
                            size_text(report.get("size")), report.get("uploaded_by") or "",
                            report.get("note") or ""])
            for report in reports])
        refilled(table, scroll_y)
        for index, report in enumerate(reports):
            if report["id"] == keep:
                table.move_cursor(row=index)
        noun = "report" if len(reports) == 1 else "reports"
        self.query_one("#reports-summary", Static).update(f"{len(reports)} {noun}")
        table.display = bool(reports)
        self.query_one("#reports-empty").display = not reports
        self.update_buttons()

    @property
    def selected(self) -> dict[str, Any] | None:
        """The report under the table cursor."""
        table = self.query_one("#reports-table", DataTable)
        if not self.reports or table.cursor_row < 0 or table.cursor_row >= len(self.reports):
            return None
        return self.reports[table.cursor_row]

    def may_delete(self, report: dict[str, Any] | None) -> bool:
        """The service's rule: staff delete any report, a patient only their own uploads."""
        may = self.permissions
        if report is None or not may.may("report.delete"):
            return False
        return may.scope("report.delete") == policy.ANY \
            or report.get("uploaded_by") == self.ctx.session.username

    def update_buttons(self) -> None:
        """Enable what fits the selected report; show its note and who uploaded it."""
        report = self.selected
        detail = ""
        if report is not None:
            detail = (f"{report['filename']} · uploaded by {report.get('uploaded_by') or '?'} "
                      f"on {report['uploaded_at']:%Y-%m-%d %H:%M}")
            if report.get("note"):
                detail += f" · {report['note']}"
        self.query_one("#reports-detail", Static).update(Text(detail))
        for button_id, enabled in (
            ("#reports-preview", report is not None
             and report.get("content_type") in PREVIEWABLE),
            ("#reports-save", report is not None),
            ("#reports-delete", self.may_delete(report)),
        ):
            for button in self.query(button_id).results(Button):
                button.disabled = not enabled
        for button in self.query("#reports-delete").results(Button):
            button.display = report is None or self.may_delete(report)  # offered only if so
        self.refresh_bindings()

    @on(DataTable.RowHighlighted, "#reports-table")
    def highlighted(self) -> None:
        self.update_buttons()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        report = self.selected if self.is_mounted else None
        if action == "upload":
            return self.permissions.may("report.upload")
        if action == "deleted":
            return self.permissions.may("report.restore")
        if action == "delete":
            if not self.permissions.may("report.delete"):
                return False
            if report is None:
                return None
            return self.may_delete(report)
        if action == "delete_refused":
            return self.permissions.may("report.delete") and report is not None \
                and not self.may_delete(report)
        if action == "preview":
            return True if report and report.get("content_type") in PREVIEWABLE else None
        if action == "save_copy":
            return True if report else None
        return True

    # --- actions ---

    @on(Button.Pressed, "#reports-upload")
    def action_upload(self) -> None:
        """Upload a file for this patient."""
        if self.permissions.may("report.upload"):
            self.app.push_screen(UploadReportScreen(self.patient_id), self.uploaded)

    def uploaded(self, report: dict[str, Any] | None) -> None:
        if report is None:
            return
        self.app.notify(f"{report['filename']} uploaded ({type_label(report['content_type'])}).",
                        title="Reports", markup=False)
        self.select_next = report["id"]
        self.reload()

    @on(DataTable.RowSelected, "#reports-table")
    @on(Button.Pressed, "#reports-preview")
    def action_preview(self) -> None:
        """Show a text or CSV report inside the app (of a PDF: pages, title, first page)."""
        report = self.selected
        if report is None:
            return
        if report.get("content_type") not in PREVIEWABLE:
            self.app.notify(f"{type_label(report.get('content_type'))} files cannot be shown "
                            "here; save a copy (Ctrl+O) to open it.", title="Preview", markup=False)
            return
        session, rid = self.ctx.session, report["id"]
        self.ask(lambda s: s.reports.preview(session, rid), lambda text: PreviewRead(report, text),
                 busy=self.query_one("#reports-summary"), group="reports-preview")

    def on_preview_read(self, message: PreviewRead) -> None:
        message.stop()
        report = message.report
        self.app.push_screen(PreviewScreen(report, message.text),
                             lambda save: self.save_copy(report) if save else None)

    @on(Button.Pressed, "#reports-save")
    def action_save_copy(self) -> None:
        """Save a copy of the selected report: in a browser, as a download; in a terminal,
        as a new file in the user's outbox folder (never replacing one)."""
        report = self.selected
        if report is not None:
            self.save_copy(report)

    def save_copy(self, report: dict[str, Any]) -> None:
        """Save a copy of ``report`` (the selected one, or the one previewed)."""
        session, rid = self.ctx.session, report["id"]
        if self.app.is_web:
            self.ask(lambda s: s.reports.read(session, rid), lambda found: CopyRead(*found),
                     group="reports-save")
            return
        self.ask(lambda s: s.reports.save_copy(session, rid), CopySaved, group="reports-save")

    def on_copy_read(self, message: CopyRead) -> None:
        """In a browser: hand the file to the browser as a download."""
        message.stop()
        info = message.info
        try:
            key = self.app.deliver_binary(io.BytesIO(message.data),
                                          save_filename=safe_name(info["filename"]),
                                          mime_type=info.get("content_type"),
                                          name=f"report {info['filename']}")
        except (OSError, ValueError) as exc:  # the terminal's connection is gone or closed
            self.app.log.error(f"deliver_binary of a report failed: {exc!r}")
            key = None
        if key is None:
            self.app.notify(f"{info['filename']} could not be sent to your browser. Try "
                            "again; if it fails again, ask the clinic's administrator.",
                            title="Reports", severity="error", markup=False)
            return
        self.app.notify(f"{info['filename']} is being downloaded by your browser.",
                        title="Reports", markup=False)

    def on_copy_saved(self, message: CopySaved) -> None:
        message.stop()
        if message.path:
            self.app.notify(f"Saved a copy to {message.path} (your outbox).", title="Reports",
                            markup=False)

    @on(Button.Pressed, "#reports-delete")
    def action_delete(self) -> None:
        """Delete the selected report, with a reason; an administrator can restore it."""
        report = self.selected
        if report is None or not self.may_delete(report):
            return
        question = (f"Delete the report {report['filename']}? Say why (an administrator can "
                    "restore it).")
        self.app.push_screen(PromptScreen(question, placeholder="e.g. uploaded to the wrong "
                                                                "patient"),
                             lambda reason: self.delete_confirmed(reason, report))

    @on(Button.Pressed, "#reports-deleted")
    def action_deleted(self) -> None:
        """An administrator's list of this patient's deleted reports, to restore one."""
        if self.permissions.may("report.restore"):
            self.app.push_screen(DeletedReportsScreen(self.patient_id),
                                 lambda restored: self.reload() if restored else None)

    def action_delete_refused(self) -> None:
        """Delete on a report someone else uploaded (patients delete only their own)."""
        report = self.selected
        if report is not None and not self.may_delete(report):
            self.app.notify(f"You can delete only reports you uploaded yourself; "
                            f"{report['filename']} was uploaded by "
                            f"{report.get('uploaded_by') or 'someone else'}.",
                            title="Reports", severity="warning", markup=False)

    def delete_confirmed(self, reason: str | None, report: dict[str, Any]) -> None:
        if not reason:
            return
        session, rid = self.ctx.session, report["id"]
        self.ask(lambda s: s.reports.delete(session, rid, reason),
                 lambda _r: ReportDeleted(report), group="reports-delete")

    def on_report_deleted(self, message: ReportDeleted) -> None:
        message.stop()
        self.app.notify(f"{message.report['filename']} deleted.", title="Reports",
                        markup=False)
        self.reload()

    def on_service_failed(self, message: ServiceFailed) -> None:
        """A refused delete is said under the pane's title; a first list that failed still
        counts as shown (the base handler tells why)."""
        exc = message.error
        if message.group == "reports-list":
            self.shown()
        if message.group != "reports-delete" or not isinstance(exc, MediTrackError) \
                or isinstance(exc, SessionExpired):
            return  # the base handler: a notification, or the logout
        message.stop()
        message.prevent_default()
        self.app.notify(exc.message, title="Reports", severity="error", markup=False)
