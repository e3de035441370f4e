"""Rebuilding a world's name map from the relay: the one function behind /refresh and the background refresh.

``MapRebuilder.rebuild`` enumerates the world (services/maps/enumerate.py) and swaps the map in one
SQLite transaction plus one in-memory swap (services/maps/world_maps.py), so readers never see half a map.
Per world one rebuild runs at a time. A background rebuild passes ``skip_unchanged``: when the last
rebuild's tree showed the whole map and the tree's digest has not changed since, it stops after that
one request, before touching SQLite.

Hook for per-player work: ``MapRebuilder.after_rebuild`` callbacks run inside every rebuild (lock held)
with the client id and the Enumeration, after the swap, and also when the tree was unchanged.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from relay import RelayClient
from services.maps.enumerate import Enumeration, Progress, enumerate_journal
from services.maps.world_maps import NameMaps
from storage import RefreshCounts

AfterRebuild = Callable[[str, Enumeration], Awaitable[None]]


@dataclass(frozen=True)
class Rebuild:
    found: Enumeration
    counts: RefreshCounts | None  # None: the tree was unchanged and nothing was written
    seconds: float
    background: bool


class MapRebuilder:
    def __init__(self, relay: Callable[[], RelayClient], maps: NameMaps):
        self._relay = relay  # a callable: the relay may be unconfigured until a command needs it
        self.maps = maps
        self._locks: dict[str, asyncio.Lock] = {}
        self._running: dict[str, bool] = {}  # client id -> is the running rebuild a background one
        self._digests: dict[str, str] = {}  # client id -> digest of a tree that showed the whole map
        self.after_rebuild: list[AfterRebuild] = []

    def _lock(self, client_id: str) -> asyncio.Lock:
        return self._locks.setdefault(client_id, asyncio.Lock())

    def running(self, client_id: str) -> str | None:
        """ "background", "foreground" or None."""
        if client_id not in self._running:
            return None
        return "background" if self._running[client_id] else "foreground"

    async def rebuild(
        self,
        client_id: str,
        progress: Progress | None = None,
        *,
        background: bool = False,
        skip_unchanged: bool = False,
    ) -> Rebuild:
        async with self._lock(client_id):
            self._running[client_id] = background
            try:
                return await self._rebuild(client_id, progress, background, skip_unchanged)
            finally:
                del self._running[client_id]

    async def _rebuild(
        self, client_id: str, progress: Progress | None, background: bool, skip_unchanged: bool
    ) -> Rebuild:
        started = time.perf_counter()
        known = self._digests.get(client_id) if skip_unchanged else None
        counts = None
        with self.maps.listing(client_id) as listing:  # a /push meanwhile is applied on top, never lost
            found = await enumerate_journal(
                self._relay(), client_id, progress, known_digest=known, offload=self.maps.offload
            )
            if not found.unchanged:
                counts = await self.maps.replace(
                    client_id, found.entries, complete=found.complete, note=found.note, listing=listing
                )
                if found.whole_tree and found.digest:
                    self._digests[client_id] = found.digest
                else:
                    self._digests.pop(client_id, None)  # parts the tree hid: only a full read shows their changes
        # Hooks run on an unchanged tree too: what players may see changes with ownership, which the GM's
        # tree never shows (the per-player visibility pass, services/players/visibility.py).
        for hook in self.after_rebuild:
            await hook(client_id, found)
        return Rebuild(found, counts, time.perf_counter() - started, background)
