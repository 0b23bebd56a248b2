"""Accounts coming in: the first administrator and sign-up (patients and doctors),
with their limits; logging in and sessions are :class:`~.sessions.Credentials`."""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING, Any

from .. import policy
from ..errors import Conflict, PermissionDenied, RateLimited, ValidationError
from ..validation import EMAIL_RE, Checker

if TYPE_CHECKING:
    from .base import Session
    from .patients import PatientService

from .account_fields import check_password_rules, check_username, user_public
from .sessions import ACTIVE, PENDING, Credentials

SIGNUPS_PER_TERMINAL = 2  # per hour: enough for a person and a family member
TAKEN_PER_TERMINAL = 10   # "username taken" answers per hour and terminal


class AuthService(Credentials):
    """Passwords, login/logout, session verification, sign-up and the first admin."""

    def needs_first_admin(self) -> bool:
        """True only on an empty store (no users, no patients): the first run offers to
        create the first administrator. A store with data but no administrator is
        recovered from the server's shell (``meditrack create-admin``), never from the
        login screen, where anyone could make themselves administrator."""
        return self.store.is_empty()

    def has_admin(self) -> bool:
        """True when an active administrator exists."""
        from ..store import UserQuery

        return bool(self.store.users.find(UserQuery(role=policy.ADMIN, status=ACTIVE,
                                                    limit=1, count=False)).items)

    def create_first_admin(self, username: Any, password: Any, full_name: Any,
                           email: Any = None, *, from_shell: bool = False) -> dict[str, Any]:
        """Create the first administrator: on an empty store (the first run), or with
        ``from_shell`` (``meditrack create-admin``) on a store that has no active one.

        The check and the creation are one step: the unit of work claims the one-time
        'first-admin' counter, so of several callers at once exactly one succeeds."""
        check = Checker()
        name = check_username(check, username)
        full = check.text("full_name", full_name, required=True, max_len=100)
        mail = check.text("email", email, max_len=120)
        if mail and not EMAIL_RE.match(mail):
            check.fail("email", "Email address does not look right.")
        try:  # one answer lists every field's problem, the password's too
            check_password_rules(password, name)
        except ValidationError as exc:
            check.errors.update(exc.fields)
        check.done()
        assert name and full
        taken = Conflict("This clinic is already set up. Log in instead; an administrator "
                         "creates the other accounts.")
        if from_shell and self.has_admin():
            raise Conflict("An administrator already exists; log in and create users from "
                           "the Admin screen.")
        if not from_shell and not self.needs_first_admin():
            raise taken
        doc = self.new_user_doc(name, password, policy.ADMIN, full_name=full, email=mail)
        with self.uow():
            if from_shell:
                self.store.counters.next("shell-admin")  # concurrent transactions collide
                if self.has_admin():
                    raise Conflict("An administrator already exists; log in and create users "
                                   "from the Admin screen.")
            elif self.store.counters.next("first-admin") != 1 or not self.store.is_empty():
                raise taken
            doc = self.insert_user(doc)
            self.audit(None, "user.create-first-admin", record_type="user",
                       record_id=doc["id"], username=name, role=policy.ADMIN,
                       detail="from the server's shell" if from_shell else "first run")
            self.changed("users", "insert", doc["id"])
        return user_public(doc)

    def shell_session(self, command: str, os_user: str) -> Session:
        """A session for an administrator's command run on the server's shell (``meditrack
        export fhir``, ``import fhir``): whoever can run MediTrack as its service account
        can read its store and secret anyway, so the account itself is the credential, as
        for ``create-admin``. The session has the admin role and is audited under the name
        ``shell:<os user>``; the command ends it (logout) when done."""
        name = f"shell:{os_user}"[:60]
        with self.uow():
            session = self._mint({"id": "shell", "username": name, "role": policy.ADMIN,
                                  "full_name": f"Server shell ({os_user})"})
            self.audit(session, "session.shell", detail=f"meditrack {command}"[:300])
        return session

    def signup_patient(self, username: Any, password: Any, *, first_name: Any, last_name: Any,
                       dob: Any, sex: Any, phone: Any = None, email: Any = None) -> dict[str, Any]:
        """Patient self-sign-up: an active account linked to a new patient record."""
        from .patients import build_patient_doc

        check = Checker()
        name = check_username(check, username)
        patient = build_patient_doc(check, {"first_name": first_name, "last_name": last_name,
                                            "dob": dob, "sex": sex, "phone": phone,
                                            "email": email}, today=self.ctx.now().date())
        try:  # one answer lists every field's problem, the password's too
            check_password_rules(password, name)
        except ValidationError as exc:
            check.errors.update(exc.fields)
        check.done()
        assert name
        # refused first when sign-up is off or this terminal's share is used: "taken" would
        # otherwise tell anyone, without end, which usernames exist
        self._signup_allowed(name)
        if self.find_user(name):
            self._taken()
        assert self.ctx.auth is not None
        patients = self._patients()
        full = f"{patient['first_name']} {patient['last_name']}"
        doc = self.new_user_doc(name, password, policy.PATIENT, full_name=full,
                                email=patient.get("email"))
        with self.uow():  # the record and the account together, or neither
            self._count_signup(name)
            created = patients.insert_new(patient, by=name)
            doc["patient_id"] = created["id"]
            doc = self.insert_user(doc)
            self.audit(None, "signup.patient", record_type="user", record_id=doc["id"],
                       patient_id=created["id"], username=name, role=policy.PATIENT)
            self.changed("patients", "insert", created["id"], patient_id=created["id"])
        self._signups.append(self.ctx.now())
        return user_public(doc)

    def signup_doctor(self, username: Any, password: Any, *, full_name: Any, email: Any = None,
                      specialty: Any = None) -> dict[str, Any]:
        """Doctor sign-up: a pending request that an admin approves or rejects."""
        check = Checker()
        name = check_username(check, username)
        full = check.text("full_name", full_name, required=True, max_len=100)
        mail = check.text("email", email, max_len=120)
        if mail and not EMAIL_RE.match(mail):
            check.fail("email", "Email address does not look right.")
        spec = check.text("specialty", specialty, max_len=80)
        try:  # one answer lists every field's problem, the password's too
            check_password_rules(password, name)
        except ValidationError as exc:
            check.errors.update(exc.fields)
        check.done()
        assert name and full
        doc = self.new_user_doc(name, password, policy.DOCTOR, full_name=full, email=mail,
                                status=PENDING, extra={"specialty": spec})
        self._signup_allowed(name)
        if self.find_user(name):
            self._taken()
        with self.uow():
            self._count_signup(name)
            doc = self.insert_user(doc)
            self.audit(None, "signup.doctor", record_type="user", record_id=doc["id"],
                       username=name, role=policy.DOCTOR, detail="awaiting approval")
            self.changed("users", "insert", doc["id"])
        self._signups.append(self.ctx.now())
        return user_public(doc)

    def signup_open(self) -> bool:
        """True when people may sign themselves up here (an administrator's switch)."""
        from .settings import clinic_settings

        return bool(clinic_settings(self.store)["self_signup"])

    def _signup_allowed(self, name: str) -> None:
        """Refuse a sign-up when the clinic switched self sign-up off, or when this terminal
        (this process: one SSH or browser session) already made its share this hour."""
        if not self.signup_open():
            self.audit(None, "signup", outcome="denied", detail="self sign-up is off",
                       username=self.unknown_name(name))
            raise PermissionDenied("Signing up here is switched off at this clinic. Ask the "
                                   "reception to create your account.")
        hour_ago = self.ctx.now() - timedelta(hours=1)
        self._signups = [t for t in self._signups if t > hour_ago]
        self._taken_answers = [t for t in self._taken_answers if t > hour_ago]
        if len(self._taken_answers) >= TAKEN_PER_TERMINAL:
            self.audit(None, "signup", outcome="denied",
                       detail="too many taken usernames tried from one terminal",
                       username=self.unknown_name(name))
            raise RateLimited("Too many sign-up attempts from this terminal in the last "
                              "hour. Ask the clinic's reception for help.")
        if len(self._signups) >= SIGNUPS_PER_TERMINAL:
            self.audit(None, "signup", outcome="denied",
                       detail="too many sign-ups from one terminal",
                       username=self.unknown_name(name))
            raise RateLimited("This terminal has already been used to sign up "
                              f"{len(self._signups)} accounts in the last hour. Ask the "
                              "clinic's reception for help.")

    def _taken(self) -> None:
        """'Taken' tells whether a username exists: each such answer counts against this
        terminal's attempts, so nobody can list the clinic's usernames by signing up."""
        self._taken_answers.append(self.ctx.now())
        raise ValidationError({"username": "That username is already taken."})

    def _count_signup(self, name: str) -> None:
        """Count the sign-up against the clinic's hourly limit, inside its unit of work (an
        atomic counter per clock hour: concurrent sign-ups from every terminal count)."""
        from .settings import clinic_settings

        limit = int(clinic_settings(self.store)["signups_per_hour"])
        if self.store.counters.next(f"signups:{self.ctx.now():%Y%m%d%H}") > limit:
            raise RateLimited("Too many accounts were signed up at this clinic in the last "
                              "hour. Please try again later or ask the reception.")

    def _patients(self) -> PatientService:
        from .patients import PatientService

        return PatientService(self.ctx)


__all__ = ["AuthService", "check_password_rules", "check_username", "user_public"]
