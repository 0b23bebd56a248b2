"""The one field row of every form: label, control, an inline error line under it and,
on versioned forms, a line with the value saved meanwhile (``#latest-<name>``)."""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Horizontal
from textual.widget import Widget
from textual.widgets import Label, Static

from meditrack_tui.errors import ValidationError


def error_line(name: str, prefix: str = "err-") -> Static:
    """The hidden inline message line of field ``name`` (``#err-<name>``)."""
    line = Static("", id=f"{prefix}{name}", classes="field-error", markup=False)
    line.display = False
    return line


def field_row(name: str, label: str, widget: Widget, *, stacked: bool = False,
              latest: bool = False) -> ComposeResult:
    """One form field: ``label`` beside ``widget`` (a ``.form-row`` with ``.form-label``),
    or above it when ``stacked`` (``.field-label``, the narrow login and sign-up cards);
    then its error line and, with ``latest``, the line a conflict fills with the value
    saved meanwhile."""
    if stacked:
        yield Label(label, classes="field-label")
        yield widget
    else:
        with Horizontal(classes="form-row", id=f"row-{name}"):
            yield Label(label, classes="form-label")
            yield widget
    yield error_line(name)
    if latest:
        line = Static("", id=f"latest-{name}", classes="field-latest", markup=False)
        line.display = False
        yield line


def show_field_errors(container: Widget, exc: BaseException, prefix: str = "err-") -> bool:
    """Put a ValidationError's per-field messages into ``#err-<field>`` labels; True if shown."""
    if not isinstance(exc, ValidationError):
        return False
    shown = False
    for name, text in exc.fields.items():
        key = "form" if name == "_" else name
        try:
            label = container.query_one(f"#{prefix}{key}", Static)
        except Exception:
            continue
        label.update(Text(text))  # messages may quote what was typed: never markup
        label.display = True
        shown = True
    return shown


def clear_field_errors(container: Widget, prefix: str = "err-") -> None:
    for label in container.query(Static):
        if label.id and label.id.startswith(prefix):
            label.update("")
            label.display = False


def show_refusal(container: Widget, exc: BaseException) -> None:
    """Show a service's refusal under its fields, else on the form's own error line
    (``#err-form``)."""
    if not show_field_errors(container, exc):
        err = container.query_one("#err-form", Static)
        err.update(Text(getattr(exc, "message", None) or str(exc)))
        err.display = True
