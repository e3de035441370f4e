"""The name maps in memory, one per world, kept in step with SQLite.

Autocomplete must answer inside Discord's 3 s without deferring, so it reads this index, never the
relay. A refresh swaps the whole index at once after its transaction commits: readers never see a
half-built map (zero downtime).

Building the index for a large world takes about a second of CPU, so it runs in the worker process
(services/offload.py; small maps in a thread), and readers keep getting the old map until the new
one is complete. A refresh that finds the map unchanged writes nothing and rebuilds nothing; one that
finds a few changes writes only those rows. Per world, loads and changes run one at a time
under a lock: concurrent first uses after a restart build the map once, and a /push landing during
a refresh is applied on top of the refreshed map, never lost to it (one landing while the refresh
enumerates is kept by its ``Listing``: the listing was read before it). A change, once its SQLite write
has started, always finishes its swap even when the caller that asked for it is cancelled (the
interaction timed out, the bot is closing): memory never drifts from SQLite.
"""

from __future__ import annotations

import asyncio
import pickle
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TypeVar

from services.maps.memory import MapMemory, map_bytes
from services.maps.names import NameIndex
from services.offload import Offloader, in_steps, worth_offloading
from storage import MapInfo, NameEntry, NameMapStore, RefreshCounts

T = TypeVar("T")


@dataclass(frozen=True)
class WorldMap:
    index: NameIndex
    by_uuid: dict[str, NameEntry]

    def name_of(self, uuid: str) -> str | None:
        entry = self.by_uuid.get(uuid)
        return entry.name if entry else None


# The names of someone who may know none (no player view set up, a view not built yet).
EMPTY_MAP = WorldMap(NameIndex([]), {})


def _build(entries: Iterable[NameEntry]) -> WorldMap:
    entries = list(entries)
    return WorldMap(NameIndex(entries), {e.uuid: e for e in entries})


# Building an index costs about 20 ms per 1,000 entries of the loop's time (measured: 50,000 in ~1 s).
INDEX_MS_PER_ENTRY = 0.02


async def build_off_loop(entries: Iterable[NameEntry], offload: Offloader) -> WorldMap:
    """The map of ``entries``, built off the event loop: a small one in a thread (a few ms), a big one in the
    worker process, whose pieces are put together here a chunk at a time."""
    entries = list(entries)
    if not worth_offloading(len(entries) * INDEX_MS_PER_ENTRY):
        return await asyncio.to_thread(_build, entries)
    rows = [part async for part in row_parts(entries)]
    parts = await offload.run(NameIndex.build_parts, rows, what="building the name index")
    del rows  # megabytes of pickles, sent: not kept while the index is put together
    index = await NameIndex.from_parts(parts, entries)
    by_uuid: dict[str, NameEntry] = {}
    async for ranked in in_steps(index.entries):
        by_uuid.update((e.uuid, e) for e in ranked)
    return WorldMap(index, by_uuid)


async def row_parts(entries: list[NameEntry]) -> AsyncIterator[bytes]:
    """(uuid, name, folder) of each entry as parts for ``NameIndex.build_parts``, pickled one part per turn of
    the loop (50,000 rows pickled at once would hold it for tens of ms)."""
    async for chunk in in_steps(entries):
        yield pickle.dumps([(e.uuid, e.name, e.folder) for e in chunk], pickle.HIGHEST_PROTOCOL)


def _name(entries: dict[str, NameEntry], uuid: str) -> str | None:
    entry = entries.get(uuid)
    return entry.name if entry else None


async def _diff(current: dict[str, NameEntry], entries: list[NameEntry]) -> tuple[list[NameEntry], list[str]]:
    """(entries added or changed, uuids removed) between the map in memory and a new listing; in chunks."""
    changed: list[NameEntry] = []
    seen: set[str] = set()
    async for chunk in in_steps(entries):
        for entry in chunk:
            seen.add(entry.uuid)
            if current.get(entry.uuid) != entry:
                changed.append(entry)
    removed = [uuid for uuid in current if uuid not in seen]
    return changed, removed


class Listing:
    """A refresh's enumeration under way: the entries a /push created or renamed meanwhile, which the
    listing (read from Foundry before them) cannot show, and which its replace applies on top."""

    def __init__(self) -> None:
        self.puts: dict[str, NameEntry] = {}


class NameMaps:
    """``memory``: the budget every server's maps share (MAP_MEMORY_MB); a map it drops is read back from the
    database on its next use."""

    def __init__(self, store: NameMapStore, offload: Offloader | None = None, memory: MapMemory | None = None):
        self.store = store
        self.offload = offload or Offloader(processes=False)
        self.memory = memory if memory is not None else MapMemory()
        self._maps: dict[str, WorldMap] = {}
        self._locks: dict[str, asyncio.Lock] = {}
        self._pending: set[asyncio.Task] = set()  # changes that outlive a cancelled caller
        self._listings: dict[str, list[Listing]] = {}  # per world, the enumerations under way
        # Called with the world after each change is swapped in (the background refresh resets its clock).
        self.listeners: list[Callable[[str], None]] = []
        # Called with the world when its map leaves memory (what was cut from it must go too).
        self.dropped: list[Callable[[str], None]] = []

    def _changed(self, world: str) -> None:
        for listener in self.listeners:
            listener(world)

    def _set(self, world: str, world_map: WorldMap) -> WorldMap:
        self._maps[world] = world_map
        self.memory.hold(self, world, map_bytes(len(world_map.by_uuid)), self._evict)
        return world_map

    def _evict(self, world: str) -> None:
        if self._maps.pop(world, None) is not None:
            for listener in self.dropped:
                listener(world)

    def held(self) -> list[str]:
        """The worlds whose map is in memory now."""
        return list(self._maps)

    def close(self) -> None:
        """Drop every map from memory and from the shared budget (the server's settings were replaced)."""
        for world in list(self._maps):
            self.memory.release(self, world)
            self._evict(world)

    def _lock(self, world: str) -> asyncio.Lock:
        lock = self._locks.get(world)
        if lock is None:
            lock = self._locks[world] = asyncio.Lock()
        return lock

    async def _serialised(self, world: str, change: Callable[[], Awaitable[T]]) -> T:
        """Run ``change`` under the world's lock in a task of its own: cancelling the caller stops
        its wait, not the change (the SQLite write and the swap that follows it stay together)."""

        async def locked() -> T:
            async with self._lock(world):
                return await change()

        task = asyncio.ensure_future(locked())
        self._pending.add(task)
        task.add_done_callback(self._settled)
        return await asyncio.shield(task)

    def _settled(self, task: asyncio.Task) -> None:
        self._pending.discard(task)
        if not task.cancelled():
            task.exception()  # retrieved: an abandoned change's error was the caller's to see

    async def _current(self, world: str) -> WorldMap:
        """The world's map, loaded from SQLite (and built off the loop) when not in memory yet.
        Call with the world's lock held."""
        current = self._maps.get(world)
        if current is None:
            current = self._set(world, await build_off_loop(await self.store.entries(world), self.offload))
        return current

    async def get(self, world: str) -> WorldMap:
        current = self._maps.get(world)
        if current is not None:  # the common case: no lock, no wait, never a half-built map
            self.memory.touch(self, world)
            return current
        return await self._serialised(world, lambda: self._current(world))

    @contextmanager
    def listing(self, world: str) -> Iterator[Listing]:
        """Around a refresh's enumeration and its ``replace``: puts made meanwhile are not lost to it."""
        listing = Listing()
        self._listings.setdefault(world, []).append(listing)
        try:
            yield listing
        finally:
            self._listings[world].remove(listing)
            if not self._listings[world]:
                del self._listings[world]

    async def reload(self, world: str) -> None:
        """Another process changed the world's map in the database: the map in memory (if any) is read again
        and swapped in whole, as a change of this process's own is."""

        async def change() -> None:
            if world in self._maps:
                self._set(world, await build_off_loop(await self.store.entries(world), self.offload))
                self._changed(world)

        await self._serialised(world, change)

    async def replace(
        self,
        world: str,
        entries: list[NameEntry],
        *,
        complete: bool,
        note: str | None = None,
        listing: Listing | None = None,
    ) -> RefreshCounts:
        """The world's map becomes ``entries``: in SQLite (one transaction, the difference only), then in
        memory (one swap). An unchanged map in memory is kept as it is. ``listing``: the enumeration
        ``entries`` came from; what was put since it began stays on top."""
        entries = list(entries)

        async def change() -> RefreshCounts:
            nonlocal entries
            if listing is not None and listing.puts:
                entries = list({**{e.uuid: e for e in entries}, **listing.puts}.values())
            current = self._maps.get(world)
            # Only the difference from what SQLite holds is written (after a restart: read it first).
            held = current.by_uuid if current is not None else {e.uuid: e for e in await self.store.entries(world)}
            changed, removed = await _diff(held, entries)
            # Built before SQLite is written: a build that fails (the worker process dying) changes nothing.
            unchanged = current is not None and not changed and not removed  # the index in memory is this map
            built = None if unchanged else await build_off_loop(entries, self.offload)
            counts = await self.store.apply(
                world, changed, removed, complete=complete, note=note, old_names=lambda uuid: _name(held, uuid)
            )
            if built is not None:
                self._set(world, built)
            self._changed(world)
            return counts

        return await self._serialised(world, change)

    async def put(self, world: str, entry: NameEntry) -> None:
        async def change() -> None:
            current = await self._current(world)
            built = await build_off_loop({**current.by_uuid, entry.uuid: entry}.values(), self.offload)
            await self.store.put(world, entry)
            for listing in self._listings.get(world, ()):
                listing.puts[entry.uuid] = entry
            self._set(world, built)
            self._changed(world)

        await self._serialised(world, change)

    async def info(self, world: str) -> MapInfo | None:
        return await self.store.info(world)
