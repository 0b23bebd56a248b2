"""The in-memory patient directory answers exactly what the MongoDB query path answers."""

from __future__ import annotations

import itertools

import pytest

from meditrack_tui import seed


@pytest.fixture
def populated(demo_services):
    seed.generate(demo_services, 150, seed=3)
    return demo_services


def _ids(services, session, use_directory: bool, **kwargs):
    services.ctx.directory_enabled = use_directory
    page = services.patients.list(session, **kwargs)
    return [item["id"] for item in page.items], page.total


def test_directory_matches_query_path(populated):
    services = populated
    session = services.auth.login("demo.doctor", "meditrack-demo")
    doctor = services.users.doctors(session)[0]["id"]
    combos = itertools.product(
        [None, "smi", "o", "mrn-00001", "12", "555 01", "maya h", ".*", "(", "olivia s"],
        [None, "F"],
        [{}, {"age_min": 30, "age_max": 60}, {"primary_doctor_id": doctor},
         {"condition": "hypertension"}],
        ["active", "all"],
        ["name", "mrn", "dob", "primary_doctor", "phone", "first_name", "sex", "updated_at"],
        [False, True],
    )
    checked = 0
    for n, (query, sex, extra, archived, sort, desc) in enumerate(combos):
        # a fixed spread over the combinations keeps the test quick but covers every value
        if n % 17:
            continue
        kwargs = dict(query=query, sex=sex, archived=archived, sort=sort, descending=desc,
                      page=2, page_size=6, **extra)
        assert _ids(services, session, True, **kwargs) == \
            _ids(services, session, False, **kwargs), kwargs
        checked += 1
    assert checked > 50


def test_directory_sees_changes_from_another_connection(demo_dir, clock):
    """A write through a second store connection (another process) shows up in the next list."""
    from meditrack_tui.db import connect
    from meditrack_tui.services import Services
    from tests.conftest import make_config

    cfg = make_config(demo_dir)
    first = Services(connect(cfg), cfg, clock=clock)
    other = Services(connect(cfg), cfg, clock=clock)
    try:
        doctor = first.auth.login("demo.doctor", "meditrack-demo")
        assert first.patients.list(doctor, query="zyxwv").total == 0
        doctor2 = other.auth.login("demo.doctor", "meditrack-demo")
        created = other.patients.create(doctor2, {"first_name": "Quinn", "last_name": "Zyxwvut",
                                                  "dob": "1990-01-01", "sex": "X"})
        page = first.patients.list(doctor, query="zyxwv")
        assert [p["id"] for p in page.items] == [created["id"]]
        other.patients.update(doctor2, created["id"], {"last_name": "Abbott"}, version=1)
        assert first.patients.list(doctor, query="zyxwv").total == 0
        assert first.patients.list(doctor, query="quinn abb").total == 1
    finally:
        first.store.close()
        other.store.close()


class Clock:
    def __init__(self, now):
        self.now = now

    def __call__(self):
        return self.now


def _directory(services, clock):
    from meditrack_tui.services.base import CHANGE_LOG_KEEP
    from meditrack_tui.services.directory import PatientDirectory
    from tests.test_feed_log import CountingDB

    db = CountingDB(services.store.db)
    directory = PatientDirectory(db, clock, CHANGE_LOG_KEEP)
    reloads = []
    real = directory.reload

    def counted():
        reloads.append(clock())
        real()

    directory.reload = counted
    return directory, db, reloads


def test_an_idle_directory_reads_neither_the_log_nor_the_patients(demo_services):
    """With nothing written anywhere, a sync reads the log's mark only, however long ago
    the last one was (the log can vouch for a gap in which nothing happened)."""
    from meditrack_tui.db.feed import utcnow
    from meditrack_tui.services.base import CHANGE_LOG_KEEP

    clock = Clock(utcnow())
    directory, db, reloads = _directory(demo_services, clock)
    directory.sync()
    assert len(reloads) == 1
    db.calls.clear()
    for _ in range(3):
        clock.now += CHANGE_LOG_KEEP * 2
        directory.sync()
    assert len(reloads) == 1
    assert db.calls["changes.find"] == 0 and db.calls["patients.find"] == 0
    assert db.calls["counters.find_one"] == 3


def test_a_directory_applies_changes_or_reloads_when_the_log_may_have_lost_some(demo_services):
    from datetime import timedelta

    from meditrack_tui.db.feed import utcnow
    from meditrack_tui.services.base import CHANGE_LOG_KEEP

    services = demo_services
    doctor = services.auth.login("demo.doctor", "meditrack-demo")
    clock = Clock(utcnow())
    directory, db, reloads = _directory(services, clock)
    directory.sync()
    created = services.patients.create(doctor, {"first_name": "Ida", "last_name": "Quorn",
                                                "dob": "1970-05-05", "sex": "F"})
    clock.now += timedelta(minutes=1)
    directory.sync()  # within the log's reach: applied from the log
    assert len(reloads) == 1
    assert any(row.last_key == "quorn" for row in directory.rows.values())
    services.patients.update(doctor, created["id"], {"last_name": "Quill"}, version=1)
    clock.now += CHANGE_LOG_KEEP  # longer than the log vouches for, and something changed
    directory.sync()
    assert len(reloads) == 2
    assert [row.last_key for row in directory.rows.values()
            if str(row.id) == created["id"]] == ["quill"]
