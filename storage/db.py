"""Opening the database: the embedded SQLite file (the default) or a PostgreSQL server (``DATABASE_URL``)."""

from __future__ import annotations

from pathlib import Path

from pydantic import SecretStr

from storage.base import Database
from storage.errors import StorageError
from storage.postgres import open_postgres
from storage.sqlite import open_sqlite

__all__ = ["Database", "StorageError", "is_postgres_url", "open_database"]


def is_postgres_url(text: str) -> bool:
    return text.startswith(("postgresql://", "postgres://"))


async def open_database(where: Path | str | SecretStr) -> Database:
    """A SQLite file (a path), or a PostgreSQL server (a ``postgresql://`` URL, best kept in a SecretStr: it may
    hold a password). Migrates the schema to the latest version before returning."""
    if isinstance(where, SecretStr):
        return await open_postgres(where)
    if isinstance(where, str) and is_postgres_url(where):
        return await open_postgres(SecretStr(where))
    return await open_sqlite(Path(where))
