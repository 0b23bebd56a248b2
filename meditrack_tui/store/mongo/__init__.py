"""The MongoDB store: the repositories of ``store/repos.py`` over pymongo.

``open_mongo(config)`` connects to ``config.mongo_uri`` (any URI pymongo accepts), creates
the indexes, checks the schema version and returns a :class:`MongoStore`. pymongo is
imported only then, never at import of this package (start-up speed).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ...config import Config
    from .store import MongoStore


def open_mongo(config: Config) -> MongoStore:
    """Open the MongoDB store named by ``config.mongo_uri`` and ``config.db_name``."""
    from .store import open_mongo as _open

    return _open(config)


__all__ = ["open_mongo"]
