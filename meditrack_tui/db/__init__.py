"""The database layer: the only place that imports pymongo, gridfs or the embedded store."""

from .store import Store, connect

__all__ = ["Store", "connect"]
