"""/refresh through the command tree: what the GM reads when part of a big world can't be proven, and
a /refresh that meets a background refresh of the same world."""

from __future__ import annotations

import asyncio

from tests.conftest import WORLD_ID


def capped_world_with_a_shared_name(world) -> None:
    for region in ("North", "South"):
        handouts = world.add_folder("Handouts", parent=world.add_folder(region))
        world.add_entry(f"Bandit of the {region}", folder=handouts)
    for i in range(600):
        world.add_entry(f"Aaa filler {i:04d}")


async def test_an_unprovable_part_is_a_note_that_leads_with_what_was_mapped(gm_env):
    capped_world_with_a_shared_name(gm_env.world)

    result = await gm_env.h.slash(gm_env.gm, gm_env.channel, "refresh")

    embed = result.response.embeds[0]
    assert embed.title.startswith("Name map refreshed")
    assert embed.description.startswith("602 entries mapped.")
    assert "“South/Handouts”" in embed.description
    assert "give those folders distinct names in Foundry, then /refresh" in embed.description
    assert "incomplete" not in result.text.lower()
    assert {f.name: f.value for f in embed.fields}["Entries"] == "602"


async def test_a_refresh_during_a_background_refresh_runs_right_after_it(gm_env):
    gm_env.world.add_entry("Harbor")
    gm_env.relay.add_latency("/structure", 0.3)
    background = asyncio.create_task(gm_env.app.gm.rebuilder.rebuild(WORLD_ID, background=True, skip_unchanged=True))
    while not gm_env.relay.requests("/structure"):
        await asyncio.sleep(0.01)
    gm_env.world.add_entry("Written meanwhile")

    result = await gm_env.h.slash(gm_env.gm, gm_env.channel, "refresh")

    await background
    assert "Name map refreshed" in result.text and "already running" not in result.text
    assert {f.name: f.value for f in result.response.embeds[0].fields}["Entries"] == "2"
    map_reads = [r for r in gm_env.relay.requests("/structure") if "userId" not in r.query]
    assert len(map_reads) == 2  # its own read, after the background one (the others are player views)
