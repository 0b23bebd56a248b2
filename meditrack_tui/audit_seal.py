"""Sealing audit entries: an entry's canonical bytes and the chain's HMAC key (see
audit_chain.py for the chain, its fields and how a trail is verified). No Textual, no
database driver: a store asks an :class:`AuditSeal` for the seals of what it appends."""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Mapping
from datetime import date, datetime
from functools import lru_cache
from typing import Any, Protocol

#: the ``prev`` of the first entry of a chain
GENESIS = "0" * 64
#: fields of an entry that belong to the chain, not to its content
CHAIN_FIELDS = frozenset({"seq", "prev", "hash"})
_KEY_LABEL = b"meditrack audit chain v1"


def _time(value: datetime) -> str:
    if value.tzinfo is not None:
        raise ValueError("audit times are naive")
    return value.replace(microsecond=value.microsecond // 1000 * 1000).isoformat(
        timespec="milliseconds")


def _default(value: Any) -> Any:
    """What JSON has no form for: datetimes as ISO text to the millisecond (as both stores
    keep them), dates as ISO dates."""
    if isinstance(value, datetime):
        return _time(value)
    if isinstance(value, date):
        return value.isoformat()
    raise TypeError(f"an audit entry cannot hold a {type(value).__name__}")


def _plain(value: Any) -> Any:
    """A nested value with None dropped from its mappings (a missing field and a null one
    mean the same) and tuples as lists."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items() if v is not None}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


_encode = json.JSONEncoder(sort_keys=True, ensure_ascii=False, separators=(",", ":"),
                           allow_nan=False, default=_default).encode


def canonical(entry: Mapping[str, Any]) -> bytes:
    """An entry's content as stable bytes: sorted-key compact JSON of every field but the
    chain fields (the id included; None fields left out), datetimes as ISO text."""
    content = {k: _plain(v) if isinstance(v, (dict, list, tuple)) else v
               for k, v in entry.items() if v is not None and k not in CHAIN_FIELDS}
    return _encode(content).encode("utf-8")


class AuditSeal(Protocol):
    """What a store needs to seal what it appends (the key stays with the service)."""

    def seal(self, entry: Mapping[str, Any], seq: int, prev: str) -> str: ...

    def seal_head(self, seq: int, hash_: str) -> str: ...


class AuditKey:
    """The chain's HMAC key, derived from the signing secret."""

    def __init__(self, secret: str | bytes) -> None:
        raw = secret.encode("utf-8") if isinstance(secret, str) else secret
        if not raw:
            raise ValueError("the audit key needs a non-empty secret")
        self._key = hmac.new(raw, _KEY_LABEL, hashlib.sha256).digest()

    def seal(self, entry: Mapping[str, Any], seq: int, prev: str) -> str:
        """The ``hash`` of ``entry`` at place ``seq`` after the entry whose hash is ``prev``."""
        mac = hmac.new(self._key, f"{int(seq)}\n{prev}\n".encode("ascii"), hashlib.sha256)
        mac.update(canonical(entry))
        return mac.hexdigest()

    def seal_head(self, seq: int, hash_: str) -> str:
        """The seal of the head record saying the newest entry is ``seq`` with ``hash_``."""
        return hmac.new(self._key, f"head\n{int(seq)}\n{hash_}".encode("ascii"),
                        hashlib.sha256).hexdigest()

    def check(self, entry: Mapping[str, Any]) -> bool:
        """Whether a stored entry's hash is the seal of its content, place and link."""
        stored = entry.get("hash")
        seq, prev = entry.get("seq"), entry.get("prev")
        if not isinstance(stored, str) or not isinstance(seq, int) or not isinstance(prev, str):
            return False
        try:
            expected = self.seal(entry, seq, prev)
        except (TypeError, ValueError):  # content that cannot be serialised: not ours
            return False
        return hmac.compare_digest(expected, stored)

    def check_head(self, head: Mapping[str, Any]) -> bool:
        seq, hash_, seal = head.get("seq"), head.get("hash"), head.get("seal")
        if not isinstance(seq, int) or not isinstance(hash_, str) or not isinstance(seal, str):
            return False
        return hmac.compare_digest(self.seal_head(seq, hash_), seal)


@lru_cache(maxsize=8)
def key_for(secret: str) -> AuditKey:
    """The audit key for a signing secret (derived once per process)."""
    return AuditKey(secret)
