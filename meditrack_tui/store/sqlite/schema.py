"""The embedded store's tables and indexes, and forward migrations run at start-up.

Records are JSON text in ``doc``; every field that is searched, sorted, filtered or
unique is also a real column with an index. ``meta.schema_version`` records the schema;
``MIGRATIONS`` maps each version to the function that brings the previous one to it.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from pathlib import Path

from ...errors import StoreUnavailable
from ..base import SCHEMA_VERSION

SCHEMA_V2 = """
CREATE TABLE users (
    id TEXT PRIMARY KEY, version INTEGER, doc TEXT NOT NULL,
    username_lc TEXT, patient_id TEXT, role TEXT, status TEXT);
CREATE UNIQUE INDEX users_username ON users (username_lc);
CREATE INDEX users_patient ON users (patient_id);
CREATE INDEX users_role_name ON users (role, username_lc, id);
CREATE INDEX users_role_status ON users (role, status, username_lc, id);
CREATE INDEX users_status ON users (status, role, username_lc, id);

CREATE TABLE sessions (
    id TEXT PRIMARY KEY, version INTEGER, doc TEXT NOT NULL, user_id TEXT, revoked INTEGER);
CREATE INDEX sessions_user ON sessions (user_id, revoked);

CREATE TABLE patients (
    id TEXT PRIMARY KEY, version INTEGER, doc TEXT NOT NULL,
    mrn TEXT, last_key TEXT, first_key TEXT, full_key TEXT, phone_digits TEXT,
    phone_rev TEXT, sex TEXT, dob TEXT, primary_doctor_id TEXT, primary_doctor_name TEXT,
    archived INTEGER, updated_at TEXT, vitals_alert INTEGER, vitals_alert_at TEXT);
CREATE UNIQUE INDEX patients_mrn ON patients (mrn);
-- search: each alternative of a NameSearch is a range on one of these
CREATE INDEX patients_last ON patients (last_key, first_key, id);
CREATE INDEX patients_first ON patients (first_key, last_key, id);
CREATE INDEX patients_full ON patients (full_key);
CREATE INDEX patients_phone ON patients (phone_digits, id);
CREATE INDEX patients_phone_rev ON patients (phone_rev);
CREATE INDEX patients_doctor ON patients (primary_doctor_id, archived);
CREATE INDEX patients_alert ON patients (vitals_alert, archived, vitals_alert_at, id);
-- pages of the (un)archived list in each PATIENT_SORTS order
CREATE INDEX patients_a_name ON patients (archived, last_key, first_key, id);
CREATE INDEX patients_a_first ON patients (archived, first_key, last_key, id);
CREATE INDEX patients_a_mrn ON patients (archived, mrn, id);
CREATE INDEX patients_a_dob ON patients (archived, dob, id);
CREATE INDEX patients_a_sex ON patients (archived, sex, last_key, id);
CREATE INDEX patients_a_phone ON patients (archived, phone_digits, id);
CREATE INDEX patients_a_doctor ON patients (archived, primary_doctor_name, last_key, id);
CREATE INDEX patients_a_updated ON patients (archived, updated_at, id);

CREATE TABLE patient_conditions (
    condition TEXT NOT NULL, patient_id TEXT NOT NULL,
    PRIMARY KEY (condition, patient_id)) WITHOUT ROWID;
CREATE INDEX patient_conditions_patient ON patient_conditions (patient_id);

CREATE TABLE appointments (
    id TEXT PRIMARY KEY, version INTEGER, doc TEXT NOT NULL,
    patient_id TEXT, doctor_id TEXT, day TEXT, start TEXT, status TEXT,
    patient_name TEXT, doctor_name TEXT, reason TEXT, mrn TEXT);
CREATE INDEX appointments_doctor_day ON appointments (doctor_id, day, start, id);
CREATE INDEX appointments_patient ON appointments (patient_id, start, id);
CREATE INDEX appointments_day ON appointments (day, start, id);
CREATE INDEX appointments_status ON appointments (status, start, id);
CREATE INDEX appointments_start ON appointments (start, id);

-- what AppointmentQuery.text matches by prefix: each word-start of the patient's name
-- and of the reason (each to its end), and the MRN, lower-cased
CREATE TABLE appointment_keys (
    key TEXT NOT NULL, appointment_id TEXT NOT NULL,
    PRIMARY KEY (key, appointment_id)) WITHOUT ROWID;
CREATE INDEX appointment_keys_appointment ON appointment_keys (appointment_id);

CREATE TABLE prescriptions (
    id TEXT PRIMARY KEY, version INTEGER, doc TEXT NOT NULL,
    patient_id TEXT, status TEXT, start_date TEXT);
CREATE INDEX prescriptions_patient ON prescriptions (patient_id, start_date, id);
CREATE INDEX prescriptions_patient_status
    ON prescriptions (patient_id, status, start_date, id);

CREATE TABLE vitals (
    id TEXT PRIMARY KEY, version INTEGER, doc TEXT NOT NULL,
    patient_id TEXT, taken_at TEXT);
CREATE INDEX vitals_patient_taken ON vitals (patient_id, taken_at, id);

CREATE TABLE reports (
    id TEXT PRIMARY KEY, version INTEGER, doc TEXT NOT NULL,
    patient_id TEXT, kind TEXT, uploaded_at TEXT);
CREATE INDEX reports_patient ON reports (patient_id, uploaded_at, id);
CREATE INDEX reports_patient_kind ON reports (patient_id, kind, uploaded_at, id);

CREATE TABLE report_files (
    file_id TEXT PRIMARY KEY, filename TEXT, length INTEGER NOT NULL,
    sha256 TEXT NOT NULL, metadata TEXT NOT NULL);
CREATE TABLE report_chunks (
    file_id TEXT NOT NULL REFERENCES report_files (file_id) ON DELETE CASCADE,
    n INTEGER NOT NULL, data BLOB NOT NULL, PRIMARY KEY (file_id, n));

CREATE TABLE audit (
    id TEXT PRIMARY KEY, doc TEXT NOT NULL,
    ts TEXT, username TEXT, action TEXT, outcome TEXT, patient_id TEXT);
CREATE INDEX audit_ts ON audit (ts, id);
CREATE INDEX audit_username ON audit (username, ts, id);
CREATE INDEX audit_patient ON audit (patient_id, ts, id);
CREATE INDEX audit_outcome ON audit (outcome, ts, id);
CREATE INDEX audit_action ON audit (action, ts, id);

CREATE TABLE changes (
    seq INTEGER PRIMARY KEY AUTOINCREMENT, ts TEXT NOT NULL, coll TEXT NOT NULL,
    op TEXT NOT NULL, record_id TEXT, patient_id TEXT, by TEXT, extra TEXT);
CREATE INDEX changes_ts ON changes (ts);

CREATE TABLE counters (name TEXT PRIMARY KEY, value INTEGER NOT NULL);
"""

# Tables whose rows drop_all deletes (children first).
DATA_TABLES = ("users", "sessions", "patient_conditions", "patients", "appointment_keys",
               "appointments", "prescriptions", "vitals", "reports", "report_chunks",
               "report_files", "audit", "audit_head", "changes", "counters", "settings")

Migration = Callable[[sqlite3.Connection], None]


def _create_v2(conn: sqlite3.Connection) -> None:
    """The first SQLite schema (version 1 was MediTrack 0.1's embedded document files)."""
    for statement in SCHEMA_V2.split(";"):
        if statement.strip():
            conn.execute(statement)


def _v3(conn: sqlite3.Connection) -> None:
    """Name and phone search indexes carry ``archived``, so a search's count and each
    alternative's first rows are read from the index alone; appointment search keys
    gain every word start of the reason (rebuilt from the stored records)."""
    from .clinical import text_keys
    from .engine import decode

    for statement in (
        "DROP INDEX patients_last", "DROP INDEX patients_first", "DROP INDEX patients_full",
        "DROP INDEX patients_phone", "DROP INDEX patients_phone_rev",
        "CREATE INDEX patients_last ON patients (last_key, first_key, id, archived)",
        "CREATE INDEX patients_first ON patients (first_key, last_key, id, archived)",
        "CREATE INDEX patients_full ON patients (full_key, id, archived)",
        "CREATE INDEX patients_phone ON patients (phone_digits, id, archived)",
        "CREATE INDEX patients_phone_rev ON patients (phone_rev, id, archived)",
        "DELETE FROM appointment_keys",
    ):
        conn.execute(statement)
    rows = conn.execute("SELECT id, doc FROM appointments")
    conn.executemany("INSERT INTO appointment_keys (key, appointment_id) VALUES (?, ?)",
                     ((key, record_id) for record_id, doc in rows
                      for key in sorted(text_keys(decode(doc)))))


def _v4(conn: sqlite3.Connection) -> None:
    """The audit chain (meditrack_tui.audit_chain): each new entry's place in the chain as
    a unique ``seq`` column (NULL on the entries written before, which stay as they are),
    and the head record of where the chain ends."""
    for statement in (
        "ALTER TABLE audit ADD COLUMN seq INTEGER",
        "CREATE UNIQUE INDEX audit_seq ON audit (seq)",
        "CREATE TABLE audit_head (id INTEGER PRIMARY KEY CHECK (id = 1), "
        "seq INTEGER NOT NULL, hash TEXT NOT NULL, seal TEXT NOT NULL)",
    ):
        conn.execute(statement)


def _v5(conn: sqlite3.Connection) -> None:
    """The clinic's settings (opening hours, appointment limit, sign-up switches): one
    versioned JSON record. Needs nothing of version 4 (the audit chain), so it applies
    whichever of the two a database received first."""
    conn.execute("CREATE TABLE IF NOT EXISTS settings ("
                 "id TEXT PRIMARY KEY, version INTEGER NOT NULL, doc TEXT NOT NULL)")


# version -> the step from the version before it (a fresh database runs them all)
MIGRATIONS: dict[int, Migration] = {2: _create_v2, 3: _v3, 4: _v4, 5: _v5}


def migrate(conn: sqlite3.Connection, where: Path, *,
            migrations: dict[int, Migration] | None = None,
            target: int = SCHEMA_VERSION) -> int:
    """Bring the database to ``target`` in one transaction; the version it is now.

    Refuses (StoreUnavailable) a database made by a newer MediTrack.
    """
    steps = MIGRATIONS if migrations is None else migrations
    conn.execute("BEGIN IMMEDIATE")
    try:
        conn.execute("CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT)")
        row = conn.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
        current = int(row[0]) if row else 0
        if current > target:
            raise StoreUnavailable(
                f"The database in {where} was written by a newer MediTrack (data format "
                f"{current}; this version reads up to {target}). Update MediTrack, or use "
                "another data directory.")
        for version in sorted(steps):
            if current < version <= target:
                steps[version](conn)
                current = version
        if current != target:
            raise StoreUnavailable(f"No way to bring the database in {where} to data "
                                   f"format {target} (it is at {current}).")
        conn.execute("INSERT INTO meta (key, value) VALUES ('schema_version', ?) "
                     "ON CONFLICT (key) DO UPDATE SET value = excluded.value", (str(current),))
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")
    return current
