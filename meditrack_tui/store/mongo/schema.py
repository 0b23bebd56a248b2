"""The MongoDB store's indexes and schema version, both checked at every open.

``ensure_indexes`` creates every index idempotently (replacing one an older version left
with other options); ``check_schema`` records the schema version at first open, brings an
older database up to date and refuses a newer one or a MediTrack 0.1 database.
"""

from __future__ import annotations

from typing import Any

from ...errors import StoreUnavailable
from ..base import SCHEMA_VERSION

# (collection, keys, options): created idempotently at every open.
INDEXES: list[tuple[str, list[tuple[str, int]], dict[str, Any]]] = [
    ("users", [("username_lc", 1)], {"unique": True, "name": "uniq_username"}),
    ("users", [("role", 1), ("username_lc", 1)], {"name": "role_username"}),
    ("users", [("patient_id", 1)], {"name": "user_patient"}),
    ("sessions", [("user_id", 1)], {"name": "session_user"}),
    ("patients", [("mrn", 1)], {"unique": True, "name": "uniq_mrn"}),
    ("patients", [("last_key", 1), ("first_key", 1)], {"name": "name_keys"}),
    ("patients", [("first_key", 1), ("last_key", 1)], {"name": "first_key"}),
    ("patients", [("phone_digits", 1)], {"name": "phone"}),
    ("patients", [("phone_rev", 1)], {"name": "phone_rev"}),
    ("patients", [("primary_doctor_id", 1)], {"name": "primary_doctor"}),
    ("patients", [("conditions_lc", 1)], {"name": "conditions"}),
    ("patients", [("archived", 1), ("last_key", 1)], {"name": "archived_name"}),
    ("patients", [("vitals_alert", 1), ("vitals_alert_at", -1)], {"name": "vitals_alert"}),
    ("appointments", [("doctor_id", 1), ("day", 1)], {"name": "doctor_day"}),
    ("appointments", [("patient_id", 1), ("start", 1)], {"name": "patient_start"}),
    ("appointments", [("day", 1)], {"name": "day"}),
    ("appointments", [("start", 1)], {"name": "start"}),
    ("appointments", [("status", 1), ("start", 1)], {"name": "status_start"}),
    ("appointments", [("patient_words", 1)], {"name": "patient_words"}),
    ("prescriptions", [("patient_id", 1), ("start_date", -1)], {"name": "patient_start"}),
    ("vitals", [("patient_id", 1), ("taken_at", 1)], {"name": "patient_taken"}),
    ("reports", [("patient_id", 1), ("uploaded_at", -1)], {"name": "patient_uploaded"}),
    ("audit", [("ts", -1)], {"name": "ts"}),
    ("audit", [("username", 1), ("ts", -1)], {"name": "user_ts"}),
    ("audit", [("action", 1), ("ts", -1)], {"name": "action_ts"}),
    ("audit", [("patient_id", 1), ("ts", -1)], {"name": "patient_ts"}),
    # the audit chain's place numbers: sparse, so entries older than the chain (schema
    # version < 4, no seq) need none
    ("audit", [("seq", 1)], {"unique": True, "sparse": True, "name": "uniq_seq"}),
    # change events: read by sequence number, pruned by time (ChangeRepo.prune; no TTL
    # index: the server would delete events by its own clock, behind the readers' backs)
    ("changes", [("seq", 1)], {"name": "seq"}),
    ("changes", [("ts", 1)], {"name": "ts"}),
]

COLLECTIONS = ("users", "sessions", "patients", "appointments", "prescriptions", "vitals",
               "reports", "audit", "changes", "counters", "settings")
META = "meta"
SCHEMA_DOC = "schema"


def _is_index_conflict(exc: Any) -> bool:
    """IndexOptionsConflict (85), IndexKeySpecsConflict (86), or the same said with no code
    (mongoeco: "Conflicting index definition for key pattern ...")."""
    if exc.code in (85, 86):
        return True
    text = str(exc)
    return exc.code is None and ("already exists" in text
                                 or "Conflicting index definition" in text)


def create_index(coll: Any, keys: list[tuple[str, int]], options: dict[str, Any]) -> None:
    """Create an index; one left by an older version with other options or another name
    for the same keys is replaced (MongoDB refuses to change an index in place)."""
    from pymongo.errors import OperationFailure

    try:
        coll.create_index(keys, **options)
    except OperationFailure as exc:
        if not _is_index_conflict(exc):
            raise
        for name, info in list(coll.index_information().items()):
            if name != "_id_" and (name == options.get("name")
                                   or list(info.get("key", [])) == list(keys)):
                coll.drop_index(name)
        coll.create_index(keys, **options)


def ensure_indexes(db: Any) -> None:
    """Every index the store needs; safe on every open. One round trip per collection
    when nothing is in the way; index by index (replacing conflicts) when something is."""
    from pymongo import IndexModel
    from pymongo.errors import OperationFailure

    by_coll: dict[str, list[tuple[list[tuple[str, int]], dict[str, Any]]]] = {}
    for coll, keys, options in INDEXES:
        by_coll.setdefault(coll, []).append((keys, options))
    for coll, specs in by_coll.items():
        try:
            db[coll].create_indexes([IndexModel(keys, **options) for keys, options in specs])
        except OperationFailure as exc:
            if not _is_index_conflict(exc):
                raise
            for keys, options in specs:
                create_index(db[coll], keys, options)


def check_schema(db: Any, where: str) -> int:
    """The database's schema version, recorded at first open; refuses a newer one and a
    MediTrack 0.1 database (ObjectId ids, no version recorded)."""
    meta = db[META].find_one({"_id": SCHEMA_DOC})
    if meta is not None:
        version = int(meta.get("version") or 0)
        if version > SCHEMA_VERSION:
            raise StoreUnavailable(
                f"The database '{db.name}' at {where} was written by a newer MediTrack "
                f"(schema version {version}; this one knows up to {SCHEMA_VERSION}). "
                "Upgrade MediTrack on this machine.")
        if version < 3:  # appointment search: every word start of the reason
            from .clinical import name_words

            for doc in db["appointments"].find({}, {"reason": 1}):
                db["appointments"].update_one(
                    {"_id": doc["_id"]}, {"$set": {"reason_words": name_words(doc.get("reason"))},
                                          "$unset": {"reason_lc": ""}})
        # version 4, the audit chain: older entries keep no seq (the index is sparse) and
        # `meditrack audit verify` counts them as predating the chain
        if version < SCHEMA_VERSION:
            db[META].update_one({"_id": SCHEMA_DOC}, {"$set": {"version": SCHEMA_VERSION}})
        return max(version, SCHEMA_VERSION)
    old = any(db[name].find_one({"_id": {"$type": "objectId"}}, {"_id": 1}) is not None
              for name in ("users", "patients"))
    if old:
        raise StoreUnavailable(
            f"The database '{db.name}' at {where} holds data from MediTrack 0.1, which this "
            "version cannot open. Keep using MediTrack 0.1 with it, or point "
            "MEDITRACK_DB_NAME at a new database.")
    db[META].update_one({"_id": SCHEMA_DOC}, {"$setOnInsert": {"version": SCHEMA_VERSION}},
                        upsert=True)
    return SCHEMA_VERSION
