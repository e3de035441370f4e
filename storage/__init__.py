"""Persistence: the embedded SQLite file or a PostgreSQL server, one versioned schema, small stores per table."""

from storage.base import Database, Notice, Subscription, Transaction
from storage.db import open_database
from storage.errors import StorageError
from storage.name_map import MapInfo, NameEntry, NameMapStore, RefreshCounts
from storage.releases import ReleaseStore
from storage.worlds import WorldChoiceStore

__all__ = [
    "Database",
    "MapInfo",
    "NameEntry",
    "NameMapStore",
    "Notice",
    "RefreshCounts",
    "ReleaseStore",
    "StorageError",
    "Subscription",
    "Transaction",
    "WorldChoiceStore",
    "open_database",
]
