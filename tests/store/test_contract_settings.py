"""Contract: the clinic's settings, one versioned record (SettingsRepo), on every store."""

from __future__ import annotations

from datetime import datetime

HOURS = {"mon": ["08:00", "18:00"], "sat": ["09:00", "13:00"], "sun": None}


def test_settings_are_absent_until_saved(store):
    assert store.settings.get() is None


def test_first_save_creates_version_1_and_reads_back(store):
    at = datetime(2026, 3, 4, 10, 0)
    saved = store.settings.save({"hours": HOURS, "max_upcoming": 3, "self_signup": True,
                                 "signups_per_hour": 5, "updated_by": "admin",
                                 "updated_at": at}, version=0)
    assert saved is not None
    assert saved["id"] == "clinic" and saved["version"] == 1
    got = store.settings.get()
    assert got == saved
    assert got["hours"] == HOURS and got["hours"]["sun"] is None
    assert got["max_upcoming"] == 3 and got["self_signup"] is True
    assert got["updated_at"] == at


def test_a_save_matches_on_the_version(store):
    store.settings.save({"max_upcoming": 3}, version=0)
    # a second "first" save (another admin's form opened before any save) is refused
    assert store.settings.save({"max_upcoming": 9}, version=0) is None
    second = store.settings.save({"max_upcoming": 4}, version=1)
    assert second is not None and second["version"] == 2 and second["max_upcoming"] == 4
    # a stale version changes nothing
    assert store.settings.save({"max_upcoming": 7}, version=1) is None
    assert store.settings.get()["max_upcoming"] == 4
    assert store.settings.get()["version"] == 2


def test_a_save_replaces_the_whole_record(store):
    store.settings.save({"max_upcoming": 3, "self_signup": True}, version=0)
    store.settings.save({"max_upcoming": 5}, version=1)
    got = store.settings.get()
    assert got["max_upcoming"] == 5 and "self_signup" not in got


def test_a_save_in_a_failed_unit_of_work_is_undone(store):
    store.settings.save({"max_upcoming": 3}, version=0)
    try:
        with store.unit_of_work():
            store.settings.save({"max_upcoming": 8}, version=1)
            raise RuntimeError("abort")
    except RuntimeError:
        pass
    if store.info.transactions:
        assert store.settings.get()["max_upcoming"] == 3
        assert store.settings.get()["version"] == 1
