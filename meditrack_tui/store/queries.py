"""Typed queries: what a service may ask a repository for (every field a plain value the
store binds as a parameter, never an operator)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True)
class NameSearch:
    """What a patient search box asks for (built by PatientService.parse_search).

    ``text``: lower-cased words; with one word, a prefix of the family or given name
    (``last_key``/``first_key``); with two (``pair``), "family given" as prefixes of each
    or the full name ``first_key + " " + last_key`` starting with the text. ``mrn``: an
    exact MRN; ``mrn_prefix``: an MRN prefix; ``phone``: digits that begin or end the
    phone number's digits.
    """

    text: str
    pair: tuple[str, str] | None = None
    mrn: str | None = None
    mrn_prefix: str | None = None
    phone: str | None = None


# Patient sorts: name -> the fields, most significant first (PatientQuery.sort)
PATIENT_SORTS: dict[str, tuple[str, ...]] = {
    "mrn": ("mrn",),
    "name": ("last_key", "first_key"),
    "last_name": ("last_key", "first_key"),
    "first_name": ("first_key", "last_key"),
    "dob": ("dob",),
    "sex": ("sex", "last_key"),
    "phone": ("phone_digits",),
    "primary_doctor": ("primary_doctor_name", "last_key"),
    "updated_at": ("updated_at",),
}


@dataclass(frozen=True)
class PatientQuery:
    """A page of patients: every given criterion must hold."""

    only_id: str | None = None          # a patient's own record
    search: NameSearch | None = None
    sex: str | None = None
    dob_max: str | None = None          # ISO date, inclusive
    dob_min_excl: str | None = None     # ISO date, exclusive
    primary_doctor_id: str | None = None
    condition: str | None = None        # lower-case, one of conditions_lc
    archived: bool | None = False       # None: both
    vitals_alert: bool | None = None
    mrn_after: str | None = None        # MRN > this (paging through every record by MRN)
    sort: str = "name"                  # a key of PATIENT_SORTS
    descending: bool = False
    skip: int = 0
    limit: int = 25
    count: bool = True


APPOINTMENT_SORTS = ("start", "patient_name", "doctor_name", "status", "reason")


@dataclass(frozen=True)
class AppointmentQuery:
    """Appointments: every given criterion must hold; sorted by ``sort`` then start."""

    patient_id: str | None = None
    doctor_id: str | None = None
    day: str | None = None                    # ISO date
    days: tuple[str, ...] | None = None       # any of these ISO dates
    statuses: tuple[str, ...] | None = None
    start_from: datetime | None = None        # start >= this
    start_before: datetime | None = None      # start < this
    text: str | None = None   # case-insensitive: the patient's name or the reason has a
    #                           word from which it starts ("blood pr" finds "High blood
    #                           pressure"), or the MRN starts with it
    sort: str = "start"                       # one of APPOINTMENT_SORTS
    descending: bool = False
    skip: int = 0
    limit: int | None = 50                    # None: all
    count: bool = True


@dataclass(frozen=True)
class AuditQuery:
    """Audit entries, newest first."""

    username: str | None = None
    action_prefix: str | None = None
    outcome: str | None = None
    patient_id: str | None = None
    ts_from: datetime | None = None       # inclusive
    ts_before: datetime | None = None     # exclusive
    skip: int = 0
    limit: int = 50
    count: bool = True


@dataclass(frozen=True)
class UserQuery:
    """Accounts, sorted by role then username."""

    role: str | None = None
    status: str | None = None
    username_prefix: str | None = None    # lower-case
    skip: int = 0
    limit: int | None = 50
    count: bool = True
