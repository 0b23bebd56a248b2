"""A one-line selector ('Metric (m): Blood pressure ▾') that opens a short list."""

from __future__ import annotations

from collections.abc import Sequence

from rich.cells import cell_len
from rich.text import Text
from textual.binding import Binding
from textual.events import Click
from textual.message import Message
from textual.widget import Widget

from ..forms.choice import ChoiceScreen


class Choice(Widget, can_focus=True):
    """A one-line selector, e.g. 'Metric (m): Blood pressure ▾'.

    Enter, space or a click open the list of values (:class:`ChoiceScreen`);
    :meth:`cycle` steps to the next one. Setting :attr:`value` posts :class:`Changed`.
    One widget instead of a ``Select`` (a container of six) keeps the pane quick to open.
    """

    DEFAULT_CSS = """
    Choice { width: auto; height: 1; padding: 0 1; background: $boost; }
    Choice:hover { background: $panel; }
    Choice:focus { background: $block-cursor-background; color: $block-cursor-foreground;
                   text-style: $block-cursor-text-style; }
    """
    BINDINGS = [Binding("enter,space", "open", "Choose", show=False)]

    class Changed(Message):
        """The value of a :class:`Choice` changed."""

        def __init__(self, choice: Choice, value: str) -> None:
            super().__init__()
            self.choice, self.value = choice, value

        @property
        def control(self) -> Choice:
            return self.choice

    def __init__(self, prompt: str, options: Sequence[tuple[str, str]], value: str, *,
                 id: str | None = None) -> None:
        super().__init__(id=id)
        self.prompt, self.options = prompt, list(options)
        self.labels = {key: label for label, key in self.options}
        if value not in self.labels:
            raise ValueError(f"{value!r} is not one of the choices")
        self._value = value
        self._width = max(cell_len(label) for label, _key in self.options)

    @property
    def value(self) -> str:
        """The chosen key."""
        return self._value

    @value.setter
    def value(self, value: str) -> None:
        if value not in self.labels:
            raise ValueError(f"{value!r} is not one of the choices")
        if value != self._value:
            self._value = value
            self.refresh()
            self.post_message(self.Changed(self, value))

    def cycle(self, step: int = 1) -> None:
        """Choose the next value (the first after the last)."""
        keys = [key for _label, key in self.options]
        self.value = keys[(keys.index(self._value) + step) % len(keys)]

    def render(self) -> Text:
        label = self.labels[self._value]
        return Text.assemble(f"{self.prompt}: ", (label, "bold"),
                             " " * (self._width - cell_len(label)), " ▾")

    def action_open(self) -> None:
        """Open the list of values; the one picked becomes the value."""
        self.app.push_screen(ChoiceScreen(self.prompt, self.options, self._value), self.picked)

    def picked(self, value: str | None) -> None:
        if value is not None:
            self.value = value

    def on_click(self, event: Click) -> None:
        event.stop()
        self.action_open()
