"""Every store on both backends (the SQLite file, a real PostgreSQL server): migrations, the atomic replace of a
name map, failures that change nothing and read the same on both."""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
from urllib.parse import urlsplit

import asyncpg
import pytest
from pydantic import SecretStr

from services.maps.world_maps import NameMaps
from storage import NameEntry, NameMapStore, ReleaseStore, StorageError, WorldChoiceStore, open_database, postgres
from storage.errors import postgres_error, sqlite_error
from storage.migrations import MIGRATIONS, POSTGRES_PRELUDE, for_postgres
from storage.player_links import PlayerLinkStore
from storage.postgres import postgres_sql
from storage.visibility import VisibilityStore

BIG_ID = 2**63 - 1  # Discord ids are 64-bit


def entries(*names: str, folder: str | None = None) -> list[NameEntry]:
    return [NameEntry(uuid=f"JournalEntry.{i:016d}", name=n, folder=folder) for i, n in enumerate(names)]


async def test_first_open_creates_the_schema_at_the_latest_version(backend):
    if not backend.postgres:
        backend.tmp_path = backend.tmp_path / "sub"  # the folder is created too
    db = await backend.open()
    try:
        assert await db.schema_version() == len(MIGRATIONS)
        tables = await backend.tables(db)
        assert {"name_entries", "name_maps", "guild_worlds", "release_cooldowns", "release_log"} <= tables
        assert {"guild_settings", "guild_secrets", "pacing_buckets"} <= tables
    finally:
        await db.close()


async def _database_at_version_1(backend) -> None:
    """A database as the first release left it, holding one world choice."""
    if backend.postgres:
        conn = await backend.admin()
        try:
            for statement in POSTGRES_PRELUDE + [for_postgres(s) for s in MIGRATIONS[0]]:
                await conn.execute(statement)
            await conn.execute("UPDATE schema_version SET version = 1")
            await conn.execute("INSERT INTO guild_worlds VALUES (1, 'client-a', 'Old world', NULL, 0)")
        finally:
            await conn.close()
        return
    conn = sqlite3.connect(backend.path)
    for statement in MIGRATIONS[0]:
        conn.execute(statement)
    conn.execute("PRAGMA user_version = 1")
    conn.execute("INSERT INTO guild_worlds VALUES (1, 'client-a', 'Old world', NULL, 0)")
    conn.commit()
    conn.close()


async def test_an_old_database_is_migrated_forward_and_keeps_its_rows(backend):
    await _database_at_version_1(backend)
    db = await backend.open()
    try:
        assert await db.schema_version() == len(MIGRATIONS)
        assert (await WorldChoiceStore(db).get(1)).client_id == "client-a"
        await ReleaseStore(db).set_cooldown("pkg", 9e9)  # a table from migration 2 works
    finally:
        await db.close()


async def test_reopening_applies_nothing_twice(backend):
    await (await backend.open()).close()
    db = await backend.open()
    try:
        assert await db.schema_version() == len(MIGRATIONS)
    finally:
        await db.close()


async def test_processes_starting_at_once_migrate_once(pg_backend):
    backend = pg_backend
    opened = await asyncio.gather(*(backend.open() for _ in range(3)))
    try:
        for db in opened:
            assert await db.schema_version() == len(MIGRATIONS)
    finally:
        for db in opened:
            await db.close()


async def test_replace_counts_added_removed_and_renamed(backend):
    db = await backend.open()
    store = NameMapStore(db)
    try:
        first = await NameMaps(store).replace("w", entries("Alpha", "Beta", "Gamma"), complete=True)
        assert (first.total, first.added, first.removed, first.renamed) == (3, 3, 0, 0)
        changed = entries("Alpha", "Beta II")  # Gamma gone, Beta renamed
        changed.append(NameEntry("JournalEntry.new", "Delta", None))
        second = await NameMaps(store).replace("w", changed, complete=False, note="capped")
        assert (second.total, second.added, second.removed, second.renamed) == (3, 1, 1, 1)
        assert {e.name for e in await store.entries("w")} == {"Alpha", "Beta II", "Delta"}
        info = await store.info("w")
        assert info.total == 3 and info.complete is False and info.note == "capped"
    finally:
        await db.close()


async def test_apply_writes_only_the_difference(backend):
    db = await backend.open()
    store = NameMapStore(db)
    try:
        await NameMaps(store).replace("w", entries("Alpha", "Beta", "Gamma"), complete=True)
        old = {e.uuid: e.name for e in await store.entries("w")}
        [alpha, beta, gamma] = entries("Alpha", "Beta", "Gamma")
        counts = await store.apply(
            "w",
            [NameEntry(beta.uuid, "Beta II", "Folder"), NameEntry("JournalEntry.new", "Delta", None)],
            [gamma.uuid],
            complete=True,
            note=None,
            old_names=old.get,
        )
        assert (counts.total, counts.added, counts.removed, counts.renamed) == (3, 1, 1, 1)
        assert [(e.name, e.folder) for e in await store.entries("w")] == [
            ("Alpha", None),
            ("Beta II", "Folder"),
            ("Delta", None),
        ]
    finally:
        await db.close()


async def test_names_come_back_in_case_insensitive_order(backend):
    db = await backend.open()
    store = NameMapStore(db)
    try:
        await NameMaps(store).replace("w", entries("beta", "Alpha", "Gamma", "alpine"), complete=True)
        assert [e.name for e in await store.entries("w")] == ["Alpha", "alpine", "beta", "Gamma"]
    finally:
        await db.close()


async def test_a_failed_replace_leaves_the_old_map_whole(backend):
    db = await backend.open()
    store = NameMapStore(db)
    try:
        await NameMaps(store).replace("w", entries("Alpha", "Beta"), complete=True)
        before = await store.entries("w")

        def broken():
            yield NameEntry("JournalEntry.1", "One", None)
            raise RuntimeError("relay failed midway")

        with pytest.raises(RuntimeError):
            await NameMaps(store).replace("w", broken(), complete=True)
        assert await store.entries("w") == before
        assert (await store.info("w")).complete is True
    finally:
        await db.close()


async def test_a_transaction_that_fails_midway_writes_nothing(backend):
    db = await backend.open()
    try:
        with pytest.raises(RuntimeError):
            async with db.transaction() as tx:
                await tx.execute("INSERT INTO guild_worlds VALUES (1, 'client-a', NULL, NULL, 0)")
                assert await tx.fetchone("SELECT client_id FROM guild_worlds WHERE guild_id = 1") is not None
                raise RuntimeError("the relay failed midway")
        assert await WorldChoiceStore(db).get(1) is None
    finally:
        await db.close()


async def test_maps_of_different_worlds_are_separate(backend):
    db = await backend.open()
    store = NameMapStore(db)
    try:
        await NameMaps(store).replace("a", entries("Alpha"), complete=True)
        await NameMaps(store).replace("b", entries("Beta", "Gamma"), complete=True)
        await NameMaps(store).replace("a", [], complete=True)
        assert [e.name for e in await store.entries("b")] == ["Beta", "Gamma"]
        assert await store.entries("a") == []
        assert await store.worlds() == ["a", "b"]
    finally:
        await db.close()


async def test_text_neither_database_can_hold_is_stored_replaced(backend):
    """Lone surrogates (from Foundry's JSON) on both; U+0000 on PostgreSQL, whose text cannot hold it."""
    db = await backend.open()
    try:
        await WorldChoiceStore(db).set(1, "client-a", "Bad \ud800 label", chosen_by=None)
        assert (await WorldChoiceStore(db).get(1)).label == "Bad \ufffd label"
        await NameMaps(NameMapStore(db)).replace("w", [NameEntry("JournalEntry.x", "A\x00B", None)], complete=True)
        [entry] = await NameMapStore(db).entries("w")
        assert entry.name == ("A\ufffdB" if backend.postgres else "A\x00B")
    finally:
        await db.close()


async def test_discord_ids_and_times_keep_every_digit(backend):
    db = await backend.open()
    try:
        await WorldChoiceStore(db).set(BIG_ID, "client-a", None, chosen_by=BIG_ID - 1)
        assert (await WorldChoiceStore(db).get(BIG_ID)).client_id == "client-a"
        links = PlayerLinkStore(db)
        await links.link(BIG_ID, "w", BIG_ID, "user1", "Ana", linked_by=BIG_ID)
        assert (await links.get(BIG_ID, "w", BIG_ID)).member_id == BIG_ID
        until = 1_767_225_600.123456
        await ReleaseStore(db).set_cooldown("pkg", until)
        assert await ReleaseStore(db).cooldown_until("pkg", now=until - 1) == until
    finally:
        await db.close()


async def test_player_links_and_views_on_both(backend):
    db = await backend.open()
    try:
        links = PlayerLinkStore(db)
        await links.link(1, "w", 10, "u1", "Ana", linked_by=None)
        await links.link(1, "w", 11, "u2", "Bo", linked_by=None)
        assert await links.linked_users("w") == {"u1", "u2"}
        assert await links.unlink(1, "w", 10) is True
        assert await links.unlink(1, "w", 10) is False  # the count of deleted rows reads the same on both
        assert [link.member_id for link in await links.for_guild(1, "w")] == [11]

        views = VisibilityStore(db)
        await views.replace("w", "u1", [("JournalEntry.a", False), ("JournalEntry.b", True)])
        await views.replace("w", "u2", [("JournalEntry.a", False)])
        assert await views.load("w", "u1") == {"JournalEntry.a": False, "JournalEntry.b": True}
        await views.forget("w", keep={"u2"})
        assert await views.load("w", "u1") is None
        assert await views.load("w", "u2") == {"JournalEntry.a": False}
    finally:
        await db.close()


async def test_a_read_only_database_is_reported_and_nothing_is_half_written(backend):
    db = await backend.open()
    await NameMaps(NameMapStore(db)).replace("w", entries("Alpha"), complete=True)
    await db.close()

    if backend.postgres:  # a standby, or a role whose transactions are read-only
        ro = await backend.open(default_transaction_read_only="on")
    else:
        ro = await backend.open()
        await ro.conn.execute("PRAGMA query_only = ON")  # what a read-only file looks like to SQLite
    try:
        with pytest.raises(StorageError) as raised:
            await NameMaps(NameMapStore(ro)).replace("w", entries("Beta"), complete=True)
        assert "read-only" in raised.value.message
        assert ("DATABASE_URL" if backend.postgres else "DATABASE_PATH") in raised.value.message
        assert [e.name for e in await NameMapStore(ro).entries("w")] == ["Alpha"]
    finally:
        await ro.close()


async def test_a_busy_database_is_reported_as_temporary(backend):
    if backend.postgres:
        db = await backend.open(lock_timeout="50ms")
        blocker = await backend.admin()  # another process, in the middle of a long write
        await blocker.execute("BEGIN")
        await blocker.execute("LOCK TABLE name_entries IN ACCESS EXCLUSIVE MODE")
    else:
        db = await backend.open()
        await db.conn.execute("PRAGMA busy_timeout = 50")
        blocker = sqlite3.connect(backend.path)
        blocker.execute("BEGIN EXCLUSIVE")
    try:
        with pytest.raises(StorageError) as raised:
            await NameMaps(NameMapStore(db)).replace("w", entries("Alpha"), complete=True)
        assert raised.value.temporary and raised.value.message == (
            "The bot's database is busy right now; nothing was changed. Try again in a moment."
        )
    finally:
        if backend.postgres:
            await blocker.close()
        else:
            blocker.rollback()
            blocker.close()
        await db.close()


async def test_a_connection_lost_mid_write_changes_nothing_and_the_next_write_works(pg_backend):
    backend = pg_backend
    db = await backend.open()
    admin = await backend.admin()
    store = WorldChoiceStore(db)
    try:
        with pytest.raises(StorageError) as raised:
            async with db.transaction() as tx:
                await tx.execute("INSERT INTO guild_worlds VALUES (1, 'client-a', NULL, NULL, 0)")
                (pid,) = await tx.fetchone("SELECT pg_backend_pid()")
                await admin.execute("SELECT pg_terminate_backend($1)", pid)  # the server restarts, say
                await tx.execute("INSERT INTO guild_worlds VALUES (2, 'client-b', NULL, NULL, 0)")
        assert raised.value.temporary and not raised.value.uncertain
        assert "cannot be reached" in raised.value.message and "nothing was changed" in raised.value.message
        assert await store.get(1) is None
        await store.set(3, "client-c", None, chosen_by=None)  # a fresh connection from the pool
        assert (await store.get(3)).client_id == "client-c"
    finally:
        await admin.close()
        await db.close()


async def test_every_connection_in_use_reads_as_busy(pg_backend, monkeypatch):
    monkeypatch.setattr(postgres, "ACQUIRE_TIMEOUT", 0.2)
    db = await pg_backend.open()
    try:
        async with contextlib.AsyncExitStack() as held:
            for n in range(postgres.POOL_SIZE):  # long jobs, each holding a connection
                assert await held.enter_async_context(db.try_lock(f"job-{n}"))
            with pytest.raises(StorageError) as raised:
                await WorldChoiceStore(db).get(1)
            assert raised.value.temporary and "busy" in raised.value.message
        assert await WorldChoiceStore(db).get(1) is None  # once they finish
    finally:
        await db.close()


async def test_two_processes_see_each_others_writes_at_once(pg_backend):
    backend = pg_backend
    first, second = await backend.open(), await backend.open()
    try:
        await NameMaps(NameMapStore(first)).replace("w", entries("Alpha"), complete=True)
        assert [e.name for e in await NameMapStore(second).entries("w")] == ["Alpha"]
        # A long write in one process does not hold up the other's reads.
        async with first.transaction() as tx:
            await tx.execute("DELETE FROM name_entries WHERE world = ?", ("w",))
            assert [e.name for e in await NameMapStore(second).entries("w")] == ["Alpha"]
            assert await tx.fetchall("SELECT * FROM name_entries WHERE world = ?", ("w",)) == []
        assert await NameMapStore(second).entries("w") == []
    finally:
        await first.close()
        await second.close()


async def test_an_unreachable_postgresql_server_is_named_without_its_password():
    url = "postgresql://bot:hunter2-secret-pw@127.0.0.1:1/botdb"
    with pytest.raises(StorageError) as raised:
        await open_database(SecretStr(url))
    message = raised.value.message
    assert message.startswith("Cannot connect to the PostgreSQL database at 127.0.0.1:1/botdb (")
    assert "DATABASE_URL" in message and raised.value.temporary
    assert "hunter2" not in message


async def test_a_wrong_password_is_named_without_it(pg_backend):
    wrong = pg_backend.url().replace(urlsplit(pg_backend.server_url).password, "not-the-password")
    with pytest.raises(StorageError) as raised:
        await open_database(wrong)
    assert "refused the user name or password" in raised.value.message
    assert "not-the-password" not in raised.value.message


def test_placeholders_are_renumbered_outside_quoted_text_only():
    assert postgres_sql("SELECT ? WHERE a = '?' AND b = ? AND c = 'it''s ?'") == (
        "SELECT $1 WHERE a = '?' AND b = $2 AND c = 'it''s ?'"
    )


def test_migrations_are_rendered_with_64_bit_types_for_postgresql():
    rendered = [for_postgres(s) for step in MIGRATIONS for s in step]
    joined = "\n".join(rendered)
    assert "REAL" not in joined.replace("DOUBLE PRECISION", "") and " INTEGER" not in joined
    assert "id BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY" in joined
    assert "sealed BYTEA NOT NULL" in joined


async def test_cooldowns_expire_and_the_log_keeps_every_attempt(backend):
    db = await backend.open()
    store = ReleaseStore(db)
    try:
        await store.set_cooldown("pkg", 1000.0)
        assert await store.cooldown_until("pkg", now=999.0) == 1000.0
        assert await store.cooldown_until("pkg", now=1000.5) is None
        for version in ("1.0.0", "1.0.1"):
            await store.log(
                actor="a",
                package_id="pkg",
                version=version,
                dry_run=True,
                options={"version": version},
                status="success",
                http_status=200,
                answer="ok",
            )
        [newest, oldest] = await store.history("pkg")
        assert newest["version"] == "1.0.1" and oldest["version"] == "1.0.0"
        assert newest["actor"] == "a" and newest["dry_run"] == 1 and newest["status"] == "success"
    finally:
        await db.close()


def test_postgres_errors_read_like_sqlite_errors():
    busy_sqlite = sqlite_error(sqlite3.OperationalError("database is locked"))
    busy_postgres = postgres_error(asyncpg.LockNotAvailableError("canceling statement due to lock timeout"))
    assert busy_sqlite.message == busy_postgres.message and busy_sqlite.temporary and busy_postgres.temporary
    full = postgres_error(asyncpg.DiskFullError("could not extend file"))
    assert full.message == sqlite_error(sqlite3.OperationalError("database or disk is full")).message
    lost = postgres_error(asyncpg.ConnectionDoesNotExistError("connection was closed"), at_commit=True)
    assert lost.uncertain and "may or may not have been saved" in lost.message
