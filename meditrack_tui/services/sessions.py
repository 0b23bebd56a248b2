"""Credentials and sessions: argon2id passwords, signed session tokens, lockout.

Login mints a JWT (user, role, session id, expiry) and stores a live session
row; every service call verifies the signature, the expiry and that the row is
still live, so logout, deactivation and role changes revoke at once.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from datetime import datetime, timedelta
from typing import Any, NoReturn

import jwt
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from ..domain import AccountStatus
from ..errors import (
    AccountInactive,
    AccountLocked,
    AccountPending,
    AuthenticationFailed,
    SessionExpired,
    ValidationError,
)
from ..store import UserRow
from .base import Context, Service, Session

ALGORITHM = "HS256"
WRONG = "Wrong username or password."
ACTIVE, PENDING, REJECTED, INACTIVE = (s.value for s in AccountStatus)
UNKNOWN = "unknown username"  # the audit detail of a failed login with an unknown name


def _locked_until(detail: str) -> datetime | None:
    """The lock time an unknown name's audit entry records ("... locked until <iso>")."""
    _, found, when = detail.rpartition("locked until ")
    try:
        return datetime.fromisoformat(when) if found else None
    except ValueError:
        return None


class Credentials(Service):
    """Passwords, login/logout, session verification and lockout (AuthService adds
    sign-up and the first admin)."""

    def __init__(self, ctx: Context) -> None:
        super().__init__(ctx)
        ctx.auth = self
        self.hasher = PasswordHasher()  # argon2id with the library's current parameters
        self._dummy_hash: str | None = None
        self._secret = ctx.config.signing_secret()
        # token -> its checked claims: a token's signature is checked once per process
        # (a token never changes); expiry and the session row are checked on every call
        self._claims: dict[str, dict[str, Any]] = {}
        #: when this terminal (process) signed accounts up, for the per-terminal limit
        self._signups: list[datetime] = []
        self._taken_answers: list[datetime] = []

    # --- passwords ---

    def hash_password(self, password: str) -> str:
        return self.hasher.hash(password)

    def _burn_password_check(self, password: str) -> None:
        """Spend one hash verification, so an unknown username answers as slowly as a known
        one (response time does not tell which usernames exist)."""
        if self._dummy_hash is None:
            self._dummy_hash = self.hasher.hash(secrets.token_hex(16))
        try:
            self.hasher.verify(self._dummy_hash, password)
        except (VerificationError, InvalidHashError):
            pass

    def _check_password(self, user: UserRow, password: str) -> bool:
        try:
            self.hasher.verify(user.get("password_hash", ""), password)
        except (VerificationError, InvalidHashError):
            return False
        if self.hasher.check_needs_rehash(user["password_hash"]):
            self.store.users.update(user["id"], {"password_hash": self.hash_password(password)},
                                    bump=False)
        return True

    # --- users as stored ---

    def find_user(self, username: str) -> UserRow | None:
        if not isinstance(username, str):
            return None
        return self.store.users.by_username(username.strip().lower())

    def new_user_doc(
        self,
        username: str,
        password: str,
        role: str,
        *,
        full_name: str,
        email: str | None = None,
        status: str = ACTIVE,
        patient_id: str | None = None,
        extra: UserRow | None = None,
    ) -> UserRow:
        now = self.ctx.now()
        doc: UserRow = {
            "username": username,
            "username_lc": username.lower(),
            "password_hash": self.hash_password(password),
            "role": role,
            "status": status,
            "full_name": full_name,
            "email": email,
            "patient_id": patient_id,
            "failed_logins": 0,
            "locked_until": None,
            "created_at": now,
            "updated_at": now,
            "version": 1,
        }
        if extra:
            doc.update(extra)
        return doc

    def insert_user(self, doc: UserRow) -> UserRow:
        """Store a new account (in the caller's unit of work); a taken name is refused."""
        from ..store import Duplicate

        try:
            return self.store.users.add(doc)
        except Duplicate:
            raise ValidationError({"username": "That username is already taken."}) from None

    # --- login, logout, verification ---

    def login(self, username: Any, password: Any) -> Session:
        """Check the password and mint a session.

        Failures are counted per account in one atomic step BEFORE the password is checked,
        so parallel guessers get no more checks than the limit; the limit locks the account
        for a while. Unknown names get exactly the same answers (wrong, then locked after as
        many tries, counted from the audit trail), so answers never tell which usernames
        exist, and an unknown name is recorded as a keyed hash, never as typed."""
        if not isinstance(username, str) or not isinstance(password, str) or not username.strip():
            raise AuthenticationFailed("Enter your username and password.")
        now = self.ctx.now()
        user = self.find_user(username)
        if user is None:
            self._unknown_login(username, password, now)
        user = self._count_attempt(user, now)
        if not self._check_password(user, password):
            if int(user.get("failed_logins") or 0) >= self.ctx.config.max_failed_logins:
                until = now + timedelta(minutes=self.ctx.config.lockout_minutes)
                with self.uow():
                    self.store.users.update(user["id"], {"failed_logins": 0,
                                                         "locked_until": until}, bump=False)
                    self._audit_login(user, "failed", "wrong password; account locked")
                raise AccountLocked(self._locked_message(until), until=until)
            self._audit_login(user, "failed", "wrong password")
            raise AuthenticationFailed(WRONG)
        status = user.get("status", ACTIVE)
        if status != ACTIVE:  # the password was right: the reserved attempt is given back
            self.store.users.update(user["id"], {"failed_logins": 0}, bump=False)
        if status == PENDING:
            self._audit_login(user, "failed", "pending approval")
            raise AccountPending(
                "Your account is waiting for an administrator's approval. "
                "Try again once it is approved."
            )
        if status == REJECTED:
            self._audit_login(user, "failed", "sign-up rejected")
            raise AccountPending(
                "Your sign-up request was not approved. Ask the clinic's administrator.")
        if status == INACTIVE:
            self._audit_login(user, "failed", "account deactivated")
            raise AccountInactive(
                "This account has been deactivated. Ask the clinic's administrator.")
        with self.uow():
            self.store.users.update(user["id"], {"failed_logins": 0, "locked_until": None,
                                                 "last_login": now}, bump=False)
            session = self._mint(user)
            self.audit(session, "login")
        return session

    def _locked_message(self, until: datetime) -> str:
        return (f"Too many failed attempts. Try again after {until:%H:%M}, or ask an "
                "administrator to unlock the account.")

    def _count_attempt(self, user: UserRow, now: datetime) -> UserRow:
        """Reserve one password check for this account (atomically), or refuse it when the
        account is locked or the limit is already used up by attempts running right now."""
        locked_until = user.get("locked_until")
        if not (locked_until and locked_until > now):
            counted = self.store.users.increment(user["id"], "failed_logins")
            if counted is not None:
                user = counted
                locked_until = user.get("locked_until")
                if int(user.get("failed_logins") or 0) > self.ctx.config.max_failed_logins:
                    # others used up the limit at the same moment; the lock is on its way
                    locked_until = locked_until if locked_until and locked_until > now else \
                        now + timedelta(minutes=self.ctx.config.lockout_minutes)
        if locked_until and locked_until > now:
            self._audit_login(user, "failed", "account locked")
            raise AccountLocked(self._locked_message(locked_until), until=locked_until)
        return user

    def unknown_name(self, typed: str) -> str:
        """How an unknown username is recorded: a keyed hash (the same text typed twice
        gives the same value, so repeated attempts can be told apart), never the text,
        which may be a password typed into the wrong box."""
        digest = hmac.new(self._secret.encode(), b"unknown-username\0" +
                          typed.strip().lower().encode("utf-8", "replace"), hashlib.sha256)
        return f"unknown:{digest.hexdigest()[:12]}"

    def _unknown_login(self, username: str, password: str, now: datetime) -> NoReturn:
        """A login with a name no account has: the same answers a real account gives.

        It mirrors an account's counter: wrong attempts count (they do not expire) until
        the limit locks the name for ``lockout_minutes`` from the attempt that locked it;
        attempts while it is locked are refused without counting and name the same time.
        The state is this name's newest audit entries (the locking one records its time),
        read and appended in one unit of work, so parallel guessers are counted one after
        another as an account's are."""
        from ..store import AuditQuery

        recorded = self.unknown_name(username)
        cfg = self.ctx.config
        with self.uow():
            recent = self.store.audit.find(AuditQuery(
                username=recorded, action_prefix="login", outcome="failed",
                limit=cfg.max_failed_logins, count=False)).items
            counted, until = 0, None
            for entry in recent:  # newest first: plain failures since the last lock
                detail = entry.get("detail") or ""
                if detail != UNKNOWN:
                    until = _locked_until(detail)
                    break
                counted += 1
            already = until is not None and until > now
            if already:
                detail = f"{UNKNOWN}; locked until {until:%Y-%m-%dT%H:%M:%S}"
            elif counted + 1 >= cfg.max_failed_logins:
                until = now + timedelta(minutes=cfg.lockout_minutes)
                detail = f"{UNKNOWN}; account locked until {until:%Y-%m-%dT%H:%M:%S}"
            else:
                until, detail = None, UNKNOWN
            self.audit(None, "login", outcome="failed", detail=detail, username=recorded)
        if not already:  # an account's password is checked unless it is already locked
            self._burn_password_check(password)
        if until is not None:
            raise AccountLocked(self._locked_message(until), until=until)
        raise AuthenticationFailed(WRONG)

    def _audit_login(self, user: UserRow, outcome: str, detail: str) -> None:
        self.audit(None, "login", record_type="user", record_id=user["id"], outcome=outcome,
                   detail=detail, username=user["username"], role=user.get("role"))

    def _mint(self, user: UserRow) -> Session:
        now = self.ctx.now()
        expires = now + timedelta(hours=self.ctx.config.session_hours)
        sid = secrets.token_hex(16)
        patient_id = str(user["patient_id"]) if user.get("patient_id") else None
        self.store.sessions.add(
            {"id": sid, "user_id": user["id"], "role": user["role"], "created_at": now,
             "expires_at": expires, "revoked": False, "username": user["username"],
             "patient_id": patient_id}
        )
        payload = {
            "sub": user["id"],
            "usr": user["username"],
            "role": user["role"],
            "sid": sid,
            "iat": int(now.timestamp()),
            "exp": int(expires.timestamp()),
        }
        token = jwt.encode(payload, self._secret, algorithm=ALGORITHM)
        return Session(
            token=token,
            user_id=user["id"],
            username=user["username"],
            role=user["role"],
            session_id=sid,
            expires_at=expires,
            full_name=user.get("full_name") or user["username"],
            patient_id=patient_id,
        )

    def verify(self, session: Session, action: str = "session") -> Session:
        """Check the token's signature and expiry and that its session is still live.

        (``action``, what the caller was about to do, is the base class's; a refused session
        is audited there, by Service.verify, not here.)"""
        if not isinstance(session, Session):
            raise SessionExpired("You are not logged in.")
        now = self.ctx.now()
        try:
            claims = self._claims.get(session.token) if isinstance(session.token, str) else None
            if claims is None:
                claims = jwt.decode(
                    session.token,
                    self._secret,
                    algorithms=[ALGORITHM],
                    options={"verify_exp": False, "require": ["sub", "sid", "role", "exp"]},
                )
                if len(self._claims) >= 256:
                    self._claims.clear()
                self._claims[session.token] = claims
        except jwt.InvalidTokenError:
            raise SessionExpired("Your session is not valid. Please log in again.") from None
        # Expiry is checked against the service clock (injectable for tests).
        if claims["exp"] <= now.timestamp():
            raise SessionExpired("Your session has expired. Please log in again.")
        if (claims["sub"], claims["sid"], claims["role"], claims.get("usr")) != (
            session.user_id, session.session_id, session.role, session.username
        ):
            raise SessionExpired("Your session is not valid. Please log in again.")
        row = self.store.sessions.get(claims["sid"]) if isinstance(claims["sid"], str) else None
        if row is None or row.get("revoked"):
            raise SessionExpired("You have been logged out. Please log in again.")
        # Every field the services act on must be what was minted, not what a caller set:
        # the patient link scopes a patient's reads, the username goes into audit entries.
        if (row.get("patient_id"), row.get("username", session.username)) != (
            session.patient_id, session.username
        ):
            raise SessionExpired("Your session is not valid. Please log in again.")
        return session

    def logout(self, session: Session) -> None:
        """End the session; its token stops working everywhere at once."""
        try:
            self.verify(session)
        except SessionExpired:
            return
        with self.uow():
            self.store.sessions.update(session.session_id, {"revoked": True}, bump=False)
            self.audit(session, "logout")

    def revoke_all(self, user_id: str) -> None:
        """Revoke every live session of a user (deactivation, role change, password reset)."""
        self.store.sessions.revoke_user(user_id)

    def confirm_password(self, session: Session, password: Any, *,
                         action: str = "unlock-terminal") -> bool:
        """Unlock an idle-locked terminal (or confirm the current password before changing
        it, ``action="user.change-password"``): True when the password is right.

        Wrong passwords count with failed logins (the same atomic count and limit): at the
        limit the account is locked and this session is logged out (SessionExpired)."""
        self.verify(session)
        user = self.store.users.get(session.user_id)
        if user is None:
            raise SessionExpired("You have been logged out. Please log in again.")
        now = self.ctx.now()
        try:
            user = self._count_attempt(user, now)
        except AccountLocked:
            self._end_locked_session(session, user)
        if isinstance(password, str) and self._check_password(user, password):
            self.store.users.update(user["id"], {"failed_logins": 0}, bump=False)
            if action == "unlock-terminal":  # a password change records itself when done
                self.audit(session, action)
            return True
        if int(user.get("failed_logins") or 0) >= self.ctx.config.max_failed_logins:
            until = now + timedelta(minutes=self.ctx.config.lockout_minutes)
            with self.uow():
                self.store.users.update(user["id"], {"failed_logins": 0, "locked_until": until},
                                        bump=False)
                self.audit(session, action, outcome="failed",
                           detail="wrong password; account locked")
            self._end_locked_session(session, user)
        self.audit(session, action, outcome="failed", detail="wrong password")
        return False

    def _end_locked_session(self, session: Session, user: UserRow) -> NoReturn:
        with self.uow():
            self.store.sessions.update(session.session_id, {"revoked": True}, bump=False)
            self.audit(session, "logout", detail="too many wrong passwords")
        raise SessionExpired("Too many wrong passwords: you have been logged out and the "
                             "account is locked for a while.")
