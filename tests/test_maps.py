"""The in-memory name maps (gm/maps.py): built off the event loop, swapped atomically, loaded once."""

from __future__ import annotations

import asyncio
import threading

import pytest

import services.maps.world_maps
from services.maps.world_maps import NameMaps
from storage import NameEntry, NameMapStore, open_database


def entries(*names: str, prefix: str = "e") -> list[NameEntry]:
    return [NameEntry(uuid=f"JournalEntry.{prefix}{i:04d}", name=n, folder=None) for i, n in enumerate(names)]


@pytest.fixture
async def maps(tmp_path):
    db = await open_database(tmp_path / "bot.sqlite3")
    try:
        yield NameMaps(NameMapStore(db))
    finally:
        await db.close()


class GatedBuild:
    """Wraps services.maps.world_maps._build: each build waits in its worker thread until released; counts builds."""

    def __init__(self, monkeypatch):
        self.real = services.maps.world_maps._build
        self.release = threading.Event()
        self.started = threading.Event()
        self.calls = 0
        self.threads: list[str] = []
        monkeypatch.setattr(services.maps.world_maps, "_build", self)

    def __call__(self, items):
        self.calls += 1
        self.threads.append(threading.current_thread().name)
        self.started.set()
        assert self.release.wait(10), "the test never released the build"
        return self.real(items)


async def wait_started(gate: GatedBuild) -> None:
    assert await asyncio.to_thread(gate.started.wait, 10)


async def test_readers_see_the_old_map_until_the_new_one_is_complete(maps, monkeypatch):
    await maps.replace("w", entries("Old Mill", "Old Road"), complete=True, note=None)
    old = await maps.get("w")
    gate = GatedBuild(monkeypatch)
    refresh = asyncio.create_task(maps.replace("w", entries("New Keep", prefix="n"), complete=True, note=None))
    await wait_started(gate)  # SQLite already holds the new map; the index is being built

    # The event loop is free while the build runs, and every reader gets the whole old map.
    for _ in range(3):
        got = await asyncio.wait_for(maps.get("w"), 1)
        assert got is old
        assert [e.name for e in got.index.suggest("old")] == ["Old Mill", "Old Road"]
        assert got.name_of("JournalEntry.n0000") is None
    assert not refresh.done()
    assert gate.threads and gate.threads[0] != threading.main_thread().name

    gate.release.set()
    counts = await refresh
    assert counts.total == 1
    new = await maps.get("w")
    assert new is not old
    assert [e.name for e in new.index.suggest("keep")] == ["New Keep"]
    assert new.index.suggest("old") == [] and new.name_of("JournalEntry.e0000") is None


async def test_concurrent_first_loads_build_once(maps, monkeypatch, tmp_path):
    await maps.replace("w", entries("Alpha", "Beta", "Gamma"), complete=True)
    fresh = NameMaps(maps.store)  # as after a restart: SQLite has the map, memory does not
    gate = GatedBuild(monkeypatch)
    loads = [asyncio.create_task(fresh.get("w")) for _ in range(8)]
    await wait_started(gate)
    await asyncio.sleep(0.05)
    assert not any(t.done() for t in loads)
    gate.release.set()
    got = await asyncio.gather(*loads)
    assert gate.calls == 1
    assert all(m is got[0] for m in got)
    assert len(got[0].index) == 3
    assert (await fresh.get("w")) is got[0] and gate.calls == 1


async def test_a_cancelled_first_load_does_not_stop_the_others(maps, monkeypatch):
    await maps.replace("w", entries("Alpha", "Beta"), complete=True)
    fresh = NameMaps(maps.store)
    gate = GatedBuild(monkeypatch)
    first = asyncio.create_task(fresh.get("w"))
    second = asyncio.create_task(fresh.get("w"))
    await wait_started(gate)
    first.cancel()
    gate.release.set()
    with pytest.raises(asyncio.CancelledError):
        await first
    assert len((await second).index) == 2
    assert gate.calls == 1


async def test_a_cancelled_refresh_still_swaps_what_it_wrote(maps, monkeypatch):
    await maps.replace("w", entries("Old Mill"), complete=True, note=None)
    gate = GatedBuild(monkeypatch)
    refresh = asyncio.create_task(maps.replace("w", entries("New Keep", prefix="n"), complete=True, note=None))
    await wait_started(gate)
    refresh.cancel()  # e.g. the bot is closing: SQLite already committed the new map
    with pytest.raises(asyncio.CancelledError):
        await refresh
    gate.release.set()
    for _ in range(200):
        if (await maps.get("w")).name_of("JournalEntry.n0000"):
            break
        await asyncio.sleep(0.01)
    current = await maps.get("w")
    assert current.name_of("JournalEntry.n0000") == "New Keep"
    assert [e.uuid for e in await maps.store.entries("w")] == ["JournalEntry.n0000"]


async def test_a_push_during_a_refresh_lands_on_the_refreshed_map(maps, monkeypatch):
    await maps.replace("w", entries("Old Mill"), complete=True, note=None)
    gate = GatedBuild(monkeypatch)
    refresh = asyncio.create_task(maps.replace("w", entries("New Keep", prefix="n"), complete=True, note=None))
    await wait_started(gate)
    pushed = NameEntry("JournalEntry.p0000", "Pushed Page", None)
    put = asyncio.create_task(maps.put("w", pushed))
    await asyncio.sleep(0.05)
    assert not put.done()  # waits for the refresh: applying it to the old map would lose it at the swap
    gate.release.set()
    await asyncio.gather(refresh, put)
    current = await maps.get("w")
    assert sorted(current.by_uuid) == ["JournalEntry.n0000", "JournalEntry.p0000"]
    assert current.index.suggest("pushed")[0] == pushed
    assert sorted(e.uuid for e in await maps.store.entries("w")) == ["JournalEntry.n0000", "JournalEntry.p0000"]


async def test_the_loop_keeps_running_while_a_big_index_builds_in_the_worker(maps, monkeypatch):
    """20,000 names are built in the worker process and put together here a chunk at a time: the
    loop gets many turns meanwhile, and the map answers exactly as one built in place."""
    many = [NameEntry(f"JournalEntry.{i:08d}", f"Name {i} of the Keep", "Folder") for i in range(20_000)]
    ticks = 0
    stop = asyncio.Event()

    async def ticker():
        nonlocal ticks
        while not stop.is_set():
            ticks += 1
            await asyncio.sleep(0)

    task = asyncio.create_task(ticker())
    await maps.replace("w", many, complete=True, note=None)
    stop.set()
    await task
    assert ticks > 10  # the loop ran while the index was being built and assembled
    built = await maps.get("w")
    local = services.maps.world_maps._build(many)
    assert len(built.index) == 20_000 and built.by_uuid == local.by_uuid
    for typed in ("name 12", "keep", "nmae 1", "of the", ""):
        assert built.index.suggest(typed) == local.index.suggest(typed)


async def test_an_unchanged_refresh_writes_nothing_and_keeps_the_index(maps):
    await maps.replace("w", entries("Old Mill", "Old Road"), complete=True, note=None)
    before = await maps.get("w")

    counts = await maps.replace("w", entries("Old Mill", "Old Road"), complete=True, note=None)

    assert (counts.total, counts.added, counts.removed, counts.renamed) == (2, 0, 0, 0)
    assert (await maps.get("w")) is before  # nothing rebuilt


async def test_a_changed_refresh_writes_only_the_difference(maps):
    await maps.replace("w", entries("Old Mill", "Old Road", "Doomed"), complete=True, note=None)
    changed = entries("Old Mill", "New Road") + [NameEntry("JournalEntry.x", "Added", "Folder")]

    counts = await maps.replace("w", changed, complete=False, note="a note")

    assert (counts.total, counts.added, counts.removed, counts.renamed) == (3, 1, 1, 1)
    assert sorted((e.uuid, e.name) for e in await maps.store.entries("w")) == sorted((e.uuid, e.name) for e in changed)
    assert (await maps.get("w")).index.suggest("new")[0].name == "New Road"
    info = await maps.info("w")
    assert info.complete is False and info.note == "a note" and info.total == 3
