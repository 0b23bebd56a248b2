"""The patient create/edit form (staff: every field; a patient: their contact details),
a versioned form: a conflict keeps the typed values and offers to reload the latest."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

from rich.text import Text
from textual.widget import Widget
from textual.widgets import Input, Select

from meditrack_tui.domain import SEX_LABELS, sex_label

from .versioned import Record, VersionedForm

if TYPE_CHECKING:
    from meditrack_tui.services import Services

#: the sex choices, as the domain names them (label, stored value)
SEX_OPTIONS = [(label, value) for value, label in SEX_LABELS.items()]

# name -> (label, kind, placeholder)
PATIENT_FIELDS: dict[str, tuple[str, str, str]] = {
    "first_name": ("First name", "text", ""),
    "last_name": ("Last name", "text", ""),
    "dob": ("Date of birth", "text", "YYYY-MM-DD"),
    "sex": ("Sex", "sex", ""),
    "phone": ("Phone", "text", "+1 555 0100"),
    "email": ("Email", "text", "name@example.com"),
    "address": ("Address", "text", ""),
    "allergies": ("Allergies", "list", "comma-separated, e.g. penicillin, latex"),
    "conditions": ("Conditions", "list", "comma-separated"),
    "primary_doctor_id": ("Primary doctor", "doctor", ""),
}


def split_list(text: str) -> list[str]:
    """'a, b; c' -> ['a', 'b', 'c'] (the way the service reads list fields)."""
    return [part.strip() for part in re.split(r"[,;\n]", text) if part.strip()]


class PatientFormScreen(VersionedForm):
    """Create a patient, or edit one with a version check; dismissed with the saved record.

    ``fields`` limits the form (a patient edits only their contact details).
    """

    def __init__(self, *, patient: Record | None = None, doctors: Iterable[Record] = (),
                 fields: Iterable[str] = tuple(PATIENT_FIELDS), title: str = "") -> None:
        wanted = set(fields)
        super().__init__(patient, [f for f in PATIENT_FIELDS if f in wanted],
                         title or ("Edit patient" if patient else "New patient"))
        self.doctors = list(doctors)

    @property
    def patient(self) -> Record | None:
        return self.record

    def _kind(self, name: str) -> str:
        return PATIENT_FIELDS[name][1]

    def label(self, name: str) -> str:
        return PATIENT_FIELDS[name][0]

    def control(self, name: str) -> Widget:
        _, kind, placeholder = PATIENT_FIELDS[name]
        value: Any = self.base.get(name)
        wid = f"f-{name}"
        if kind == "sex":
            return Select(SEX_OPTIONS, prompt="Choose…", id=wid, compact=True,
                          value=value if value else Select.NULL)
        if kind == "doctor":
            options = [(Text(d["full_name"]), d["id"]) for d in self.doctors]
            if value and value not in {d["id"] for d in self.doctors}:
                current = (self.record or {}).get("primary_doctor_name") or "Current doctor"
                options.append((Text(current), value))
            return Select(options, prompt="None", id=wid, compact=True,
                          value=value if value else Select.NULL)
        text = ", ".join(value) if kind == "list" else (value or "")
        return Input(text, placeholder=placeholder, id=wid, compact=True)

    def normal(self, record: Record) -> Record:
        """Record values in the form's terms (lists as lists, blanks as '' / None)."""
        out: Record = {}
        for name, (_, kind, _) in PATIENT_FIELDS.items():
            value = record.get(name)
            if kind == "list":
                out[name] = list(value or [])
            elif kind in ("sex", "doctor"):
                out[name] = value or None
            else:
                out[name] = value or ""
        return out

    def read(self, name: str) -> Any:
        kind = self._kind(name)
        if kind in ("sex", "doctor"):
            value = self.query_one(f"#f-{name}", Select).value
            return None if value is Select.NULL else value
        text = self.query_one(f"#f-{name}", Input).value
        return split_list(text) if kind == "list" else text.strip()

    def write(self, name: str, value: Any) -> None:
        kind = self._kind(name)
        if kind in ("sex", "doctor"):
            if kind == "doctor" and value and value not in {d["id"] for d in self.doctors}:
                return
            self.query_one(f"#f-{name}", Select).value = value if value else Select.NULL
        else:
            text = ", ".join(value) if kind == "list" else (value or "")
            self.query_one(f"#f-{name}", Input).value = text

    def describe(self, name: str, value: Any, record: Record) -> str:
        kind = self._kind(name)
        if kind == "doctor":
            names = {d["id"]: d["full_name"] for d in self.doctors}
            return names.get(value) or record.get("primary_doctor_name") or "(none)"
        if kind == "sex":
            return sex_label(value) or "(not set)"
        return super().describe(name, value, record)

    def save_call(self) -> Callable[[Services], Record] | None:
        session = self.ctx.session
        if self.record is None:
            data = {k: v for k, v in self.typed().items() if v not in ("", None, [])}
            return lambda s: s.patients.create(session, data)
        changes = self.changes()
        if not changes:
            self.form_error("Nothing has changed yet.")
            return None
        pid, version = self.record["id"], self.version
        return lambda s: s.patients.update(session, pid, changes, version=version)

    def latest_call(self) -> Callable[[Services], Record | None]:
        session, pid = self.ctx.session, (self.record or {})["id"]
        return lambda s: s.patients.get(session, pid)
