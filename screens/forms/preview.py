"""A report inside the app: a text report in a read-only viewer, a CSV report as a table."""

from __future__ import annotations

import csv
import io
from typing import Any

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Static, TextArea

from ..widgets.table import Table


class PreviewScreen(ModalScreen[bool]):
    """A text report in a read-only viewer, a CSV report as a table. Dismissed with True
    when the user asks for a copy of the file (Ctrl+O, as on the Reports pane): what a
    PDF's preview cannot show needs a PDF viewer, so the preview says to save one."""

    DEFAULT_CSS = """
    PreviewScreen { align: center middle; }
    PreviewScreen > Vertical {
        width: 95%; height: 95%; border: thick $primary; background: $surface; padding: 0 1;
    }
    PreviewScreen .rp-title { text-style: bold; color: $accent; height: 1; }
    PreviewScreen .rp-hint { color: $text-muted; height: auto; max-height: 3; }
    PreviewScreen DataTable, PreviewScreen TextArea { height: 1fr; }
    """
    BINDINGS = [Binding("escape,q", "close", "Close", id="preview-close"),
                Binding("ctrl+o", "save_copy", "Save copy", id="preview-save")]

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
            yield Static("Ctrl+O saves a copy of the file; Escape or q closes.",
                         classes="rp-hint")

    def on_mount(self) -> None:
        if self.is_csv:
            rows = list(csv.reader(io.StringIO(self.text)))
            rows = [row for row in rows if any(cell.strip() for cell in row)]
            table = self.query_one("#preview-table", Table)
            if rows:
                # cells and headers as Text: a DataTable reads str cells as markup
                width = max(len(row) for row in rows)
                header = rows[0] + [""] * (width - len(rows[0]))
                table.fill_fitted([(f"c{n}", Text(cell)) for n, cell in enumerate(header)],
                                  [(n, [Text(cell) for cell in row + [""] * (width - len(row))])
                                   for n, row in enumerate(rows[1:])])
            table.focus()
        else:
            self.query_one("#preview-text", TextArea).focus()

    def action_close(self) -> None:
        self.dismiss(False)

    def action_save_copy(self) -> None:
        """Close the preview and save a copy of the file (the Reports pane does it)."""
        self.dismiss(True)

