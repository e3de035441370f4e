"""SQLite through aiosqlite: migrations, the atomic replace of a name map, failures that change nothing."""

from __future__ import annotations

import sqlite3

import pytest

from services.maps.world_maps import NameMaps
from storage import NameEntry, NameMapStore, ReleaseStore, StorageError, WorldChoiceStore, open_database
from storage.migrations import MIGRATIONS


def entries(*names: str, folder: str | None = None) -> list[NameEntry]:
    return [NameEntry(uuid=f"JournalEntry.{i:016d}", name=n, folder=folder) for i, n in enumerate(names)]


async def test_first_open_creates_the_schema_at_the_latest_version(tmp_path):
    db = await open_database(tmp_path / "sub" / "bot.sqlite3")
    try:
        assert await db.schema_version() == len(MIGRATIONS)
        tables = {r[0] for r in await db.fetchall("SELECT name FROM sqlite_master WHERE type = 'table'")}
        assert {"name_entries", "name_maps", "guild_worlds", "release_cooldowns", "release_log"} <= tables
    finally:
        await db.close()


async def test_an_old_database_is_migrated_forward_and_keeps_its_rows(tmp_path):
    path = tmp_path / "bot.sqlite3"
    conn = sqlite3.connect(path)
    for statement in MIGRATIONS[0]:
        conn.execute(statement)
    conn.execute("PRAGMA user_version = 1")
    conn.execute("INSERT INTO guild_worlds VALUES (1, 'client-a', 'Old world', NULL, 0)")
    conn.commit()
    conn.close()

    db = await open_database(path)
    try:
        assert await db.schema_version() == len(MIGRATIONS)
        assert (await WorldChoiceStore(db).get(1)).client_id == "client-a"
        await ReleaseStore(db).set_cooldown("pkg", 9e9)  # a table from migration 2 works
    finally:
        await db.close()


async def test_reopening_applies_nothing_twice(tmp_path):
    path = tmp_path / "bot.sqlite3"
    await (await open_database(path)).close()
    db = await open_database(path)
    try:
        assert await db.schema_version() == len(MIGRATIONS)
    finally:
        await db.close()


async def test_replace_counts_added_removed_and_renamed(tmp_path):
    db = await open_database(tmp_path / "bot.sqlite3")
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


async def test_a_failed_replace_leaves_the_old_map_whole(tmp_path):
    db = await open_database(tmp_path / "bot.sqlite3")
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


async def test_maps_of_different_worlds_are_separate(tmp_path):
    db = await open_database(tmp_path / "bot.sqlite3")
    store = NameMapStore(db)
    try:
        await NameMaps(store).replace("a", entries("Alpha"), complete=True)
        await NameMaps(store).replace("b", entries("Beta", "Gamma"), complete=True)
        await NameMaps(store).replace("a", [], complete=True)
        assert [e.name for e in await store.entries("b")] == ["Beta", "Gamma"]
        assert await store.entries("a") == []
    finally:
        await db.close()


async def test_a_read_only_database_is_reported_and_nothing_is_half_written(tmp_path):
    path = tmp_path / "bot.sqlite3"
    db = await open_database(path)
    store = NameMapStore(db)
    await NameMaps(store).replace("w", entries("Alpha"), complete=True)
    await db.close()

    ro = await open_database(path)
    await ro.conn.execute("PRAGMA query_only = ON")  # what a read-only file looks like to SQLite
    try:
        with pytest.raises(StorageError) as raised:
            await NameMaps(NameMapStore(ro)).replace("w", entries("Beta"), complete=True)
        assert "read-only" in raised.value.message
        assert [e.name for e in await NameMapStore(ro).entries("w")] == ["Alpha"]
    finally:
        await ro.close()


async def test_a_busy_database_is_reported_as_temporary(tmp_path):
    path = tmp_path / "bot.sqlite3"
    db = await open_database(path)
    await db.conn.execute("PRAGMA busy_timeout = 50")
    blocker = sqlite3.connect(path)
    blocker.execute("BEGIN EXCLUSIVE")
    try:
        with pytest.raises(StorageError) as raised:
            await NameMaps(NameMapStore(db)).replace("w", entries("Alpha"), complete=True)
        assert raised.value.temporary and "busy" in raised.value.message
    finally:
        blocker.rollback()
        blocker.close()
        await db.close()


async def test_cooldowns_expire_and_the_log_keeps_every_attempt(tmp_path):
    db = await open_database(tmp_path / "bot.sqlite3")
    store = ReleaseStore(db)
    try:
        await store.set_cooldown("pkg", 1000.0)
        assert await store.cooldown_until("pkg", now=999.0) == 1000.0
        assert await store.cooldown_until("pkg", now=1000.5) is None
        await store.log(
            actor="a",
            package_id="pkg",
            version="1.0.0",
            dry_run=True,
            options={"version": "1.0.0"},
            status="success",
            http_status=200,
            answer="ok",
        )
        [row] = await store.history("pkg")
        assert row["actor"] == "a" and row["dry_run"] == 1 and row["status"] == "success"
    finally:
        await db.close()
