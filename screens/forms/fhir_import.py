"""Import (FHIR), for administrators: choose a file or a bulk export folder waiting in the
inbox, see a dry run's summary (what would be imported, matched, skipped and refused),
then import it (Enter) or cancel (Escape); the summary then shows what was done."""

from __future__ import annotations

from dataclasses import dataclass

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.message import Message
from textual.screen import ModalScreen
from textual.widgets import Button, OptionList, Static
from textual.widgets.option_list import Option

from meditrack_tui.errors import MediTrackError, SessionExpired
from meditrack_tui.fhir.imports import Tally
from meditrack_tui.services.fhir_files import FhirSource

from ..base import ServiceMixin, error_text
from ..messages import ServiceFailed
from ..widgets.table import Fit, Table
from .report_dialog import MODAL_CSS, size_text

COLUMNS = (("kind", "Resource"), ("imported", "Imported"), ("matched", "Matched"),
           ("skipped", "Skipped"), ("refused", "Refused"))
#: how many refusals the summary lists (the CLI's limit too)
MAX_REFUSED = 50


@dataclass
class SourcesListed(Message):
    """The inbox and the FHIR files and folders waiting in it."""

    inbox: str
    sources: list[FhirSource]


@dataclass
class ImportRan(Message):
    """A dry run's or an import's summary for the file or folder ``name``."""

    name: str
    tally: Tally
    dry_run: bool


def summary_notes(tally: Tally) -> Text:
    """The skipped reasons and the refusals under the table, as the CLI prints them."""
    lines = [f"Skipped {n} {kind}: {reason}"
             for (kind, reason), n in sorted(tally.reasons.items())]
    lines += [f"Refused {message}" for message in tally.refused[:MAX_REFUSED]]
    if len(tally.refused) > MAX_REFUSED:
        lines.append(f"… and {len(tally.refused) - MAX_REFUSED} more refused.")
    return Text("\n".join(lines))


class FhirImportScreen(ServiceMixin, ModalScreen[None]):
    """Choose, check with a dry run, then import; refusals are sentences on the dialog."""

    DEFAULT_CSS = MODAL_CSS.format(name="FhirImportScreen") + """
    FhirImportScreen #fhir-sources { height: auto; max-height: 7; }
    FhirImportScreen #fhir-status { height: auto; }
    FhirImportScreen #fhir-sources { margin-bottom: 1; }
    FhirImportScreen #fhir-status.fhir-failed { color: $error; text-style: bold; }
    FhirImportScreen #fhir-summary { height: auto; max-height: 9; margin-top: 1; }
    FhirImportScreen #fhir-notes { height: auto; color: $text-muted; }
    FhirImportScreen #fhir-body { height: auto; min-height: 3; }
    FhirImportScreen .rp-buttons { dock: bottom; }
    """
    BINDINGS = [
        Binding("escape", "cancel", "Cancel", id="fhir-import-cancel"),
        Binding("f5,ctrl+r", "refresh_sources", "Refresh", id="fhir-import-refresh"),
    ]
    AUTO_FOCUS = "#fhir-sources"
    GROUPS = frozenset({"fhir-sources", "fhir-import"})

    def __init__(self) -> None:
        super().__init__()
        self.sources: list[FhirSource] = []
        self.checked: str | None = None  # the file or folder the dry run was of
        self.stage = "choose"  # choose -> checked (dry run shown) -> done
        self.importing = False  # the import itself is running

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Static("Import patient records (FHIR)", classes="rp-title")
            with VerticalScroll(id="fhir-body"):
                yield Static("", id="fhir-where", classes="rp-hint")
                yield OptionList(id="fhir-sources", compact=True)
                yield Static("", id="fhir-status", markup=False)
                table = Table(id="fhir-summary", cursor_type="none", zebra_stripes=True)
                table.fit = Fit(flex=("kind",), minimum=8)
                table.display = False
                yield table
                yield Static("", id="fhir-notes", markup=False)
            with Horizontal(classes="rp-buttons"):
                yield Button("Dry run (Enter)", id="fhir-go", variant="primary", compact=True)
                yield Button("Look again (F5)", id="fhir-refresh", compact=True)
                yield Button("Cancel (Esc)", id="fhir-cancel", compact=True)

    def on_mount(self) -> None:
        self.action_refresh_sources()

    @on(Button.Pressed, "#fhir-refresh")
    def action_refresh_sources(self) -> None:
        """List the FHIR files and folders in the inbox (again), back at the first step."""
        if self.stage == "done" or self.query_one("#fhir-body").loading:
            return
        session = self.ctx.session
        self.ask(lambda s: (s.fhir_files.inbox(session), s.fhir_files.import_sources(session)),
                 lambda found: SourcesListed(*found), group="fhir-sources")

    def on_sources_listed(self, message: SourcesListed) -> None:
        self.show_stage("choose")
        where = Text("Put FHIR files (.json Bundles, .ndjson) or a bulk export folder in ")
        where.append(message.inbox, style="bold")
        where.append(" (over SFTP: your /inbox), then choose one. A dry run shows what would "
                     "change before anything is imported.")
        self.query_one("#fhir-where", Static).update(where)
        self.sources = message.sources
        options = self.query_one("#fhir-sources", OptionList)
        options.clear_options()
        if not self.sources:
            options.add_option(Option(Text("Nothing to import. Put a file in the folder "
                                           "above, then press F5.", style="italic"),
                                      disabled=True))
            return
        for index, item in enumerate(self.sources):
            label = Text(item.name + ("/" if item.folder else ""))
            detail = f"{item.files} files, " if item.folder else ""
            label.append(f"  {detail}{size_text(item.size)}  {item.modified:%Y-%m-%d %H:%M}",
                         style="dim")
            if item.problem:
                label.append(f"  not readable: {item.problem}", style="italic")
            options.add_option(Option(label, id=str(index), disabled=bool(item.problem)))
        first = next((i for i, item in enumerate(self.sources) if not item.problem), None)
        if first is not None:
            options.highlighted = first

    def show_stage(self, stage: str) -> None:
        """Show what each step needs: the list to choose from, or the summary."""
        self.stage = stage
        choosing = stage == "choose"
        for selector in ("#fhir-where", "#fhir-sources", "#fhir-refresh"):
            self.query_one(selector).display = choosing
        self.query_one("#fhir-summary").display = not choosing
        go = self.query_one("#fhir-go", Button)
        go.display = stage != "done"
        go.label = "Dry run (Enter)" if choosing else "Import (Enter)"
        self.query_one("#fhir-cancel", Button).label = "Close (Esc)" if stage == "done" \
            else "Cancel (Esc)"
        if choosing:
            self.checked = None
            self.query_one("#fhir-status", Static).update("")
            self.query_one("#fhir-notes", Static).update("")
            self.query_one("#fhir-sources").focus()
        else:
            (go if go.display else self.query_one("#fhir-cancel")).focus()

    @on(OptionList.OptionSelected, "#fhir-sources")
    @on(Button.Pressed, "#fhir-go")
    def go(self) -> None:
        """First a dry run of the chosen file or folder; after it, the import itself."""
        if self.query_one("#fhir-body").loading:
            return
        if self.stage == "checked" and self.checked is not None:
            self.run(self.checked, dry_run=False)
            return
        index = self.query_one("#fhir-sources", OptionList).highlighted
        if index is None or index >= len(self.sources) or self.sources[index].problem:
            self.say(Text("Choose a file or folder from the list."))
            return
        self.run(self.sources[index].name, dry_run=True)

    def run(self, name: str, *, dry_run: bool) -> None:
        session = self.ctx.session
        self.importing = not dry_run
        doing = "Checking" if dry_run else "Importing"
        self.say(Text(f"{doing} {name}… (a large file takes a while)"))
        self.ask(lambda s: s.fhir_files.import_from_inbox(session, name, dry_run=dry_run),
                 lambda tally: ImportRan(name, tally, dry_run), group="fhir-import",
                 busy=self.query_one("#fhir-body"))

    def on_import_ran(self, message: ImportRan) -> None:
        tally, name = message.tally, message.name
        self.importing = False
        if message.dry_run:
            self.checked = name
            self.show_stage("checked")
            self.say(Text(f"Dry run of {name}: nothing has changed yet. Import (Enter) makes "
                          "these changes; Cancel (Escape) leaves everything as it is."))
        else:
            self.show_stage("done")
            self.say(Text(f"Imported {name}: what was done."))
            self.app.notify(f"{name} is imported.", title="Import (FHIR)", markup=False)
        rows = [(kind, (kind, *(Text(str(row[k]), justify="right") for k, _label in COLUMNS[1:])))
                for kind, row in sorted(tally.counts.items())]
        self.query_one("#fhir-summary", Table).fill_fitted(COLUMNS, rows)
        self.query_one("#fhir-notes", Static).update(summary_notes(tally))

    def say(self, text: Text, *, failed: bool = False) -> None:
        status = self.query_one("#fhir-status", Static)
        status.update(text)
        status.set_class(failed, "fhir-failed")

    def on_service_failed(self, message: ServiceFailed) -> None:
        """A refusal or failure is a sentence on the dialog, which stays open."""
        if message.group not in self.GROUPS:
            return
        self.importing = False
        exc = message.error
        if isinstance(exc, SessionExpired):
            return  # the base handler logs out
        message.stop()
        message.prevent_default()
        if not isinstance(exc, MediTrackError):
            self.app.log.error(f"FHIR import failed: {exc!r}")
        self.say(Text(error_text(exc)), failed=True)

    @on(Button.Pressed, "#fhir-cancel")
    def action_cancel(self) -> None:
        """Close the dialog; before the import, nothing has changed."""
        if self.importing:
            self.app.notify("The import goes on; the records appear as they are imported.",
                            title="Import (FHIR)", markup=False)
        elif self.stage == "checked":
            self.app.notify("Nothing was imported.", title="Import (FHIR)", markup=False)
        self.dismiss(None)
