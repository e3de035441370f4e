"""Opening the database, applying migrations, and running transactions that fail cleanly."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import aiosqlite

from core.errors import UserFacingError
from storage.migrations import MIGRATIONS


class StorageError(UserFacingError):
    """SQLite refused: busy, read-only, full or corrupt. Nothing was half-written."""


def _storage_error(error: sqlite3.Error) -> StorageError:
    text = str(error).lower()
    if "locked" in text or "busy" in text:
        return StorageError(
            "The bot's database is busy right now; nothing was changed. Try again in a moment.", temporary=True
        )
    if "readonly" in text or "read-only" in text:
        return StorageError(
            "The bot's database is read-only, so nothing was saved; check that DATABASE_PATH and its folder are writable."
        )
    if "disk" in text and "full" in text:
        return StorageError("The disk holding the bot's database is full; nothing was saved.")
    return StorageError(f"The bot's database failed ({error.__class__.__name__}); nothing was changed.")


class Database:
    """The one aiosqlite connection. Writes go through `transaction()` so they commit whole or not at all.

    SQLite has one transaction per connection: a second BEGIN while a long write (a 50,000-entry
    refresh) is open fails, and a read's cursor still open at COMMIT makes the commit fail. So every
    transaction and every read takes `_turn`, one at a time; the task already holding it (a read inside
    its own transaction) goes straight through.
    """

    def __init__(self, conn: aiosqlite.Connection, path: Path):
        self.conn = conn
        self.path = path
        self._turn = asyncio.Lock()
        self._holder: asyncio.Task | None = None

    @asynccontextmanager
    async def _exclusive(self) -> AsyncIterator[None]:
        task = asyncio.current_task()
        if self._holder is not None and self._holder is task:
            yield
            return
        async with self._turn:
            self._holder = task
            try:
                yield
            finally:
                self._holder = None

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[aiosqlite.Connection]:
        async with self._exclusive():
            try:
                await _run(self.conn, "BEGIN IMMEDIATE")
            except sqlite3.Error as error:
                raise _storage_error(error) from None
            try:
                yield self.conn
                await self.conn.commit()
            except BaseException as error:
                # Covers cancellation (shutdown mid-command) too: roll back, never leave half a write.
                await self.conn.rollback()
                if isinstance(error, sqlite3.Error):
                    raise _storage_error(error) from None
                raise

    async def fetchall(self, sql: str, params: tuple = ()) -> list[sqlite3.Row]:
        async with self._exclusive():
            try:
                async with self.conn.execute(sql, params) as cursor:
                    return list(await cursor.fetchall())
            except sqlite3.Error as error:
                raise _storage_error(error) from None

    async def fetchone(self, sql: str, params: tuple = ()) -> sqlite3.Row | None:
        rows = await self.fetchall(sql, params)
        return rows[0] if rows else None

    async def schema_version(self) -> int:
        row = await self.fetchone("PRAGMA user_version")
        return int(row[0])

    async def close(self) -> None:
        await self.conn.close()


async def execute(conn: aiosqlite.Connection, sql: str, params: tuple = ()) -> None:
    """One statement inside `transaction()`, its cursor closed before the commit."""
    async with conn.execute(sql, params):
        pass


async def _run(conn: aiosqlite.Connection, sql: str) -> list:
    """Execute one statement and close its cursor at once: a cursor left open (PRAGMA journal_mode
    returns a row) keeps a statement in progress, and the next COMMIT then fails."""
    async with conn.execute(sql) as cursor:
        return list(await cursor.fetchall())


async def _migrate(conn: aiosqlite.Connection) -> None:
    ((current,),) = await _run(conn, "PRAGMA user_version")
    for version, statements in enumerate(MIGRATIONS[current:], start=current + 1):
        await _run(conn, "BEGIN IMMEDIATE")
        try:
            for statement in statements:
                await _run(conn, statement)
            # PRAGMA takes no parameters; version is our own integer.
            await _run(conn, f"PRAGMA user_version = {int(version)}")
            await conn.commit()
        except BaseException:
            await conn.rollback()
            raise


async def open_database(path: Path | str) -> Database:
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        # isolation_level=None: we issue BEGIN ourselves, so a transaction spans exactly what we say.
        conn = await aiosqlite.connect(path, isolation_level=None)
    except (OSError, sqlite3.Error) as error:
        raise StorageError(
            f"Cannot open the database at {path} ({error.__class__.__name__}); check DATABASE_PATH and its folder's permissions."
        ) from None
    conn.row_factory = sqlite3.Row
    try:
        await _run(conn, "PRAGMA busy_timeout = 5000")
        await _run(conn, "PRAGMA foreign_keys = ON")
        await _run(conn, "PRAGMA journal_mode = WAL")
        await _migrate(conn)
    except BaseException as error:
        await conn.close()  # never leave the connection's thread running
        if not isinstance(error, sqlite3.Error):
            raise
        raise StorageError(
            f"Cannot open or migrate the database at {path} ({error}); check DATABASE_PATH, "
            "or move a damaged file aside."
        ) from None
    return Database(conn, path)
