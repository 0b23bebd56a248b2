"""The role policy: one table (action x role -> scope), the single source of truth.

Scopes: ``any`` (every record), ``own`` (only records of the caller's own patient
file, or their own account), and absent (denied).
"""

from __future__ import annotations

from .errors import PermissionDenied

ANY = "any"
OWN = "own"

PATIENT = "patient"
DOCTOR = "doctor"
ADMIN = "admin"
ROLES = (PATIENT, DOCTOR, ADMIN)

# action -> {role: scope}; a role missing from an action's row is denied.
POLICY: dict[str, dict[str, str]] = {
    "patient.read": {PATIENT: OWN, DOCTOR: ANY, ADMIN: ANY},
    "patient.create": {DOCTOR: ANY, ADMIN: ANY},
    "patient.update": {PATIENT: OWN, DOCTOR: ANY, ADMIN: ANY},
    "patient.archive": {ADMIN: ANY},
    "appointment.read": {PATIENT: OWN, DOCTOR: ANY, ADMIN: ANY},
    "appointment.book": {PATIENT: OWN, DOCTOR: ANY, ADMIN: ANY},
    "appointment.update": {DOCTOR: ANY, ADMIN: ANY},
    "appointment.cancel": {PATIENT: OWN, DOCTOR: ANY, ADMIN: ANY},
    "prescription.read": {PATIENT: OWN, DOCTOR: ANY, ADMIN: ANY},
    "prescription.write": {DOCTOR: ANY},
    "vitals.read": {PATIENT: OWN, DOCTOR: ANY, ADMIN: ANY},
    "vitals.write": {PATIENT: OWN, DOCTOR: ANY},
    "report.read": {PATIENT: OWN, DOCTOR: ANY, ADMIN: ANY},
    "report.upload": {PATIENT: OWN, DOCTOR: ANY},
    "report.delete": {PATIENT: OWN, DOCTOR: ANY},
    "report.restore": {ADMIN: ANY},
    "user.manage": {ADMIN: ANY},
    "audit.read": {ADMIN: ANY},
    "dashboard.admin": {ADMIN: ANY},
    "dashboard.doctor": {DOCTOR: ANY},
    "dashboard.patient": {PATIENT: OWN},
    "settings.manage": {ADMIN: ANY},
    "fhir.export": {PATIENT: OWN, DOCTOR: ANY, ADMIN: ANY},
    "fhir.import": {ADMIN: ANY},
}

# What a patient may change on their own record (the rest is clinical data).
PATIENT_SELF_EDITABLE = frozenset({"phone", "email", "address"})

_DESCRIPTIONS = {
    "patient.read": "view patient records",
    "patient.create": "create patient records",
    "patient.update": "change patient records",
    "patient.archive": "archive or restore patient records",
    "appointment.read": "view appointments",
    "appointment.book": "book appointments",
    "appointment.update": "reschedule appointments or change their status",
    "appointment.cancel": "cancel appointments",
    "prescription.read": "view prescriptions",
    "prescription.write": "write prescriptions",
    "vitals.read": "view vitals",
    "vitals.write": "record vitals",
    "report.read": "view reports",
    "report.upload": "upload reports",
    "report.delete": "delete reports",
    "report.restore": "restore deleted reports",
    "user.manage": "manage user accounts",
    "audit.read": "read the audit log",
    "dashboard.admin": "open the admin dashboard",
    "dashboard.doctor": "open the doctor dashboard",
    "dashboard.patient": "open the patient dashboard",
    "settings.manage": "change the clinic settings",
    "fhir.export": "export patient records (FHIR)",
    "fhir.import": "import patient records (FHIR)",
}


def scope_for(role: str, action: str) -> str | None:
    """The scope a role has for an action, or None when it is denied."""
    return POLICY.get(action, {}).get(role)


def allowed(role: str, action: str) -> bool:
    """True when the role may perform the action on at least some records."""
    return scope_for(role, action) is not None


def describe(action: str) -> str:
    """A human phrase for the action, used in denial messages."""
    return _DESCRIPTIONS.get(action, action)


def require(role: str, action: str) -> str:
    """Return the role's scope for the action or raise PermissionDenied with a clear sentence."""
    scope = scope_for(role, action)
    if scope is None:
        raise PermissionDenied(f"Your role ({role}) is not allowed to {describe(action)}.")
    return scope
