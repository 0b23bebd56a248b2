"""A patient's prescriptions pane (active first, then stopped): doctors prescribe, change
and stop them (the form is screens/forms/prescription.py)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.message import Message
from textual.widget import Widget
from textual.widgets import DataTable, Static
from textual.widgets.data_table import CellDoesNotExist

from ..base import ServiceMixin
from ..forms.confirm import PromptScreen
from ..forms.prescription import PrescriptionFormScreen
from ..messages import ServiceFailed
from .table import Fit, Table, refilled

Record = dict[str, Any]


@dataclass
class PrescriptionsLoaded(Message):
    """The patient's prescriptions, active first."""

    items: list[Record]


@dataclass
class PrescriptionStopped(Message):
    """A prescription was stopped (the stored record)."""

    rx: Record


RX_COLUMNS = (("drug", "Drug"), ("dose", "Dose"), ("route", "Route"),
              ("frequency", "Frequency"), ("since", "Since"), ("status", "Status"))


class PrescriptionsPane(ServiceMixin, Widget):
    # (misc: ServiceMixin types ``app`` as the MediTrackApp, MessagePump as any App)
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
        Binding("insert", "add", "Prescribe", show=False),  # a browser keeps ctrl+n
        Binding("delete", "stop", "Stop", id="rx-stop"),
    ]

    #: collections whose changes make the pane re-fetch
    WATCHES: frozenset[str] = frozenset({"prescriptions"})

    class Ready(Message):
        """The pane shows its first data (its table can take the focus)."""

    def __init__(self, patient_id: str, *, patient_name: str = "",
                 id: str | None = "prescriptions-pane", classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes)
        self.patient_id = str(patient_id)
        self.patient_name = patient_name
        self.items: dict[str, Record] = {}
        self._ready = False
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
        session, pid = self.ctx.session, self.patient_id
        self.ask(lambda s: s.prescriptions.list(session, pid), PrescriptionsLoaded,
                 busy=self.query_one("#rx-summary"), group="rx-list")

    def on_prescriptions_loaded(self, message: PrescriptionsLoaded) -> None:
        message.stop()
        self.loaded(message.items)
        if not self._ready:
            self._ready = True
            self.post_message(self.Ready())

    def loaded(self, items: list[Record]) -> None:
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

    def selected(self) -> Record | None:
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

    def _saved(self, rx: Record | None) -> None:
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

    def _stop(self, rx: Record, reason: str | None) -> None:
        if not reason:
            return
        session, rx_id, version = self.ctx.session, rx["id"], rx.get("version")
        self.ask(lambda s: s.prescriptions.stop(session, rx_id, reason, version=version),
                 PrescriptionStopped, group="rx-stop")

    def on_prescription_stopped(self, message: PrescriptionStopped) -> None:
        message.stop()
        self.app.notify(f"Stopped {message.rx['drug']}.", title="Prescriptions", timeout=4,
                        markup=False)
        self.reload()

    def on_service_failed(self, message: ServiceFailed) -> None:
        """A refused stop (e.g. stopped meanwhile) is notified by the base handler; the
        list is fetched again to show what is stored now."""
        if message.group == "rx-stop":
            self.reload()

