"""What every store may ask of the database, whichever backend holds it.

Two backends implement it: the embedded SQLite file (storage/sqlite.py, the default: one process) and a
PostgreSQL server (storage/postgres.py, ``DATABASE_URL``: one or many processes). The stores write one SQL
for both: ``?`` placeholders, and the types and syntax both accept (the PostgreSQL backend renumbers the
placeholders; storage/migrations.py says how the schema is rendered for each).

Besides tables, the database is where processes meet: ``try_lock`` (a job runs in one process at a time),
``Transaction.notify`` and ``listen`` (a change told to every process once it is committed) and ``clock``
(one time for everyone).
"""

from __future__ import annotations

import asyncio
from abc import ABC, abstractmethod
from collections.abc import Iterable, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from typing import Any, ClassVar

# A row reads by position and by column name (sqlite3.Row, asyncpg.Record).
Row = Any


class Transaction(ABC):
    """Statements that commit whole or not at all. Only the task that opened it may use it."""

    @abstractmethod
    async def execute(self, sql: str, params: Sequence = ()) -> int:
        """Run one statement; returns how many rows it changed."""

    @abstractmethod
    async def executemany(self, sql: str, rows: Iterable[Sequence]) -> None: ...

    @abstractmethod
    async def fetchall(self, sql: str, params: Sequence = ()) -> list[Row]: ...

    async def fetchone(self, sql: str, params: Sequence = ()) -> Row | None:
        rows = await self.fetchall(sql, params)
        return rows[0] if rows else None

    @abstractmethod
    async def notify(self, channel: str, payload: str) -> None:
        """Tell every process listening on ``channel`` (this one included), once this transaction commits;
        nothing is told if it rolls back. ``payload`` is short (a world id), under 8,000 bytes."""


@dataclass(frozen=True)
class Notice:
    """One notification. ``payload`` None: notifications may have been missed (a lost connection, a full
    queue), so whatever they would have said must be re-read. ``from_here``: this process sent it."""

    payload: str | None
    from_here: bool = False


class Subscription:
    """The notifications of one channel, in order: ``async for notice in subscription``. Ends at ``close()``."""

    QUEUE_LIMIT = 1000

    def __init__(self, channel: str, on_close):
        self.channel = channel
        self._queue: asyncio.Queue[Notice | None] = asyncio.Queue()
        self._on_close = on_close
        self.closed = False

    def deliver(self, notice: Notice) -> None:
        if self.closed:
            return
        if self._queue.qsize() >= self.QUEUE_LIMIT:
            # Nobody is reading fast enough: drop what is queued and say "re-read everything" once.
            while not self._queue.empty():
                self._queue.get_nowait()
            notice = Notice(None)
        self._queue.put_nowait(notice)

    def __aiter__(self) -> Subscription:
        return self

    async def __anext__(self) -> Notice:
        notice = await self._queue.get()
        if notice is None:
            raise StopAsyncIteration
        return notice

    async def close(self) -> None:
        if not self.closed:
            self.closed = True
            self._queue.put_nowait(None)
            await self._on_close(self)


class Database(ABC):
    dialect: ClassVar[str]

    @abstractmethod
    def transaction(self) -> AbstractAsyncContextManager[Transaction]:
        """Commits when the block ends, rolls back on any exception (cancellation included)."""

    @abstractmethod
    async def fetchall(self, sql: str, params: Sequence = ()) -> list[Row]: ...

    async def fetchone(self, sql: str, params: Sequence = ()) -> Row | None:
        rows = await self.fetchall(sql, params)
        return rows[0] if rows else None

    @abstractmethod
    async def schema_version(self) -> int: ...

    @abstractmethod
    def try_lock(self, name: str) -> AbstractAsyncContextManager[bool]:
        """Holds the lock ``name`` for the block if no process holds it (True), else does nothing (False).
        A process that dies releases its locks."""

    @abstractmethod
    async def listen(self, channel: str) -> Subscription:
        """The notifications sent on ``channel`` from now on, by any process."""

    @abstractmethod
    def clock(self) -> float:
        """UNIX time every process sharing the database agrees on (the server's, for PostgreSQL)."""

    @abstractmethod
    async def close(self) -> None: ...
