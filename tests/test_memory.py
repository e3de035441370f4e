"""Memory that a long-running bot must give back: a big name map build never keeps garbage alive."""

from __future__ import annotations

import asyncio
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


async def test_a_lock_per_entry_pushed_is_not_kept_once_the_push_is_over():
    from services.writes.writer import KeyedLocks

    locks = KeyedLocks()
    for n in range(10_000):  # a season of pushes, each to its own entry
        async with locks.hold(f"JournalEntry.{n:016d}"):
            pass
    assert len(locks) == 0

    order: list[str] = []

    async def push(name: str) -> None:
        async with locks.hold("JournalEntry.same"):
            order.append(f"{name} in")
            await asyncio.sleep(0.01)
            order.append(f"{name} out")

    await asyncio.gather(push("first"), push("second"))
    assert order == ["first in", "first out", "second in", "second out"]  # still one at a time per entry
    assert len(locks) == 0


async def test_answers_that_hold_no_bytes_expire_and_stay_bounded():
    from services.entries.images import ImageCache

    now = [0.0]
    cache = ImageCache(ttl=300, max_bytes=1_000_000, max_items=100, clock=lambda: now[0])
    for n in range(5_000):  # "no such file" for every missing picture a busy table asked for
        cache.put(("world", f"img/{n}.webp", 1), None)
    assert len(cache) == 100
    now[0] += 301
    cache.put(("world", "img/new.webp", 1), None)
    assert len(cache) == 1  # the expired ones went, though nobody asked for them again


async def test_remembered_player_links_stay_bounded_and_right(tmp_path):
    from storage import open_database
    from storage.player_links import KNOWN_MAX, PlayerLinkStore

    db = await open_database(tmp_path / "bot.sqlite3")
    try:
        links = PlayerLinkStore(db)
        await links.link(1, "w", 7, "user-ana", "Ana", None)
        for member in range(KNOWN_MAX + 500):  # every member who ever typed in autocomplete
            await links.get(1, "w", 1_000 + member)
        assert len(links._known) <= KNOWN_MAX
        assert (await links.get(1, "w", 7)).foundry_user_id == "user-ana"  # read again after being dropped
    finally:
        await db.close()
