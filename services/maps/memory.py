"""How much of the name maps stays in memory: ``MAP_MEMORY_MB`` across every world of every server.

A bot serving a thousand worlds cannot hold them all (about 1 KB per entry, index included: docs/performance.md),
and most are idle at any hour. Every map held (a world's, a player view's cut of it) is registered here with its
estimated size; each use moves it to the back of the queue, and once the total passes the limit the least
recently used ones are dropped from memory. The database still holds them: the next use reads the map back
(a 2,000-entry world in a few milliseconds, inside Discord's 3 s for autocomplete).
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from collections.abc import Callable, Hashable

log = logging.getLogger(__name__)

# Estimated bytes one entry costs in a map: its NameEntry and strings, its share of the index's arrays and joined
# names, and the by-uuid dict (50,000 entries hold about 55 MB: bench/idle_memory.py).
ENTRY_BYTES = 1100
# What an empty map costs all the same (the index's objects and arrays).
MAP_BYTES = 4096


def map_bytes(count: int) -> int:
    """The estimated memory of a map of ``count`` entries."""
    return MAP_BYTES + count * ENTRY_BYTES


Evict = Callable[[Hashable], None]


class MapMemory:
    """The maps held, least recently used first. ``limit`` bytes, or None for no limit."""

    def __init__(self, limit: int | None = None):
        self.limit = limit
        self.bytes = 0
        self.evictions = 0
        self._held: OrderedDict[tuple[int, Hashable], tuple[Evict, int]] = OrderedDict()

    @classmethod
    def from_megabytes(cls, megabytes: int | None) -> MapMemory:
        return cls(megabytes * 1024 * 1024 if megabytes else None)

    def __len__(self) -> int:
        return len(self._held)

    def hold(self, owner: object, key: Hashable, size: int, evict: Evict) -> None:
        """``owner`` now holds the map ``key`` of ``size`` bytes; ``evict(key)`` drops it from the owner."""
        slot = (id(owner), key)
        previous = self._held.pop(slot, None)
        if previous is not None:
            self.bytes -= previous[1]
        self._held[slot] = (evict, size)
        self.bytes += size
        self._trim(keep=slot)

    def touch(self, owner: object, key: Hashable) -> None:
        slot = (id(owner), key)
        if slot in self._held:
            self._held.move_to_end(slot)

    def release(self, owner: object, key: Hashable) -> None:
        """The owner dropped the map itself."""
        found = self._held.pop((id(owner), key), None)
        if found is not None:
            self.bytes -= found[1]

    def _trim(self, keep: tuple[int, Hashable]) -> None:
        if self.limit is None:
            return
        while self.bytes > self.limit and len(self._held) > 1:
            slot = next(iter(self._held))
            if slot == keep:  # the map just used stays, even alone over the limit
                self._held.move_to_end(slot)
                slot = next(iter(self._held))
            evict, size = self._held.pop(slot)
            self.bytes -= size
            self.evictions += 1
            evict(slot[1])
