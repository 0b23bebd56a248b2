"""What a screen gets from outside, typed: who is working, what they may do, the clock and
the backend its service calls run on."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from meditrack_tui.domain.permissions import Permissions

if TYPE_CHECKING:
    from meditrack_tui.runtime import Backend
    from meditrack_tui.services.base import Session


@dataclass(frozen=True)
class ScreenContext:
    """The logged-in session's view of the clinic (``MediTrackApp.context``)."""

    session: Session
    permissions: Permissions
    backend: Backend

    @property
    def user_id(self) -> str:
        return self.session.user_id

    @property
    def role(self) -> str:
        return self.session.role

    def now(self) -> datetime:
        """'Now' as the services see it (screens use it for 'today')."""
        return self.backend.now()
