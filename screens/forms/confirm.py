"""Typed modals: a yes/no confirmation, a menu of a record's actions and a one-line text
prompt (e.g. a reason)."""

from __future__ import annotations

from typing import Any

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Input, OptionList, Static
from textual.widgets.option_list import Option


class ConfirmScreen(ModalScreen[bool]):
    """Ask a yes/no question; dismissed with True (Enter on the confirming button) or
    False (Escape, or the other button).

    No letter answers it: a confirmation opened by a stray key must not be answered by
    the next letters typed. The question is plain text, never markup: it quotes names,
    file names and drugs.
    """

    DEFAULT_CSS = """
    ConfirmScreen { align: center middle; }
    ConfirmScreen > Vertical {
        width: 64; max-width: 95%; height: auto; padding: 1 2;
        border: thick $warning; background: $surface;
    }
    ConfirmScreen .question { margin-bottom: 1; }
    ConfirmScreen Horizontal { height: auto; }
    ConfirmScreen Button { margin-right: 2; }
    """
    BINDINGS = [Binding("escape", "answer(False)", "Cancel", id="confirm-no")]
    AUTO_FOCUS = "#yes"

    def __init__(self, question: str, *, yes: str = "Yes", no: str = "No") -> None:
        super().__init__()
        self.question, self.yes, self.no = question, yes, no

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Static(self.question, classes="question", markup=False)
            with Horizontal():
                yield Button(f"{self.yes} (Enter)", id="yes", variant="warning")
                yield Button(f"{self.no} (Esc)", id="no")

    @on(Button.Pressed)
    def pressed(self, event: Button.Pressed) -> None:
        self.dismiss(event.button.id == "yes")

    def action_answer(self, value: bool) -> None:
        self.dismiss(value)


class ActionMenu(ModalScreen[str | None]):
    """The actions that apply to one record, named in the title; Enter runs the
    highlighted one, Escape closes. ``actions`` are (id, label) pairs."""

    DEFAULT_CSS = """
    ActionMenu { align: center middle; }
    ActionMenu > Vertical {
        width: 64; max-width: 95%; height: auto; padding: 1 2;
        border: thick $primary; background: $surface;
    }
    ActionMenu .menu-title { margin-bottom: 1; text-style: bold; }
    ActionMenu OptionList { height: auto; max-height: 12; }
    ActionMenu .muted { color: $text-muted; }
    """
    BINDINGS = [Binding("escape", "cancel", "Close", id="menu-cancel")]

    def __init__(self, title: str, actions: list[tuple[str, str]]) -> None:
        super().__init__()
        self.title_text, self.actions = title, actions

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Static(self.title_text, classes="dialog-title menu-title", markup=False)
            yield OptionList(*[Option(Text(label), id=action) for action, label in self.actions],
                             id="action-list")
            yield Static("Enter to run, Escape to close.", classes="muted")

    def on_mount(self) -> None:
        self.query_one(OptionList).highlighted = 0

    @on(OptionList.OptionSelected)
    def chosen(self, event: OptionList.OptionSelected) -> None:
        self.dismiss(event.option.id)

    def action_cancel(self) -> None:
        self.dismiss(None)


class PromptScreen(ModalScreen[str | None]):
    """Ask for one line of text (a reason, a path); None when cancelled with Escape.

    The question and the error line are plain text, never markup.
    """

    DEFAULT_CSS = """
    PromptScreen { align: center middle; }
    PromptScreen > Vertical {
        width: 70; max-width: 95%; height: auto; padding: 1 2;
        border: thick $primary; background: $surface;
    }
    PromptScreen .error { color: $error; height: auto; }
    """
    BINDINGS = [Binding("escape", "cancel", "Cancel", id="prompt-cancel")]

    def __init__(self, question: str, *, value: str = "", placeholder: str = "",
                 required: bool = True, password: bool = False) -> None:
        super().__init__()
        self.question, self.value, self.placeholder = question, value, placeholder
        self.required, self.password = required, password

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Static(self.question, markup=False)
            yield Input(self.value, placeholder=self.placeholder, password=self.password,
                        id="prompt-input")
            yield Static("", classes="error", id="prompt-error", markup=False)
            yield Static("Enter to confirm, Escape to cancel.", classes="muted")

    @on(Input.Submitted)
    def submitted(self, event: Input.Submitted) -> None:
        if self.required and not event.value.strip():
            self.query_one("#prompt-error", Static).update("Please type something first.")
            return
        self.dismiss(event.value)

    def action_cancel(self) -> None:
        self.dismiss(None)


def close_or_ask(form: ModalScreen[Any], question: str) -> None:
    """Close ``form`` (dismissed with None) now when nothing typed would be lost
    (``form.has_unsaved_changes``), else once the person agrees: Enter discards, Escape
    keeps editing. The one way every form asks before throwing typed work away."""
    if not getattr(form, "has_unsaved_changes", False):
        form.dismiss(None)
        return

    def answered(discard: bool | None) -> None:
        if discard:
            form.dismiss(None)

    form.app.push_screen(ConfirmScreen(question, yes="Discard", no="Keep editing"), answered)
