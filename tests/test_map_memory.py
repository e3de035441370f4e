"""MAP_MEMORY_MB: name maps are held for the worlds in use, the least recently used leave memory past the limit, and
an evicted world's autocomplete reads its map back from the store, answered inside Discord's 3 s."""

from __future__ import annotations

import pytest

from core.errors import ConfigurationError
from core.settings import load_settings
from services.maps.memory import MapMemory, map_bytes
from services.maps.world_maps import NameMaps
from storage import NameEntry, NameMapStore, open_database
from tests.conftest import WORLD_ID


def entries(world: str, count: int) -> list[NameEntry]:
    return [NameEntry(f"JournalEntry.{world}{i:05d}", f"{world} entry {i}") for i in range(count)]


class Owner:
    def __init__(self):
        self.evicted: list[str] = []


def test_the_least_recently_used_map_leaves_first_and_the_one_in_use_stays():
    memory = MapMemory(limit=250)
    owner = Owner()
    for key in ("a", "b"):
        memory.hold(owner, key, 100, owner.evicted.append)
    memory.touch(owner, "a")  # a was used after b
    memory.hold(owner, "c", 100, owner.evicted.append)
    assert owner.evicted == ["b"] and memory.bytes == 200
    memory.hold(owner, "huge", 1000, owner.evicted.append)  # alone over the limit: kept, the others go
    assert owner.evicted == ["b", "a", "c"] and len(memory) == 1
    memory.release(owner, "huge")
    assert memory.bytes == 0 and len(memory) == 0


def test_without_a_limit_nothing_leaves():
    memory = MapMemory.from_megabytes(None)
    owner = Owner()
    for key in range(100):
        memory.hold(owner, key, 10**9, owner.evicted.append)
    assert owner.evicted == [] and len(memory) == 100


def test_map_memory_mb_is_a_positive_number_of_mebibytes(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    assert load_settings(_env_file=None).map_memory_mb is None
    assert load_settings(_env_file=None, map_memory_mb="512").map_memory_mb == 512
    assert load_settings(_env_file=None, map_memory_mb="").map_memory_mb is None
    with pytest.raises(ConfigurationError) as raised:
        load_settings(_env_file=None, map_memory_mb="0")
    assert raised.value.message.startswith("MAP_MEMORY_MB")


async def test_an_evicted_worlds_map_is_read_back_from_the_store_whole(tmp_path):
    db = await open_database(tmp_path / "bot.sqlite3")
    try:
        memory = MapMemory(limit=2 * map_bytes(300))  # room for two of the three worlds
        maps = NameMaps(NameMapStore(db), memory=memory)
        for world in ("alpha", "beta", "gamma"):
            await maps.replace(world, entries(world, 300), complete=True)
        assert maps.held() == ["beta", "gamma"] and memory.evictions == 1

        again = await maps.get("alpha")

        assert sorted(e.name for e in again.by_uuid.values()) == sorted(e.name for e in entries("alpha", 300))
        assert [e.name for e in again.index.suggest("alpha entry 29", limit=2)] == ["alpha entry 29", "alpha entry 290"]
        assert maps.held() == ["gamma", "alpha"]  # beta was the least recently used
    finally:
        await db.close()


@pytest.mark.parametrize("settings_overrides", [{"map_memory_mb": 1, "relay_client_id": WORLD_ID}])
async def test_an_evicted_worlds_autocomplete_loads_its_map_within_discords_3_seconds(gm_env):
    env = gm_env
    second = env.relay.add_world("client-two", "Second campaign", online=True)
    for i in range(600):  # ~0.66 MB each by the estimate: the two worlds do not fit in 1 MB together
        env.world.add_entry(f"Ashes place {i:03d}")
        second.add_entry(f"Frost place {i:03d}")
    other = env.h.guild("Second server", roles=["GM"])
    other_channel = env.h.channel(other, "table")
    other_gm = env.h.member(other, "gm2", roles=["GM"])
    env.bot.settings.discord_guild_id = (env.guild.id, other.id)
    await env.bot.sync_commands()
    await env.app.gm.world_choices.set(other.id, "client-two", "Second campaign", chosen_by=None)
    assert "Name map refreshed" in (await env.h.slash(env.gm, env.channel, "refresh")).text
    assert "Name map refreshed" in (await env.h.slash(other_gm, other_channel, "refresh")).text
    memory = env.app.shared.memory
    assert memory.evictions >= 1 and WORLD_ID not in env.app.gm.maps.held()

    env.h.fake.ack_deadline = 3.0  # Discord drops an autocomplete answer later than this
    first = await env.h.autocomplete(env.gm, env.channel, "lookup", "name", "Ashes place 01")
    then = await env.h.autocomplete(other_gm, other_channel, "lookup", "name", "Frost place 01")

    assert "Ashes place 010" in [c["name"] for c in first]
    assert all(c["name"].startswith("Ashes") for c in first)
    assert "Frost place 010" in [c["name"] for c in then] and all(c["name"].startswith("Frost") for c in then)
    assert env.h.take_violations() == []
