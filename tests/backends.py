"""The storage tests' two backends: the SQLite file and a real PostgreSQL server.

A test that takes the ``backend`` fixture runs once per backend (``-m postgres`` picks the PostgreSQL runs).
Those need a server, named by TEST_DATABASE_URL; .ci/run starts one, and so does

    eval "$(bash .ci/postgres start /tmp/pg-tests)"

Without a reachable server the PostgreSQL runs are skipped, saying why, except in CI (CI=true), where they
fail instead: there they must run. Each test gets a schema of its own, dropped afterwards, so tests (and
developers sharing a server) never see each other's tables.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlencode, urlsplit, urlunsplit

import asyncpg
import pytest
from pydantic import SecretStr

from storage import Database, open_database

POSTGRES_ENV = "TEST_DATABASE_URL"
START_HINT = 'start one with: eval "$(bash .ci/postgres start /tmp/pg-tests)"'


def _unavailable(reason: str) -> None:
    if os.environ.get("CI") == "true":
        pytest.fail(f"PostgreSQL tests must run in CI, but {reason}", pytrace=False)
    pytest.skip(f"no PostgreSQL server for the tests: {reason}; {START_HINT}")


def with_query(url: str, **params: str) -> str:
    parts = urlsplit(url)
    query = "&".join(q for q in (parts.query, urlencode(params)) if q)
    return urlunsplit(parts._replace(query=query))


@pytest.fixture(scope="session")
def postgres_server() -> str:
    """TEST_DATABASE_URL, once a connection to it has worked."""
    url = os.environ.get(POSTGRES_ENV, "").strip()
    if not url:
        _unavailable(f"{POSTGRES_ENV} is not set")

    async def probe() -> None:
        conn = await asyncpg.connect(url, timeout=10)
        await conn.close()

    try:
        asyncio.run(probe())
    except Exception as error:  # whatever stops a connection, the reason is named
        parts = urlsplit(url)
        _unavailable(f"{parts.hostname}:{parts.port} did not accept a connection ({type(error).__name__})")
    return url


@dataclass
class Backend:
    """One backend for one test: where its database is, and the few things tests do behind the stores' back."""

    name: str
    tmp_path: Path
    server_url: str | None = None  # PostgreSQL: the server, without the test's schema
    schema: str | None = None

    @property
    def postgres(self) -> bool:
        return self.name == "postgresql"

    @property
    def path(self) -> Path:
        return self.tmp_path / "bot.sqlite3"

    def url(self, **server_settings: str) -> str:
        """PostgreSQL: the URL of this test's schema, with extra server settings (lock_timeout=...)."""
        return with_query(self.server_url, search_path=self.schema, **server_settings)

    def location(self, **server_settings: str) -> Path | SecretStr:
        return SecretStr(self.url(**server_settings)) if self.postgres else self.path

    async def open(self, **server_settings: str) -> Database:
        return await open_database(self.location(**server_settings))

    def settings(self) -> dict:
        """Overrides for make_settings / Settings: this backend as the bot's database."""
        if self.postgres:
            return {"database_url": self.url(), "database_path": self.path}
        return {"database_path": self.path}

    def env(self) -> dict[str, str]:
        """The same, as the environment of `python bot.py`."""
        if self.postgres:
            return {"DATABASE_URL": self.url(), "DATABASE_PATH": str(self.path)}
        return {"DATABASE_PATH": str(self.path)}

    async def admin(self) -> asyncpg.Connection:
        """PostgreSQL: a raw connection to this test's schema, as another process would have."""
        return await asyncpg.connect(self.url(), timeout=10)

    async def tables(self, db: Database) -> set[str]:
        if self.postgres:
            sql = "SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema()"
        else:
            sql = "SELECT name FROM sqlite_master WHERE type = 'table'"
        return {row[0] for row in await db.fetchall(sql)}

    async def everything_stored(self) -> bytes:
        """Every byte a copy of the database would hand someone: the SQLite files, or PostgreSQL's rows as text
        and (where pg_dump is installed) the schema's dump."""
        if not self.postgres:
            files = [Path(f"{self.path}{suffix}") for suffix in ("", "-wal", "-shm")]
            return b"".join(p.read_bytes() for p in files if p.exists())
        conn = await self.admin()
        try:
            names = [
                r[0] for r in await conn.fetch("SELECT tablename FROM pg_tables WHERE schemaname = $1", self.schema)
            ]
            texts = []
            for name in names:
                rows = await conn.fetch(f'SELECT t::text FROM "{self.schema}"."{name}" t')
                texts += [r[0] for r in rows]
        finally:
            await conn.close()
        stored = "\n".join(texts).encode()
        pg_dump = shutil.which("pg_dump")
        if pg_dump:
            dump = await asyncio.to_thread(
                subprocess.run,
                [pg_dump, "--no-owner", "-n", self.schema, "-d", self.server_url],
                capture_output=True,
                check=True,
                timeout=60,
            )
            stored += dump.stdout
        return stored


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def backend_kind(request) -> tuple[str, str | None]:
    if request.param == "sqlite":
        return "sqlite", None
    return "postgresql", request.getfixturevalue("postgres_server")


@asynccontextmanager
async def _own_schema(server: str, tmp_path: Path) -> AsyncIterator[Backend]:
    schema = f"t_{uuid.uuid4().hex[:16]}"
    conn = await asyncpg.connect(server, timeout=10)
    try:
        await conn.execute(f'CREATE SCHEMA "{schema}"')
    finally:
        await conn.close()
    try:
        yield Backend("postgresql", tmp_path, server_url=server, schema=schema)
    finally:
        conn = await asyncpg.connect(server, timeout=10)
        try:
            await conn.execute(f'DROP SCHEMA "{schema}" CASCADE')
        finally:
            await conn.close()


@pytest.fixture
async def backend(backend_kind, tmp_path):
    """Each backend in turn."""
    name, server = backend_kind
    if server is None:
        yield Backend(name, tmp_path)
        return
    async with _own_schema(server, tmp_path) as chosen:
        yield chosen


@pytest.fixture
async def pg_backend(postgres_server, tmp_path):
    """PostgreSQL only: for what only a server does (several processes, connections that drop)."""
    async with _own_schema(postgres_server, tmp_path) as chosen:
        yield chosen
