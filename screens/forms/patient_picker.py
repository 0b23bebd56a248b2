"""The booking form's patient field: type a name or MRN, then pick one of the matches
(Enter takes the highlighted one, also when it comes before the search has answered)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal
from textual.message import Message
from textual.widget import Widget
from textual.widgets import Input, Label, OptionList, Static
from textual.widgets.option_list import Option

from meditrack_tui.errors import ValidationError
from meditrack_tui.services.base import Page

from ..base import ServiceMixin
from .fields import show_field_errors


class PatientPicker(ServiceMixin, Widget):
    """A search field (``#patient-search``) with its matches (``#patient-results``) below.

    ``picked`` is the chosen patient; :class:`Picked` tells the form. Messages about the
    field go to the form's ``#err-patient_id`` line."""

    DEFAULT_CSS = "PatientPicker { height: auto; }"
    BINDINGS = [Binding("down", "results", "Matches", show=False, id="form-results")]

    @dataclass
    class Picked(Message):
        """A patient was chosen (or Enter confirmed the one chosen)."""

        patient: dict[str, Any]

    @dataclass
    class Matched(Message):
        """The patients matching ``query`` (the text typed)."""

        page: Page[dict[str, Any]]
        query: str

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.picked: dict[str, Any] | None = None
        self.matches: list[dict[str, Any]] = []
        self.matched_query: str | None = None  # the search text `matches` answers
        self.pick_pending = False  # Enter came before the search answered: pick then

    def compose(self) -> ComposeResult:
        with Horizontal(classes="form-row"):
            yield Label("Patient", classes="form-label")
            yield Input(placeholder="name or MRN, then Enter", id="patient-search", compact=True)
        results = OptionList(id="patient-results", compact=True)
        results.display = False
        yield results

    @property
    def text(self) -> str:
        return self.query_one("#patient-search", Input).value

    def show_error(self, text: str) -> None:
        show_field_errors(self.screen, ValidationError({"patient_id": text}))

    @on(Input.Changed, "#patient-search")
    def search_changed(self, event: Input.Changed) -> None:
        if self.picked and event.value == self._picked_label(self.picked):
            return
        self.picked = None
        self.pick_pending = False
        query = event.value.strip()
        results = self.query_one("#patient-results", OptionList)
        if len(query) < 2:
            self.matches, self.matched_query = [], None
            results.clear_options()
            results.display = False
            return
        session = self.ctx.session
        self.ask(lambda s: s.patients.list(session, query=query, page_size=8),
                 lambda page: self.Matched(page, query), group="form-patient-search")

    def on_patient_picker_matched(self, message: PatientPicker.Matched) -> None:
        """Show the matches for the query (ignored when the text has changed since);
        complete an Enter pressed while the search was running."""
        message.stop()
        if self.picked or message.query != self.text.strip():
            return
        self.matches, self.matched_query = list(message.page.items), message.query
        results = self.query_one("#patient-results", OptionList)
        results.clear_options()
        if not self.matches:
            results.add_option(Option(Text("No patient matches."), disabled=True))
        for p in self.matches:
            born = f"  born {p['dob']}" if p.get("dob") else ""
            results.add_option(Option(Text(f"{p['name']}  {p['mrn']}{born}"), id=p["id"]))
        results.display = True
        if self.matches:
            results.highlighted = 0
        if self.pick_pending:
            self.pick_pending = False
            self._pick_highlighted()

    @staticmethod
    def _picked_label(patient: dict[str, Any]) -> str:
        return f"{patient['name']} ({patient['mrn']})"

    def pick(self, patient: dict[str, Any]) -> None:
        self.picked = patient
        self.query_one("#patient-search", Input).value = self._picked_label(patient)
        self.query_one("#patient-results", OptionList).display = False
        self.screen.query_one("#err-patient_id", Static).display = False
        self.post_message(self.Picked(patient))

    @on(OptionList.OptionSelected, "#patient-results")
    def option_selected(self, event: OptionList.OptionSelected) -> None:
        event.stop()
        chosen = next((p for p in self.matches if p["id"] == event.option.id), None)
        if chosen:
            self.pick(chosen)

    @on(Input.Submitted, "#patient-search")
    def search_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        if self.picked:
            self.post_message(self.Picked(self.picked))
            return
        query = self.text.strip()
        if len(query) < 2:
            self.show_error("Type at least two letters of the name, or the MRN, "
                            "and pick a patient from the list.")
            return
        if self.matched_query != query:  # the search is still running: pick when it answers
            self.pick_pending = True
            return
        self._pick_highlighted()

    def _pick_highlighted(self) -> None:
        """Pick the highlighted match (the first by default), or say that none matched."""
        if not self.matches:
            typed = self.matched_query or ""
            self.show_error(f"No patient matches “{typed}”. Check the spelling, "
                            "or type the MRN.")
            return
        results = self.query_one("#patient-results", OptionList)
        index = results.highlighted if results.highlighted is not None else 0
        self.pick(self.matches[min(index, len(self.matches) - 1)])

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "results":
            focused = self.screen.focused
            return (focused is not None and focused.id == "patient-search"
                    and bool(self.matches) and not self.picked)
        return True

    def action_results(self) -> None:
        self.query_one("#patient-results", OptionList).focus()
