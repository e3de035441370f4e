"""The shared backend: a PostgreSQL server through asyncpg, for one process or many.

The stores' SQL is SQLite's and PostgreSQL's both; ``postgres_sql`` only renumbers ``?`` placeholders as
``$1, $2…``. Locks are PostgreSQL advisory locks and notifications are LISTEN/NOTIFY, both scoped to the
schema the bot's tables live in (``?search_path=…`` in DATABASE_URL), so two deployments sharing a
database never see each other's.
"""

from __future__ import annotations

import asyncio
import contextvars
import hashlib
import logging
import time
import uuid
from collections.abc import AsyncIterator, Iterable, Sequence
from contextlib import asynccontextmanager
from functools import lru_cache
from urllib.parse import parse_qs, urlsplit

import asyncpg
from pydantic import SecretStr

from core.errors import connection_reason
from storage.base import Database, Notice, Row, Subscription, Transaction
from storage.errors import BUSY, POSTGRES_ERRORS, StorageError, newer_schema, postgres_error
from storage.migrations import MIGRATIONS, POSTGRES_PRELUDE, for_postgres

log = logging.getLogger(__name__)

# How long a statement waits for another process's lock before "busy" (SQLite's busy_timeout is 5 s too).
# DATABASE_URL may set its own: ?lock_timeout=2s
DEFAULT_SERVER_SETTINGS = {"lock_timeout": "5s", "application_name": "foundry-campaign-bot"}
CONNECT_TIMEOUT = 10.0
POOL_SIZE = 10
# How long a statement waits for one of the pool's connections (all in use: the database is busy).
ACQUIRE_TIMEOUT = 10.0
_RECONNECT_DELAYS = (0.2, 0.5, 1.0, 2.0, 5.0, 10.0)
# (database, task, connection) of the transaction the current task holds, so its own reads see its writes.
_CURRENT: contextvars.ContextVar[tuple[Database, asyncio.Task | None, asyncpg.Connection] | None] = (
    contextvars.ContextVar("current_postgres_transaction", default=None)
)


@lru_cache(maxsize=512)
def postgres_sql(sql: str) -> str:
    """``?`` placeholders (outside quoted text) renumbered as PostgreSQL's ``$1, $2…``."""
    out: list[str] = []
    number = 0
    quoted = False
    for ch in sql:
        if ch == "'":
            quoted = not quoted
        elif ch == "?" and not quoted:
            number += 1
            out.append(f"${number}")
            continue
        out.append(ch)
    return "".join(out)


def _storable(params: Sequence) -> tuple:
    # PostgreSQL's text cannot hold U+0000 (SQLite's can): replaced, as valid_unicode replaces lone surrogates.
    return tuple(p.replace("\x00", "\ufffd") if isinstance(p, str) and "\x00" in p else p for p in params)


def _rows_changed(status: str) -> int:
    last = status.rsplit(" ", 1)[-1]
    return int(last) if last.isdigit() else 0


class _PostgresTransaction(Transaction):
    def __init__(self, conn: asyncpg.Connection, db: PostgresDatabase):
        self._conn = conn
        self._db = db

    async def execute(self, sql: str, params: Sequence = ()) -> int:
        return _rows_changed(await self._conn.execute(postgres_sql(sql), *_storable(params)))

    async def executemany(self, sql: str, rows: Iterable[Sequence]) -> None:
        batch = [_storable(row) for row in rows]
        if batch:
            await self._conn.executemany(postgres_sql(sql), batch)

    async def fetchall(self, sql: str, params: Sequence = ()) -> list[Row]:
        return await self._conn.fetch(postgres_sql(sql), *_storable(params))

    async def notify(self, channel: str, payload: str) -> None:
        await self._conn.execute(
            "SELECT pg_notify($1, $2)", self._db.channel_name(channel), f"{self._db.origin} {payload}"
        )


class PostgresDatabase(Database):
    dialect = "postgresql"

    def __init__(self, pool: asyncpg.Pool, dsn: SecretStr, namespace: str, clock_offset: float):
        self._pool = pool
        self._dsn = dsn
        self.namespace = namespace  # the schema holding the bot's tables
        self._clock_offset = clock_offset
        self.origin = uuid.uuid4().hex[:12]  # tells this process's notifications from the others'
        self._listener: asyncpg.Connection | None = None
        self._listener_lock = asyncio.Lock()
        self._subscriptions: dict[str, set[Subscription]] = {}
        self._reconnecting: asyncio.Task | None = None
        self._closed = False

    # --- statements -----------------------------------------------------------------------------------

    def _own_transaction(self) -> asyncpg.Connection | None:
        current = _CURRENT.get()
        if current is not None and current[0] is self and current[1] is asyncio.current_task():
            return current[2]
        return None

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[Transaction]:
        if self._own_transaction() is not None:
            raise RuntimeError("transactions do not nest")
        conn = await self._acquire()
        token = _CURRENT.set((self, asyncio.current_task(), conn))
        committing = False
        try:
            tx = conn.transaction()
            await tx.start()
            try:
                yield _PostgresTransaction(conn, self)
                committing = True
                await tx.commit()
            except BaseException:
                if not committing and not _is_closed(conn):
                    await _quietly(tx.rollback())
                raise
        except POSTGRES_ERRORS as error:
            raise postgres_error(error, at_commit=committing, closed=_is_closed(conn)) from None
        finally:
            _CURRENT.reset(token)
            await _release(self._pool, conn)

    async def _acquire(self) -> asyncpg.Connection:
        try:
            return await self._pool.acquire(timeout=ACQUIRE_TIMEOUT)
        except TimeoutError:
            raise StorageError(BUSY, temporary=True) from None
        except POSTGRES_ERRORS as error:
            raise postgres_error(error) from None

    async def fetchall(self, sql: str, params: Sequence = ()) -> list[Row]:
        own = self._own_transaction()
        if own is not None:
            try:
                return await own.fetch(postgres_sql(sql), *_storable(params))
            except POSTGRES_ERRORS as error:
                raise postgres_error(error, closed=_is_closed(own)) from None
        conn = await self._acquire()
        try:
            return await conn.fetch(postgres_sql(sql), *_storable(params))
        except POSTGRES_ERRORS as error:
            raise postgres_error(error, closed=_is_closed(conn)) from None
        finally:
            await _release(self._pool, conn)

    async def schema_version(self) -> int:
        row = await self.fetchone("SELECT version FROM schema_version")
        return int(row[0])

    # --- between processes ----------------------------------------------------------------------------

    def lock_key(self, name: str) -> int:
        """The advisory lock's 64-bit key for ``name`` in this schema."""
        digest = hashlib.sha256(f"{self.namespace}\x00{name}".encode()).digest()
        return int.from_bytes(digest[:8], "big", signed=True)

    def channel_name(self, channel: str) -> str:
        name = f"{channel}.{self.namespace}"
        if len(name.encode()) > 63:  # PostgreSQL's longest identifier
            name = f"{channel[:40]}.{hashlib.sha256(self.namespace.encode()).hexdigest()[:16]}"
        return name

    @asynccontextmanager
    async def try_lock(self, name: str) -> AsyncIterator[bool]:
        key = self.lock_key(name)
        conn = await self._acquire()
        try:
            try:
                held = await conn.fetchval("SELECT pg_try_advisory_lock($1)", key)
            except POSTGRES_ERRORS as error:
                raise postgres_error(error) from None
            if not held:
                yield False
                return
            try:
                yield True
            finally:
                try:
                    await conn.execute("SELECT pg_advisory_unlock($1)", key)
                except BaseException:
                    # Never hand a connection that may still hold the lock back to the pool: closing it
                    # is what releases the lock for sure.
                    if not _is_closed(conn):
                        conn.terminate()
                    raise
        finally:
            await _release(self._pool, conn)

    async def listen(self, channel: str) -> Subscription:
        subscription = Subscription(channel, self._unsubscribe)
        async with self._listener_lock:
            try:
                conn = await self._listening_connection()
                if channel not in self._subscriptions:
                    await conn.add_listener(self.channel_name(channel), self._on_notification)
                    self._subscriptions[channel] = set()
            except POSTGRES_ERRORS as error:
                raise postgres_error(error) from None
            self._subscriptions[channel].add(subscription)
        return subscription

    async def _listening_connection(self) -> asyncpg.Connection:
        """The one connection that LISTENs (a pooled one would be handed to others): made on first use and
        made again, listening to every channel, if the server drops it."""
        if self._listener is None or self._listener.is_closed():
            self._listener = await _connect(self._dsn)
            self._listener.add_termination_listener(self._on_listener_lost)
        return self._listener

    def _on_notification(self, conn, pid, channel: str, payload: str) -> None:
        origin, _, value = payload.partition(" ")
        for name, subscriptions in self._subscriptions.items():
            if self.channel_name(name) == channel:
                for subscription in list(subscriptions):
                    subscription.deliver(Notice(value, from_here=origin == self.origin))

    def _on_listener_lost(self, conn) -> None:
        if not self._closed and self._reconnecting is None:
            self._reconnecting = asyncio.get_running_loop().create_task(self._listen_again())

    async def _listen_again(self) -> None:
        try:
            for attempt in range(10_000):
                await asyncio.sleep(_RECONNECT_DELAYS[min(attempt, len(_RECONNECT_DELAYS) - 1)])
                if self._closed:
                    return
                try:
                    async with self._listener_lock:
                        self._listener = None
                        conn = await self._listening_connection()
                        for channel in self._subscriptions:
                            await conn.add_listener(self.channel_name(channel), self._on_notification)
                except POSTGRES_ERRORS as error:
                    log.warning("Listening for changes again failed (%s); retrying", type(error).__name__)
                    continue
                # Whatever was sent while nobody listened is lost: every subscriber re-reads.
                for subscriptions in self._subscriptions.values():
                    for subscription in list(subscriptions):
                        subscription.deliver(Notice(None))
                return
        finally:
            self._reconnecting = None

    async def _unsubscribe(self, subscription: Subscription) -> None:
        async with self._listener_lock:
            remaining = self._subscriptions.get(subscription.channel)
            if remaining is None:
                return
            remaining.discard(subscription)
            if not remaining:
                del self._subscriptions[subscription.channel]
                if self._listener is not None and not self._listener.is_closed():
                    await _quietly(
                        self._listener.remove_listener(self.channel_name(subscription.channel), self._on_notification)
                    )

    def clock(self) -> float:
        return time.time() + self._clock_offset

    async def close(self) -> None:
        self._closed = True
        if self._reconnecting is not None:
            self._reconnecting.cancel()
        for subscriptions in list(self._subscriptions.values()):
            for subscription in list(subscriptions):
                await subscription.close()
        if self._listener is not None:
            await _quietly(self._listener.close(timeout=5))
        await _quietly(self._pool.close())


async def _quietly(step) -> None:
    """A clean-up step on a connection that may already be gone."""
    try:
        await step
    except POSTGRES_ERRORS:  # TimeoutError included
        pass


def _is_closed(conn: asyncpg.Connection) -> bool:
    try:
        return conn.is_closed()
    except asyncpg.InterfaceError:  # the pool took it back on its own when the server hung up
        return True


async def _release(pool: asyncpg.Pool, conn: asyncpg.Connection) -> None:
    try:
        await pool.release(conn)
    except POSTGRES_ERRORS:
        if not _is_closed(conn):
            conn.terminate()


def where(dsn: SecretStr) -> str:
    """The server and database a DATABASE_URL names, for messages: never its password."""
    parts = urlsplit(dsn.get_secret_value())
    host = parts.hostname or "localhost"
    port = f":{parts.port}" if parts.port else ""
    return f"{host}{port}{parts.path or '/'}"


def _server_settings(dsn: SecretStr) -> dict[str, str]:
    given = parse_qs(urlsplit(dsn.get_secret_value()).query)
    return {name: value for name, value in DEFAULT_SERVER_SETTINGS.items() if name not in given}


async def _connect(dsn: SecretStr) -> asyncpg.Connection:
    return await asyncpg.connect(dsn.get_secret_value(), timeout=CONNECT_TIMEOUT, server_settings=_server_settings(dsn))


def _cannot_connect(dsn: SecretStr, error: BaseException) -> StorageError:
    if isinstance(error, ValueError):  # asyncpg's word for a URL it cannot read
        reason = "the URL is not a valid postgresql:// address"
    elif isinstance(error, asyncpg.InvalidPasswordError | asyncpg.InvalidAuthorizationSpecificationError):
        reason = "the server refused the user name or password"
    elif isinstance(error, asyncpg.InvalidCatalogNameError):
        reason = "no such database"
    elif isinstance(error, TimeoutError):
        reason = "no answer in time"
    elif isinstance(error, OSError):
        reason = connection_reason(error)
    else:
        reason = type(error).__name__
    return StorageError(
        f"Cannot connect to the PostgreSQL database at {where(dsn)} ({reason}); check DATABASE_URL and that the "
        "server is running.",
        temporary=isinstance(error, OSError | TimeoutError | asyncpg.CannotConnectNowError),
    )


async def _migrate(conn: asyncpg.Connection, namespace: str) -> None:
    # Several processes may start at once: one migrates, the others wait for it, then find nothing to do.
    key = int.from_bytes(hashlib.sha256(f"{namespace}\x00migrations".encode()).digest()[:8], "big", signed=True)
    await conn.execute("SELECT pg_advisory_lock($1)", key)
    try:
        known = await conn.fetchval("SELECT to_regclass('schema_version') IS NOT NULL")
        if not known:
            async with conn.transaction():
                for statement in POSTGRES_PRELUDE:
                    await conn.execute(statement)
        current = await conn.fetchval("SELECT version FROM schema_version")
        if current > len(MIGRATIONS):
            raise newer_schema(f"the schema {namespace}", current, len(MIGRATIONS), "DATABASE_URL")
        for version, statements in enumerate(MIGRATIONS[current:], start=current + 1):
            async with conn.transaction():
                for statement in statements:
                    await conn.execute(for_postgres(statement))
                await conn.execute("UPDATE schema_version SET version = $1", version)
    finally:
        await _quietly(conn.execute("SELECT pg_advisory_unlock($1)", key))


async def open_postgres(dsn: SecretStr) -> PostgresDatabase:
    try:
        pool = await asyncpg.create_pool(
            dsn.get_secret_value(),
            min_size=1,
            max_size=POOL_SIZE,
            timeout=CONNECT_TIMEOUT,
            server_settings=_server_settings(dsn),
        )
    except (*POSTGRES_ERRORS, ValueError) as error:
        raise _cannot_connect(dsn, error) from None
    try:
        async with pool.acquire() as conn:
            namespace = await conn.fetchval("SELECT current_schema()")
            if namespace is None:
                raise StorageError(
                    f"The PostgreSQL database at {where(dsn)} has no schema to hold the bot's tables: create the "
                    "one DATABASE_URL's search_path names, or grant the role CREATE on it."
                )
            await _migrate(conn, namespace)
            before = time.time()
            server = await conn.fetchval("SELECT extract(epoch FROM clock_timestamp())::float8")
            offset = float(server) - (before + time.time()) / 2
    except BaseException as error:
        await _quietly(pool.close())
        if isinstance(error, POSTGRES_ERRORS):
            raise StorageError(
                f"Cannot open or migrate the PostgreSQL database at {where(dsn)} ({type(error).__name__}: "
                f"{_first_line(error)}); check DATABASE_URL and the role's privileges."
            ) from None
        raise
    return PostgresDatabase(pool, dsn, namespace, offset)


def _first_line(error: BaseException) -> str:
    # The server's own words (e.g. "permission denied for schema public"); they never hold the URL.
    return str(error).splitlines()[0][:200] if str(error) else ""
