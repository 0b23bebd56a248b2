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
        assert _ids(services, session, True, **kwargs) == _ids(services, session, False, **kwargs), kwargs
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
