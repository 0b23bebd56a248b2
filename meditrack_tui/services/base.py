"""What every service shares: the context (store, config, clock), sessions, policy, audit.

Every public service method takes the caller's :class:`Session` first. It is
verified (signature, expiry, still live), the policy table is consulted, the
input validated, the change audited, and plain data returned.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Mapping
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from .. import policy
from ..audit_chain import AuditKey, key_for
from ..config import Config
from ..domain import Permissions
from ..errors import NotFound, PermissionDenied
from ..live import CHANGE_LOG_KEEP, PRUNE_EVERY, utcnow
from ..store import is_id

if TYPE_CHECKING:
    from ..store import Store
    from .sessions import Credentials

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


@dataclass
class Context:
    """Dependencies shared by all services; ``clock`` is injectable so tests can move time."""

    store: Store
    config: Config
    clock: Callable[[], datetime] = field(default=lambda: datetime.now().replace(microsecond=0))
    auth: Credentials | None = None
    #: when this process last pruned the change events (any process may)
    pruned_at: datetime | None = None
    #: True while the backend runs a live re-read (a screen re-fetching after a change)
    live: bool = False
    #: session id -> the reads audited for it in this process (see Service.audit_read)
    reads: dict[str, set[tuple[Any, ...]]] = field(default_factory=dict)
    #: > 0 while a service gathers reads it audits as one (a dashboard)
    gathering: int = 0

    def now(self) -> datetime:
        return self.clock()


def ref(value: Any, what: str = "record") -> str:
    """A record id given by a caller; anything that is not one is 'not found', never a
    query operator."""
    if is_id(value):
        return str(value)
    raise NotFound(f"That {what} does not exist.")


class Service:
    """Base class: session verification, policy checks with audited denials, audit and
    change log."""

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx

    @property
    def store(self) -> Store:
        return self.ctx.store

    def uow(self) -> AbstractContextManager[None]:
        """A unit of work: the writes inside commit together (record, audit, change) or not
        at all. Authorize and validate before it: a denial's audit entry must stay."""
        return self.ctx.store.unit_of_work()

    # --- sessions and policy ---

    def verify(self, session: Session, action: str = "session") -> Session:
        """The caller's session, checked; a call with an invalid or expired session is
        audited (the claimed name is recorded only as part of the detail)."""
        assert self.ctx.auth is not None
        from ..errors import SessionExpired

        try:
            return self.ctx.auth.verify(session)
        except SessionExpired as exc:
            claimed = getattr(session, "username", None)
            claimed = claimed[:40] if isinstance(claimed, str) else "?"
            self.audit(None, action, outcome="failed", username="-",
                       detail=f"{exc.message} (session claimed to be {claimed})")
            raise

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
        self.verify(session, action)
        may = Permissions.of(session)
        scope = may.scope(action)
        if scope is None:
            self._deny(session, action, record_type, record_id, patient_id,
                       f"Your role ({session.role}) is not allowed to {policy.describe(action)}.")
        if patient_id is not None and not may.may(action, patient_id=str(patient_id)):
            self._deny(session, action, record_type, record_id, patient_id,
                       "You can only see and change your own records.")
        return scope  # type: ignore[return-value]

    def _deny(self, session: Session, action: str, record_type: str | None,
              record_id: Any, patient_id: Any, message: str) -> None:
        self.audit(session, action, record_type=record_type, record_id=record_id,
                   patient_id=patient_id, outcome="denied", detail=message)
        raise PermissionDenied(message)

    def own_patient(self, session: Session, scope: str) -> str | None:
        """The patient a list is kept to (a patient's own records); '' matches nothing."""
        if scope == policy.OWN:
            return session.patient_id or ""
        return None

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
        """Append an audit entry (who, role, action, record, when, outcome). Never edited.

        Written in the caller's unit of work when there is one (else in its own), sealed
        into the audit chain (meditrack_tui.audit_chain) with the key from the signing
        secret."""
        with self.uow():
            self.store.audit.append(
                {
                    "ts": self.ctx.now(),
                    "user_id": session.user_id if session else None,
                    "username": session.username if session else (username or "-"),
                    "role": session.role if session else (role or "-"),
                    "action": action,
                    "record_type": record_type,
                    "record_id": str(record_id) if record_id is not None else None,
                    "patient_id": str(patient_id) if patient_id is not None else None,
                    "outcome": outcome,
                    "detail": detail,
                },
                self.audit_key,
            )
            self.changed("audit", "insert", None)

    def audit_read(self, session: Session, action: str, *, query: str = "",
                   count: int | None = None, patient_id: Any = None,
                   record_type: str | None = None, record_id: Any = None) -> None:
        """Audit a read of patient data: one entry per list or search, naming the query and
        how many records it returned. Call it inside the read's unit of work.

        The one exemption is a live re-read (a screen re-fetching what it shows after a
        change, run by the backend with ``live=True``) of exactly the same read already
        audited for the same session in this process: the person saw it and it is on
        record. A first read is always audited, whatever the caller says."""
        if self.ctx.gathering:
            return  # the gathering service writes one entry for all of it
        key = (action, str(patient_id), str(record_id), query)
        seen = self.ctx.reads.setdefault(session.session_id, set())
        if self.ctx.live and key in seen:
            return
        if len(seen) > 5000:
            seen.clear()
        if len(self.ctx.reads) > 500:
            self.ctx.reads.clear()
            seen = self.ctx.reads.setdefault(session.session_id, set())
        detail = query if count is None else (f"{query}; {count} found" if query
                                              else f"{count} found")
        self.audit(session, action, record_type=record_type, record_id=record_id,
                   patient_id=patient_id, detail=detail or None)
        seen.add(key)

    def audit_stale(self, session: Session, action: str, record_type: str, record_id: Any,
                    patient_id: Any) -> None:
        """A stale edit was refused and its Conflict hands the current record back to the
        caller: that is a read of patient data, and a refused write, so it is on record.
        Call it outside any unit of work that the Conflict will roll back."""
        self.audit(session, action, record_type=record_type, record_id=record_id,
                   patient_id=patient_id, outcome="failed",
                   detail="changed by someone else since it was opened; the current "
                          "version was shown")

    @property
    def audit_key(self) -> AuditKey:
        """The audit chain's key (derived from the signing secret; never stored)."""
        return key_for(self.ctx.config.signing_secret())

    @contextmanager
    def _gathered_read(self) -> Iterator[None]:
        """Reads made inside are audited by the caller as one entry (a dashboard)."""
        self.ctx.gathering += 1
        try:
            yield
        finally:
            self.ctx.gathering -= 1

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
        """Append a change event (in the caller's unit of work) for the live feeds.

        Any process prunes events older than CHANGE_LOG_KEEP, at most once per PRUNE_EVERY.
        """
        now = utcnow()
        self.store.changes.append(
            collection, op, ts=now,
            record_id=str(record_id) if record_id is not None else None,
            patient_id=str(patient_id) if patient_id is not None else None,
            by=session.username if session else None, extra=extra)
        if self.ctx.pruned_at is None or not (timedelta(0) <= now - self.ctx.pruned_at
                                              < PRUNE_EVERY):
            self.ctx.pruned_at = now
            self.store.changes.prune(now - CHANGE_LOG_KEEP)


def describe(**filters: Any) -> str:
    """A list's query as the audit records it: the filters that were set."""
    def shown(value: Any) -> str:
        if isinstance(value, datetime):
            return value.strftime("%Y-%m-%d %H:%M")
        if isinstance(value, date):
            return value.isoformat()
        return repr(value) if isinstance(value, str) else str(value)

    text = ", ".join(f"{name}={shown(value)}" for name, value in filters.items()
                     if value not in (None, "", False))
    return text[:300]


def public(doc: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """A stored record (a store's row) as the caller's plain data (a copy)."""
    return None if doc is None else dict(doc)
