"""User accounts: admin management (create, approve, roles, deactivate, reset, unlock, list),
plus everyone's own profile and password."""

from __future__ import annotations

import builtins
from typing import Any

from .. import policy
from ..domain import ACCOUNT_STATUSES
from ..errors import Conflict, NotFound, ValidationError
from ..store import UserQuery, UserRow
from ..validation import EMAIL_RE, Checker, page_args
from .account_fields import check_password_rules, check_username, user_public
from .base import Page, Service, Session, ref
from .sessions import ACTIVE, INACTIVE, PENDING, REJECTED

STATUSES = ACCOUNT_STATUSES


class UserService(Service):
    """Admin user management and self-service profile/password."""

    def _get(self, user_id: Any) -> UserRow:
        doc = self.store.users.get(ref(user_id, "user"))
        if doc is None:
            raise NotFound("That user does not exist.")
        return doc

    def _admin(self, session: Session, user_id: Any = None) -> None:
        self.authorize(session, "user.manage", record_type="user", record_id=user_id)

    def _set(self, session: Session, user: UserRow, fields: dict[str, Any], action: str,
             detail: str | None = None, revoke: bool = False) -> dict[str, Any]:
        fields["updated_at"] = self.ctx.now()
        with self.uow():
            self.store.users.update(user["id"], fields)
            if revoke:
                self.store.sessions.revoke_user(user["id"])
            self.audit(session, action, record_type="user", record_id=user["id"], detail=detail)
            self.changed("users", "update", user["id"], session=session)
        return user_public(self._get(user["id"]))

    def create(self, session: Session, *, username: Any, password: Any, role: Any,
               full_name: Any, email: Any = None, patient_id: Any = None,
               patient_mrn: Any = None) -> dict[str, Any]:
        """Create an active account of any role. A patient account may link a patient record,
        given by its id or by its MRN (as the admin's form asks for it)."""
        self._admin(session)
        assert self.ctx.auth is not None
        check = Checker()
        name = check_username(check, username)
        role_v = check.choice("role", role, policy.ROLES)
        full = check.text("full_name", full_name, required=True, max_len=100)
        mail = check.text("email", email, max_len=120)
        if mail and not EMAIL_RE.match(mail):
            check.fail("email", "Email address does not look right.")
        pid = None
        mrn = check.text("patient_mrn", patient_mrn, max_len=40)
        if mrn:
            if role_v not in (None, policy.PATIENT):
                check.fail("patient_mrn", "Only a patient account is linked to a record.")
            else:
                found = self.store.patients.by_mrn(mrn.upper())
                if found is None:
                    check.fail("patient_mrn", f"No patient record has the MRN {mrn.upper()}.")
                elif self.store.users.by_patient(found["id"]):
                    check.fail("patient_mrn", "That patient record already has an account.")
                else:
                    patient_id = found["id"]
        if patient_id not in (None, ""):
            try:
                pid = ref(patient_id, "patient")
                if self.store.patients.get(pid) is None:
                    check.fail("patient_id", "That patient record does not exist.")
                elif self.store.users.by_patient(pid):
                    check.fail("patient_id", "That patient record already has an account.")
            except NotFound:
                check.fail("patient_id", "That patient record does not exist.")
        check.done()
        assert name and role_v and full
        check_password_rules(password, name)
        doc = self.ctx.auth.new_user_doc(name, password, role_v, full_name=full, email=mail,
                                         patient_id=pid if role_v == policy.PATIENT else None)
        with self.uow():
            doc = self.ctx.auth.insert_user(doc)
            self.audit(session, "user.create", record_type="user", record_id=doc["id"],
                       detail=f"{name} as {role_v}")
            self.changed("users", "insert", doc["id"], session=session)
        return user_public(doc)

    def approve(self, session: Session, user_id: Any) -> dict[str, Any]:
        """Approve a pending doctor sign-up."""
        self._admin(session, user_id)
        user = self._get(user_id)
        if user.get("status") != PENDING:
            raise Conflict(f"{user['username']} is not waiting for approval.")
        return self._set(session, user, {"status": ACTIVE}, "user.approve")

    def reject(self, session: Session, user_id: Any) -> dict[str, Any]:
        """Reject a pending sign-up."""
        self._admin(session, user_id)
        user = self._get(user_id)
        if user.get("status") != PENDING:
            raise Conflict(f"{user['username']} is not waiting for approval.")
        return self._set(session, user, {"status": REJECTED}, "user.reject")

    def change_role(self, session: Session, user_id: Any, role: Any) -> dict[str, Any]:
        """Change a user's role; their sessions are revoked."""
        self._admin(session, user_id)
        check = Checker()
        role_v = check.choice("role", role, policy.ROLES)
        check.done()
        user = self._get(user_id)
        if user["id"] == session.user_id:
            raise ValidationError({"role": "You cannot change your own role."})
        if role_v == user["role"]:
            raise ValidationError({"role": f"{user['username']} already has that role."})
        return self._set(session, user, {"role": role_v}, "user.change-role",
                         detail=f"{user['role']} -> {role_v}", revoke=True)

    def deactivate(self, session: Session, user_id: Any) -> dict[str, Any]:
        """Deactivate an account; its sessions end at once."""
        self._admin(session, user_id)
        user = self._get(user_id)
        if user["id"] == session.user_id:
            raise ValidationError("You cannot deactivate your own account.")
        return self._set(session, user, {"status": INACTIVE}, "user.deactivate", revoke=True)

    def reactivate(self, session: Session, user_id: Any) -> dict[str, Any]:
        self._admin(session, user_id)
        user = self._get(user_id)
        if user.get("status") != INACTIVE:
            raise Conflict(f"{user['username']} is not deactivated.")
        return self._set(session, user, {"status": ACTIVE}, "user.reactivate")

    def reset_password(self, session: Session, user_id: Any, new_password: Any) -> dict[str, Any]:
        """Set a new password for a user; their sessions end and any lock is lifted."""
        self._admin(session, user_id)
        user = self._get(user_id)
        check_password_rules(new_password, user["username"], field="new_password")
        assert self.ctx.auth is not None
        return self._set(session, user, {"password_hash": self.ctx.auth.hash_password(new_password),
                                         "failed_logins": 0, "locked_until": None},
                         "user.reset-password", revoke=True)

    def unlock(self, session: Session, user_id: Any) -> dict[str, Any]:
        """Lift a lockout after failed logins."""
        self._admin(session, user_id)
        user = self._get(user_id)
        return self._set(session, user, {"failed_logins": 0, "locked_until": None}, "user.unlock")

    def list(self, session: Session, *, role: Any = None, status: Any = None, query: Any = None,
             page: Any = 1, page_size: Any = 50) -> Page[dict[str, Any]]:
        """Accounts, filtered by role, status and a username/name prefix."""
        self._admin(session)
        page_no, size = page_args(page, page_size)
        check = Checker()
        role_v = status_v = None
        if role not in (None, ""):
            role_v = check.choice("role", role, policy.ROLES)
        if status not in (None, ""):
            status_v = check.choice("status", status, STATUSES)
        text = check.text("query", query, max_len=60)
        check.done()
        found = self.store.users.find(UserQuery(
            role=role_v, status=status_v, username_prefix=text.lower() if text else None,
            skip=(page_no - 1) * size, limit=size))
        total, docs = found.total or 0, found.items
        now = self.ctx.now()
        items = []
        for doc in docs:
            item = user_public(doc)
            locked_until = doc.get("locked_until")
            item["locked"] = bool(locked_until and locked_until > now)
            items.append(item)
        return Page(items, total, page_no, size)

    def doctors(self, session: Session) -> builtins.list[dict[str, Any]]:
        """Active doctors (id, name) for pickers; any logged-in user may see this list."""
        self.verify(session)
        cursor = self.store.users.find(UserQuery(role=policy.DOCTOR, status=ACTIVE, limit=None,
                                                 count=False)).items
        return sorted(({"id": d["id"], "full_name": d.get("full_name") or d["username"],
                        "username": d["username"], "specialty": d.get("specialty")}
                       for d in cursor), key=lambda d: d["full_name"].lower())

    def profile(self, session: Session) -> dict[str, Any]:
        """The caller's own account."""
        self.verify(session)
        return user_public(self._get(session.user_id))

    def update_profile(self, session: Session, *, full_name: Any = None,
                       email: Any = None) -> dict[str, Any]:
        """Change one's own display name and email."""
        self.verify(session)
        check = Checker()
        fields: dict[str, Any] = {}
        if full_name is not None:
            fields["full_name"] = check.text("full_name", full_name, required=True, max_len=100)
        if email is not None:
            mail = check.text("email", email, max_len=120)
            if mail and not EMAIL_RE.match(mail):
                check.fail("email", "Email address does not look right.")
            fields["email"] = mail
        check.done()
        if not fields:
            raise ValidationError("Nothing to change.")
        return self._set(session, self._get(session.user_id), fields, "user.update-profile")

    def change_password(self, session: Session, current: Any, new: Any) -> None:
        """Change one's own password (the current one is required); other sessions end."""
        self.verify(session)
        assert self.ctx.auth is not None
        user = self._get(session.user_id)
        # wrong current passwords count with failed logins: at the limit the account is
        # locked and this session logged out (a session left open is no password oracle)
        if not self.ctx.auth.confirm_password(session, current,
                                              action="user.change-password"):
            raise ValidationError({"current_password": "The current password is not right."})
        check_password_rules(new, user["username"], field="new_password")
        if new == current:
            raise ValidationError(
                {"new_password": "Choose a password different from the current one."})
        new_hash = self.ctx.auth.hash_password(new)
        with self.uow():
            self.store.users.update(user["id"], {"password_hash": new_hash}, bump=False)
            self.store.sessions.revoke_user(user["id"], keep=session.session_id)
            self.audit(session, "user.change-password", record_type="user",
                       record_id=user["id"])

    def pending(self, session: Session) -> builtins.list[dict[str, Any]]:
        """Sign-ups waiting for approval."""
        self._admin(session)
        from .dashboard import _requested

        found = self.store.users.find(UserQuery(status=PENDING, limit=200, count=False))
        return [user_public(d) for d in sorted(found.items, key=_requested)]


__all__ = ["UserService"]
