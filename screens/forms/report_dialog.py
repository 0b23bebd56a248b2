"""What the report dialogs and the Reports pane share: the dialogs' frame, a file's size
and its detected type in words."""

from __future__ import annotations

from meditrack_tui.services.reports import ALLOWED

#: a report dialog's frame, for the dialog class ``name`` (``.format(name=...)``)
MODAL_CSS = """
{name} {{ align: center middle; }}
{name} > Vertical, {name} > VerticalScroll {{
    width: 78; max-width: 100%; height: auto; max-height: 100%;
    border: thick $primary; background: $surface; padding: 0 1;
}}
{name} .rp-title {{ text-style: bold; color: $accent; height: 1; margin-bottom: 1; }}
{name} .rp-hint {{ color: $text-muted; height: auto; }}
{name} Label {{ height: 1; margin-top: 1; }}
{name} .rp-path-row {{ height: auto; }}
{name} .rp-path-row Input {{ width: 1fr; }}
{name} .rp-path-row Button {{ margin-left: 1; }}
{name} .field-error {{ color: $error; height: auto; padding: 0; margin: 0; }}
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
