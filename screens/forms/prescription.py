"""The prescription form: prescribe (with the allergy check and an override reason) or
change the dose, route, frequency and notes of an active prescription (versioned).

Prescribing a drug that clashes with a recorded allergy is refused by the service; the
form then shows the warning and lets the doctor override it with a typed reason.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.containers import Vertical, VerticalScroll
from textual.widget import Widget
from textual.widgets import Input, Select, Static

from meditrack_tui.errors import AllergyConflict, MediTrackError, ValidationError
from meditrack_tui.services.prescriptions import ROUTES

from .fields import field_row, show_field_errors
from .versioned import Record, VersionedForm

if TYPE_CHECKING:
    from meditrack_tui.services import Services

RX_FIELDS: dict[str, tuple[str, str]] = {
    "drug": ("Drug", "e.g. Amoxicillin"),
    "dose": ("Dose", "e.g. 500 mg"),
    "route": ("Route", ""),
    "frequency": ("Frequency", "e.g. three times daily"),
    "notes": ("Notes", "optional"),
}
EDITABLE = ("dose", "route", "frequency", "notes")


class PrescriptionFormScreen(VersionedForm):
    """Prescribe (with the allergy check and an override reason) or change dose/frequency."""

    def __init__(self, patient_id: str, *, prescription: Record | None = None,
                 patient_name: str = "") -> None:
        if prescription:
            title = f"Change {prescription['drug']} {prescription.get('dose', '')}".strip()
        else:
            title = f"New prescription for {patient_name}" if patient_name \
                else "New prescription"
        super().__init__(prescription, list(EDITABLE) if prescription else list(RX_FIELDS),
                         title)
        self.patient_id = patient_id
        self.patient_name = patient_name
        self.warned_drug: str | None = None  # the drug the allergy warning is about

    @property
    def rx(self) -> Record | None:
        return self.record

    def label(self, name: str) -> str:
        return RX_FIELDS[name][0]

    def control(self, name: str) -> Widget:
        if name == "route":
            return Select([(r, r) for r in ROUTES], allow_blank=False,
                          value=self.base["route"] or "oral", id="f-route", compact=True)
        return Input(self.base[name], placeholder=RX_FIELDS[name][1], id=f"f-{name}",
                     compact=True)

    def normal(self, record: Record) -> Record:
        return {k: record.get(k) or ("oral" if k == "route" else "") for k in RX_FIELDS}

    def read(self, name: str) -> str:
        if name == "route":
            return str(self.query_one("#f-route", Select).value)
        return str(super().read(name))

    def write(self, name: str, value: object) -> None:
        if name == "route":
            self.query_one("#f-route", Select).value = value or "oral"
        else:
            super().write(name, value)

    def compose_extra(self) -> ComposeResult:
        with Vertical(id="allergy-box"):
            yield Static("", id="allergy-warning", classes="allergy-warning")
            yield from field_row("override_reason", "Override reason",
                                 Input(placeholder="why prescribe anyway (required)",
                                       id="f-override_reason", compact=True))

    def on_mount(self) -> None:
        self.query_one("#allergy-box").display = False

    @on(Input.Changed, "#f-drug")
    def drug_changed(self, event: Input.Changed) -> None:
        """A different drug needs its own allergy check: drop a warning about the old one."""
        if self.warned_drug is not None and event.value.strip() != self.warned_drug:
            self.warned_drug = None
            self.query_one("#allergy-box").display = False
            self.query_one("#f-override_reason", Input).value = ""

    def save_call(self) -> Callable[[Services], Record] | None:
        session, pid = self.ctx.session, self.patient_id
        if self.record is None:
            reason = None
            if self.warned_drug is not None:
                reason = self.query_one("#f-override_reason", Input).value.strip()
                if not reason:
                    show_field_errors(self, ValidationError(
                        {"override_reason": "Type why you prescribe despite the allergy."}))
                    self.query_one("#f-override_reason", Input).focus()
                    return None
            data = {k: v for k, v in self.typed().items() if v}
            return lambda s: s.prescriptions.add(session, pid, data, override_reason=reason)
        changes = self.changes()
        if not changes:
            self.form_error("Nothing has changed yet.")
            return None
        rx_id, version = self.record["id"], self.version
        return lambda s: s.prescriptions.update(session, rx_id, changes, version=version)

    def failed(self, error: MediTrackError) -> bool:
        if not isinstance(error, AllergyConflict):
            return False
        self.warned_drug = self.typed().get("drug", "")
        self.query_one("#allergy-warning", Static).update(
            Text(f"⚠ {error.message}", style="bold"))
        self.query_one("#allergy-box").display = True
        reason = self.query_one("#f-override_reason", Input)
        reason.focus()
        self.query_one("#form-fields", VerticalScroll).scroll_to_widget(reason)
        return True

    def latest_call(self) -> Callable[[Services], Record | None]:
        session, pid, rx_id = self.ctx.session, self.patient_id, (self.record or {})["id"]

        def latest(s: Services) -> Record | None:
            return next((r for r in s.prescriptions.list(session, pid) if r["id"] == rx_id),
                        None)

        return latest

    def gone(self, latest: Record | None) -> str | None:
        if latest is None or latest.get("status") != "active":
            return ("This prescription was stopped or removed meanwhile; it cannot be "
                    "changed. Cancel and write a new one if needed.")
        return None
