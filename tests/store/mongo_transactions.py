"""A pytest plugin for the MongoDB stage: the Mongo store takes every unit of work as a
transaction, as it does on a replica set, though the test server (mongoeco) says it is a
standalone one. mongoeco runs transactions (isolated, rolled back on abort), so the
contract suite then covers the replica-set path over the wire: every repository call in
the unit's session. Load it with ``-p tests.store.mongo_transactions``."""

from __future__ import annotations

import dataclasses

import pytest


@pytest.fixture(autouse=True)
def _units_of_work_as_transactions(monkeypatch: pytest.MonkeyPatch) -> None:
    from meditrack_tui.store.mongo.store import MongoStore

    opened = MongoStore.__init__

    def init(self: MongoStore, client, db, info) -> None:  # type: ignore[no-untyped-def]
        opened(self, client, db, dataclasses.replace(info, transactions=True))

    monkeypatch.setattr(MongoStore, "__init__", init)
