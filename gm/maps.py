"""The name maps in memory, one per world, kept in step with SQLite.

Autocomplete must answer inside Discord's 3 s without deferring, so it reads this index, never the
relay. A refresh swaps the whole index at once after its transaction commits: readers never see a
half-built map (zero downtime).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from names import NameEntry, NameIndex
from storage import MapInfo, NameMapStore, RefreshCounts


@dataclass(frozen=True)
class WorldMap:
    index: NameIndex
    by_uuid: dict[str, NameEntry]

    def name_of(self, uuid: str) -> str | None:
        entry = self.by_uuid.get(uuid)
        return entry.name if entry else None


def _build(entries: Iterable[NameEntry]) -> WorldMap:
    entries = list(entries)
    return WorldMap(NameIndex(entries), {e.uuid: e for e in entries})


class NameMaps:
    def __init__(self, store: NameMapStore):
        self.store = store
        self._maps: dict[str, WorldMap] = {}

    async def get(self, world: str) -> WorldMap:
        if world not in self._maps:
            self._maps[world] = _build(await self.store.entries(world))
        return self._maps[world]

    async def replace(self, world: str, entries: list[NameEntry], *, complete: bool, note: str | None) -> RefreshCounts:
        counts = await self.store.replace(world, entries, complete=complete, note=note)
        self._maps[world] = _build(entries)
        return counts

    async def put(self, world: str, entry: NameEntry) -> None:
        await self.store.put(world, entry)
        current = await self.get(world)
        self._maps[world] = _build({**current.by_uuid, entry.uuid: entry}.values())

    async def info(self, world: str) -> MapInfo | None:
        return await self.store.info(world)
