"""The ``store`` fixture: every contract test runs against the embedded SQLite store, and
against MongoDB too when ``MEDITRACK_TEST_MONGO_URI`` is set (each test in a database of
its own, dropped at teardown)."""

from __future__ import annotations

import os
import uuid
from pathlib import Path

import pytest

from tests.conftest import make_config

MONGO_URI = os.environ.get("MEDITRACK_TEST_MONGO_URI")
STORES = ["sqlite"] + (["mongo"] if MONGO_URI else [])


def open_test_store(kind: str, tmp_path: Path):
    """A fresh, empty store of ``kind`` for one test."""
    from meditrack_tui.store import connect

    cfg = make_config(tmp_path / "data")
    if kind == "mongo":
        cfg.mongo_uri = MONGO_URI
        cfg.db_name = "mt_test_" + uuid.uuid4().hex[:12]
    return connect(cfg)


@pytest.fixture(params=STORES)
def store(request: pytest.FixtureRequest, tmp_path: Path):
    """An empty store (SQLite always; MongoDB when MEDITRACK_TEST_MONGO_URI is set)."""
    if request.param == "mongo":
        from tests.store.mongoeco_limits import skip_known_limits

        skip_known_limits(request, MONGO_URI)  # where mongoeco differs from MongoDB
    opened = open_test_store(request.param, tmp_path)
    yield opened
    if request.param == "mongo":
        opened.drop_all()
    opened.close()
