"""The embedded backend: one SQLite file through one aiosqlite connection, for one process."""

from __future__ import annotations

import asyncio
import sqlite3
import time
from collections.abc import AsyncIterator, Iterable, Sequence
from contextlib import asynccontextmanager
from pathlib import Path

import aiosqlite

from storage.base import Database, Notice, Row, Subscription, Transaction
from storage.errors import StorageError, newer_schema, sqlite_error
from storage.migrations import MIGRATIONS


class _SqliteTransaction(Transaction):
    def __init__(self, conn: aiosqlite.Connection):
        self._conn = conn
        self.notices: list[tuple[str, str]] = []

    async def execute(self, sql: str, params: Sequence = ()) -> int:
        # The cursor is closed before the commit: one left open keeps a statement in progress.
        async with self._conn.execute(sql, params) as cursor:
            return cursor.rowcount

    async def executemany(self, sql: str, rows: Iterable[Sequence]) -> None:
        await self._conn.executemany(sql, rows)

    async def fetchall(self, sql: str, params: Sequence = ()) -> list[Row]:
        async with self._conn.execute(sql, params) as cursor:
            return list(await cursor.fetchall())

    async def notify(self, channel: str, payload: str) -> None:
        self.notices.append((channel, payload))


class SqliteDatabase(Database):
    """The one aiosqlite connection. Writes go through `transaction()` so they commit whole or not at all.

    SQLite has one transaction per connection: a second BEGIN while a long write (a 50,000-entry
    refresh) is open fails, and a read's cursor still open at COMMIT makes the commit fail. So every
    transaction and every read takes `_turn`, one at a time; the task already holding it (a read inside
    its own transaction) goes straight through.

    One process owns the file, so locks and notifications stay in this process.
    """

    dialect = "sqlite"

    def __init__(self, conn: aiosqlite.Connection, path: Path):
        self.conn = conn
        self.path = path
        self._turn = asyncio.Lock()
        self._holder: asyncio.Task | None = None
        self._locks: set[str] = set()
        self._subscriptions: dict[str, set[Subscription]] = {}

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
    async def transaction(self) -> AsyncIterator[Transaction]:
        async with self._exclusive():
            try:
                await _run(self.conn, "BEGIN IMMEDIATE")
            except sqlite3.Error as error:
                raise sqlite_error(error) from None
            tx = _SqliteTransaction(self.conn)
            try:
                yield tx
                await self.conn.commit()
            except BaseException as error:
                # Covers cancellation (shutdown mid-command) too: roll back, never leave half a write.
                await self.conn.rollback()
                if isinstance(error, sqlite3.Error):
                    raise sqlite_error(error) from None
                raise
        for channel, payload in tx.notices:
            for subscription in list(self._subscriptions.get(channel, ())):
                subscription.deliver(Notice(payload, from_here=True))

    async def fetchall(self, sql: str, params: Sequence = ()) -> list[Row]:
        async with self._exclusive():
            try:
                async with self.conn.execute(sql, params) as cursor:
                    return list(await cursor.fetchall())
            except sqlite3.Error as error:
                raise sqlite_error(error) from None

    async def schema_version(self) -> int:
        row = await self.fetchone("PRAGMA user_version")
        return int(row[0])

    @asynccontextmanager
    async def try_lock(self, name: str) -> AsyncIterator[bool]:
        if name in self._locks:
            yield False
            return
        self._locks.add(name)
        try:
            yield True
        finally:
            self._locks.discard(name)

    async def listen(self, channel: str) -> Subscription:
        subscription = Subscription(channel, self._unsubscribe)
        self._subscriptions.setdefault(channel, set()).add(subscription)
        return subscription

    async def _unsubscribe(self, subscription: Subscription) -> None:
        self._subscriptions.get(subscription.channel, set()).discard(subscription)

    def clock(self) -> float:
        return time.time()

    async def close(self) -> None:
        for subscriptions in list(self._subscriptions.values()):
            for subscription in list(subscriptions):
                await subscription.close()
        await self.conn.close()


async def _run(conn: aiosqlite.Connection, sql: str) -> list:
    """Execute one statement and close its cursor at once: a cursor left open (PRAGMA journal_mode
    returns a row) keeps a statement in progress, and the next COMMIT then fails."""
    async with conn.execute(sql) as cursor:
        return list(await cursor.fetchall())


async def _migrate(conn: aiosqlite.Connection, path: Path) -> None:
    ((current,),) = await _run(conn, "PRAGMA user_version")
    if current > len(MIGRATIONS):
        raise newer_schema(str(path), current, len(MIGRATIONS), "DATABASE_PATH")
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


async def open_sqlite(path: Path) -> SqliteDatabase:
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
        await _migrate(conn, path)
    except BaseException as error:
        await conn.close()  # never leave the connection's thread running
        if not isinstance(error, sqlite3.Error):
            raise
        raise StorageError(
            f"Cannot open or migrate the database at {path} ({error}); check DATABASE_PATH, "
            "or move a damaged file aside."
        ) from None
    return SqliteDatabase(conn, path)
