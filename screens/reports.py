"""The Reports pane: a patient's report files, upload, preview (text, CSV; of a PDF what
the app can show), save a copy, delete."""

from __future__ import annotations

import csv
import io
from typing import Any

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widget import Widget
from textual.widgets import Button, DataTable, Input, Label, OptionList, Select, Static, TextArea
from textual.widgets.option_list import Option

from meditrack_tui import policy
from meditrack_tui.errors import ValidationError
from meditrack_tui.files import safe_name
from meditrack_tui.services.reports import ALLOWED, KINDS, PREVIEWABLE

from .base import ServiceMixin
from .forms.confirm import ConfirmScreen, PromptScreen
from .forms.fields import clear_field_errors, show_field_errors
from .widgets.table import Fit, Table, refilled

_MODAL_CSS = """
{name} {{ align: center middle; }}
{name} > Vertical {{
    width: 78; max-width: 100%; height: auto; max-height: 100%;
    border: thick $primary; background: $surface; padding: 0 1;
}}
{name} .rp-title {{ text-style: bold; color: $accent; height: 1; margin-bottom: 1; }}
{name} .rp-hint {{ color: $text-muted; height: auto; }}
{name} Label {{ height: 1; margin-top: 1; }}
{name} .rp-path-row {{ height: auto; }}
{name} .rp-path-row Input {{ width: 1fr; }}
{name} .rp-path-row Button {{ margin-left: 1; }}
{name} .rp-error {{ color: $error; height: auto; padding: 0; margin: 0; }}
{name} .rp-buttons {{ height: auto; margin-top: 1; }}
{name} .rp-buttons Button {{ margin-right: 2; }}
"""


def size_text(size: int | None) -> str:
    """A file size for people: 254 B, 8.2 KB, 1.3 MB."""
    if size is None:
        return ""
    if size < 1024:
        return f"{size} B"
    if size < 1024 * 1024:
        return f"{size / 1024:.1f} KB"
    return f"{size / 1048576:.1f} MB"


def type_label(content_type: str | None) -> str:
    """The detected type as a word (PDF, CSV table, ...)."""
    return ALLOWED.get(content_type or "", (content_type or "?",))[0]


def error_line(screen: Widget, exc: BaseException) -> None:
    """Show a refusal under its field, or on the form's own error line."""
    if not show_field_errors(screen, exc):
        err = screen.query_one("#err-form", Static)
        err.update(getattr(exc, "message", str(exc)))
        err.display = True


def error_static(name: str) -> Static:
    err = Static("", id=f"err-{name}", classes="rp-error", markup=False)
    err.display = False
    return err


class UploadReportScreen(ServiceMixin, ModalScreen[dict | None]):
    """Choose a file waiting in the user's inbox (or a scan folder), its kind and a note.

    Nobody browses the server's files: the form lists what is in the folders the service
    offers and says where they are, so a person knows where to put a file (over SFTP or
    from a scanner). Refusals show inline."""

    DEFAULT_CSS = _MODAL_CSS.format(name="UploadReportScreen") + """
    UploadReportScreen #in-file { height: auto; max-height: 8; }
    """
    BINDINGS = [
        Binding("escape", "cancel", "Cancel", id="upload-cancel"),
        Binding("f5,ctrl+r", "refresh_files", "Refresh", id="upload-refresh"),
    ]
    AUTO_FOCUS = "#in-file"

    def __init__(self, patient_id: str) -> None:
        super().__init__()
        self.patient_id = patient_id
        self.files: list[Any] = []

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Static("Upload a report", classes="rp-title")
            yield Static("", id="upload-where", classes="rp-hint")
            yield Label("File")
            yield OptionList(id="in-file", compact=True)
            yield error_static("file")
            yield Label("Kind")
            yield Select([(k.capitalize(), k) for k in KINDS], value=KINDS[0],
                         allow_blank=False, compact=True, id="in-kind")
            yield error_static("kind")
            yield Label("Note")
            yield Input(id="in-note", placeholder="optional", max_length=500, compact=True)
            yield error_static("note")
            yield error_static("form")
            with Horizontal(classes="rp-buttons"):
                yield Button("Upload", id="upload-save", variant="primary", compact=True)
                yield Button("Look again (F5)", id="upload-refresh", compact=True)
                yield Button("Cancel (Esc)", id="upload-cancel", compact=True)

    def on_mount(self) -> None:
        self.action_refresh_files()

    @on(Button.Pressed, "#upload-refresh")
    def action_refresh_files(self) -> None:
        """List the files waiting in the user's folders again."""
        session = self.app.session
        self.call_service(lambda s: (s.reports.folders(session), s.reports.incoming(session)),
                          self.listed, error=self.failed, group="report-files")

    def listed(self, found: tuple[list[Any], list[Any]]) -> None:
        folders, incoming = found
        labels = {folder.key: folder.label for folder in folders}
        allowed = ", ".join(label for label, _ext in ALLOWED.values())
        where = Text("Put the file in ")
        for n, folder in enumerate(folders):
            if n:
                where.append(" or " if n == len(folders) - 1 else ", ")
            where.append(str(folder.path), style="bold")
            if n:
                where.append(f" ({folder.label})")
        where.append(f" (over SFTP or from a scanner), then choose it here. Accepted: "
                     f"{allowed}, up to the size limit; the content must match the name.")
        self.query_one("#upload-where", Static).update(where)
        keep = self.chosen
        self.files = incoming
        options = self.query_one("#in-file", OptionList)
        options.clear_options()
        if not incoming:
            options.add_option(Option(Text("No files waiting. Put one in the folder above, "
                                           "then press F5.", style="italic"), disabled=True))
            return
        multiple = len(folders) > 1
        for index, item in enumerate(incoming):
            label = Text(item.name)
            label.append(f"  {size_text(item.size)}  {item.modified:%Y-%m-%d %H:%M}",
                         style="dim")
            if multiple:
                label.append(f"  {labels.get(item.folder, item.folder)}", style="dim")
            if item.problem:
                label.append(f"  not accepted: {item.problem}", style="italic")
            options.add_option(Option(label, id=str(index), disabled=bool(item.problem)))
        for index, item in enumerate(incoming):
            if keep is not None and (item.folder, item.name) == (keep.folder, keep.name):
                options.highlighted = index
                break
        else:
            first = next((i for i, item in enumerate(incoming) if not item.problem), None)
            if first is not None:
                options.highlighted = first

    @property
    def chosen(self) -> Any:
        """The incoming file under the list's cursor."""
        options = self.query_one("#in-file", OptionList)
        index = options.highlighted
        if index is None or not self.files or index >= len(self.files):
            return None
        return self.files[index]

    @on(OptionList.OptionSelected, "#in-file")
    def file_selected(self) -> None:
        self.query_one("#in-kind", Select).focus()

    @on(Input.Submitted)
    @on(Button.Pressed, "#upload-save")
    def upload(self) -> None:
        clear_field_errors(self)
        item = self.chosen
        if item is None or item.problem:
            error_line(self, ValidationError({"file": "Choose a file from the list."}))
            return
        kind = self.query_one("#in-kind", Select).value
        note = self.query_one("#in-note", Input).value.strip() or None
        session, pid = self.app.session, self.patient_id
        name, folder = item.name, item.folder
        self.query_one("#upload-save", Button).disabled = True
        self.call_service(lambda s: s.reports.upload(session, pid, name, kind=kind, note=note,
                                                     folder=folder),
                          self.dismiss, error=self.failed, group="report-upload")

    def failed(self, exc: BaseException) -> None:
        self.query_one("#upload-save", Button).disabled = False
        error_line(self, exc)
        if isinstance(exc, ValidationError) and "file" in exc.fields:
            self.query_one("#in-file", OptionList).focus()  # choose another file

    @property
    def has_unsaved_changes(self) -> bool:
        """True when a note is typed or the kind changed (the app's guard asks)."""
        return bool(self.query_one("#in-note", Input).value.strip()
                    or self.query_one("#in-kind", Select).value != KINDS[0])

    @on(Button.Pressed, "#upload-cancel")
    def action_cancel(self) -> None:
        """Close the form, asking first when something typed would be lost."""
        if not self.has_unsaved_changes:
            self.dismiss(None)
            return
        self.app.push_screen(ConfirmScreen("Discard the upload you prepared?", yes="Discard",
                                           no="Keep editing"),
                             lambda discard: self.dismiss(None) if discard else None)


class DeletedReportsScreen(ServiceMixin, ModalScreen[bool]):
    """An administrator's list of a patient's deleted reports; Enter restores one after a
    confirmation naming it, who deleted it and why."""

    DEFAULT_CSS = _MODAL_CSS.format(name="DeletedReportsScreen") + """
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
            table = DataTable(id="deleted-table", cursor_type="row", zebra_stripes=True)
            for label in ("Deleted", "File", "By", "Reason"):
                table.add_column(label)
            yield table
            yield Static("", id="deleted-empty", classes="rp-hint")

    def on_mount(self) -> None:
        self.reload()

    def reload(self) -> None:
        session, pid = self.app.session, self.patient_id
        self.call_service(lambda s: s.reports.deleted(session, pid), self.loaded,
                          group="reports-deleted")

    def loaded(self, reports: list[dict[str, Any]]) -> None:
        self.reports = reports
        table = self.query_one("#deleted-table", DataTable)
        table.clear()
        for report in reports:
            table.add_row(f"{report['deleted_at']:%Y-%m-%d %H:%M}", Text(report["filename"]),
                          Text(report.get("deleted_by") or ""),
                          Text(report.get("delete_reason") or ""))
        self.query_one("#deleted-empty", Static).update(
            "" if reports else "No deleted reports for this patient.")

    @on(DataTable.RowSelected, "#deleted-table")
    def restore_asked(self, event: DataTable.RowSelected) -> None:
        if not self.reports or event.cursor_row >= len(self.reports):
            return
        report = self.reports[event.cursor_row]
        question = (f"Restore the report {report['filename']}, deleted by "
                    f"{report.get('deleted_by') or '?'} ({report.get('delete_reason') or ''})?")
        self.app.push_screen(ConfirmScreen(question, yes="Restore", no="Leave deleted"),
                             lambda yes: self.restore(report) if yes else None)

    def restore(self, report: dict[str, Any]) -> None:
        session, rid = self.app.session, report["id"]

        def done(_result: Any) -> None:
            self.restored = True
            self.app.notify(f"{report['filename']} restored.", title="Reports", markup=False)
            self.reload()

        self.call_service(lambda s: s.reports.restore(session, rid), done,
                          group="reports-restore")

    def action_close(self) -> None:
        self.dismiss(self.restored)


class PreviewScreen(ModalScreen[None]):
    """A text report in a read-only viewer, a CSV report as a table."""

    DEFAULT_CSS = """
    PreviewScreen { align: center middle; }
    PreviewScreen > Vertical {
        width: 95%; height: 95%; border: thick $primary; background: $surface; padding: 0 1;
    }
    PreviewScreen .rp-title { text-style: bold; color: $accent; height: 1; }
    PreviewScreen .rp-hint { color: $text-muted; height: auto; max-height: 3; }
    PreviewScreen DataTable, PreviewScreen TextArea { height: 1fr; }
    """
    BINDINGS = [Binding("escape,q", "close", "Close", id="preview-close")]

    def __init__(self, report: dict[str, Any], text: str) -> None:
        super().__init__()
        self.report, self.text = report, text

    @property
    def is_csv(self) -> bool:
        return self.report.get("content_type") == "text/csv"

    def compose(self) -> ComposeResult:
        with Vertical():
            title = f"{self.report['filename']} · {self.report.get('kind', '')}"
            yield Static(title, classes="rp-title", markup=False)
            if self.report.get("note"):
                yield Static(self.report["note"], classes="rp-hint", markup=False)
            if self.is_csv:
                yield Table(id="preview-table", zebra_stripes=True, cursor_type="row")
            else:
                yield TextArea(self.text, read_only=True, soft_wrap=True, id="preview-text")
            yield Static("Escape or q to close.", classes="rp-hint")

    def on_mount(self) -> None:
        if self.is_csv:
            rows = list(csv.reader(io.StringIO(self.text)))
            rows = [row for row in rows if any(cell.strip() for cell in row)]
            table = self.query_one("#preview-table", DataTable)
            if rows:
                # cells and headers as Text: a DataTable reads str cells as markup
                width = max(len(row) for row in rows)
                header = rows[0] + [""] * (width - len(rows[0]))
                table.add_columns(*(Text(cell) for cell in header))
                table.add_rows([[Text(cell) for cell in row + [""] * (width - len(row))]
                                for row in rows[1:]])
            table.focus()
        else:
            self.query_one("#preview-text", TextArea).focus()

    def action_close(self) -> None:
        self.dismiss(None)


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
        Binding("p", "preview", "Preview", id="reports-preview"),
        Binding("ctrl+o", "save_copy", "Save copy", id="reports-save"),
        Binding("delete", "delete", "Delete", id="reports-delete"),
        # the same key on a report this user may not delete: say why instead of nothing
        Binding("delete", "delete_refused", show=False, id="reports-delete-refused"),
        Binding("t", "deleted", "Deleted reports", id="reports-deleted"),
    ]

    #: collections whose changes make the pane re-fetch
    WATCHES: frozenset[str] = frozenset({"reports"})

    def __init__(self, patient_id: str, *, id: str | None = "reports-pane",
                 classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes)
        self.patient_id = str(patient_id)
        self.reports: list[dict[str, Any]] = []
        self.select_next: str | None = None  # a report to put the cursor on after a reload

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
        session, pid = self.app.session, self.patient_id
        if session is None:
            return
        self.call_service(lambda s: s.reports.list(session, pid), self.loaded,
                          busy=self.query_one("#reports-summary"), group="reports-list")

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
            or report.get("uploaded_by") == self.app.session.username

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
        session, rid = self.app.session, report["id"]
        self.call_service(lambda s: s.reports.preview(session, rid),
                          lambda text: self.app.push_screen(PreviewScreen(report, text)),
                          busy=self.query_one("#reports-summary"), group="reports-preview")

    @on(Button.Pressed, "#reports-save")
    def action_save_copy(self) -> None:
        """Save a copy of the selected report: in a browser, as a download; in a terminal,
        as a new file in the user's outbox folder (never replacing one)."""
        report = self.selected
        if report is None:
            return
        session, rid = self.app.session, report["id"]
        if self.app.is_web:
            def deliver(found: tuple[dict[str, Any], bytes]) -> None:
                info, data = found
                self.app.deliver_binary(io.BytesIO(data),
                                        save_filename=safe_name(info["filename"]),
                                        mime_type=info.get("content_type"))
                self.app.notify(f"{info['filename']} is being downloaded by your browser.",
                                title="Reports", markup=False)

            self.call_service(lambda s: s.reports.read(session, rid), deliver,
                              group="reports-save")
            return
        self.call_service(lambda s: s.reports.save_copy(session, rid), self.saved,
                          group="reports-save")

    def saved(self, path: str | None) -> None:
        if path:
            self.app.notify(f"Saved a copy to {path} (your outbox).", title="Reports",
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
        session, rid = self.app.session, report["id"]

        def done(_result: Any) -> None:
            self.app.notify(f"{report['filename']} deleted.", title="Reports", markup=False)
            self.reload()

        def refused(exc: BaseException) -> None:
            self.app.notify(getattr(exc, "message", str(exc)), title="Reports",
                            severity="error", markup=False)

        self.call_service(lambda s: s.reports.delete(session, rid, reason), done,
                          error=refused, group="reports-delete")
