"""The compact in-memory query index gives exactly the candidates litemongo's own index gives,
at a fraction of the memory."""

from __future__ import annotations

import random
import sys
import tracemalloc
from datetime import datetime

from bson import ObjectId
from litemongo._vendor.mongomock import indexing

from meditrack_tui.db import compact_index
from meditrack_tui.db.compact_index import CompactFieldIndex

# litemongo's own class, kept by the module in case install() already ran in this process
ORIGINAL = indexing.FieldIndex if indexing.FieldIndex is not CompactFieldIndex else None


def original_class():
    if ORIGINAL is not None:
        return ORIGINAL
    # install() ran before this module was imported: reload a pristine copy of the module
    import importlib.util

    spec = importlib.util.find_spec(indexing.__name__)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.FieldIndex


VALUES = [None, 1, 1.0, 2, True, "a", "b", "", ObjectId(), ObjectId(), datetime(2026, 1, 1),
          [1, 2], ["a", "a"], [], [None], {"x": 1}, [{"x": 1}], float("nan"), object()]


def random_doc(rng: random.Random) -> dict:
    doc: dict = {}
    if rng.random() < 0.9:
        doc["f"] = rng.choice(VALUES)
    if rng.random() < 0.3:
        doc["g"] = {"f": rng.choice(VALUES)}
    return doc


def test_same_candidates_as_litemongo_under_random_adds_and_removes():
    compact_index.install()
    Original = original_class()
    rng = random.Random(5)
    for path in ("f", "g.f"):
        ours, theirs = CompactFieldIndex(path), Original(path)
        present: set[str] = set()
        for step in range(4000):
            key = f"o:{rng.randrange(300)}"
            if key in present and rng.random() < 0.4:
                ours.remove(key)
                theirs.remove(key)
                present.discard(key)
            else:
                if key in present:  # a replace: litemongo removes the old keys first
                    ours.remove(key)
                    theirs.remove(key)
                doc = random_doc(rng)
                ours.add(key, doc)
                theirs.add(key, doc)
                present.add(key)
            if step % 50 == 0:
                for value in VALUES[1:12]:
                    keys = indexing.query_keys(value)
                    if keys is None:
                        continue
                    assert ours.candidates(keys) == theirs.candidates(keys), (path, value)
        ours.remove("never-added")  # a no-op, as in litemongo


def test_equal_keys_are_shared_and_single_entries_unboxed():
    compact_index.install()
    index = CompactFieldIndex("day")
    for n in range(100):
        index.add(f"k{n}", {"day": "2026-11-27" if n % 2 else "2026-11-28"})
    held = {id(k) for k in index._doc_keys.values()}
    assert len(held) == 2  # 100 documents, two key objects
    index.add("unique", {"day": "2027-01-01"})
    assert index._entries[("s", "2027-01-01")] == "unique"  # not a one-element set
    assert index.candidates([("s", "2027-01-01")]) == {"unique"}


def test_it_takes_well_under_half_the_memory():
    compact_index.install()
    Original = original_class()
    docs = [(f"o:{n:024x}", {"_id": ObjectId(), "patient_id": ObjectId(), "day": f"2026-01-{n % 28:02d}"})
            for n in range(5000)]

    def size(cls) -> int:
        tracemalloc.start()
        before = tracemalloc.get_traced_memory()[0]
        indexes = [cls(path) for path in ("_id", "patient_id", "day")]
        for key, doc in docs:
            for index in indexes:
                index.add(key, doc)
        used = tracemalloc.get_traced_memory()[0] - before
        tracemalloc.stop()
        del indexes
        return used

    theirs, ours = size(Original), size(CompactFieldIndex)
    print(f"litemongo {theirs / 1e6:.1f} MB, compact {ours / 1e6:.1f} MB", file=sys.stderr)
    assert ours < theirs * 0.45


def test_the_embedded_store_uses_it(tmp_path):
    from meditrack_tui.config import Config
    from meditrack_tui.db.store import connect

    store = connect(Config(data_dir=tmp_path))
    try:
        store.db.patients.insert_one({"mrn": "MRN-1", "archived": False})
        assert store.db.patients.find_one({"mrn": "MRN-1"})["mrn"] == "MRN-1"
        query_index = store.raw_db.patients._store._query_index
        assert all(type(f) is CompactFieldIndex for f in query_index._fields.values())
    finally:
        store.close()
