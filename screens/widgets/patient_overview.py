"""A patient record's overview tab: the person and the clinical summary, in two groups
side by side on a wide terminal, stacked on a narrow one."""

from __future__ import annotations

from typing import Any

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Container, Horizontal, Vertical, VerticalScroll
from textual.widgets import Label, Static

from meditrack_tui.domain import sex_label

Record = dict[str, Any]

OVERVIEW_GROUPS = (
    ("ov-person", (("name", "Name"), ("mrn", "MRN"), ("dob", "Date of birth"), ("sex", "Sex"),
                   ("phone", "Phone"), ("email", "Email"), ("address", "Address"),
                   ("record", "Record"))),
    ("ov-clinical", (("allergies", "Allergies"), ("conditions", "Conditions"),
                     ("medication", "Medication"), ("doctor", "Primary doctor"),
                     ("alert", "Vitals alert"))),
)
WIDE = 110  # from this width the two overview groups sit side by side


class RecordHeader(Horizontal):
    """The record's header: name, MRN, age and sex, an ARCHIVED badge, the allergies."""

    def __init__(self, *, own: bool = False, id: str | None = None) -> None:
        super().__init__(id=id)
        self.own = own

    def compose(self) -> ComposeResult:
        if self.own:
            yield Static("My record", id="pd-own", classes="badge")
        yield Static("Loading…", id="pd-name")
        yield Static("", id="pd-meta")
        yield Static("", id="pd-archived", classes="badge")
        yield Static("", id="pd-allergies")

    def show(self, r: Record) -> None:
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


class Overview(VerticalScroll):
    """The overview rows (``#ov-<key>``), an error line and the medication line."""

    def compose(self) -> ComposeResult:
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

    def on_resize(self) -> None:
        self.query_one("#ov-groups").set_class(self.screen.size.width >= WIDE, "-wide")

    def show_error(self, text: str) -> None:
        err = self.query_one("#ov-error", Static)
        err.update(Text(text))
        err.display = True

    def show_medication(self, lines: list[str]) -> None:
        self.query_one("#ov-medication", Static).update(Text("\n".join(lines) or "None"))

    def show(self, r: Record) -> None:
        """Fill the rows from the record (a row without a value says so)."""
        self.query_one("#ov-error", Static).display = False

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
