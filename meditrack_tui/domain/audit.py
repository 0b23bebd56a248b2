"""Audit entries' outcomes, with the words people see."""

from __future__ import annotations

import re

AUDIT_OUTCOMES: tuple[str, ...] = ("ok", "denied", "failed")
OUTCOME_LABELS: dict[str, str] = {"ok": "OK", "denied": "Denied", "failed": "Failed"}


def outcome_label(value: str | None) -> str:
    """'OK', 'Denied', 'Failed' (the stored word when unknown)."""
    return OUTCOME_LABELS.get(value or "", value or "")


#: what each recorded action did, as the audit log says it (the code stays in the trail,
#: in the filters and in the entry's detail line)
ACTION_LABELS: dict[str, str] = {
    "login": "Log in",
    "logout": "Log out",
    "session": "Session check",
    "unlock-terminal": "Unlock the terminal",
    "signup": "Sign up",
    "signup.patient": "Sign up as patient",
    "signup.doctor": "Sign up as doctor",
    "user.create-first-admin": "Create the first admin",
    "user.create": "Create an account",
    "user.approve": "Approve a sign-up",
    "user.reject": "Reject a sign-up",
    "user.change-role": "Change a role",
    "user.reset-password": "Reset a password",
    "user.change-password": "Change own password",
    "user.update-profile": "Change own profile",
    "user.unlock": "Unlock an account",
    "user.deactivate": "Deactivate an account",
    "user.reactivate": "Reactivate an account",
    "user.manage": "Manage accounts",
    "audit.read": "Read the audit log",
    "settings.manage": "Clinic settings",
    "settings.update": "Change clinic settings",
    "dashboard.admin": "Admin dashboard",
    "dashboard.doctor": "Doctor dashboard",
    "dashboard.patient": "Patient dashboard",
    "patient.read": "Read a record",
    "patient.open": "Open a record",
    "patient.search": "Search patients",
    "patient.create": "Create a record",
    "patient.update": "Change a record",
    "patient.archive": "Archive a record",
    "patient.restore": "Restore a record",
    "appointment.read": "Read appointments",
    "appointment.list": "List appointments",
    "appointment.agenda": "Open an agenda",
    "appointment.book": "Book an appointment",
    "appointment.update": "Change an appointment",
    "appointment.reschedule": "Reschedule",
    "appointment.cancel": "Cancel an appointment",
    "prescription.read": "Read prescriptions",
    "prescription.list": "List prescriptions",
    "prescription.write": "Write a prescription",
    "prescription.add": "Prescribe",
    "prescription.update": "Change a prescription",
    "prescription.stop": "Stop a prescription",
    "prescription.allergy-refused": "Prescription refused: allergy",
    "prescription.allergy-override": "Allergy overridden",
    "vitals.read": "Read vitals",
    "vitals.write": "Record vitals",
    "vitals.add": "Record vitals",
    "vitals.delete": "Delete vitals",
    "report.read": "Read reports",
    "report.list": "List reports",
    "report.list-deleted": "List deleted reports",
    "report.upload": "Upload a report",
    "report.download": "Open a report",
    "report.save-copy": "Save a report copy",
    "report.delete": "Delete a report",
    "report.restore": "Restore a report",
}

#: the names a list's query is recorded under (services.base.describe), as people say them
QUERY_LABELS: dict[str, str] = {
    "query": "search", "date_from": "from", "date_to": "to", "doctor_id": "doctor",
    "patient_id": "patient", "primary_doctor_id": "doctor", "age_min": "age from",
    "age_max": "age to", "sort": "sorted by", "active_only": "active only",
    "latest": "latest",
}

_QUERY_TERM = re.compile(r"(?<![\w.])([a-z_]+)=")


def action_label(code: str | None) -> str:
    """'Search patients' for 'patient.search' (an unknown code reads as itself, its
    separators as spaces: 'report.fax-copy' -> 'report fax copy')."""
    if not code:
        return ""
    return ACTION_LABELS.get(code) or re.sub(r"[._-]+", " ", code).capitalize()


def detail_text(detail: str | None) -> str:
    """An entry's detail as people read it: a list's recorded query ("query='gr',
    status='active'; 3 found") with its terms named ("search 'gr', status 'active';
    3 found"); any other detail as it was written."""
    if not detail:
        return ""
    return _QUERY_TERM.sub(lambda m: QUERY_LABELS.get(m[1], m[1].replace("_", " ")) + " ",
                           detail)
