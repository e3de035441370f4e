"""What players see when the background refresh meets a transient fault: the view proven a minute ago stays
(and /status says so); only a successful read, which proves something, replaces it."""

from __future__ import annotations

import pytest

from services.maps.background import BackgroundRefresher
from tests.conftest import WORLD_ID
from tests.test_background import INTERVAL, Clock
from tests.test_push_codex import codex


@pytest.fixture
async def shared(gm_env):
    """A shared entry, a background refresher on a clock the test moves, one good pass."""
    uuid = gm_env.world.add_entry(
        "Harbor", flags=codex("location", description="<p>Salt.</p>"), ownership={"default": 2}
    )
    clock = Clock()
    gm_env.app.refresher = BackgroundRefresher(gm_env.app.gm, INTERVAL, clock=clock)
    assert await gm_env.app.refresher.run_one(WORLD_ID) == "updated"
    result = await gm_env.h.slash(gm_env.player, gm_env.channel, "lookup", name="Harbor")
    assert "Salt." in result.text
    return uuid, clock


async def status_text(env) -> str:
    return (await env.h.slash(env.gm, env.channel, "status")).text


async def test_a_failed_read_of_a_player_view_keeps_the_view_proven_before_and_status_says_so(gm_env, shared):
    uuid, clock = shared
    clock.advance(INTERVAL)
    gm_env.relay.fail_after("/structure", passed=1)  # the map's own read passes; the player view's read fails
    assert await gm_env.app.refresher.run_one(WORLD_ID) == "unchanged"

    status = await status_text(gm_env)
    assert "Player views" in status and "kept as proven" in status and "the last read failed" in status, status
    assert "Failed to send request to Foundry client" in status
    # A player's next use reads the view again first (the relay answers again): never "No entry named".
    result = await gm_env.h.slash(gm_env.player, gm_env.channel, "lookup", name="Harbor")
    choices = await gm_env.h.autocomplete(gm_env.player, gm_env.channel, "lookup", "name", "Harb")
    assert "Salt." in result.text, result.text
    assert [c["name"] for c in choices] == ["Harbor"]
    assert "kept as proven" not in await status_text(gm_env)


async def test_while_the_view_cannot_be_read_a_player_is_told_so_never_no_entry_named(gm_env, shared):
    uuid, clock = shared
    clock.advance(INTERVAL)
    gm_env.relay.fail_after("/structure", passed=1)
    await gm_env.app.refresher.run_one(WORLD_ID)
    gm_env.relay.fail_send("/structure", times=2)  # still failing when the player asks
    result = await gm_env.h.slash(gm_env.player, gm_env.channel, "lookup", name="Harbor")
    assert "No entry named" not in result.text and "Salt." not in result.text
    assert "Failed to send request to Foundry client" in result.text, result.text
    # Kept, not wiped: once the relay answers again, the view proven before is there at once.
    assert await gm_env.app.gm.visibility.store.load(WORLD_ID, (await gm_env.app.gm.viewers.public(WORLD_ID)).user_id)


async def test_a_successful_read_replaces_the_view_and_status_is_clear_again(gm_env, shared):
    uuid, clock = shared
    clock.advance(INTERVAL)
    gm_env.relay.fail_after("/structure", passed=1)
    await gm_env.app.refresher.run_one(WORLD_ID)

    gm_env.world.entry(uuid)["ownership"] = {"default": 0}  # the GM hides it in Foundry: proof, once read
    clock.advance(INTERVAL)
    assert await gm_env.app.refresher.run_one(WORLD_ID) == "unchanged"

    result = await gm_env.h.slash(gm_env.player, gm_env.channel, "lookup", name="Harbor")
    choices = await gm_env.h.autocomplete(gm_env.player, gm_env.channel, "lookup", "name", "Harb")
    assert "No entry named “Harbor”" in result.text and choices == []
    status = await status_text(gm_env)
    assert "kept as proven" not in status and "proven" in status


async def test_a_view_never_proven_stays_empty_when_its_read_fails(gm_env):
    gm_env.world.add_entry("Harbor", flags=codex("location", description="<p>Salt.</p>"), ownership={"default": 2})
    gm_env.app.refresher = BackgroundRefresher(gm_env.app.gm, INTERVAL, clock=Clock())
    gm_env.relay.fail_after("/structure", passed=1)
    await gm_env.app.refresher.run_one(WORLD_ID)
    assert "never proven" in await status_text(gm_env)

    gm_env.relay.fail_send("/structure", times=2)  # still failing when the player asks
    result = await gm_env.h.slash(gm_env.player, gm_env.channel, "lookup", name="Harbor")
    assert "Salt." not in result.text and "Failed to send request to Foundry client" in result.text
