"""Messages between the UI's parts: what changed, what a service call answered or why it
failed, and where to go next (screens ask the App to open another screen by message, so
no screen imports another)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import Any

from textual.message import Message


@dataclass
class DataChanged(Message):
    """Records changed (here or in another session): screens showing them re-fetch.

    ``collections`` names what changed (patients, appointments, vitals, ...);
    ``patient_ids`` the patients concerned, when known (empty: any patient, e.g. after
    live updates were interrupted and everything shown should be re-fetched).
    """

    collections: frozenset[str] = field(default_factory=frozenset)
    patient_ids: frozenset[str] = field(default_factory=frozenset)

    def touches(self, collection: str, patient_id: str | None = None) -> bool:
        if collection not in self.collections:
            return False
        if patient_id is None or not self.patient_ids:
            return True
        return patient_id in self.patient_ids


@dataclass
class ServiceFailed(Message):
    """A service call (``ServiceMixin.ask``) failed: ``error`` is the exception (a
    MediTrackError carries the sentence for the user), ``group`` names the call.

    The asking widget's ``on_service_failed`` handles it: a form shows field errors inline
    and calls ``prevent_default()``; otherwise the one default handler
    (``ServiceMixin.on_service_failed``) logs out on an expired session or notifies."""

    group: str
    error: Exception


# --- navigation: posted by a screen, routed by the App --------------------------------

@dataclass
class OpenPatient(Message):
    """Open a patient's record (over the current screen), at ``tab`` if given."""

    patient_id: str
    tab: str | None = None


@dataclass
class OpenArea(Message):
    """Go to a top-level area (``dashboard``, ``records``, ``appointments``, ``profile``,
    ``users``, ``audit``), replacing the drill-down; ``options`` go to its screen."""

    area: str
    options: dict[str, Any] = field(default_factory=dict)


@dataclass
class OpenAgenda(Message):
    """Go to the appointments area, on ``doctor_id``'s agenda for ``day`` when given."""

    doctor_id: str | None = None
    day: date | None = None


@dataclass
class OpenSettings(Message):
    """Open the clinic settings (over the current screen)."""


@dataclass
class OpenSignup(Message):
    """Open the sign-up form (over the login screen)."""


@dataclass
class SignedUp(Message):
    """A sign-up went through (posted to the login screen under the sign-up form):
    ``username`` is filled in there and ``text`` says what happens next."""

    username: str
    text: str
