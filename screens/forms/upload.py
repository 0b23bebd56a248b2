"""Upload a report: choose a file waiting in the user's inbox (or a scan folder), its kind
and a note; the service's refusals show inline."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, VerticalScroll
from textual.message import Message
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label, OptionList, Select, Static
from textual.widgets.option_list import Option

from meditrack_tui.errors import MediTrackError, SessionExpired, ValidationError
from meditrack_tui.services.reports import ALLOWED, KINDS

from ..base import ServiceMixin
from ..messages import ServiceFailed
from .confirm import close_or_ask
from .fields import clear_field_errors, error_line, show_refusal
from .report_dialog import MODAL_CSS, size_text


@dataclass
class FilesListed(Message):
    """The user's upload folders and the files waiting in them."""

    folders: list[Any]
    incoming: list[Any]


@dataclass
class ReportUploaded(Message):
    """The service stored the chosen file as the patient's report."""

    report: dict[str, Any]


class UploadReportScreen(ServiceMixin, ModalScreen[dict[str, Any] | None]):
    """Choose a file waiting in the user's inbox (or a scan folder), its kind and a note.

    Nobody browses the server's files: the form lists what is in the folders the service
    offers and says where they are, so a person knows where to put a file (over SFTP or
    from a scanner). Refusals show inline."""

    DEFAULT_CSS = MODAL_CSS.format(name="UploadReportScreen") + """
    UploadReportScreen #in-file { height: auto; max-height: 8; }
    UploadReportScreen .rp-buttons { dock: bottom; }
    """
    BINDINGS = [
        Binding("escape", "cancel", "Cancel", id="upload-cancel"),
        Binding("f5,ctrl+r", "refresh_files", "Refresh", id="upload-refresh"),
    ]
    AUTO_FOCUS = "#in-file"
    #: the service calls whose refusals this form shows inline
    GROUPS = frozenset({"report-files", "report-upload"})

    def __init__(self, patient_id: str) -> None:
        super().__init__()
        self.patient_id = patient_id
        self.files: list[Any] = []

    def compose(self) -> ComposeResult:
        # on a short terminal the form scrolls; its buttons stay in sight at the bottom
        with VerticalScroll():
            yield Static("Upload a report", classes="rp-title")
            yield Static("", id="upload-where", classes="rp-hint")
            yield Label("File")
            yield OptionList(id="in-file", compact=True)
            yield error_line("file")
            yield Label("Kind")
            yield Select([(k.capitalize(), k) for k in KINDS], value=KINDS[0],
                         allow_blank=False, compact=True, id="in-kind")
            yield error_line("kind")
            yield Label("Note")
            yield Input(id="in-note", placeholder="optional", max_length=500, compact=True)
            yield error_line("note")
            yield error_line("form")
            with Horizontal(classes="rp-buttons"):
                yield Button("Upload", id="upload-save", variant="primary", compact=True)
                yield Button("Look again (F5)", id="upload-refresh", compact=True)
                yield Button("Cancel (Esc)", id="upload-cancel", compact=True)

    def on_mount(self) -> None:
        self.action_refresh_files()

    @on(Button.Pressed, "#upload-refresh")
    def action_refresh_files(self) -> None:
        """List the files waiting in the user's folders again."""
        session = self.ctx.session
        self.ask(lambda s: (s.reports.folders(session), s.reports.incoming(session)),
                 lambda found: FilesListed(*found), group="report-files")

    def on_files_listed(self, message: FilesListed) -> None:
        folders, incoming = message.folders, message.incoming
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
            show_refusal(self, ValidationError({"file": "Choose a file from the list."}))
            return
        kind = str(self.query_one("#in-kind", Select).value)
        note = self.query_one("#in-note", Input).value.strip() or None
        session, pid = self.ctx.session, self.patient_id
        name, folder = item.name, item.folder
        self.query_one("#upload-save", Button).disabled = True
        self.ask(lambda s: s.reports.upload(session, pid, name, kind=kind, note=note,
                                            folder=folder),
                 ReportUploaded, group="report-upload")

    def on_report_uploaded(self, message: ReportUploaded) -> None:
        self.dismiss(message.report)

    def on_service_failed(self, message: ServiceFailed) -> None:
        """A refusal (listing or upload) shows on the form, which stays open."""
        if message.group not in self.GROUPS:
            return
        self.query_one("#upload-save", Button).disabled = False
        exc = message.error
        if not isinstance(exc, MediTrackError) or isinstance(exc, SessionExpired):
            return  # the base handler: a notification, or the logout
        message.stop()
        message.prevent_default()
        show_refusal(self, exc)
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
        close_or_ask(self, "Discard the upload you prepared?")
