"""Typed rows: what each repository stores and returns (plain dicts at run time,
TypedDicts for the type checker; see store/repos.py for the conventions)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, TypedDict


class UserRow(TypedDict, total=False):
    """An account."""

    id: str
    username: str
    username_lc: str            # unique
    password_hash: str
    role: str                   # policy.ROLES
    status: str                 # active, pending, rejected, inactive
    full_name: str
    email: str | None
    specialty: str | None
    patient_id: str | None      # a patient account's own record
    working_hours: dict[str, list[str] | None] | None  # a doctor's own (None: the clinic's)
    #: "system|value" of identifiers other systems gave this doctor (a FHIR import)
    fhir_identifiers: list[str]
    failed_logins: int
    locked_until: datetime | None
    last_login: datetime
    created_at: datetime
    updated_at: datetime
    version: int


class SessionRow(TypedDict, total=False):
    """A login session (id: the session id its token carries)."""

    id: str
    user_id: str
    username: str
    role: str
    patient_id: str | None
    created_at: datetime
    expires_at: datetime
    revoked: bool


class PatientRow(TypedDict, total=False):
    """A patient record; the ``*_key``, ``phone_digits`` and ``conditions_lc`` fields are
    the service's search keys."""

    id: str
    mrn: str                    # unique
    first_name: str
    last_name: str
    first_key: str
    last_key: str
    full_key: str
    dob: str | None             # ISO date
    sex: str | None
    phone: str | None
    phone_digits: str
    email: str | None
    address: str | None
    allergies: list[str]
    conditions: list[str]
    conditions_lc: list[str]
    primary_doctor_id: str | None
    primary_doctor_name: str | None
    archived: bool
    vitals_alert: bool
    vitals_alert_label: str | None
    vitals_alert_at: datetime | None
    #: "system|value" of the identifiers other systems gave this patient (a FHIR import
    #: matches on them the next time)
    fhir_identifiers: list[str]
    created_at: datetime
    updated_at: datetime
    updated_by: str
    version: int


class AppointmentRow(TypedDict, total=False):
    """An appointment."""

    id: str
    patient_id: str
    patient_name: str
    patient_name_key: str
    mrn: str
    doctor_id: str
    doctor_name: str | None     # the doctor account's full name, as booked
    start: datetime
    end: datetime
    day: str                    # ISO date of start
    duration_min: int
    reason: str
    status: str                 # services.appointments.STATUSES
    fhir_identifiers: list[str]  # "system|value" from a FHIR import (matched on again)
    created_by: str
    created_at: datetime
    updated_by: str
    updated_at: datetime
    version: int


class PrescriptionRow(TypedDict, total=False):
    """A prescription."""

    id: str
    patient_id: str
    doctor_id: str
    doctor_name: str
    drug: str
    dose: str
    route: str
    frequency: str
    start_date: str | None      # ISO date (None: cleared on an edit)
    notes: str | None
    status: str                 # active, stopped
    stopped_at: datetime | None
    stop_reason: str | None
    allergy_override: dict[str, Any] | None
    created_at: datetime
    updated_at: datetime
    updated_by: str
    version: int


class ReadingRow(TypedDict, total=False):
    """One vitals reading: a time and any of the values."""

    id: str
    patient_id: str
    taken_at: datetime
    systolic: int
    diastolic: int
    heart_rate: int
    glucose_mg_dl: float
    glucose_fasting: bool
    weight_kg: float
    temperature_c: float
    spo2: int
    source: str                 # clinic, home
    note: str | None
    recorded_by: str
    recorded_at: datetime


class ReportRow(TypedDict, total=False):
    """A report's details (its content is a file: ReportRepo.read_file(file_id))."""

    id: str
    patient_id: str
    file_id: str
    filename: str
    kind: str
    note: str | None
    content_type: str
    size: int
    sha256: str
    uploaded_by: str
    uploader_role: str
    uploaded_at: datetime
    fhir_identifiers: list[str]  # "system|value" from a FHIR import (matched on again)
    #: a deleted report is kept (file included) until an admin restores it
    deleted_at: datetime | None
    deleted_by: str | None
    delete_reason: str | None
    version: int


class AuditRow(TypedDict, total=False):
    """An audit entry."""

    id: str
    ts: datetime
    user_id: str | None
    username: str
    role: str
    action: str
    record_type: str | None
    record_id: str | None
    patient_id: str | None
    outcome: str                # ok, denied, failed
    detail: str | None
    # the chain (meditrack_tui.audit_chain); missing on entries older than the chain
    seq: int                    # 1, 2, 3, ... without gaps; unique
    prev: str                   # the hash of the entry before
    hash: str                   # the keyed seal of this entry's content, seq and prev


class AuditHead(TypedDict):
    """Where the audit chain ends: the newest entry's seq and hash, and their seal."""

    seq: int
    hash: str
    seal: str


class SettingsRow(TypedDict, total=False):
    """The clinic's settings (one record, id ``"clinic"``); services/settings.py validates
    them and fills in defaults for what was never saved."""

    id: str
    hours: dict[str, list[str] | None]    # weekday ("mon".."sun") -> [open, close] or None
    max_upcoming: int                     # upcoming appointments a patient may hold
    self_signup: bool                     # patients may sign themselves up
    signups_per_hour: int
    updated_by: str
    updated_at: datetime
    version: int
