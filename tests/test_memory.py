"""Memory that a long-running bot must give back: a big name map build never keeps garbage alive."""

from __future__ import annotations

import gc
import weakref

from services.maps.world_maps import build_off_loop
from services.offload import Offloader
from storage import NameEntry

BIG = 6_000


class Node:
    """Garbage only the cyclic collector can free (it points at itself), as a refresh's folder tree is."""

    def __init__(self) -> None:
        self.me = self


async def test_garbage_alive_when_a_big_map_is_built_is_freed_afterwards():
    entries = [NameEntry(f"JournalEntry.{i:016d}", f"Name {i}", None) for i in range(BIG)]
    offload = Offloader()  # a map this big is built in the worker process, as in the bot
    gc.disable()  # no collection may happen to free it first: the build must not keep it
    try:
        dead = Node()
        gone = weakref.ref(dead)
        del dead
        world_map = await build_off_loop(entries, offload)
    finally:
        gc.enable()
        await offload.close()
    gc.collect()
    assert len(world_map.by_uuid) == BIG
    assert gone() is None, "a map build froze garbage: it will never be freed"
