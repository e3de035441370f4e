"""SQLite persistence through aiosqlite: one connection, versioned schema, small stores per table."""

from storage.db import Database, StorageError, open_database
from storage.name_map import MapInfo, NameEntry, NameMapStore, RefreshCounts
from storage.releases import ReleaseStore
from storage.worlds import WorldChoiceStore

__all__ = [
    "Database",
    "MapInfo",
    "NameEntry",
    "NameMapStore",
    "RefreshCounts",
    "ReleaseStore",
    "StorageError",
    "WorldChoiceStore",
    "open_database",
]
