"""The embedded SQLite store's own promises: file modes, pragmas, index use, busy and
damage messages, schema versions, and several processes sharing one file."""

from __future__ import annotations

import os
import sqlite3
import stat
import subprocess
import sys
import textwrap
import threading
import time
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from meditrack_tui.audit_chain import AuditKey
from meditrack_tui.errors import StoreBusy, StoreUnavailable
from meditrack_tui.store.base import SCHEMA_VERSION, Corrupt
from meditrack_tui.store.queries import (
    AppointmentQuery,
    AuditQuery,
    NameSearch,
    PatientQuery,
    UserQuery,
)
from meditrack_tui.store.sqlite import DB_FILE, SqliteStore, open_sqlite
from meditrack_tui.store.sqlite.schema import MIGRATIONS
from tests.conftest import make_config

ROOT = Path(__file__).resolve().parents[2]
T0 = datetime(2026, 3, 4, 10, 0)
AUDIT_KEY = AuditKey("test-audit-key")  # the chain key audit.append seals with


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    return tmp_path / "data"


@pytest.fixture
def db(data_dir: Path):
    store = SqliteStore(data_dir)
    yield store
    store.close()


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_connect_picks_sqlite(tmp_path):
    from meditrack_tui.store import connect

    store = connect(make_config(tmp_path / "d"))
    try:
        assert isinstance(store, SqliteStore)
        assert store.info.kind == "embedded" and store.info.transactions
        assert store.info.location == str(tmp_path / "d" / DB_FILE)
    finally:
        store.close()


def test_dir_and_files_are_private_from_creation(data_dir):
    old = os.umask(0o022)
    try:
        store = SqliteStore(data_dir)
        store.patients.add({"mrn": "MRN-1", "last_key": "lee"})
        assert mode(data_dir) == 0o700
        files = [data_dir / DB_FILE, data_dir / f"{DB_FILE}-wal", data_dir / f"{DB_FILE}-shm"]
        for path in files:
            assert path.exists(), path
            assert mode(path) == 0o600, path
        store.close()
    finally:
        os.umask(old)


def test_wal_and_full_sync_on_every_connection(db):
    def pragmas() -> tuple:
        conn = db.db.connection()
        return (conn.execute("PRAGMA journal_mode").fetchone()[0],
                conn.execute("PRAGMA synchronous").fetchone()[0],
                conn.execute("PRAGMA foreign_keys").fetchone()[0])

    assert pragmas() == ("wal", 2, 1)
    seen = []
    worker = threading.Thread(target=lambda: seen.append(pragmas()))
    worker.start()
    worker.join()
    assert seen == [("wal", 2, 1)]


def test_works_from_other_threads_and_reuses_their_connections(db):
    results = []

    def work(i: int) -> None:
        with db.unit_of_work():
            db.vitals.add({"patient_id": "p1", "taken_at": T0 + timedelta(minutes=i)})
        results.append(len(db.vitals.series("p1")))

    for i in range(5):
        worker = threading.Thread(target=work, args=(i,))
        worker.start()
        worker.join()
    assert results == [1, 2, 3, 4, 5]
    assert db.db.open_connections <= 2  # finished threads' connections are reused


# --- index use ---

def plans(store: SqliteStore, action) -> list[tuple[str, list[str]]]:
    """Each statement ``action`` runs with its query plan lines."""
    conn = store.db.connection()
    statements: list[str] = []
    conn.set_trace_callback(statements.append)
    try:
        action()
    finally:
        conn.set_trace_callback(None)
    out = []
    for sql in statements:
        if sql.lstrip().upper().startswith("SELECT"):
            rows = conn.execute("EXPLAIN QUERY PLAN " + sql).fetchall()
            out.append((sql, [r[3] for r in rows]))
    assert out, "no statement ran"
    return out


def assert_no_full_scan(store: SqliteStore, action, tables=("patients", "appointments",
                                                            "audit", "changes")) -> None:
    for sql, lines in plans(store, action):
        for line in lines:
            for table in tables:
                assert not line.startswith(f"SCAN {table}"), (sql, lines)


@pytest.fixture
def filled(db):
    with db.bulk():
        for i in range(60):
            db.patients.add({"mrn": f"MRN-{i:04d}", "last_key": f"name{i % 7}",
                             "first_key": f"given{i % 5}", "full_key": f"given{i % 5} name{i}",
                             "phone_digits": f"555{i:07d}", "archived": i % 9 == 0,
                             "sex": "MF"[i % 2], "dob": f"19{50 + i % 40}-01-01",
                             "primary_doctor_id": f"d{i % 3}", "conditions_lc": ["asthma"],
                             "vitals_alert": i % 4 == 0, "vitals_alert_at": T0})
            start = T0 + timedelta(hours=i)
            db.appointments.add({"patient_id": f"p{i % 6}", "doctor_id": f"d{i % 3}",
                                 "patient_name": f"Given{i % 5} Name{i}", "mrn": f"MRN-{i:04d}",
                                 "start": start, "day": start.date().isoformat(),
                                 "status": "scheduled", "reason": "check"})
            db.audit.append({"ts": start, "username": f"u{i % 4}", "action": "patient.read",
                             "outcome": "ok", "patient_id": f"p{i % 6}"}, AUDIT_KEY)
            db.changes.append("patients", "update", ts=start, patient_id=f"p{i % 6}")
    return db


@pytest.mark.parametrize("query", [
    PatientQuery(search=NameSearch("nam")),
    PatientQuery(search=NameSearch("name1 giv", pair=("name1", "giv"))),
    PatientQuery(search=NameSearch("mrn-00", mrn="MRN-0001", mrn_prefix="MRN-00")),
    PatientQuery(search=NameSearch("0001", phone="0001"), sex="F", sort="dob"),
    PatientQuery(search=NameSearch("nam"), descending=True, sort="first_name"),
    PatientQuery(),
    PatientQuery(sort="dob", descending=True),
    PatientQuery(sex="M", sort="sex"),
    PatientQuery(primary_doctor_id="d1", sort="updated_at"),
    PatientQuery(condition="asthma"),
    PatientQuery(vitals_alert=True),
    PatientQuery(only_id="abc", archived=None),
])
def test_patient_queries_use_indexes(filled, query):
    assert_no_full_scan(filled, lambda: filled.patients.find(query))


def test_patient_search_is_a_union_of_index_ranges_each_stopped_at_the_page(filled):
    statements = plans(filled, lambda: filled.patients.find(
        PatientQuery(search=NameSearch("nam", phone="555"))))
    *counts, (page_sql, page) = statements
    indexes = ("patients_last", "patients_first", "patients_phone", "patients_phone_rev")
    # the count: one count per alternative, each one range of its own index; the name
    # ranges read the index alone (it carries `archived` and the other name key)
    assert len(counts) == len(indexes)
    for index, (_sql, lines) in zip(indexes, counts, strict=True):
        assert len(lines) == 1 and f"INDEX {index} (" in lines[0], lines
    assert all("COVERING INDEX" in lines[0] for _sql, lines in counts[:2]), counts
    # the page: every alternative's range, the family-name one walked in the page's
    # order (no sort of its matches), each stopped at the page
    assert "COMPOUND QUERY" in page
    for index in indexes:
        assert any(f"INDEX {index} (" in line for line in page), (index, page)
    at = next(i for i, line in enumerate(page) if "patients_last " in line)
    assert "TEMP B-TREE" not in page[at + 1], page
    assert page_sql.count("LIMIT") == len(indexes) + 1


@pytest.mark.parametrize("query", [
    AppointmentQuery(day="2026-03-05"),
    AppointmentQuery(days=("2026-03-05", "2026-03-06"), sort="patient_name"),
    AppointmentQuery(doctor_id="d1", day="2026-03-05"),
    AppointmentQuery(patient_id="p1", descending=True),
    AppointmentQuery(statuses=("scheduled",), start_from=T0),
    AppointmentQuery(start_from=T0, start_before=T0 + timedelta(days=1)),
    AppointmentQuery(text="name1"),
])
def test_appointment_queries_use_indexes(filled, query):
    assert_no_full_scan(filled, lambda: filled.appointments.find(query))
    assert_no_full_scan(filled, lambda: filled.appointments.count_day("2026-03-05"))


@pytest.mark.parametrize("query", [
    AuditQuery(username="u1"), AuditQuery(patient_id="p2"), AuditQuery(outcome="ok"),
    AuditQuery(action_prefix="patient."), AuditQuery(ts_from=T0, ts_before=T0 + timedelta(1)),
])
def test_audit_queries_use_indexes(filled, query):
    assert_no_full_scan(filled, lambda: filled.audit.find(query))


def test_change_reads_use_indexes(filled):
    assert_no_full_scan(filled, lambda: filled.changes.after(10, patient_id="p1", user_id="u"))
    assert_no_full_scan(filled, lambda: filled.changes.after(10, colls=["patients"]))
    assert_no_full_scan(filled, lambda: filled.changes.last_seq())
    for _, lines in plans(filled, lambda: filled.changes.after(10)):
        assert any("INTEGER PRIMARY KEY" in line for line in lines)


def test_other_reads_use_indexes(filled):
    tables = ("users", "sessions", "prescriptions", "vitals", "reports", "patients")
    for action in (lambda: filled.users.find(UserQuery(role="doctor")),
                   lambda: filled.users.by_username("x"), lambda: filled.users.by_patient("p"),
                   lambda: filled.prescriptions.for_patient("p1", status="active"),
                   lambda: filled.vitals.series("p1", since=T0),
                   lambda: filled.vitals.latest("p1", 3),
                   lambda: filled.reports.for_patient("p1", kind="lab"),
                   lambda: filled.patients.alerts(10),
                   lambda: filled.patients.by_mrn("MRN-0001")):
        assert_no_full_scan(filled, action, tables)


# --- busy, damage, versions ---

def test_store_busy_when_another_connection_holds_the_write_lock(data_dir):
    store = SqliteStore(data_dir, busy_timeout=0.5)
    other = sqlite3.connect(data_dir / DB_FILE, isolation_level=None)
    try:
        other.execute("BEGIN IMMEDIATE")
        began = time.monotonic()
        with pytest.raises(StoreBusy) as caught:
            store.patients.add({"mrn": "MRN-1", "last_key": "lee"})
        assert time.monotonic() - began < 3
        assert str(data_dir) in caught.value.message
        assert "Another MediTrack process" in caught.value.message
        assert store.patients.count(archived=None) == 0  # reads still work
        other.execute("ROLLBACK")
        store.patients.add({"mrn": "MRN-1", "last_key": "lee"})  # and writes again after
        assert store.patients.count(archived=None) == 1
    finally:
        other.close()
        store.close()


def test_corrupt_when_a_chunk_changes(db, data_dir):
    file_id = db.reports.put_file("scan.pdf", b"x" * 1000, {})
    raw = sqlite3.connect(data_dir / DB_FILE)
    with raw:
        raw.execute("UPDATE report_chunks SET data = ? WHERE file_id = ?", (b"y" * 1000, file_id))
    raw.close()
    with pytest.raises(Corrupt):
        db.reports.read_file(file_id)


def test_schema_version_recorded(db, data_dir):
    raw = sqlite3.connect(data_dir / DB_FILE)
    assert raw.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone() == (
        str(SCHEMA_VERSION),)
    raw.close()
    assert db.schema_version == SCHEMA_VERSION


def test_a_version_3_database_gains_the_clinic_settings(data_dir):
    """Version 5 adds the settings table; it needs nothing of version 4 (the audit chain),
    so a database at 3 (or at 4) is brought forward either way."""
    old = SqliteStore(data_dir, migrations={2: MIGRATIONS[2], 3: MIGRATIONS[3]},
                      schema_version=3)
    raw = sqlite3.connect(data_dir / DB_FILE)
    assert raw.execute("SELECT name FROM sqlite_master WHERE name = 'settings'").fetchone() \
        is None
    raw.close()
    old.close()
    store = SqliteStore(data_dir)
    try:
        assert store.schema_version == SCHEMA_VERSION >= 5
        assert store.settings.get() is None
        saved = store.settings.save({"max_upcoming": 4}, version=0)
        assert saved is not None and saved["version"] == 1
    finally:
        store.close()


def test_a_version_2_database_is_brought_to_version_3(data_dir):
    """Version 3: search indexes carry `archived`; appointment keys gain the reason's words."""
    old = SqliteStore(data_dir, migrations={2: MIGRATIONS[2]}, schema_version=2)
    old.appointments.add({"patient_name": "Ana Lima", "reason": "High blood pressure",
                          "start": datetime(2026, 3, 4, 9, 0), "status": "scheduled"})
    old.patients.add({"mrn": "MRN-1", "last_key": "lima", "first_key": "ana",
                      "archived": False})
    old.close()
    raw = sqlite3.connect(data_dir / DB_FILE)
    with raw:  # the keys as version 2 wrote them: the name's word starts, the whole reason
        raw.execute("DELETE FROM appointment_keys")
        raw.executemany("INSERT INTO appointment_keys (key, appointment_id) "
                        "SELECT ?, id FROM appointments",
                        [("ana lima",), ("lima",), ("high blood pressure",)])
    raw.close()
    store = SqliteStore(data_dir)
    try:
        assert store.schema_version == SCHEMA_VERSION
        assert store.appointments.find(AppointmentQuery(text="pressure")).total == 1
        assert store.appointments.find(AppointmentQuery(text="ana")).total == 1
        found = store.patients.find(PatientQuery(search=NameSearch("lim")))
        assert [p["mrn"] for p in found.items] == ["MRN-1"] and found.total == 1
    finally:
        store.close()


def test_migrations_run_forward_once(data_dir):
    SqliteStore(data_dir).close()
    ran = []

    def to_next(conn: sqlite3.Connection) -> None:
        ran.append(1)
        conn.execute("ALTER TABLE patients ADD COLUMN nickname TEXT")

    later = {**MIGRATIONS, SCHEMA_VERSION + 1: to_next}
    store = SqliteStore(data_dir, migrations=later, schema_version=SCHEMA_VERSION + 1)
    store.patients.add({"mrn": "MRN-1", "last_key": "lee"})
    store.close()
    SqliteStore(data_dir, migrations=later, schema_version=SCHEMA_VERSION + 1).close()
    assert ran == [1]
    # and today's code refuses the newer file instead of misreading it
    with pytest.raises(StoreUnavailable) as caught:
        SqliteStore(data_dir)
    assert "newer MediTrack" in caught.value.message and str(data_dir) in caught.value.message


def test_a_failed_migration_changes_nothing(data_dir):
    SqliteStore(data_dir).close()

    def broken(conn: sqlite3.Connection) -> None:
        conn.execute("ALTER TABLE patients ADD COLUMN nickname TEXT")
        raise RuntimeError("half way")

    with pytest.raises(RuntimeError):
        SqliteStore(data_dir, migrations={**MIGRATIONS, SCHEMA_VERSION + 1: broken},
                    schema_version=SCHEMA_VERSION + 1)
    store = SqliteStore(data_dir)
    assert store.schema_version == SCHEMA_VERSION
    cols = [r[1] for r in store.db.execute("PRAGMA table_info(patients)")]
    assert "nickname" not in cols
    store.close()


def test_newer_database_refused(data_dir):
    SqliteStore(data_dir).close()
    raw = sqlite3.connect(data_dir / DB_FILE)
    with raw:
        raw.execute("UPDATE meta SET value = '99' WHERE key = 'schema_version'")
    raw.close()
    with pytest.raises(StoreUnavailable) as caught:
        open_sqlite(make_config(data_dir))
    assert "newer MediTrack" in caught.value.message


def test_version_01_data_directory_refused(data_dir):
    (data_dir / "db").mkdir(parents=True)
    (data_dir / "db" / "patients.db").write_bytes(b"litemongo")
    with pytest.raises(StoreUnavailable) as caught:
        open_sqlite(make_config(data_dir))
    assert "MediTrack 0.1" in caught.value.message and str(data_dir) in caught.value.message
    assert not (data_dir / DB_FILE).exists()


def test_not_a_database_refused(data_dir):
    data_dir.mkdir(mode=0o700)
    (data_dir / DB_FILE).write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(StoreUnavailable) as caught:
        open_sqlite(make_config(data_dir))
    assert str(data_dir) in caught.value.message


def test_closed_store_refuses_use(data_dir):
    store = SqliteStore(data_dir)
    store.close()
    with pytest.raises(StoreUnavailable):
        store.patients.count()


def test_drop_all(db):
    db.patients.add({"mrn": "MRN-1", "last_key": "lee", "conditions_lc": ["asthma"]})
    db.users.add({"username_lc": "ann"})
    db.counters.next("mrn")
    db.drop_all()
    assert db.is_empty()
    assert db.patients.find(PatientQuery(condition="asthma", archived=None)).total == 0
    assert db.counters.next("mrn") == 1


# --- several processes ---

WORKER = textwrap.dedent("""
    import sys
    from pathlib import Path
    from meditrack_tui.store.sqlite import SqliteStore

    store = SqliteStore(Path(sys.argv[1]), busy_timeout=30)
    pid = sys.argv[2]
    for i in range(int(sys.argv[3])):
        with store.unit_of_work():
            store.counters.next("shared")
            store.patients.increment(pid, "visits")
            doc = store.patients.get(pid)
            store.patients.update(pid, {"log": doc.get("log", 0) + 1})
    store.close()
""")


def test_two_processes_lose_no_increments(data_dir):
    store = SqliteStore(data_dir)
    pid = store.patients.add({"mrn": "MRN-1", "last_key": "lee", "version": 1})["id"]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    rounds = 150
    procs = [subprocess.Popen([sys.executable, "-c", WORKER, str(data_dir), pid, str(rounds)],
                              env=env, stderr=subprocess.PIPE) for _ in range(2)]
    for proc in procs:
        _, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err.decode()
    doc = store.patients.get(pid)
    assert doc["visits"] == 2 * rounds
    assert doc["log"] == 2 * rounds  # read-modify-write inside the unit of work
    assert doc["version"] == 1 + 2 * rounds
    assert store.counters.next("shared") == 2 * rounds + 1
    store.close()
