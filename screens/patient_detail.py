"""One patient's record: a header with the allergies, and tabs for overview, vitals,
prescriptions, reports and appointments. Staff edit the record, a patient their contacts."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from textual.app import ComposeResult, SystemCommand
from textual.binding import Binding
from textual.message import Message
from textual.widget import Widget
from textual.widgets import DataTable, Static, TabbedContent, TabPane, Tabs

from meditrack_tui import policy
from meditrack_tui.errors import MediTrackError, SessionExpired

from .base import BaseScreen, error_text, live_refresh
from .forms.confirm import ConfirmScreen
from .forms.patient import PATIENT_FIELDS, PatientFormScreen
from .messages import DataChanged, ServiceFailed
from .widgets.fhir_export import FhirExporter
from .widgets.footer import AppFooter
from .widgets.patient_appointments import PatientAppointmentsPane
from .widgets.patient_overview import Overview, RecordHeader
from .widgets.prescriptions import PrescriptionsPane
from .widgets.reports import ReportsPane
from .widgets.vitals import Prefetched, VitalsPane, prefetch_series

Record = dict[str, Any]

TABS = ("overview", "vitals", "prescriptions", "reports", "appointments")
TAB_TITLES = {"overview": "Overview", "vitals": "Vitals", "prescriptions": "Prescriptions",
              "reports": "Reports", "appointments": "Appointments"}
# the overview in two groups: side by side on a wide terminal, stacked on a narrow one
# palette commands that act in a tab's pane: (permission, title, help, tab, pane action)
PANE_COMMANDS = (
    ("vitals.write", "Add a vitals reading", "On the Vitals tab (Ctrl+N)", "vitals",
     "add_reading"),
    ("prescription.write", "Prescribe a medication", "On the Prescriptions tab (Ctrl+N)",
     "prescriptions", "add"),
    ("report.upload", "Upload a report", "On the Reports tab (Ctrl+N)", "reports", "upload"),
    ("appointment.book", "Book an appointment", "For this patient (Ctrl+N on Appointments)",
     "appointments", "book"),
)


@dataclass
class RecordLoaded(Message):
    """The patient's record (opened, re-fetched, edited, archived or restored)."""

    record: Record
    notice: str = ""  # what to tell the user about it


@dataclass
class DoctorsLoaded(Message):
    doctors: list[Record]


@dataclass
class MedicationLoaded(Message):
    items: list[Record]


@dataclass
class VitalsPrefetched(Message):
    fetched: Prefetched


#: calls whose failure leaves only their part empty (the record and the tabs still work)
QUIET = ("pd-doctors", "pd-medication", "pd-vitals-prefetch")


class PatientScreen(BaseScreen):
    """A patient's record. ``own`` is a patient looking at their own record ("My record")."""

    CSS_PATH = "patient_detail.tcss"
    WATCHES = frozenset({"patients"})
    BINDINGS = [
        Binding("escape", "back", "Back", id="patient-back"),
        Binding("1", "show_tab('overview')", "Overview", show=False, id="patient-tab-1"),
        Binding("v,2", "show_tab('vitals')", "Vitals", id="patient-tab-vitals"),
        Binding("3", "show_tab('prescriptions')", "Prescriptions", show=False,
                id="patient-tab-3"),
        Binding("4", "show_tab('reports')", "Reports", show=False, id="patient-tab-4"),
        Binding("5", "show_tab('appointments')", "Appointments", show=False, id="patient-tab-5"),
        Binding("ctrl+pagedown", "step_tab(1)", "Next tab", show=False, id="patient-next-tab",
                priority=True),
        Binding("ctrl+pageup", "step_tab(-1)", "Previous tab", show=False,
                id="patient-prev-tab", priority=True),
        Binding("ctrl+e", "edit", "Edit record", id="patient-edit"),
        Binding("ctrl+e", "edit_contacts", "Edit contacts", id="patient-edit-contacts"),
        Binding("ctrl+d", "archive", "Archive", id="patient-archive"),
        Binding("ctrl+d", "restore", "Restore", id="patient-restore"),
        Binding("ctrl+x", "export_fhir", "Export (FHIR)", id="patient-export"),
    ]

    def __init__(self, patient_id: str, own: bool = False, tab: str = "overview") -> None:
        super().__init__()
        self.patient_id = str(patient_id)
        self.own = own
        self.first_tab = tab  # the tab to open with (the palette's "My vitals" and the like)
        self.record: Record | None = None
        self.doctors: list[Record] = []
        self.panes: dict[str, Widget] = {}  # tab -> its pane, once shown
        self._then: tuple[str, str] | None = None  # (tab, pane action) once the pane is in
        # the Vitals tab's default range, fetched while the overview is read, so the chart
        # draws at once when the tab opens (dropped when this patient's vitals change)
        self.vitals_prefetch: Prefetched | None = None

    # --- layout ---

    def compose(self) -> ComposeResult:
        yield RecordHeader(own=self.own, id="pd-header")
        with TabbedContent(id="pd-tabs", initial="overview"):
            with TabPane(self._tab_title("overview"), id="overview"):
                yield Overview(id="pd-overview")
            for tab in TABS[1:]:
                # each pane is mounted the first time its tab is shown (see _show_pane)
                yield TabPane(self._tab_title(tab), id=tab)
        yield FhirExporter()
        yield AppFooter()

    @staticmethod
    def _tab_title(tab: str) -> str:
        return f"{TABS.index(tab) + 1} {TAB_TITLES[tab]}"

    def on_mount(self) -> None:
        self.title = "My record" if self.own else "Patient record"
        if self.first_tab != "overview":
            self.call_after_refresh(self.action_show_tab, self.first_tab)
        session = self.session
        if self.permissions.may("patient.create"):
            self.ask(lambda s: s.users.doctors(session), DoctorsLoaded, group="pd-doctors")

    def on_doctors_loaded(self, message: DoctorsLoaded) -> None:
        self.doctors = message.doctors

    def on_service_failed(self, message: ServiceFailed) -> None:
        error = message.error
        if isinstance(error, SessionExpired) or not isinstance(error, MediTrackError):
            return  # the base handler
        if message.group in QUIET:
            message.prevent_default()
        elif message.group == "pd-record":
            message.prevent_default()
            self.query_one("#pd-name", Static).update("Record not available")
            self.query_one(Overview).show_error(error_text(error))

    # --- data ---

    def reload(self) -> None:
        """Fetch the record for the header and the overview (the service audits the
        opening; a live re-fetch of a record already opened is not recorded again)."""
        session, pid = self.session, self.patient_id
        opening = self.record is None
        self.ask(lambda s: s.patients.get(session, pid), RecordLoaded, group="pd-record")
        self.reload_medication()
        if opening:
            self.prefetch_vitals()

    def prefetch_vitals(self) -> None:
        """Fetch what the Vitals tab shows first, unless it is open already."""
        session = self.session
        if "vitals" in self.panes or self.first_tab == "vitals" \
                or not self.permissions.may("vitals.read"):
            return
        self.vitals_prefetch = None
        self.ask(prefetch_series(self.ctx, session, self.patient_id), VitalsPrefetched,
                 group="pd-vitals-prefetch")

    def on_vitals_prefetched(self, message: VitalsPrefetched) -> None:
        if "vitals" not in self.panes:
            self.vitals_prefetch = message.fetched

    def reload_medication(self) -> None:
        """Fetch the active prescriptions for the overview's medication line."""
        session, pid = self.session, self.patient_id
        self.ask(lambda s: s.prescriptions.list(session, pid, active_only=True),
                 MedicationLoaded, group="pd-medication")

    def on_medication_loaded(self, message: MedicationLoaded) -> None:
        lines = [f"{rx['drug']} {rx.get('dose', '')} {rx.get('frequency', '')}".strip()
                 for rx in message.items]
        self.query_one(Overview).show_medication(lines)

    def on_record_loaded(self, message: RecordLoaded) -> None:
        self.show_record(message.record)
        if message.notice:
            self.app.notify(message.notice, timeout=4, markup=False)

    def show_record(self, record: Record) -> None:
        keys_change = self.record is None or (bool(self.record.get("archived"))
                                              != bool(record.get("archived")))
        self.record = record
        rx_pane = self.panes.get("prescriptions")
        if isinstance(rx_pane, PrescriptionsPane):
            rx_pane.patient_name = record.get("name") or ""
        self.query_one(RecordHeader).show(record)
        self.query_one(Overview).show(record)
        if keys_change:
            self.refresh_bindings()

    def on_data_changed(self, message: DataChanged) -> None:
        """Re-fetch the record and every pane whose data changed for this patient."""
        message.prevent_default()
        with live_refresh(self.app):
            self.refresh_for(message)

    def refresh_for(self, message: DataChanged) -> None:
        if message.touches("vitals", self.patient_id) and "vitals" not in self.panes:
            self.prefetch_vitals()  # what was fetched ahead is out of date
        if message.touches("patients", self.patient_id):
            self.reload()
        elif message.touches("prescriptions", self.patient_id):
            self.reload_medication()
        for pane in self.panes.values():
            watches: frozenset[str] = getattr(pane, "WATCHES", frozenset())
            if pane.is_mounted and any(message.touches(c, self.patient_id) for c in watches):
                pane.reload()  # type: ignore[attr-defined]

    # --- tabs ---

    @property
    def tabs(self) -> TabbedContent:
        return self.query_one("#pd-tabs", TabbedContent)

    def action_show_tab(self, tab: str) -> None:
        if self.tabs.active == tab:
            self._focus_tab(tab)
        self.tabs.active = tab

    def action_step_tab(self, step: int) -> None:
        index = TABS.index(self.tabs.active) if self.tabs.active in TABS else 0
        self.action_show_tab(TABS[(index + step) % len(TABS)])

    async def on_tabbed_content_tab_activated(self, event: TabbedContent.TabActivated) -> None:
        tab = str(event.pane.id)
        if tab != "overview" and tab not in self.panes:
            pane = self._make_pane(tab)
            self.panes[tab] = pane
            await event.pane.mount(pane)
        if self._then is not None and self._then[0] == tab:
            action, self._then = self._then[1], None
            getattr(self.panes[tab], f"action_{action}")()
        self._focus_tab(tab)

    def _make_pane(self, tab: str) -> Widget:
        if tab == "vitals":
            fetched, self.vitals_prefetch = self.vitals_prefetch, None
            return VitalsPane(self.patient_id, prefetched=fetched)
        if tab == "prescriptions":
            name = (self.record or {}).get("name") or ""
            return PrescriptionsPane(self.patient_id, patient_name=name)
        if tab == "reports":
            return ReportsPane(self.patient_id)
        return PatientAppointmentsPane(self.patient_id,
                                       patient_name=(self.record or {}).get("name"))

    def _focus_tab(self, tab: str) -> None:
        """Put focus on the tab's table (so its keys work at once), else on the tab bar.

        A table cannot take focus while it shows its loading indicator: its pane posts
        Ready once loaded, and the focus goes there then (see :meth:`pane_ready`).
        """
        if self.tabs.active != tab:
            return  # the user has moved on
        tables = list(self.tabs.get_pane(tab).query(DataTable))
        target: Widget = tables[0] if tables else self.tabs.query_one(Tabs)
        if target.focusable:
            self.call_after_refresh(target.focus)

    def pane_ready(self, message: Message) -> None:
        """A pane shows its data: focus the open tab's table, unless the user has put the
        focus somewhere else than the tab bar meanwhile."""
        message.stop()
        tab = self.tabs.active
        if tab == "overview" or tab not in self.panes:
            return
        focused = self.focused
        if focused is None or focused is self.tabs.query_one(Tabs):
            self._focus_tab(tab)

    # the panes' Ready messages (each pane class defines its own)
    on_prescriptions_pane_ready = pane_ready
    on_vitals_pane_ready = pane_ready
    on_reports_pane_ready = pane_ready
    on_patient_appointments_pane_ready = pane_ready

    # --- actions ---

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        may = self.permissions
        if action == "back":
            return not self.own
        if action in ("edit", "edit_contacts"):
            if not may.may("patient.update"):
                return False
            staff = may.scope("patient.update") == policy.ANY
            return (staff if action == "edit" else not staff) and (self.record is not None
                                                                   or None)
        if action in ("archive", "restore"):
            if not may.may("patient.archive") or self.record is None:
                return False
            return bool(self.record.get("archived")) == (action == "restore")
        if action == "export_fhir":
            return may.may("fhir.export") and self.record is not None
        return True

    def action_export_fhir(self) -> None:
        """The record as a FHIR Bundle: a download in a browser, else a file in the outbox."""
        if self.record is not None:
            self.query_one(FhirExporter).export(self.record["mrn"])

    def action_back(self) -> None:
        if not self.own:
            self.app.pop_screen()

    def action_edit(self) -> None:
        self._open_form(tuple(PATIENT_FIELDS), f"Edit {self._who()}")

    def action_edit_contacts(self) -> None:
        fields = tuple(f for f in PATIENT_FIELDS if f in policy.PATIENT_SELF_EDITABLE)
        self._open_form(fields, "Edit my contact details")

    def _who(self) -> str:
        r = self.record or {}
        return f"{r.get('name', '')} ({r.get('mrn', '')})"

    def _open_form(self, fields: tuple[str, ...], title: str) -> None:
        if self.record is None:
            return
        self.app.push_screen(PatientFormScreen(patient=self.record, doctors=self.doctors,
                                               fields=fields, title=title), self._saved)

    def _saved(self, record: Record | None) -> None:
        if record:
            self.show_record(record)
            self.app.notify("The record is saved.", title="Saved", timeout=4, markup=False)

    def action_archive(self) -> None:
        question = (f"Archive the record of {self._who()}? It leaves the patient lists until "
                    "an administrator restores it.")
        self._confirm_archived(True, ConfirmScreen(question, yes="Archive", no="Keep"))

    def action_restore(self) -> None:
        self._confirm_archived(False, ConfirmScreen(f"Restore the record of {self._who()}?",
                                                    yes="Restore", no="Cancel"))

    def _confirm_archived(self, archived: bool, question: ConfirmScreen) -> None:
        if self.record is None:
            return
        session, pid = self.session, self.patient_id
        word = "archived" if archived else "restored"

        def change(yes: bool | None) -> None:
            if yes:
                self.ask(lambda s: (s.patients.archive if archived else s.patients.restore)(
                    session, pid),
                    lambda record: RecordLoaded(record, f"{record['name']}'s record is {word}."),
                    group="pd-archive")

        self.app.push_screen(question, change)

    def palette_commands(self) -> Iterable[SystemCommand]:
        for tab in TABS:
            yield SystemCommand(f"Show {TAB_TITLES[tab]}", f"Patient tab ({TABS.index(tab) + 1})",
                                lambda t=tab: self.action_show_tab(t))
        if self.check_action("edit", ()):
            yield SystemCommand("Edit this record", "Change the patient's details (Ctrl+E)",
                                self.action_edit)
        if self.check_action("edit_contacts", ()):
            yield SystemCommand("Edit my contact details", "Phone, email, address (Ctrl+E)",
                                self.action_edit_contacts)
        if self.check_action("archive", ()):
            yield SystemCommand("Archive this record", "Admins only (Ctrl+D)",
                                self.action_archive)
        if self.check_action("restore", ()):
            yield SystemCommand("Restore this record", "Admins only (Ctrl+D)",
                                self.action_restore)
        if self.check_action("export_fhir", ()):
            yield SystemCommand("Export this record (FHIR)", "A FHIR R4 file to your outbox, "
                                "or a download in a browser (Ctrl+X)", self.action_export_fhir)
        for permission, title, help_text, tab, action in PANE_COMMANDS:
            if self.permissions.may(permission):
                yield SystemCommand(title, help_text,
                                    lambda t=tab, a=action: self.in_pane(t, a))

    def in_pane(self, tab: str, action: str) -> None:
        """Show ``tab`` and run ``action_<action>`` on its pane (once it is mounted)."""
        pane = self.panes.get(tab)
        if pane is not None and pane.is_mounted:
            self.action_show_tab(tab)
            getattr(pane, f"action_{action}")()
            return
        self._then = (tab, action)
        self.action_show_tab(tab)
