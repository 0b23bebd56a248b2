"""The form for a new vitals reading; the service's refusals show under each field."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.message import Message
from textual.screen import ModalScreen
from textual.widgets import Button, Checkbox, Input, Label, Static

from meditrack_tui.errors import MediTrackError, SessionExpired

from ..base import ServiceMixin
from ..messages import ServiceFailed
from .confirm import close_or_ask
from .fields import clear_field_errors, error_line, show_refusal

InputType = Literal["integer", "number", "text"]


@dataclass
class ReadingSaved(Message):
    """The service recorded the reading (with its flags)."""

    reading: dict[str, Any]


class AddReadingScreen(ServiceMixin, ModalScreen[dict[str, Any] | None]):
    """The form for a new reading; dismissed with the saved reading, or None."""

    DEFAULT_CSS = """
    AddReadingScreen { align: center middle; }
    AddReadingScreen > VerticalScroll {
        width: 76; max-width: 100%; height: auto; max-height: 100%;
        border: thick $primary; background: $surface; padding: 0 1;
    }
    AddReadingScreen .vt-title { text-style: bold; color: $accent; height: 1; }
    AddReadingScreen .vt-hint { color: $text-muted; height: auto; }
    AddReadingScreen .vt-row { height: auto; }
    AddReadingScreen .vt-cell { width: 1fr; height: auto; padding-right: 1; }
    AddReadingScreen .vt-cell Label { height: 1; }
    AddReadingScreen .vt-cell Input { width: 100%; }
    AddReadingScreen .vt-cell Checkbox { margin-top: 1; }
    AddReadingScreen .field-error { color: $error; height: auto; padding: 0; margin: 0; }
    AddReadingScreen .vt-buttons { height: auto; margin-top: 1; }
    AddReadingScreen .vt-buttons Button { margin-right: 2; }
    """
    BINDINGS = [Binding("escape", "cancel", "Cancel", id="reading-cancel")]
    AUTO_FOCUS = "#in-systolic"

    # (field, label, input type, placeholder)
    LAYOUT: tuple[tuple[tuple[str, str, InputType, str], ...], ...] = (
        (("systolic", "Systolic (mmHg)", "integer", "e.g. 128"),
         ("diastolic", "Diastolic (mmHg)", "integer", "e.g. 82")),
        (("heart_rate", "Heart rate (bpm)", "integer", "e.g. 72"),
         ("spo2", "SpO2 (%)", "integer", "e.g. 97")),
        (("glucose_mg_dl", "Glucose (mg/dL)", "number", "e.g. 105"),
         ("glucose_fasting", "", "text", "")),
        (("weight_kg", "Weight (kg)", "number", "e.g. 81.5"),
         ("temperature_c", "Temperature (°C)", "number", "e.g. 36.8")),
        (("taken_at", "Taken at (empty = now)", "text", "YYYY-MM-DD HH:MM"),
         ("note", "Note", "text", "optional")),
    )

    def __init__(self, patient_id: str, *, home: bool) -> None:
        super().__init__()
        self.patient_id = patient_id
        self.home = home

    def compose(self) -> ComposeResult:
        with VerticalScroll():
            yield Static("Add a reading", classes="vt-title")
            hint = ("Fill in what you measured; blood pressure needs both numbers. "
                    + ("It is saved as a home reading." if self.home else ""))
            yield Static(hint.strip(), classes="vt-hint")
            for row in self.LAYOUT:
                with Horizontal(classes="vt-row"):
                    for name, label, kind, placeholder in row:
                        with Vertical(classes="vt-cell"):
                            if name == "glucose_fasting":
                                yield Checkbox("Fasting glucose", id="in-glucose_fasting",
                                               compact=True)
                            else:
                                yield Label(label)
                                yield Input(id=f"in-{name}", type=kind, placeholder=placeholder,
                                            compact=True, max_length=300 if name == "note" else 20)
                            yield error_line(name)
            yield error_line("form")
            with Horizontal(classes="vt-buttons"):
                yield Button("Save reading", id="reading-save", variant="primary", compact=True)
                yield Button("Cancel (Esc)", id="reading-cancel", compact=True)

    def values(self) -> dict[str, Any]:
        """The form as the service expects it (empty fields left out)."""
        data: dict[str, Any] = {}
        for row in self.LAYOUT:
            for name, *_rest in row:
                if name == "glucose_fasting":
                    continue
                text = self.query_one(f"#in-{name}", Input).value.strip()
                if text:
                    data[name] = text
        if "glucose_mg_dl" in data:
            data["glucose_fasting"] = self.query_one("#in-glucose_fasting", Checkbox).value
        return data

    @property
    def has_unsaved_changes(self) -> bool:
        """True when something is typed or ticked (the app's guard asks before leaving)."""
        return bool(self.values()) or self.query_one("#in-glucose_fasting", Checkbox).value

    @on(Input.Submitted)
    @on(Button.Pressed, "#reading-save")
    def save(self) -> None:
        clear_field_errors(self)
        data, pid = self.values(), self.patient_id
        session = self.ctx.session
        self.query_one("#reading-save", Button).disabled = True
        self.ask(lambda s: s.vitals.add(session, pid, data), ReadingSaved, group="vitals-add")

    def on_reading_saved(self, message: ReadingSaved) -> None:
        self.dismiss(message.reading)

    def on_service_failed(self, message: ServiceFailed) -> None:
        """A refusal shows under its field (or on the form's line); the form stays open."""
        if message.group != "vitals-add":
            return
        self.query_one("#reading-save", Button).disabled = False
        exc = message.error
        if not isinstance(exc, MediTrackError) or isinstance(exc, SessionExpired):
            return  # the base handler: a notification, or the logout
        message.stop()
        message.prevent_default()
        show_refusal(self, exc)
        first = next((w for w in self.query(".field-error") if w.display), None)
        if first is not None:
            first.scroll_visible()

    @on(Button.Pressed, "#reading-cancel")
    def action_cancel(self) -> None:
        """Close the form, asking first when something typed would be lost."""
        close_or_ask(self, "Discard the reading you typed?")
