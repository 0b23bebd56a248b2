"""What every service shares: the context (store, config, clock), sessions, policy, audit.

Every public service method takes the caller's :class:`Session` first. It is
verified (signature, expiry, still live), the policy table is consulted, the
input validated, the change audited, and plain data returned.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, Callable, Generic, TypeVar

from bson import ObjectId
from bson.errors import InvalidId

from .. import policy
from ..config import Config
from ..errors import NotFound, PermissionDenied

if TYPE_CHECKING:
    from ..db.store import Store
    from .auth import AuthService

T = TypeVar("T")


@dataclass(frozen=True)
class Session:
    """A logged-in user: the signed token plus what it says, as verified at login."""

    token: str
    user_id: str
    username: str
    role: str
    session_id: str
    expires_at: datetime
    full_name: str = ""
    patient_id: str | None = None


@dataclass
class Page(Generic[T]):
    """One page of a list: the items plus what a pager needs to show 'page x of y, total'."""

    items: list[T]
    total: int
    page: int
    page_size: int

    @property
    def pages(self) -> int:
        return max(1, math.ceil(self.total / self.page_size)) if self.page_size else 1


# How long the change log keeps entries (any process's append prunes it; see db/feed.py).
# Live feeds need seconds; a patient directory that has not synced for longer reloads.
CHANGE_LOG_KEEP = timedelta(minutes=5)


@dataclass
class Context:
    """Dependencies shared by all services; ``clock`` is injectable so tests can move time."""

    store: "Store"
    config: Config
    clock: Callable[[], datetime] = field(default=lambda: datetime.now().replace(microsecond=0))
    auth: "AuthService | None" = None
    #: None: decide from the store (the in-memory patient directory serves the embedded store)
    directory_enabled: bool | None = None
    _directory: Any = None

    def now(self) -> datetime:
        return self.clock()

    def use_directory(self) -> bool:
        if self.directory_enabled is None:
            return getattr(self.store.info, "kind", "") == "embedded"
        return self.directory_enabled

    def directory(self) -> Any:
        """The shared in-memory patient directory (created on first use)."""
        if self._directory is None:
            from ..db.feed import utcnow
            from .directory import PatientDirectory

            self._directory = PatientDirectory(self.store.db, utcnow, CHANGE_LOG_KEEP,
                                               scan=self.store.scan)
        return self._directory


def oid(value: Any, what: str = "record") -> ObjectId:
    """Parse a record id given as text; anything else is 'not found', never a query operator."""
    if isinstance(value, ObjectId):
        return value
    if isinstance(value, str):
        try:
            return ObjectId(value)
        except (InvalidId, TypeError):
            pass
    raise NotFound(f"That {what} does not exist.")


class Service:
    """Base class: session verification, policy checks with audited denials, audit and change log."""

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx

    @property
    def db(self) -> Any:
        return self.ctx.store.db

    # --- sessions and policy ---

    def verify(self, session: Session) -> Session:
        assert self.ctx.auth is not None
        return self.ctx.auth.verify(session)

    def authorize(
        self,
        session: Session,
        action: str,
        *,
        patient_id: Any = None,
        record_type: str | None = None,
        record_id: Any = None,
    ) -> str:
        """Verify the session and the role's scope; for 'own', the record must be the caller's.

        Returns the scope. A denial is audited and raised as PermissionDenied.
        """
        self.verify(session)
        scope = policy.scope_for(session.role, action)
        if scope is None:
            self._deny(session, action, record_type, record_id, patient_id,
                       f"Your role ({session.role}) is not allowed to {policy.describe(action)}.")
        if scope == policy.OWN and patient_id is not None:
            if session.patient_id is None or str(patient_id) != session.patient_id:
                self._deny(session, action, record_type, record_id, patient_id,
                           "You can only see and change your own records.")
        return scope  # type: ignore[return-value]

    def _deny(self, session: Session, action: str, record_type: str | None,
              record_id: Any, patient_id: Any, message: str) -> None:
        self.audit(session, action, record_type=record_type, record_id=record_id,
                   patient_id=patient_id, outcome="denied", detail=message)
        raise PermissionDenied(message)

    def own_patient_filter(self, session: Session, scope: str) -> dict[str, Any]:
        """The filter that keeps a patient to their own records on every list."""
        if scope == policy.OWN:
            if not session.patient_id:
                return {"patient_id": ObjectId()}  # matches nothing
            return {"patient_id": ObjectId(session.patient_id)}
        return {}

    # --- audit and change log ---

    def audit(
        self,
        session: Session | None,
        action: str,
        *,
        record_type: str | None = None,
        record_id: Any = None,
        patient_id: Any = None,
        outcome: str = "ok",
        detail: str | None = None,
        username: str | None = None,
        role: str | None = None,
    ) -> None:
        """Append an audit entry (who, role, action, record, when, outcome). Never edited."""
        self.db.audit.insert_one(
            {
                "ts": self.ctx.now(),
                "user_id": ObjectId(session.user_id) if session else None,
                "username": session.username if session else (username or "-"),
                "role": session.role if session else (role or "-"),
                "action": action,
                "record_type": record_type,
                "record_id": str(record_id) if record_id is not None else None,
                "patient_id": str(patient_id) if patient_id is not None else None,
                "outcome": outcome,
                "detail": detail,
            }
        )
        self.changed("audit", "insert", None)

    def changed(
        self,
        collection: str,
        op: str,
        record_id: Any,
        *,
        patient_id: Any = None,
        session: Session | None = None,
        extra: dict[str, Any] | None = None,
    ) -> None:
        """Append to the change log that the live feed polls where change streams are missing.

        Any process's append also prunes the log when due (see ``feed.append_change``).
        """
        from ..db.feed import append_change, utcnow

        doc = {
            "ts": utcnow(),
            "coll": collection,
            "op": op,
            "record_id": str(record_id) if record_id is not None else None,
            "patient_id": str(patient_id) if patient_id is not None else None,
            "by": session.username if session else None,
        }
        if extra:
            doc.update(extra)
        append_change(self.db, doc, keep=CHANGE_LOG_KEEP)


def public(doc: dict[str, Any] | None) -> dict[str, Any] | None:
    """A stored document as plain data: ``_id`` becomes ``id`` and ObjectIds become text."""
    if doc is None:
        return None
    out: dict[str, Any] = {}
    for key, value in doc.items():
        if key == "_id":
            out["id"] = str(value)
        elif isinstance(value, ObjectId):
            out[key] = str(value)
        else:
            out[key] = value
    return out
