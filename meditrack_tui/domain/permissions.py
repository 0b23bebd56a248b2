"""What a session may do, from the one policy table: services and screens ask the same
object ("may I?"), so an action a role cannot take is neither offered nor accepted."""

from __future__ import annotations

from dataclasses import dataclass

from .. import policy


@dataclass(frozen=True)
class Permissions:
    """The role's scopes, and the patient record a patient's 'own' scope is."""

    role: str | None
    patient_id: str | None = None

    @classmethod
    def of(cls, session: object | None) -> Permissions:
        """For a session (anything with ``role`` and ``patient_id``), or nobody."""
        if session is None:
            return cls(None)
        return cls(getattr(session, "role", None), getattr(session, "patient_id", None))

    def scope(self, action: str) -> str | None:
        """'any', 'own', or None when the role may not take the action at all."""
        return policy.scope_for(self.role, action) if self.role else None

    def may(self, action: str, *, patient_id: str | None = None) -> bool:
        """May the role take ``action`` (on ``patient_id``'s records, when given)?"""
        scope = self.scope(action)
        if scope is None:
            return False
        if scope == policy.OWN and patient_id is not None:
            return self.patient_id is not None and patient_id == self.patient_id
        return True

    def actions(self) -> frozenset[str]:
        """Every action the role may take on some records."""
        return frozenset(a for a in policy.POLICY if self.scope(a) is not None)
