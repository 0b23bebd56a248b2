"""The drug-class table (kept as data in ``data/drug_classes.json``) and allergy matching."""

from __future__ import annotations

import json
import re
from functools import lru_cache
from importlib import resources
from typing import Any


@lru_cache(maxsize=1)
def drug_classes() -> dict[str, dict[str, Any]]:
    """The classes: key -> {label, members (generic names), brands, aliases (class words)}."""
    text = resources.files("meditrack_tui").joinpath("data/drug_classes.json").read_text("utf-8")
    classes: dict[str, dict[str, Any]] = json.loads(text)["classes"]
    return classes


def _norm(text: str) -> str:
    return " ".join(re.sub(r"[^a-z0-9\- ]", " ", text.lower()).split())


def classes_of(name: str) -> set[str]:
    """The classes a drug (or an allergy word naming a drug or a class) belongs to."""
    word = _norm(name)
    found = set()
    for key, cls in drug_classes().items():
        names = [_norm(m) for m in cls.get("members", []) + cls.get("brands", [])]
        aliases = [_norm(a) for a in cls.get("aliases", [])]
        aliases += [_norm(key), _norm(cls.get("label", ""))]
        if word in names or word in aliases:
            found.add(key)
            continue
        # "amoxicillin 500 mg" or "amoxicillin-clavulanate" still names a member
        if any(word.startswith(m + " ") or word.startswith(m + "-") for m in names if m):
            found.add(key)
    return found


def allergy_conflict(drug: str, allergies: list[str]) -> tuple[str, str] | None:
    """(allergy, reason) when the drug is an allergen itself or shares a class with one."""
    drug_n = _norm(drug)
    drug_classes_set = classes_of(drug)
    table = drug_classes()
    for allergy in allergies:
        allergy_n = _norm(allergy)
        if not allergy_n:
            continue
        if drug_n == allergy_n or drug_n.startswith(allergy_n + " ") \
                or drug_n.startswith(allergy_n + "-"):
            return allergy, f"the patient is recorded as allergic to {allergy}"
        shared = drug_classes_set & classes_of(allergy)
        if shared:
            label = table[sorted(shared)[0]].get("label", sorted(shared)[0])
            return allergy, (f"the patient is allergic to {allergy}, and {drug} is in the same "
                             f"class ({label})")
    return None
