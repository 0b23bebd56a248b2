"""A short list to pick one value from (opened by the one-line Choice selector)."""

from __future__ import annotations

from collections.abc import Sequence

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import OptionList, Static
from textual.widgets.option_list import Option


class ChoiceScreen(ModalScreen[str | None]):
    """A short list to pick one value from: Enter or a click picks, Escape cancels."""

    DEFAULT_CSS = """
    ChoiceScreen { align: center middle; }
    ChoiceScreen > Vertical {
        width: auto; min-width: 30; max-width: 100%; height: auto; max-height: 100%;
        border: thick $primary; background: $surface; padding: 0 1;
    }
    ChoiceScreen #choice-title { text-style: bold; color: $accent; height: 1; }
    ChoiceScreen OptionList { width: auto; min-width: 100%; height: auto; max-height: 12; }
    ChoiceScreen #choice-hint { color: $text-muted; height: 1; }
    """
    BINDINGS = [Binding("escape", "cancel", "Cancel", id="choice-cancel")]

    def __init__(self, title: str, options: Sequence[tuple[str, str]], value: str) -> None:
        super().__init__()
        self.title_text, self.options, self.value = title, list(options), value

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Static(self.title_text, id="choice-title", markup=False)
            yield OptionList(*[Option(label, id=key) for label, key in self.options],
                             id="choice-list", compact=True)
            yield Static("Enter chooses, Esc cancels", id="choice-hint")

    def on_mount(self) -> None:
        keys = [key for _label, key in self.options]
        self.query_one(OptionList).highlighted = keys.index(self.value) \
            if self.value in keys else 0

    @on(OptionList.OptionSelected)
    def chosen(self, event: OptionList.OptionSelected) -> None:
        event.stop()
        self.dismiss(event.option.id)

    def action_cancel(self) -> None:
        """Close without changing the value."""
        self.dismiss(None)
