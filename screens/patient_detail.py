"""One patient's record: a header with the allergies, and tabs for overview, vitals,
prescriptions, reports and appointments. Staff edit the record, a patient their contacts."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from rich.text import Text
from textual.app import ComposeResult, SystemCommand
from textual.binding import Binding
from textual.containers import Container, Horizontal, Vertical, VerticalScroll
from textual.widget import Widget
from textual.widgets import DataTable, Label, Static, TabbedContent, TabPane, Tabs

from meditrack_tui import policy
from meditrack_tui.domain import sex_label
from meditrack_tui.errors import MediTrackError

from .base import BaseScreen, error_text, live_refresh
from .forms.confirm import ConfirmScreen
from .messages import DataChanged
from .patients import PATIENT_FIELDS, PatientFormScreen
from .prescriptions import PrescriptionsPane
from .widgets.footer import AppFooter
from .widgets.patient_appointments import PatientAppointmentsPane
from .widgets.reports import ReportsPane
from .widgets.vitals import Prefetched, VitalsPane, prefetch_series

# how many times (50 ms apart) a tab's table is asked to take the focus while it loads
FOCUS_TRIES = 20

TABS = ("overview", "vitals", "prescriptions", "reports", "appointments")
TAB_TITLES = {"overview": "Overview", "vitals": "Vitals", "prescriptions": "Prescriptions",
              "reports": "Reports", "appointments": "Appointments"}
# the overview in two groups: side by side on a wide terminal, stacked on a narrow one
OVERVIEW_GROUPS = (
    ("ov-person", (("name", "Name"), ("mrn", "MRN"), ("dob", "Date of birth"), ("sex", "Sex"),
                   ("phone", "Phone"), ("email", "Email"), ("address", "Address"),
                   ("record", "Record"))),
    ("ov-clinical", (("allergies", "Allergies"), ("conditions", "Conditions"),
                     ("medication", "Medication"), ("doctor", "Primary doctor"),
                     ("alert", "Vitals alert"))),
)
WIDE = 110  # from this width the two overview groups sit side by side
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
    ]

    def __init__(self, patient_id: str, own: bool = False, tab: str = "overview") -> None:
        super().__init__()
        self.patient_id = str(patient_id)
        self.own = own
        self.first_tab = tab  # the tab to open with (the palette's "My vitals" and the like)
        self.record: dict[str, Any] | None = None
        self.doctors: list[dict] = []
        self.panes: dict[str, Widget] = {}  # tab -> its pane, once shown
        # the Vitals tab's default range, fetched while the overview is read, so the chart
        # draws at once when the tab opens (dropped when this patient's vitals change)
        self.vitals_prefetch: Prefetched | None = None

    # --- layout ---

    def compose(self) -> ComposeResult:
        with Horizontal(id="pd-header"):
            if self.own:
                yield Static("My record", id="pd-own", classes="badge")
            yield Static("Loading…", id="pd-name")
            yield Static("", id="pd-meta")
            yield Static("", id="pd-archived", classes="badge")
            yield Static("", id="pd-allergies")
        with TabbedContent(id="pd-tabs", initial="overview"):
            with TabPane(self._tab_title("overview"), id="overview"):
                with VerticalScroll(id="pd-overview"):
                    error = Static("", id="ov-error", classes="field-error")
                    error.display = False
                    yield error
                    with Container(id="ov-groups"):
                        for group, rows in OVERVIEW_GROUPS:
                            with Vertical(id=group, classes="ov-group"):
                                for key, label in rows:
                                    with Horizontal(classes="ov-row", id=f"ov-row-{key}"):
                                        yield Label(label, classes="ov-label")
                                        yield Static("", id=f"ov-{key}", classes="ov-value")
            for tab in TABS[1:]:
                # each pane is mounted the first time its tab is shown (see _show_pane)
                yield TabPane(self._tab_title(tab), id=tab)
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
            self.call_service(lambda s: s.users.doctors(session), self._got_doctors,
                              error=lambda exc: None, group="pd-doctors")

    def _got_doctors(self, doctors: list[dict]) -> None:
        self.doctors = doctors

    # --- data ---

    def on_resize(self) -> None:
        self.query_one("#ov-groups").set_class(self.size.width >= WIDE, "-wide")

    def reload(self) -> None:
        """Fetch the record for the header and the overview (the service audits the
        opening; a live re-fetch of a record already opened is not recorded again)."""
        session, pid = self.session, self.patient_id
        if session is None:
            return
        opening = self.record is None
        self.call_service(lambda s: s.patients.get(session, pid),
                          self.show_record, error=self._load_failed, group="pd-record")
        self.reload_medication()
        if opening:
            self.prefetch_vitals()

    def prefetch_vitals(self) -> None:
        """Fetch what the Vitals tab shows first, unless it is open already."""
        session = self.session
        if "vitals" in self.panes or self.first_tab == "vitals" or session is None \
                or not self.permissions.may("vitals.read"):
            return
        self.vitals_prefetch = None
        self.call_service(prefetch_series(self.app, session, self.patient_id),
                          self._vitals_prefetched, error=lambda exc: None,
                          group="pd-vitals-prefetch")

    def _vitals_prefetched(self, fetched: Prefetched) -> None:
        if "vitals" not in self.panes:
            self.vitals_prefetch = fetched

    def reload_medication(self) -> None:
        """Fetch the active prescriptions for the overview's medication line."""
        session, pid = self.session, self.patient_id
        self.call_service(lambda s: s.prescriptions.list(session, pid, active_only=True),
                          self._show_medication, error=lambda exc: None, group="pd-medication")

    def _show_medication(self, items: list[dict]) -> None:
        lines = [f"{rx['drug']} {rx.get('dose', '')} {rx.get('frequency', '')}".strip()
                 for rx in items]
        self.query_one("#ov-medication", Static).update(Text("\n".join(lines) or "None"))

    def show_record(self, record: dict[str, Any]) -> None:
        keys_change = self.record is None or (bool(self.record.get("archived"))
                                              != bool(record.get("archived")))
        self.record = record
        if isinstance(self.panes.get("prescriptions"), PrescriptionsPane):
            self.panes["prescriptions"].patient_name = record.get("name") or ""
        self._render_header(record)
        self._render_overview(record)
        self.query_one("#ov-error", Static).display = False
        if keys_change:
            self.refresh_bindings()

    def _load_failed(self, exc: MediTrackError) -> None:
        self.query_one("#pd-name", Static).update("Record not available")
        err = self.query_one("#ov-error", Static)
        err.update(Text(error_text(exc)))
        err.display = True

    def _render_header(self, r: dict[str, Any]) -> None:
        self.query_one("#pd-name", Static).update(Text(r.get("name") or ""))
        meta = [r.get("mrn") or ""]
        if r.get("age") is not None:
            meta.append(f"{r['age']} y")
        if r.get("sex"):
            meta.append(r["sex"])
        self.query_one("#pd-meta", Static).update(Text(" · ".join(meta)))
        archived = self.query_one("#pd-archived", Static)
        archived.update("ARCHIVED" if r.get("archived") else "")
        archived.display = bool(r.get("archived"))
        allergies = self.query_one("#pd-allergies", Static)
        if r.get("allergies"):
            allergies.update(Text(f"⚠ Allergies: {', '.join(r['allergies'])}"))
            allergies.set_class(True, "has-allergies")
        else:
            allergies.update("No known allergies")
            allergies.set_class(False, "has-allergies")

    def _render_overview(self, r: dict[str, Any]) -> None:
        def put(key: str, value: str, *, show: bool = True) -> None:
            self.query_one(f"#ov-{key}", Static).update(Text(value))
            self.query_one(f"#ov-row-{key}").display = show

        put("name", r.get("name") or "")
        put("mrn", r.get("mrn") or "")
        dob = r.get("dob") or ""
        put("dob", f"{dob} ({r['age']} years)" if r.get("age") is not None else dob)
        put("sex", sex_label(r.get("sex")) or "—")
        put("phone", r.get("phone") or "—")
        put("email", r.get("email") or "—")
        put("address", r.get("address") or "—")
        put("allergies", ", ".join(r.get("allergies") or []) or "No known allergies")
        self.query_one("#ov-allergies").set_class(bool(r.get("allergies")), "has-allergies")
        put("conditions", ", ".join(r.get("conditions") or []) or "—")
        put("doctor", r.get("primary_doctor_name") or "—")
        alert = r.get("vitals_alert_label")
        when = r.get("vitals_alert_at")
        put("alert", f"⚠ {alert}" + (f" (reading of {when:%Y-%m-%d})" if when else ""),
            show=bool(r.get("vitals_alert") and alert))
        state = "Archived" if r.get("archived") else "Active"
        updated = r.get("updated_at")
        detail = f"{state} · version {r.get('version')}"
        if updated:
            detail += f" · updated {updated:%Y-%m-%d %H:%M}"
            if r.get("updated_by"):
                detail += f" by {r['updated_by']}"
        put("record", detail)

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
            watches = getattr(pane, "WATCHES", frozenset())
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

    def _focus_tab(self, tab: str, tries: int = FOCUS_TRIES) -> None:
        """Put focus on the tab's table (so its keys work at once), else on the tab bar.

        A table cannot take focus while it shows its loading indicator, and the tab switch
        may move focus after us: try again for a moment until the focus is in the pane.
        """
        if self.tabs.active != tab:
            return  # the user has moved on
        pane = self.tabs.get_pane(tab)
        focused, bar = self.focused, self.tabs.query_one(Tabs)
        if focused is not None and (pane in focused.ancestors
                                    or (tries < FOCUS_TRIES and focused is not bar)):
            return  # in the pane already, or the user has put it elsewhere meanwhile
        tables = list(pane.query(DataTable))
        target: Widget = tables[0] if tables else bar
        if target.focusable:
            self.call_after_refresh(target.focus)
        if tries and tables:
            self.set_timer(0.05, lambda: self._focus_tab(tab, tries - 1))

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
        return True

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

    def _saved(self, record: dict | None) -> None:
        if record:
            self.show_record(record)
            self.app.notify("The record is saved.", title="Saved", timeout=4, markup=False)

    def action_archive(self) -> None:
        if self.record is None:
            return
        question = (f"Archive the record of {self._who()}? It leaves the patient lists until "
                    "an administrator restores it.")
        self.app.push_screen(ConfirmScreen(question, yes="Archive", no="Keep"),
                             lambda yes: self._set_archived(True) if yes else None)

    def action_restore(self) -> None:
        if self.record is None:
            return
        self.app.push_screen(ConfirmScreen(f"Restore the record of {self._who()}?",
                                           yes="Restore", no="Cancel"),
                             lambda yes: self._set_archived(False) if yes else None)

    def _set_archived(self, archived: bool) -> None:
        session, pid = self.session, self.patient_id
        if archived:
            fn = lambda s: s.patients.archive(session, pid)  # noqa: E731
        else:
            fn = lambda s: s.patients.restore(session, pid)  # noqa: E731

        def done(record: dict) -> None:
            self.show_record(record)
            word = "archived" if archived else "restored"
            self.app.notify(f"{record['name']}'s record is {word}.", timeout=4, markup=False)

        self.call_service(fn, done, group="pd-archive")

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
        for permission, title, help_text, tab, action in PANE_COMMANDS:
            if self.permissions.may(permission):
                yield SystemCommand(title, help_text,
                                    lambda t=tab, a=action: self.in_pane(t, a))

    def in_pane(self, tab: str, action: str, tries: int = 40) -> None:
        """Show ``tab`` and run ``action_<action>`` on its pane once the pane is mounted."""
        if self.tabs.active != tab:
            self.action_show_tab(tab)
        pane = self.panes.get(tab)
        if pane is not None and pane.is_mounted:
            getattr(pane, f"action_{action}")()
        elif tries:
            self.set_timer(0.05, lambda: self.in_pane(tab, action, tries - 1))
