"""A smaller in-memory query index for the embedded store.

litemongo (the embedded store) answers equality queries with in-process hash indexes,
one ``FieldIndex`` per indexed field path plus one on ``_id``, built on a collection's
first query. Its ``FieldIndex`` keeps, for every document, a Python ``set`` of that
document's index keys and, for every key, a ``set`` of the documents that have it. Most
documents have exactly one key per field and most keys of unique fields exactly one
document, so those sets (216 bytes each when empty) dominate: about 0.6 KB per document
per field, 71 MB for a 10,000-patient clinic.

:class:`CompactFieldIndex` is a drop-in replacement with the same behaviour that stores
the common cases unboxed: a document's single key as the key itself, a key's single
document as the document's store key, and a key seen before as the object already held
(so 19,000 appointments on 700 days hold 700 day keys, not 19,000). :func:`install`
puts it in place of litemongo's class; litemongo builds its indexes through the module
attribute, so every index built afterwards is compact.
"""

from __future__ import annotations

from typing import Any, Hashable, Iterable

_ABSENT = object()
_keys_of: Any = None  # litemongo's key extraction (indexing._doc_keys), bound by install()


class _Many(set):
    """The store keys of the documents that share one index key, and that key."""

    __slots__ = ("key",)


class _KeySet(frozenset):
    """A document's index keys when it has several (an array field)."""

    __slots__ = ()


class CompactFieldIndex:
    """A hash index on one field path (same interface and results as litemongo's FieldIndex).

    ``_entries``: index key -> a store key, or a :class:`_Many` of store keys.
    ``_doc_keys``: store key -> its index key (a tuple), a :class:`_KeySet` of keys, or
    ``None`` when the document can't be keyed (it is then in ``_unkeyed`` and a candidate
    for every query). Documents without a value at the path are not recorded at all: they
    can only match ``None``, which is never planned with an index.
    """

    __slots__ = ("_doc_keys", "_entries", "_unkeyed", "path")

    def __init__(self, path: str) -> None:
        self.path = path
        self._entries: dict[Hashable, Any] = {}
        self._unkeyed: set[Hashable] = set()
        self._doc_keys: dict[Hashable, Any] = {}

    def add(self, store_key: Hashable, doc: dict) -> None:
        keys = _keys_of(doc, self.path)
        if keys is None:
            self._unkeyed.add(store_key)
            self._doc_keys[store_key] = None
            return
        if not keys:
            return
        entries = self._entries
        held_keys = []
        for key in keys:
            held = entries.get(key, _ABSENT)
            if held is _ABSENT:
                entries[key] = store_key
            elif type(held) is _Many:
                held.add(store_key)
                key = held.key
            elif held != store_key:
                key = self._canonical(held, key)
                many = _Many((held, store_key))
                many.key = key
                entries[key] = many
            held_keys.append(key)
        self._doc_keys[store_key] = held_keys[0] if len(held_keys) == 1 else _KeySet(held_keys)

    def _canonical(self, other_store_key: Hashable, key: Hashable) -> Hashable:
        """The key object another document already holds for ``key`` (shared, not copied)."""
        other = self._doc_keys.get(other_store_key)
        if type(other) is _KeySet:
            for candidate in other:
                if candidate == key:
                    return candidate
            return key
        return other if other is not None and other == key else key

    def remove(self, store_key: Hashable) -> None:
        try:
            held_keys = self._doc_keys.pop(store_key)
        except KeyError:
            return
        if held_keys is None:
            self._unkeyed.discard(store_key)
            return
        entries = self._entries
        for key in (held_keys if type(held_keys) is _KeySet else (held_keys,)):
            held = entries.get(key, _ABSENT)
            if held is _ABSENT:
                continue
            if type(held) is _Many:
                held.discard(store_key)
                if len(held) == 1:
                    entries[key] = next(iter(held))
                elif not held:
                    del entries[key]
            elif held == store_key:
                del entries[key]

    def candidates(self, keys: Iterable[Hashable]) -> set[Hashable]:
        found = set(self._unkeyed)
        entries = self._entries
        for key in keys:
            held = entries.get(key, _ABSENT)
            if held is _ABSENT:
                continue
            if type(held) is _Many:
                found.update(held)
            else:
                found.add(held)
        return found


def install() -> bool:
    """Make litemongo build compact indexes from now on. Returns False (and changes
    nothing) if this litemongo's index module is not the one this was written for."""
    try:
        from litemongo._vendor.mongomock import indexing
    except ImportError:  # pragma: no cover - another litemongo layout
        return False
    current = getattr(indexing, "FieldIndex", None)
    if current is CompactFieldIndex:
        return True
    needed = ("add", "remove", "candidates")
    if (current is None or not all(hasattr(current, name) for name in needed)
            or not hasattr(indexing, "_doc_keys") or not hasattr(indexing, "CollectionIndexes")):
        return False  # pragma: no cover - a litemongo this was not written for
    global _keys_of
    _keys_of = indexing._doc_keys
    indexing.FieldIndex = CompactFieldIndex
    return True


__all__ = ["CompactFieldIndex", "install"]
