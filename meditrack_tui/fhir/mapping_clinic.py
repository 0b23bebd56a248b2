"""Practitioner, Appointment and DocumentReference mapped to what MediTrack keeps: the
resources that tie a record to the clinic (its doctors, their appointments, report
files). As in :mod:`.mapping`, :class:`Skip` for what MediTrack does not keep and
:class:`Invalid` for a malformed resource; the store-side matching is the FHIR
service's."""

from __future__ import annotations

import base64
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from . import codes
from .mapping import Invalid, Skip, local_time, reference, words


def identifiers(res: Mapping[str, Any]) -> list[str]:
    """A resource's identifiers as ``system|value`` (how MediTrack keeps them)."""
    return sorted({f"{i.get('system') or ''}|{i['value'].strip()}"
                   for i in res.get("identifier") or []
                   if isinstance(i, dict) and isinstance(i.get("value"), str)
                   and i["value"].strip()})


@dataclass
class PractitionerIn:
    """A Practitioner: the doctor's name, the MediTrack username this clinic's export
    wrote (None: from elsewhere) and the other identifiers (``system|value``)."""

    full_name: str
    username: str | None
    identifiers: list[str] = field(default_factory=list)


def to_practitioner(res: Mapping[str, Any], mrn_system: str) -> PractitionerIn:
    names = [n for n in res.get("name") or [] if isinstance(n, dict)]
    name = next((n for n in names if n.get("use") == "official"), names[0] if names else {})
    text = name.get("text") if isinstance(name.get("text"), str) else None
    if not text:
        parts = [*(p for p in name.get("prefix") or [] if isinstance(p, str)),
                 *(g for g in name.get("given") or [] if isinstance(g, str)),
                 *([name["family"]] if isinstance(name.get("family"), str) else [])]
        text = " ".join(parts)
    full = " ".join(str(text).split())[:100]
    if not full:
        raise Invalid("a Practitioner without a name cannot become a doctor's account")
    ours = mrn_system + codes.USERNAME_SUFFIX
    username = next((i["value"].strip() for i in res.get("identifier") or []
                     if isinstance(i, dict) and i.get("system") == ours
                     and isinstance(i.get("value"), str) and i["value"].strip()), None)
    others = [i for i in identifiers(res) if not i.startswith(ours + "|")]
    return PractitionerIn(full, username, others)


@dataclass
class AppointmentIn:
    """An Appointment as MediTrack keeps one; the doctor is resolved by the service from
    ``doctor_refs`` (references) or ``doctor_identifiers`` (``system|value``)."""

    status: str
    start: datetime
    end: datetime
    reason: str
    created: datetime | None
    identifiers: list[str]
    doctor_refs: list[str]
    doctor_identifiers: list[str]
    doctor_display: str | None


def to_appointment(res: Mapping[str, Any], patient_ref: str | None) -> AppointmentIn:
    status = res.get("status")
    if not isinstance(status, str) or not status:
        raise Invalid("an Appointment without a status")
    mine = codes.APPOINTMENT_STATUS_BACK.get(status)
    if mine is None:
        raise Skip(f"status {status!r} is not one MediTrack keeps (it keeps "
                   + ", ".join(sorted(codes.APPOINTMENT_STATUS_BACK)) + ")")
    start = local_time(res.get("start"), "the start")
    if res.get("end") is not None:
        end = local_time(res.get("end"), "the end")
    elif isinstance(res.get("minutesDuration"), int) and res["minutesDuration"] > 0:
        end = start + timedelta(minutes=res["minutesDuration"])
    else:
        raise Invalid("an Appointment without an end or a duration")
    if not start < end <= start + timedelta(days=1):
        raise Invalid(f"an Appointment ending {end:%Y-%m-%d %H:%M}, not within a day after "
                      f"its start {start:%Y-%m-%d %H:%M}")
    reason = res.get("description") if isinstance(res.get("description"), str) else None
    if not (reason and reason.strip()):
        reason = next((w for w in (words(c) for c in res.get("reasonCode") or []) if w),
                      None) or words(next(iter(res.get("serviceType") or []), None))
    comment = res.get("comment") if isinstance(res.get("comment"), str) else None
    text = "; ".join(t.strip() for t in (reason, comment) if t and t.strip())
    refs: list[str] = []
    idents: list[str] = []
    display = None
    for participant in res.get("participant") or []:
        actor = participant.get("actor") if isinstance(participant, dict) else None
        if not isinstance(actor, dict):
            continue
        found = reference(actor)
        if found == patient_ref or (found and "Patient/" in found) \
                or actor.get("type") == "Patient":
            continue
        if found and not any(k in found for k in ("Location/", "Device/", "HealthcareService/",
                                                  "RelatedPerson/")):
            refs.append(found)
        ident = actor.get("identifier")
        if isinstance(ident, dict) and isinstance(ident.get("value"), str):
            idents.append(f"{ident.get('system') or ''}|{ident['value'].strip()}")
        if isinstance(actor.get("display"), str) and not display:
            display = actor["display"]
    created = local_time(res["created"], "the time created") if res.get("created") else None
    return AppointmentIn(mine, start, end, (text or "Imported appointment")[:200], created,
                         identifiers(res), refs, idents, display)


@dataclass
class DocumentIn:
    """A DocumentReference's first attachment and what MediTrack keeps of it."""

    kind: str
    filename: str | None
    content_type: str | None
    data: bytes | None
    url: str | None
    sha1: bytes | None
    note: str | None
    uploaded_at: datetime | None
    identifiers: list[str]


def to_document(res: Mapping[str, Any], kinds: tuple[str, ...]) -> DocumentIn:
    status = res.get("status")
    if status not in (None, "current"):
        raise Skip(f"status {status}")
    attachment = next((c.get("attachment") for c in res.get("content") or []
                       if isinstance(c, dict) and isinstance(c.get("attachment"), dict)), None)
    if attachment is None:
        raise Invalid("a DocumentReference without an attachment")
    data = url = sha1 = None
    if isinstance(attachment.get("data"), str):
        try:
            data = base64.b64decode(attachment["data"], validate=True)
        except ValueError:
            raise Invalid("its attachment's data is not base64") from None
    elif isinstance(attachment.get("url"), str):
        url = attachment["url"]
    else:
        raise Invalid("a DocumentReference whose attachment has neither data nor a url")
    if isinstance(attachment.get("hash"), str):
        try:
            sha1 = base64.b64decode(attachment["hash"], validate=True)
        except ValueError:
            raise Invalid("its attachment's hash is not base64") from None
    described = words(res.get("type")) or ""
    kind = described.lower() if described.lower() in kinds else "other"
    note = res.get("description") if isinstance(res.get("description"), str) else None
    if described and kind != described.lower():
        note = "; ".join(t for t in (note, f"type: {described}") if t)
    when = res.get("date") or attachment.get("creation")
    title = attachment.get("title") if isinstance(attachment.get("title"), str) else None
    content_type = attachment.get("contentType")
    return DocumentIn(kind, title, content_type if isinstance(content_type, str) else None,
                      data, url, sha1, note[:500] if note else None,
                      local_time(when, "the document's date") if when else None,
                      identifiers(res))
