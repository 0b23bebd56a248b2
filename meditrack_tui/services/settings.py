"""Clinic settings: opening hours, each doctor's working hours, how many upcoming
appointments a patient may hold, and the sign-up switches.

Admins change them (policy action ``settings.manage``; every change audited and announced
in one unit of work); any logged-in role reads them. Settings never saved read as
:data:`DEFAULTS`. A doctor's own working hours live on their user record
(``working_hours``; absent: the clinic's hours).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Any

from .. import policy
from ..errors import Conflict, NotFound, ValidationError
from ..validation import Checker
from .base import Service, Session, public, ref

if TYPE_CHECKING:
    from ..store import Store, UserRow

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")  # datetime.weekday() order
DAY_LABELS = {"mon": "Mon", "tue": "Tue", "wed": "Wed", "thu": "Thu", "fri": "Fri",
              "sat": "Sat", "sun": "Sun"}
DEFAULT_HOURS: dict[str, list[str] | None] = {
    "mon": ["08:00", "18:00"], "tue": ["08:00", "18:00"], "wed": ["08:00", "18:00"],
    "thu": ["08:00", "18:00"], "fri": ["08:00", "18:00"], "sat": ["09:00", "13:00"],
    "sun": None,
}
MAX_UPCOMING_RANGE = (1, 50)
SIGNUPS_RANGE = (1, 1000)
DEFAULTS: dict[str, Any] = {
    "hours": DEFAULT_HOURS,
    "max_upcoming": 3,
    "self_signup": True,
    "signups_per_hour": 5,
}
FIELDS = tuple(DEFAULTS)
CLOSED_WORDS = ("", "closed", "-")


def effective(stored: Mapping[str, Any] | None) -> dict[str, Any]:
    """The settings in force: what was saved, defaults for the rest (deep copies)."""
    out: dict[str, Any] = {"hours": dict(DEFAULT_HOURS), **{k: v for k, v in DEFAULTS.items()
                                                             if k != "hours"}}
    out["version"] = 0
    if stored:
        for key in FIELDS:
            if key in stored:
                out[key] = stored[key]
        out["hours"] = {day: (list(v) if v else None)
                        for day, v in {**DEFAULT_HOURS, **(stored.get("hours") or {})}.items()}
        out["version"] = int(stored.get("version") or 0)
        out["updated_by"] = stored.get("updated_by")
        out["updated_at"] = stored.get("updated_at")
    else:
        out["hours"] = {day: (list(v) if v else None) for day, v in DEFAULT_HOURS.items()}
    return out


def _minutes(text: str) -> int:
    hours, minutes = text.split(":")
    return int(hours) * 60 + int(minutes)


def clean_hours(check: Checker, value: Any, *, prefix: str = "hours_") -> dict[str, Any] | None:
    """Weekly hours from a form or a caller: {weekday: [open, close] | None (closed)}.

    Each day may be given as a pair of "HH:MM" texts, a dict with "open"/"close", one
    text "08:00-18:00", or None / "" / "closed". Errors are per day (``hours_mon``...).
    Days not given keep the default hours.
    """
    if not isinstance(value, dict):
        check.fail(prefix.rstrip("_"), "Opening hours must be given per weekday.")
        return None
    unknown = [k for k in value if k not in WEEKDAYS]
    if unknown:
        check.fail(prefix.rstrip("_"), "Opening hours are given per weekday (mon to sun).")
        return None
    out: dict[str, list[str] | None] = {}
    for day in WEEKDAYS:
        if day not in value:
            default = DEFAULT_HOURS[day]
            out[day] = list(default) if default else None
            continue
        field = prefix + day
        label = DAY_LABELS[day]
        raw = value[day]
        if isinstance(raw, str):
            text = raw.strip().lower()
            if text in CLOSED_WORDS:
                out[day] = None
                continue
            if text.count("-") == 1:
                raw = [part.strip() for part in text.split("-")]
            else:
                check.fail(field, f"{label}: write the hours like 08:00-18:00, or 'closed'.")
                continue
        elif isinstance(raw, dict):
            raw = [raw.get("open"), raw.get("close")]
        if raw is None:
            out[day] = None
            continue
        if not isinstance(raw, (list, tuple)) or len(raw) != 2:
            check.fail(field, f"{label}: give an opening and a closing time, or 'closed'.")
            continue
        inner = Checker()
        opens = inner.clock("open", raw[0], required=True)
        closes = inner.clock("close", raw[1], required=True)
        if opens is None or closes is None:
            check.fail(field, f"{label}: times must be like 08:00 (24-hour clock).")
            continue
        if opens >= closes:
            check.fail(field, f"{label}: the opening time must be before the closing time.")
            continue
        out[day] = [f"{opens:%H:%M}", f"{closes:%H:%M}"]
    return out


def format_hours(hours: dict[str, Any]) -> str:
    """'Mon-Fri 08:00-18:00, Sat 09:00-13:00; closed Sun' (consecutive days grouped)."""
    groups: list[tuple[list[str], Any]] = []
    for day in WEEKDAYS:
        span = tuple(hours.get(day) or ()) or None
        if groups and groups[-1][1] == span:
            groups[-1][0].append(day)
        else:
            groups.append(([day], span))

    def days(names: list[str]) -> str:
        first, last = DAY_LABELS[names[0]], DAY_LABELS[names[-1]]
        return first if len(names) == 1 else (f"{first}, {last}" if len(names) == 2
                                              else f"{first}-{last}")

    open_parts = [f"{days(names)} {span[0]}-{span[1]}" for names, span in groups if span]
    closed = [days(names) for names, span in groups if not span]
    text = ", ".join(open_parts) or "no opening hours"
    return text + (f"; closed {', '.join(closed)}" if closed and open_parts else "")


def fits(hours: dict[str, Any], start: datetime, end: datetime) -> bool:
    """Whether [start, end) lies wholly inside one day's hours."""
    if end.date() != start.date():  # a day's hours close by 23:59 at the latest
        return False
    span = hours.get(WEEKDAYS[start.weekday()])
    if not span:
        return False
    begin = start.hour * 60 + start.minute
    finish = end.hour * 60 + end.minute
    return _minutes(span[0]) <= begin and finish <= _minutes(span[1])


def clinic_settings(store: Store) -> dict[str, Any]:
    """The settings in force, read in the caller's unit of work (no session check: for
    other services, which have checked theirs)."""
    return effective(store.settings.get())


def doctor_hours(doctor: Mapping[str, Any], clinic: dict[str, Any]) -> dict[str, Any]:
    """A doctor's working hours: their own, or the clinic's when they have none."""
    own = doctor.get("working_hours")
    return own if isinstance(own, dict) else clinic["hours"]


class SettingsService(Service):
    """Read (any logged-in role) and change (admins) the clinic's settings."""

    def get(self, session: Session) -> dict[str, Any]:
        """The settings in force, with ``version`` (0: never saved) for the next save."""
        self.verify(session)
        out = clinic_settings(self.store)
        out["hours_text"] = format_hours(out["hours"])
        return out

    def update(self, session: Session, changes: Any, *, version: Any) -> dict[str, Any]:
        """Change some settings; refused as a conflict when they changed since ``version``."""
        self.authorize(session, "settings.manage", record_type="settings", record_id="clinic")
        if not isinstance(changes, dict) or not changes:
            raise ValidationError("Nothing to change.")
        unknown = [k for k in changes if k not in FIELDS]
        if unknown:
            raise ValidationError({k: "This setting does not exist." for k in unknown})
        if isinstance(version, bool) or not isinstance(version, int) or version < 0:
            raise ValidationError({"version": "The settings version is missing; reopen them."})
        check = Checker()
        fields: dict[str, Any] = {}
        if "hours" in changes:
            fields["hours"] = clean_hours(check, changes["hours"])
        if "max_upcoming" in changes:
            low, high = MAX_UPCOMING_RANGE
            fields["max_upcoming"] = check.number(
                "max_upcoming", changes["max_upcoming"], low=low, high=high, integer=True,
                required=True, label="upcoming appointments per patient")
        if "signups_per_hour" in changes:
            low, high = SIGNUPS_RANGE
            fields["signups_per_hour"] = check.number(
                "signups_per_hour", changes["signups_per_hour"], low=low, high=high,
                integer=True, required=True, label="sign-ups per hour")
        if "self_signup" in changes:
            if not isinstance(changes["self_signup"], bool):
                check.fail("self_signup", "Self sign-up must be on or off.")
            fields["self_signup"] = changes["self_signup"]
        check.done()
        with self.uow():
            current = self.store.settings.get()
            stored = int((current or {}).get("version") or 0)
            if stored != version:
                raise self._conflict(current)
            record = {k: v for k, v in effective(current).items() if k in FIELDS}
            record.update(fields)
            record.update({"updated_by": session.username, "updated_at": self.ctx.now()})
            saved = self.store.settings.save(record, version=version)
            if saved is None:
                raise self._conflict(self.store.settings.get())
            self.audit(session, "settings.update", record_type="settings", record_id="clinic",
                       detail=self._describe(fields))
            self.changed("settings", "update", "clinic", session=session)
        out = effective(saved)
        out["hours_text"] = format_hours(out["hours"])
        return out

    @staticmethod
    def _describe(fields: dict[str, Any]) -> str:
        parts = []
        for key, value in fields.items():
            parts.append(f"hours: {format_hours(value)}" if key == "hours"
                         else f"{key}: {value}")
        return "; ".join(parts)

    @staticmethod
    def _conflict(current: Mapping[str, Any] | None) -> Conflict:
        who = (current or {}).get("updated_by") or "someone else"
        when = (current or {}).get("updated_at")
        at = f" at {when:%H:%M on %d %b %Y}" if when else ""
        return Conflict(f"{who} changed the clinic settings{at} after you opened them. "
                        "Reload to see their change.", changed_by=who, changed_at=when)

    # --- doctors' working hours ---

    def _doctor(self, doctor_id: Any) -> UserRow:
        doc = self.store.users.get(ref(doctor_id, "doctor"))
        if doc is None or doc.get("role") != policy.DOCTOR:
            raise NotFound("That doctor does not exist.")
        return doc

    def doctors(self, session: Session) -> list[dict[str, Any]]:
        """Active doctors with their working hours (own, or the clinic's), for admins."""
        self.authorize(session, "settings.manage", record_type="user")
        from ..store import UserQuery

        clinic = clinic_settings(self.store)
        found = self.store.users.find(UserQuery(role=policy.DOCTOR, status="active",
                                                limit=None, count=False)).items
        out = []
        for doc in sorted(found, key=lambda d: (d.get("full_name") or d["username"]).lower()):
            hours = doctor_hours(doc, clinic)
            out.append({"id": doc["id"], "full_name": doc.get("full_name") or doc["username"],
                        "username": doc["username"],
                        "own_hours": isinstance(doc.get("working_hours"), dict),
                        "hours": hours, "hours_text": format_hours(hours)})
        return out

    def set_doctor_hours(self, session: Session, doctor_id: Any, hours: Any) -> dict[str, Any]:
        """Set a doctor's working hours (None: follow the clinic's hours)."""
        self.authorize(session, "settings.manage", record_type="user", record_id=doctor_id)
        doctor = self._doctor(doctor_id)
        fields: dict[str, Any] = {"working_hours": None}
        if hours is not None:
            check = Checker()
            fields["working_hours"] = clean_hours(check, hours)
            check.done()
        fields["updated_at"] = self.ctx.now()
        with self.uow():
            self.store.users.update(doctor["id"], fields)
            detail = ("clinic hours" if fields["working_hours"] is None
                      else format_hours(fields["working_hours"]))
            self.audit(session, "settings.doctor-hours", record_type="user",
                       record_id=doctor["id"], detail=f"{doctor['username']}: {detail}")
            self.changed("users", "update", doctor["id"], session=session)
        clinic = clinic_settings(self.store)
        updated = self._doctor(doctor["id"])
        shown = doctor_hours(updated, clinic)
        return {"id": updated["id"], "full_name": updated.get("full_name"),
                "own_hours": isinstance(updated.get("working_hours"), dict),
                "hours": shown, "hours_text": format_hours(shown),
                "user": public({k: v for k, v in updated.items() if k != "password_hash"})}


__all__ = ["SettingsService", "DEFAULTS", "DEFAULT_HOURS", "WEEKDAYS", "format_hours", "fits",
           "clinic_settings", "doctor_hours", "effective", "clean_hours"]
