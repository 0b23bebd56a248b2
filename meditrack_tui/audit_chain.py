"""The tamper-evident audit chain: how an entry is sealed, and how a trail is verified.

Every audit entry the app writes carries three chain fields besides its content:

- ``seq``: its place in the chain, 1, 2, 3, ... without gaps (unique in the store);
- ``prev``: the ``hash`` of the entry before it (:data:`GENESIS` for the first);
- ``hash``: ``HMAC-SHA256(key, "<seq>\\n<prev>\\n" + canonical(entry))``.

The key is derived from the signing secret (``Config.signing_secret()``) and never
stored in the database, so someone who can write to the database but does not hold the
secret cannot make a changed, forged or removed entry look right. The store also keeps
a *head* record: the newest entry's ``seq`` and ``hash`` with a seal of their own
(:meth:`AuditKey.seal_head`), so entries cut off the end of the trail show as removed.

The sequence number is sealed too (not only the content and the link): an entry moved
to another place in the chain then shows as edited rather than as an odd gap.

This module is the core of it: no Textual, no database driver. A store appends through
``AuditRepo.append(entry, key)`` (it numbers and links the entry inside the unit of work
and asks the key for the seal: audit_seal.py, whose names are importable from here too);
:func:`verify` reads a trail through ``AuditRepo.chain`` in batches and names what does
not fit.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from .audit_seal import CHAIN_FIELDS, GENESIS, AuditKey, AuditSeal, canonical, key_for

#: how many problems verify lists before it only counts them
MAX_LISTED = 1000


# --- verification ---

EDITED = "EDITED"
REMOVED = "REMOVED"
INSERTED = "INSERTED"
CHECKPOINT_HEX = 24  # hash characters a checkpoint keeps (96 bits: not guessable)


@dataclass(frozen=True)
class Problem:
    """One thing that does not fit: ``kind`` is EDITED, REMOVED or INSERTED; ``seq`` the
    place in the chain (None for an unsealed entry), ``seq_to`` the end of a removed run;
    ``entry`` the stored entry (None when it is gone)."""

    kind: str
    seq: int | None
    reason: str
    entry: Mapping[str, Any] | None = None
    seq_to: int | None = None

    def describe(self) -> str:
        """One line a person can act on."""
        if self.entry is None:
            if self.seq is None:
                where = "the chain's head record"
            elif self.seq_to is not None and self.seq_to != self.seq:
                where = f"entries seq {self.seq}..{self.seq_to}"
            else:
                where = f"entry seq {self.seq}"
            return f"{where} {self.kind}: {self.reason}"
        e = self.entry
        ts = e.get("ts")
        when = ts.isoformat(sep=" ", timespec="seconds") if isinstance(ts, datetime) else ts
        place = f"seq {self.seq}" if self.seq is not None else "without seq"
        return (f"entry {place} (id {e.get('id')}, {when}, user {e.get('username')}, "
                f"action {e.get('action')}) {self.kind}: {self.reason}")


@dataclass
class Report:
    """What :func:`verify` found."""

    entries: int = 0                  # sealed entries read
    first_seq: int | None = None
    last_seq: int | None = None       # the chain's end (the head's when it is sound)
    predating: int = 0                # unsealed entries written before the chain began
    problems: list[Problem] = field(default_factory=list)
    unlisted: int = 0                 # problems beyond MAX_LISTED, counted only
    last_hash: str | None = None      # the hash of the chain's last genuine entry

    @property
    def checkpoint(self) -> str | None:
        """'<seq>:<hash prefix>' of the chain's end: kept outside the database (printed,
        mailed, written down), it lets a later ``verify --since`` tell a trail that was
        cut back to before it, even with an old copy of the head record put back."""
        if self.last_seq is None or self.last_hash is None:
            return None
        return f"{self.last_seq}:{self.last_hash[:CHECKPOINT_HEX]}"

    @property
    def intact(self) -> bool:
        return not self.problems and not self.unlisted

    def add(self, problem: Problem) -> None:
        if len(self.problems) < MAX_LISTED:
            self.problems.append(problem)
        else:
            self.unlisted += 1

    def summary(self) -> str:
        """The one-line verdict."""
        older = (f"; {self.predating} older entries predate the chain and are not sealed"
                 if self.predating else "")
        if self.intact:
            chain = (f"chain {self.first_seq}..{self.last_seq}" if self.entries
                     else "no sealed entries yet")
            return f"audit trail intact: {self.entries} entries, {chain}{older}"
        count = len(self.problems) + self.unlisted
        return (f"audit trail NOT intact: {count} problem{'s' if count != 1 else ''} in "
                f"{self.entries} sealed entries{older}")

    def lines(self) -> list[str]:
        """The summary, then one line per problem (or, when intact, the checkpoint)."""
        out = [self.summary(), *(p.describe() for p in self.problems)]
        if self.intact and self.checkpoint:
            out.append(f"checkpoint: {self.checkpoint} (keep it away from this server; "
                       f"'meditrack audit verify --since {self.checkpoint}' later also "
                       "catches a trail cut back to before it)")
        if self.unlisted:
            out.append(f"... and {self.unlisted} more problems not listed")
        return out


class ChainSource(Protocol):
    """The reads verify needs (``AuditRepo`` provides them)."""

    def chain(self, after: tuple[int, str] | None, limit: int
              ) -> Sequence[Mapping[str, Any]]: ...

    def head(self) -> Mapping[str, Any] | None: ...

    def unsealed(self, after: datetime | None, limit: int
                 ) -> tuple[int, int, Sequence[Mapping[str, Any]]]: ...


def _entries(source: ChainSource, batch: int) -> Iterator[Mapping[str, Any]]:
    """Every sealed entry in (seq, id) order, read ``batch`` at a time."""
    after: tuple[int, str] | None = None
    while True:
        rows = source.chain(after, batch)
        yield from rows
        if len(rows) < batch:
            return
        after = (rows[-1]["seq"], rows[-1]["id"])


def _groups(entries: Iterable[Mapping[str, Any]]) -> Iterator[list[Mapping[str, Any]]]:
    """Consecutive entries of one seq together (more than one only when forged)."""
    group: list[Mapping[str, Any]] = []
    for entry in entries:
        if group and entry["seq"] != group[0]["seq"]:
            yield group
            group = []
        group.append(entry)
    if group:
        yield group


def parse_checkpoint(text: str) -> tuple[int, str]:
    """'<seq>:<hash prefix>' as printed by verify; ValueError when it is not one."""
    seq, sep, digest = text.strip().partition(":")
    if not sep or not seq.isdigit() or int(seq) < 1 or len(digest) < 16 or any(
            ch not in "0123456789abcdef" for ch in digest):
        raise ValueError(f"{text!r} is not a checkpoint (it looks like 1234:0f3a…, as "
                         "'meditrack audit verify' prints it)")
    return int(seq), digest


def verify(source: ChainSource, key: AuditKey, *, batch: int = 1000,
           since: tuple[int, str] | None = None) -> Report:
    """Check a whole trail against its seals, links, numbering and head record.

    Reads the sealed entries in ``seq`` order, ``batch`` at a time (never the whole trail
    in memory), and reports:

    - EDITED: an entry whose hash is not the seal of its content, though the entry after
      it (or the head record) still links to its stored hash: its content was changed in
      place. Also a head record whose own seal does not hold.
    - REMOVED: places in the numbering with no entry (a gap, or entries missing at the
      end per the head record), a genuine entry whose link names a hash the entry before
      it does not have, or a missing head record while sealed entries exist.
    - INSERTED: an entry whose hash is not the seal of its content and which nothing links
      to (forged, or an original rewritten with a new hash), a second entry at one
      ``seq``, or an entry without a seal dated after the chain's first entry.

    Entries without a seal dated no later than the chain's first one were written before
    the chain existed (an older MediTrack): they are counted, not checked.

    ``since`` is a checkpoint an earlier run printed (:meth:`Report.checkpoint`): the
    genuine entry at that place must still be there with that hash, or the trail was cut
    back (REMOVED) or rewritten (EDITED) behind the app's back.

    What it cannot detect: anyone holding the key (the signing secret) and write access to
    the database can rewrite the whole trail and its head consistently; entries cut off
    the end together with the head put back from an older copy of the database look like
    a trail that ended there; entries from before the chain existed can be changed or
    removed freely; a whole trail removed together with its head looks like a store that
    never had one.
    """
    report = Report()
    head = source.head()
    head_ok = head is not None and key.check_head(head)
    if head is not None and not head_ok:
        report.add(Problem(EDITED, None, "its seal does not match: the record of where the "
                           "chain ends was changed, so removed entries at the end may go "
                           "unnoticed"))
    found_since = False
    expected = 1              # the next place the chain should fill
    before: list[Mapping[str, Any]] = []   # the previous group's entries that hold their place
    first_ts: datetime | None = None
    pending: list[Mapping[str, Any]] | None = None

    def place(group: list[Mapping[str, Any]], following: list[Mapping[str, Any]] | None) -> None:
        nonlocal expected, before, first_ts, found_since
        seq = group[0]["seq"]
        links = {e.get("prev") for e in following or () if e["seq"] == seq + 1}
        holding: list[Mapping[str, Any]] = []
        genuine_ids: set[int] = set()
        for entry in group:
            report.entries += 1
            if first_ts is None and isinstance(entry.get("ts"), datetime):
                first_ts = entry["ts"]
            genuine = key.check(entry)
            if genuine:
                genuine_ids.add(id(entry))
            linked = entry.get("hash") in links or (
                head_ok and head is not None and head["seq"] == seq
                and head["hash"] == entry.get("hash"))
            if genuine:
                holding.append(entry)
            elif linked and not holding:
                holding.append(entry)
                report.add(Problem(EDITED, seq, "its content does not match its seal "
                                   "(changed after it was written)", entry))
            else:
                report.add(Problem(INSERTED, seq, "it is not sealed by this trail's key and "
                                   "no entry links to it (added behind the app's back)"
                                   if not genuine else "a second entry at this place", entry))
        if len(holding) > 1:  # two sealed entries at one place: the first holds it
            for extra in holding[1:]:
                report.add(Problem(INSERTED, seq, "a second entry at this place", extra))
            holding = holding[:1]
        if not holding:
            return
        entry = holding[0]
        if id(entry) in genuine_ids:
            report.last_hash = entry.get("hash")
            if since is not None and seq == since[0]:
                found_since = str(entry.get("hash", "")).startswith(since[1])
                if not found_since:
                    report.add(Problem(EDITED, seq, "it is not the entry the checkpoint "
                                       "names: the trail was rewritten from there", entry))
        if seq > expected:
            report.add(Problem(REMOVED, expected, "missing from the numbering", None,
                               seq - 1))
        elif seq == expected and id(entry) in genuine_ids:
            want = GENESIS if seq == 1 else None
            if want is None and before:
                want = before[0].get("hash")
            if want is not None and entry.get("prev") != want:
                report.add(Problem(REMOVED, seq, "it links to an entry that is not the one "
                                   "before it (that entry was replaced or removed)", entry))
        if seq >= expected:
            expected = seq + 1
        before = holding

    def placed(entries: Iterable[Mapping[str, Any]]) -> Iterator[Mapping[str, Any]]:
        for entry in entries:  # a place that is no positive whole number: not the app's
            seq = entry.get("seq")
            if isinstance(seq, int) and not isinstance(seq, bool) and seq > 0:
                yield entry
            else:
                report.entries += 1
                report.add(Problem(INSERTED, None, "its place in the chain is not a valid "
                                   "number (added behind the app's back)", entry))

    for group in _groups(placed(_entries(source, batch))):
        if pending is not None:
            place(pending, group)
        pending = group
    if pending is not None:
        place(pending, None)
    if report.entries:
        report.first_seq = 1
        report.last_seq = expected - 1
    if head_ok and head is not None:
        if head["seq"] >= expected:
            report.add(Problem(REMOVED, expected, "missing at the end of the chain (the "
                               "head record says it ends at "
                               f"{head['seq']})", None, head["seq"]))
            report.last_seq = head["seq"]
    elif head is None and report.entries:
        report.add(Problem(REMOVED, None, "the chain's head record is missing, so entries "
                           "removed from the end cannot be told"))
    if since is not None and not found_since and (report.last_seq or 0) < since[0]:
        report.add(Problem(REMOVED, (report.last_seq or 0) + 1, "the trail ends before the "
                           f"checkpoint (seq {since[0]}): entries were cut off the end and "
                           "the record of where it ends was put back from an older copy",
                           None, since[0]))
    total, after, listed = source.unsealed(first_ts, MAX_LISTED)
    for entry in listed:
        report.add(Problem(INSERTED, None, "it has no seal but is dated after the chain "
                           "began", entry))
    report.unlisted += max(0, after - len(listed))
    report.predating = total - after
    return report


__all__ = ["GENESIS", "CHAIN_FIELDS", "AuditKey", "AuditSeal", "canonical", "key_for",
           "EDITED", "REMOVED", "INSERTED", "CHECKPOINT_HEX", "MAX_LISTED", "Problem", "Report",
           "ChainSource", "parse_checkpoint", "verify"]
