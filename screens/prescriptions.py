"""A patient's prescriptions (active first, then stopped); doctors prescribe, change and stop.

Prescribing a drug that clashes with a recorded allergy is refused by the service;
the form then shows the warning and lets the doctor override it with a typed reason.
"""

from __future__ import annotations

from typing import Any

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widget import Widget
from textual.widgets import Button, DataTable, Input, Select, Static
from textual.widgets.data_table import CellDoesNotExist

from meditrack_tui.errors import AllergyConflict, Conflict, MediTrackError
from meditrack_tui.services.prescriptions import ROUTES

from .base import ServiceMixin, error_text
from .forms.confirm import ConfirmScreen, PromptScreen
from .forms.fields import clear_field_errors, show_field_errors
from .patients import form_field
from .widgets.table import Fit, Table, refilled

RX_FIELDS: dict[str, tuple[str, str]] = {
    "drug": ("Drug", "e.g. Amoxicillin"),
    "dose": ("Dose", "e.g. 500 mg"),
    "route": ("Route", ""),
    "frequency": ("Frequency", "e.g. three times daily"),
    "notes": ("Notes", "optional"),
}
EDITABLE = ("dose", "route", "frequency", "notes")


class PrescriptionFormScreen(ServiceMixin, ModalScreen[dict | None]):
    """Prescribe (with the allergy check and an override reason) or change dose/frequency."""

    CSS_PATH = "patients.tcss"
    BINDINGS = [
        Binding("escape", "cancel", "Cancel", id="rx-form-cancel"),
        Binding("ctrl+r", "reload_latest", "Reload latest", id="rx-form-reload"),
    ]

    def __init__(self, patient_id: str, *, prescription: dict | None = None,
                 patient_name: str = "") -> None:
        super().__init__()
        self.patient_id = patient_id
        self.rx = prescription
        self.fields = list(EDITABLE) if prescription else list(RX_FIELDS)
        self.base = {k: (prescription or {}).get(k) or ("oral" if k == "route" else "")
                     for k in RX_FIELDS}
        self.version = (prescription or {}).get("version")
        self.patient_name = patient_name
        self.warned_drug: str | None = None  # the drug the allergy warning is about
        self.in_conflict = False
        self.saving = False

    def compose(self) -> ComposeResult:
        if self.rx:
            title = f"Change {self.rx['drug']} {self.rx.get('dose', '')}".strip()
        else:
            title = f"New prescription for {self.patient_name}" if self.patient_name \
                else "New prescription"
        with Vertical(id="form-box"):
            yield Static(title, classes="form-title", markup=False)
            with VerticalScroll(id="form-fields"):
                for name in self.fields:
                    label, placeholder = RX_FIELDS[name]
                    if name == "route":
                        control: Widget = Select([(r, r) for r in ROUTES], allow_blank=False,
                                                 value=self.base["route"] or "oral",
                                                 id="f-route", compact=True)
                    else:
                        control = Input(self.base[name], placeholder=placeholder,
                                        id=f"f-{name}", compact=True)
                    yield from form_field(name, label, control)
                with Vertical(id="allergy-box"):
                    yield Static("", id="allergy-warning", classes="allergy-warning")
                    yield from form_field("override_reason", "Override reason",
                                          Input(placeholder="why prescribe anyway (required)",
                                                id="f-override_reason", compact=True))
            err = Static("", id="err-form", classes="field-error")
            err.display = False
            yield err
            conflict = Static("", id="conflict", classes="conflict")
            conflict.display = False
            yield conflict
            with Horizontal(classes="form-buttons"):
                yield Button("Save (Enter)", id="save", variant="primary")
                reload = Button("Reload latest (Ctrl+R)", id="reload", variant="warning")
                reload.display = False
                yield reload
                yield Button("Cancel (Esc)", id="cancel")

    def on_mount(self) -> None:
        self.query_one("#allergy-box").display = False
        self.query_one(f"#f-{self.fields[0]}").focus()

    def typed(self) -> dict[str, str]:
        out = {}
        for name in self.fields:
            if name == "route":
                out[name] = str(self.query_one("#f-route", Select).value)
            else:
                out[name] = self.query_one(f"#f-{name}", Input).value.strip()
        return out

    @property
    def has_unsaved_changes(self) -> bool:
        """True when leaving now would lose something the user typed."""
        return any(v != self.base.get(k) for k, v in self.typed().items())

    @on(Input.Changed, "#f-drug")
    def drug_changed(self, event: Input.Changed) -> None:
        """A different drug needs its own allergy check: drop a warning about the old one."""
        if self.warned_drug is not None and event.value.strip() != self.warned_drug:
            self.warned_drug = None
            self.query_one("#allergy-box").display = False
            self.query_one("#f-override_reason", Input).value = ""

    @on(Input.Submitted)
    @on(Button.Pressed, "#save")
    def save(self) -> None:
        if self.saving:
            return
        clear_field_errors(self)
        session, pid = self.app.session, self.patient_id
        typed = self.typed()
        if self.rx is None:
            reason = None
            if self.warned_drug is not None:
                reason = self.query_one("#f-override_reason", Input).value.strip()
                if not reason:
                    show_field_errors(self, _required_reason())
                    self.query_one("#f-override_reason", Input).focus()
                    return
            data = {k: v for k, v in typed.items() if v}
            fn = lambda s: s.prescriptions.add(session, pid, data,  # noqa: E731
                                               override_reason=reason)
        else:
            changes = {k: v for k, v in typed.items() if v != self.base.get(k)}
            if not changes:
                self._form_error("Nothing has changed yet.")
                return
            rx_id, version = self.rx["id"], self.version
            fn = lambda s: s.prescriptions.update(session, rx_id, changes,  # noqa: E731
                                                  version=version)
        self.saving = True
        self.call_service(fn, self._saved, error=self._failed, group="rx-form")

    def _saved(self, rx: dict) -> None:
        self.saving = False
        self.dismiss(rx)

    def _failed(self, exc: MediTrackError) -> None:
        self.saving = False
        if isinstance(exc, AllergyConflict):
            self.warned_drug = self.typed().get("drug", "")
            self.query_one("#allergy-warning", Static).update(
                Text(f"⚠ {exc.message}", style="bold"))
            self.query_one("#allergy-box").display = True
            reason = self.query_one("#f-override_reason", Input)
            reason.focus()
            self.query_one("#form-fields", VerticalScroll).scroll_to_widget(reason)
            return
        if isinstance(exc, Conflict):
            self.in_conflict = exc.current is not None
            box = self.query_one("#conflict", Static)
            hint = "\nCtrl+R shows the latest saved values; then save again." \
                if self.in_conflict else ""
            box.update(Text(exc.message + hint))
            box.display = True
            self.query_one("#reload").display = self.in_conflict
            self.refresh_bindings()
            return
        if not show_field_errors(self, exc):
            self._form_error(error_text(exc))

    def _form_error(self, text: str) -> None:
        err = self.query_one("#err-form", Static)
        err.update(Text(text))
        err.display = True

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "reload_latest":
            return self.in_conflict
        return True

    @on(Button.Pressed, "#reload")
    def action_reload_latest(self) -> None:
        if not self.in_conflict or self.rx is None:
            return
        session, pid, rx_id = self.app.session, self.patient_id, self.rx["id"]

        def latest(s: Any) -> dict | None:
            return next((r for r in s.prescriptions.list(session, pid) if r["id"] == rx_id),
                        None)

        self.call_service(latest, self._show_latest,
                          error=lambda exc: self._form_error(error_text(exc)), group="rx-form")

    def _show_latest(self, latest: dict | None) -> None:
        """Keep the typed values; show the saved ones under the fields that differ."""
        box = self.query_one("#conflict", Static)
        self.in_conflict = False
        self.query_one("#reload").display = False
        self.refresh_bindings()
        if latest is None or latest.get("status") != "active":
            box.update("This prescription was stopped or removed meanwhile; it cannot be "
                       "changed. Cancel and write a new one if needed.")
            return
        typed = self.typed()
        for name in self.fields:
            now = latest.get(name) or ""
            line = self.query_one(f"#latest-{name}", Static)
            touched = typed[name] != self.base.get(name)
            if not touched and name != "route":
                self.query_one(f"#f-{name}", Input).value = now
                line.display = False
            elif not touched:
                self.query_one("#f-route", Select).value = now or "oral"
                line.display = False
            elif now != typed[name]:
                line.update(Text(f"Saved now: {now or '(empty)'}"))
                line.display = True
            else:
                line.display = False
        self.base = {k: latest.get(k) or "" for k in RX_FIELDS}
        self.version = latest.get("version")
        self.rx = latest
        box.update(Text(f"Loaded the latest version (changed by {latest.get('updated_by')}). "
                        "Your edits are kept; save again to apply them."))

    @on(Button.Pressed, "#cancel")
    def action_cancel(self) -> None:
        if not self.has_unsaved_changes:
            self.dismiss(None)
            return
        self.app.push_screen(ConfirmScreen("Discard the changes you typed?", yes="Discard",
                                           no="Keep editing"),
                             lambda discard: self.dismiss(None) if discard else None)


def _required_reason() -> Exception:
    from meditrack_tui.errors import ValidationError

    return ValidationError({"override_reason": "Type why you prescribe despite the allergy."})


RX_COLUMNS = (("drug", "Drug"), ("dose", "Dose"), ("route", "Route"),
              ("frequency", "Frequency"), ("since", "Since"), ("status", "Status"))


class PrescriptionsPane(ServiceMixin, Widget):
    """A patient's prescriptions; doctors prescribe (Ctrl+N), change the dose (Enter on an
    active one) and stop one (Delete, with a reason); no letter changes a prescription."""

    DEFAULT_CSS = """
    PrescriptionsPane { height: 1fr; layout: vertical; }
    PrescriptionsPane #rx-summary { height: 1; color: $text-muted; }
    PrescriptionsPane #rx-table { height: 1fr; }
    PrescriptionsPane #rx-detail {
        height: auto; max-height: 5; padding: 0 1; border-top: solid $primary-background;
    }
    PrescriptionsPane #rx-detail.override { color: $warning; }
    """
    BINDINGS = [
        Binding("ctrl+n", "add", "Prescribe", id="rx-add"),
        Binding("delete", "stop", "Stop", id="rx-stop"),
    ]

    #: collections whose changes make the pane re-fetch
    WATCHES: frozenset[str] = frozenset({"prescriptions"})

    def __init__(self, patient_id: str, *, patient_name: str = "",
                 id: str | None = "prescriptions-pane", classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes)
        self.patient_id = str(patient_id)
        self.patient_name = patient_name
        self.items: dict[str, dict] = {}
        self._keys_for_active = False
        self._select_next: str | None = None  # put the cursor here after the next load

    @property
    def can_write(self) -> bool:
        """Whether the session may prescribe (doctors)."""
        return self.permissions.may("prescription.write")

    def compose(self) -> ComposeResult:
        yield Static("", id="rx-summary")
        table = Table(id="rx-table", cursor_type="row", zebra_stripes=True)
        table.fit = Fit(flex=("frequency", "drug"), drop=("route",))
        for key, label in RX_COLUMNS:
            table.add_column(label, key=key)
        yield table
        yield Static("", id="rx-detail")

    def on_mount(self) -> None:
        self.reload()

    def reload(self) -> None:
        """Fetch the patient's prescriptions (active first)."""
        session, pid = self.app.session, self.patient_id
        if session is None:
            return
        self.call_service(lambda s: s.prescriptions.list(session, pid), self.loaded,
                          busy=self.query_one("#rx-summary"), group=f"rx-list-{id(self)}")

    def loaded(self, items: list[dict]) -> None:
        table = self.query_one("#rx-table", Table)
        current = self._select_next or self.selected_id()
        self._select_next = None
        old_row, scroll_y = table.cursor_row, table.scroll_y
        self.items = {rx["id"]: rx for rx in items}
        rows = []
        for rx in items:
            active = rx.get("status") == "active"
            status = Text("active", style="bold") if active else Text("stopped", style="dim")
            drug = Text(rx.get("drug", ""), style="" if active else "dim")
            if rx.get("allergy_override"):
                drug.append(" ⚠", style="bold")
            rows.append((rx["id"], [drug, rx.get("dose", ""), rx.get("route", ""),
                                    rx.get("frequency", ""), rx.get("start_date") or "",
                                    status]))
        table.fill_fitted(RX_COLUMNS, rows)
        refilled(table, scroll_y)
        active_count = sum(1 for rx in items if rx.get("status") == "active")
        summary = (f"{active_count} active, {len(items) - active_count} stopped"
                   if items else "No prescriptions yet.")
        if self.can_write and active_count:
            summary += " · Enter: change dose · Del: stop"
        if self.can_write and not items:
            summary += " Press Ctrl+N to prescribe."
        self.query_one("#rx-summary", Static).update(summary)
        if items:
            ids = [rx["id"] for rx in items]
            row = ids.index(current) if current in ids else min(max(old_row, 0), len(ids) - 1)
            table.move_cursor(row=row, animate=False)
        self.show_detail()

    def selected_id(self) -> str | None:
        table = self.query_one("#rx-table", DataTable)
        if not table.row_count:
            return None
        try:
            return table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value
        except CellDoesNotExist:
            return None

    def selected(self) -> dict | None:
        rx_id = self.selected_id()
        return self.items.get(rx_id) if rx_id else None

    @on(DataTable.RowHighlighted, "#rx-table")
    def show_detail(self) -> None:
        """Notes, stop reason and any allergy override of the highlighted prescription."""
        detail = self.query_one("#rx-detail", Static)
        rx = self.selected()
        detail.remove_class("override")
        if rx is None:
            detail.update("")
            return
        parts = [(f"{rx['drug']} {rx.get('dose', '')}, {rx.get('route', '')}, "
                  f"{rx.get('frequency', '')} — prescribed by {rx.get('doctor_name') or '?'}")]
        if rx.get("status") != "active":
            stopped = rx.get("stopped_at")
            when = f" {stopped:%Y-%m-%d}" if stopped else ""
            parts.append(f"Stopped{when}: {rx.get('stop_reason') or 'no reason recorded'}")
        if rx.get("notes"):
            parts.append(f"Notes: {rx['notes']}")
        override = rx.get("allergy_override")
        if override:
            detail.add_class("override")
            parts.append(f"⚠ Allergy override ({override.get('allergy')}) by "
                         f"{override.get('by')}: {override.get('reason')}")
        detail.update(Text("\n".join(parts)))

    # --- actions (doctors) ---

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action in ("add", "change", "stop"):
            if not self.can_write:
                return False
            if action in ("change", "stop"):
                rx = self.selected()
                return rx is not None and rx.get("status") == "active" or None
        return True

    @on(DataTable.RowHighlighted, "#rx-table")
    def _refresh_keys(self) -> None:
        """Change dose / Stop apply only to active prescriptions: update the footer."""
        rx = self.selected()
        active = rx is not None and rx.get("status") == "active"
        if active != self._keys_for_active:
            self._keys_for_active = active
            self.refresh_bindings()

    def action_add(self) -> None:
        if not self.can_write:
            return
        self.app.push_screen(PrescriptionFormScreen(self.patient_id,
                                                    patient_name=self.patient_name),
                             self._saved)

    @on(DataTable.RowSelected, "#rx-table")
    def action_change(self) -> None:
        rx = self.selected()
        if rx is None or rx.get("status") != "active" or not self.can_write:
            return
        self.app.push_screen(PrescriptionFormScreen(self.patient_id, prescription=rx),
                             self._saved)

    def _saved(self, rx: dict | None) -> None:
        if rx:
            self._select_next = rx["id"]
            self.app.notify(f"Saved {rx['drug']} {rx.get('dose', '')}.", title="Prescriptions",
                            timeout=4, markup=False)
            self.reload()

    def action_stop(self) -> None:
        rx = self.selected()
        if rx is None or rx.get("status") != "active" or not self.can_write:
            return
        who = f" for {self.patient_name}" if self.patient_name else ""
        self.app.push_screen(PromptScreen(f"Stop {rx['drug']} {rx.get('dose', '')}{who}? "
                                          "Type the reason, then Enter:",
                                          placeholder="e.g. side effects"),
                             lambda reason: self._stop(rx, reason))

    def _stop(self, rx: dict, reason: str | None) -> None:
        if not reason:
            return
        session, rx_id, version = self.app.session, rx["id"], rx.get("version")

        def failed(exc: MediTrackError) -> None:
            self.app.notify(error_text(exc), title=exc.title, severity="error", timeout=8,
                            markup=False)
            self.reload()

        self.call_service(lambda s: s.prescriptions.stop(session, rx_id, reason,
                                                         version=version),
                          self._stopped, error=failed, group="rx-stop")

    def _stopped(self, rx: dict) -> None:
        self.app.notify(f"Stopped {rx['drug']}.", title="Prescriptions", timeout=4, markup=False)
        self.reload()


__all__ = ["PrescriptionFormScreen", "PrescriptionsPane"]
