"""FHIR R4 resources read back into MediTrack's shapes (pure: no store, no session).

:func:`read_source` yields the resources of a Bundle (collection, transaction, searchset),
a single-resource JSON file, a bulk NDJSON file or a folder of them; :func:`plan` groups
them by patient. Mapping one resource is :mod:`.mapping`'s.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Callable, Generator, Iterator
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote, urlsplit

from .mapping import Invalid, PatientIn, subject_of, to_patient

if TYPE_CHECKING:
    from ..store.sqlite.spool import GroupSpool

BUNDLE_TYPES = ("collection", "transaction", "searchset", "batch")
#: why a resource MediTrack could keep is not imported by this reading
NOT_IMPORTED = {
    "Practitioner": "doctors are imported only by a whole import (meditrack import fhir)",
}
KEPT = ("Patient", "AllergyIntolerance", "Condition", "Observation", "MedicationRequest",
        "Appointment", "DocumentReference")
#: a doctor an import matched or created: (user id, full name)
Doctor = tuple[str, str]


@dataclass
class Item:
    """One resource read, where from, and the full URL it is known by in its Bundle."""

    resource: dict[str, Any]
    origin: str
    full_url: str | None = None


@dataclass
class Refusal:
    """Something that could not be read at all (not JSON, not a resource)."""

    origin: str
    message: str
    kind: str = "?"


def read_source(path: Path) -> Iterator[Item | Refusal]:
    """The resources in a file or folder (``*.json`` and ``*.ndjson``, in name order)."""
    if path.is_dir():
        for child in sorted(path.iterdir()):
            if child.is_file() and child.suffix in (".json", ".ndjson"):
                yield from read_source(child)
        return
    if path.suffix == ".ndjson":
        with open(path, encoding="utf-8") as handle:
            for number, line in enumerate(handle, start=1):
                if line.strip():
                    yield _parse(line, f"{path.name}:{number}")
        return
    text = path.read_text(encoding="utf-8")
    first = _parse(text, path.name)
    if isinstance(first, Refusal):
        yield first
        return
    res = first.resource
    if res.get("resourceType") != "Bundle":
        yield first
        return
    if res.get("type") not in BUNDLE_TYPES:
        yield Refusal(path.name, f"a Bundle of type {res.get('type')!r} is not read; "
                                 f"give one of type {', '.join(BUNDLE_TYPES)}", "Bundle")
        return
    for n, entry in enumerate(res.get("entry") or [], start=1):
        inner = entry.get("resource") if isinstance(entry, dict) else None
        if not isinstance(inner, dict) or not isinstance(inner.get("resourceType"), str):
            yield Refusal(f"{path.name} entry {n}", "the entry holds no resource")
            continue
        yield Item(inner, f"{path.name} entry {n}", entry.get("fullUrl"))


def _parse(text: str, origin: str) -> Item | Refusal:
    try:
        value = json.loads(text)
    except ValueError:
        return Refusal(origin, "not valid JSON")
    if not isinstance(value, dict) or not isinstance(value.get("resourceType"), str):
        return Refusal(origin, "not a FHIR resource (no resourceType)")
    return Item(value, origin)


def names_of(item: Item) -> list[str]:
    """Every way a reference may name this resource."""
    res = item.resource
    out = [item.full_url] if item.full_url else []
    if isinstance(res.get("id"), str):
        out += [f"{res['resourceType']}/{res['id']}", f"urn:uuid:{res['id']}"]
    return out


def patient_of(item: Item) -> str | None:
    """The reference naming the patient this resource belongs to (None for a Patient)."""
    if item.resource.get("resourceType") == "Patient":
        return None
    return subject_of(item.resource)


@dataclass
class PatientGroup:
    """One incoming Patient with the resources about them."""

    patient: PatientIn
    origin: str
    items: list[Item] = field(default_factory=list)
    #: the doctors of the import by every name a reference may give their Practitioner
    #: (shared by every group of one import: the clinic's doctors, not its patients)
    doctors: dict[str, Doctor] = field(default_factory=dict)


@dataclass
class Tally:
    """The summary: per resource type, how many imported, matched, skipped (with reasons)
    and refused (with messages)."""

    counts: dict[str, dict[str, int]] = field(default_factory=dict)
    reasons: dict[tuple[str, str], int] = field(default_factory=dict)
    refused: list[str] = field(default_factory=list)
    #: what an administrator has to act on (a doctor's account created inactive, ...)
    notes: list[str] = field(default_factory=list)

    def count(self, kind: str, outcome: str, n: int = 1) -> None:
        row = self.counts.setdefault(kind, {"imported": 0, "matched": 0, "skipped": 0,
                                            "refused": 0})
        row[outcome] += n

    def skip(self, kind: str, reason: str, n: int = 1) -> None:
        self.count(kind, "skipped", n)
        self.reasons[(kind, reason)] = self.reasons.get((kind, reason), 0) + n

    def refuse(self, kind: str, message: str, n: int = 1) -> None:
        self.count(kind, "refused", n)
        self.refused.append(f"{kind} {message}")


def plan(source: Iterator[Item | Refusal], mrn_system: str, tally: Tally, *,
         spool_dir: Path | None = None,
         doctors: Callable[[Iterator[Item]], dict[str, Doctor]] | None = None
         ) -> Generator[PatientGroup, None, None]:
    """Group the resources read by the patient they are about, one patient at a time; what
    belongs to no readable Patient is refused or skipped in ``tally``.

    Practitioners belong to no patient: with ``doctors``, once the whole source is read
    and before the first group, it is given them (one at a time, from the spool) and
    returns the doctors they are, by every name a reference may give them; each group
    carries that map. Without it they are skipped with the reason.

    A resource may come before its Patient (bulk NDJSON files in name order put
    ``Observation.ndjson`` before ``Patient.ndjson``), so nothing is grouped until the
    whole source is read. What is read waits on disk meanwhile, not in memory: the kept
    resources go into a temporary SQLite file (in a new 0700 folder in ``spool_dir``,
    removed at the end) with an index by the patient they name, and each group is read
    back from it when its turn comes. Memory holds one resource while reading and one
    patient's resources while importing, whatever the size of the input; the cost is
    writing the kept resources once more to disk (about their size again, for the
    duration of the import) and reading them back.
    """
    from ..store.sqlite.spool import GroupSpool

    with tempfile.TemporaryDirectory(prefix=".fhir-import-", dir=spool_dir) as folder:
        spool = GroupSpool(Path(folder) / "spool.db")
        try:
            yield from _spooled(spool, source, mrn_system, tally, doctors)
        finally:
            spool.close()


def _spooled(spool: GroupSpool, source: Iterator[Item | Refusal], mrn_system: str,
             tally: Tally, doctors: Callable[[Iterator[Item]], dict[str, Doctor]] | None
             ) -> Generator[PatientGroup, None, None]:
    for got in source:
        if isinstance(got, Refusal):
            tally.refuse(got.kind, f"{got.origin}: {got.message}")
            continue
        kind = got.resource["resourceType"]
        if kind == "Patient":
            try:
                to_patient(got.resource, mrn_system)
            except Invalid as exc:
                tally.refuse(kind, f"{got.origin}: {exc.message}")
                continue
            spool.add_group(names_of(got), _text(got.resource), got.origin)
        elif kind == "Practitioner" and doctors is not None:
            spool.add_loose(kind, _text(got.resource), got.origin, got.full_url)
        elif kind not in KEPT:
            tally.skip(kind, NOT_IMPORTED.get(kind, "not kept by MediTrack"))
        else:
            spool.add_item(patient_of(got) or "", kind, _text(got.resource), got.origin,
                           got.full_url)
    for kind, origin, subject in spool.orphans():
        tally.refuse(kind, f"{origin}: its patient ({subject or 'none given'}) is not in "
                           "the import")
    known: dict[str, Doctor] = {}
    if doctors is not None:
        known = doctors(Item(json.loads(text), origin, url)
                        for _, text, origin, url in spool.loose("Practitioner"))
    for patient, origin, items in spool.groups():
        group = PatientGroup(to_patient(json.loads(patient), mrn_system), origin,
                             doctors=known)
        group.items = [Item(json.loads(text), item_origin, url)
                       for _, text, item_origin, url in items]
        yield group


def _text(resource: dict[str, Any]) -> str:
    return json.dumps(resource, ensure_ascii=False, separators=(",", ":"))


def attachment_file(url: str, folder: Path, max_bytes: int) -> tuple[str, bytes]:
    """The content of a report file an attachment refers to by ``file:`` URL, read ONLY
    from inside ``folder`` (the folder being imported): a path with ``..``, a path that
    leads elsewhere (a link included) or a file on another machine is refused with
    :class:`Invalid`; a web address is skipped. Export folders move (copied to another
    server): an absolute path outside ``folder`` is also looked for by its last two parts
    (``files/<name>``, ``<stem>-files/<name>``) and its name inside ``folder``. The file
    is read as an upload is (a plain file, no link, within the size limit)."""
    from ..errors import ValidationError
    from ..files import Folder, read_file
    from .mapping import Skip

    parts = urlsplit(url)
    if parts.scheme != "file":
        raise Skip("report files at a web address are not fetched (only files embedded in "
                   "the import or in the folder being imported are read)")
    if parts.netloc not in ("", "localhost"):
        raise Invalid(f"the file {url} is on another machine ({parts.netloc}); only files "
                      "in the folder being imported are read")
    raw = unquote(parts.path)
    outside = Invalid(f"the file {raw} is not inside the folder being imported ({folder}); "
                      "only files there are read")
    given = PurePosixPath(raw)
    if ".." in given.parts or "\x00" in raw or not given.name:
        raise outside
    base = Path(os.path.realpath(folder))
    if given.is_absolute():
        candidates = [Path(given), base.joinpath(*given.parts[-2:]), base / given.name]
    else:
        candidates = [base / given]
    for candidate in candidates:
        real = Path(os.path.realpath(candidate))
        if real != base and real.is_relative_to(base) and real.exists():
            try:
                return read_file(Folder("import", "the folder being imported", real.parent),
                                 real.name, max_bytes)
            except ValidationError as exc:
                raise Invalid(exc.fields.get("file") or exc.message) from None
    raise outside
