"""Messages the app sends to screens."""

from __future__ import annotations

from dataclasses import dataclass, field

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
