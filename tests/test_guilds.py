"""Only our servers: DISCORD_GUILD_ID is required, may list several servers, and every other server is
refused with one line and left."""

from __future__ import annotations

import asyncio
import logging

import pytest

from core.errors import ConfigurationError
from core.settings import load_settings
from services.worlds import WorldTaken
from tests.cli_runner import run_bot
from tests.conftest import WORLD_ID
from tests.helpers import no_leak

GOOD = {"DISCORD_TOKEN": "t-secret-value", "RELAY_URL": "http://127.0.0.1:9", "RELAY_API_KEY": "k-123456789"}


async def test_without_discord_guild_id_the_bot_does_not_start(tmp_path):
    run = await run_bot(env=GOOD, cwd=tmp_path)
    assert run.code == 2
    lines = run.err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("DISCORD_GUILD_ID is not set"), run.err


def test_discord_guild_id_lists_several_servers_and_names_a_bad_item_by_position(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    assert load_settings(discord_guild_id="111, 222,333").guild_ids == {111, 222, 333}
    assert load_settings(discord_guild_id="444").guild_ids == {444}
    with pytest.raises(ConfigurationError) as raised:
        load_settings(discord_guild_id="111,fvttp_0123456789abcdef")
    assert "DISCORD_GUILD_ID" in raised.value.message and "item 2" in raised.value.message
    assert "0123456789" not in raised.value.message


async def listed_community(env, *, relay_client_id: str | None = WORLD_ID):
    """The campaign's server first, then a package community with roles of the same names (the README's example)."""
    community = env.h.guild("Package community", roles=["GM", "Maintainer"])
    channel = env.h.channel(community, "general")
    env.bot.settings.discord_guild_id = (env.guild.id, community.id)
    env.bot.settings.relay_client_id = relay_client_id
    await env.bot.sync_commands()
    return community, channel


async def test_a_gm_role_in_another_listed_server_is_gm_of_no_world(gm_env):
    """A role grants GM rights only in the server whose world it is: the community that never chose a world has
    none, so its "GM" role reads, reveals and refreshes nothing, and its members read nothing of the campaign."""
    env = gm_env
    env.world.add_entry(
        "Vault of Ash",
        flags={"campaign-codex": {"type": "npc", "data": {"description": "Lich"}}},
        ownership={"default": 0},
    )
    env.world.add_entry("Harbor", flags={"campaign-codex": {"type": "location", "data": {"description": "Salt"}}})
    community, channel = await listed_community(env)
    assert "Name map refreshed" in (await env.h.slash(env.gm, env.channel, "refresh")).text
    their_gm = env.h.member(community, "helper", roles=["GM"])
    member = env.h.member(community, "reader")
    before_gets = len(env.relay.requests("/get"))
    with no_leak(env, ("Vault of Ash", "Lich", "Harbor", "Salt", "Ashes of the Valley"), "another server"):
        for who in (their_gm, member):
            for name in ("Vault of Ash", "Harbor"):
                result = await env.h.slash(who, channel, "lookup", name=name)
                assert "This server has no Foundry world: it serves releases only" in result.text, result.text
            assert await env.h.autocomplete(who, channel, "lookup", "name", "") == []
        for command, options in (("reveal", {"name": "Vault of Ash"}), ("refresh", {}), ("players list", {})):
            result = await env.h.slash(their_gm, channel, command, **options)
            assert "serves releases only" in result.text and result.ephemeral, result.text
    assert len(env.relay.requests("/get")) == before_gets and not env.relay.requests("/update")

    # Releases still work there: a community serves releases only.
    maintainer = env.h.member(community, "dev", roles=["Maintainer"])
    url = env.foundry.serve_manifest(
        "m/my-module/v1.2.0/module.json",
        {"id": "my-module", "version": "1.2.0", "compatibility": {"minimum": "12", "verified": "13"}},
    )
    dry = await env.h.slash(maintainer, channel, "release dry-run", package="my-module", manifest=url)
    assert "Dry run passed" in dry.text, dry.text
    assert community.id not in env.h.fake.left_guilds


async def test_a_second_server_serves_the_world_it_chose_and_never_the_campaigns(gm_env, relay):
    env = gm_env
    env.world.add_entry("Vault of Ash", ownership={"default": 0})
    other = relay.add_world("client-two", "Sunken Isles", online=True)
    other.add_user("Table")
    other.add_entry("Reef")
    community, channel = await listed_community(env)
    assert "Name map refreshed" in (await env.h.slash(env.gm, env.channel, "refresh")).text
    their_gm = env.h.member(community, "helper", roles=["GM"])

    with no_leak(env, ("Ashes of the Valley", WORLD_ID, "Vault of Ash"), "the community's /world"):
        newest = max(env.h.fake.messages, default=0)
        task = asyncio.create_task(env.h.slash(their_gm, channel, "world"))
        menu = await env.h.wait_for(
            lambda: next(
                (m for m in env.h.fake.messages.values() if m.id > newest and m.payload.get("components")), None
            ),
            what="the /world menu",
        )
        select = menu.payload["components"][0]["components"][0]
        assert [o["value"] for o in select["options"]] == ["client-two"]  # the campaign's world is not offered
        await env.h.click(their_gm, menu.id, custom_id=select["custom_id"], values=["client-two"])
        chosen = await task
    assert "This server now uses **Sunken Isles**" in chosen.text

    refreshed = await env.h.slash(their_gm, channel, "refresh")
    assert "Name map refreshed — Sunken Isles" in refreshed.text
    assert [c["name"] for c in await env.h.autocomplete(their_gm, channel, "lookup", "name", "")] == ["Reef"]
    # The campaign's GM in the community (a member there without its GM role) is no GM of the community's world.
    campaign_gm_there = env.h.member(community, env.gm.user)
    assert "Only members with the GM role" in (await env.h.slash(campaign_gm_there, channel, "refresh")).text
    assert [c["name"] for c in await env.h.autocomplete(env.gm, env.channel, "lookup", "name", "Va")] == [
        "Vault of Ash"
    ]


async def test_a_world_another_server_uses_can_not_be_chosen(gm_env):
    env = gm_env
    community, _channel = await listed_community(env)
    world = (await env.app.gm.online_worlds())[0]
    with pytest.raises(WorldTaken):
        await env.app.gm.choose_world(community.id, world, chosen_by=1)
    assert await env.app.gm.world_choices.get(community.id) is None


async def test_status_says_which_server_serves_which_world(gm_env):
    env = gm_env
    community, _channel = await listed_community(env)
    status = await env.h.slash(env.gm, env.channel, "status")
    assert f"Campaign (`{env.guild.id}`): `{WORLD_ID}` (RELAY_CLIENT_ID)" in status.text, status.text
    assert f"Package community (`{community.id}`): releases only" in status.text


async def test_with_several_servers_and_no_relay_client_id_no_server_guesses_a_world(gm_env):
    env = gm_env
    env.world.add_entry("Harbor")
    _community, _channel = await listed_community(env, relay_client_id=None)
    result = await env.h.slash(env.gm, env.channel, "refresh")
    assert "serves releases only" in result.text and "/world" in result.text
    assert not env.relay.requests("/structure")


async def test_an_unlisted_server_is_refused_in_one_line_left_and_logged(gm_env, caplog):
    env = gm_env
    secret_name = "Vault of Ash"
    env.world.add_entry(secret_name)
    await env.h.slash(env.gm, env.channel, "refresh")
    await env.h.sync()  # as after --sync-global: Discord offers the commands everywhere
    caplog.set_level(logging.INFO)
    other = env.h.guild("Somebody else's server", roles=["GM", "Maintainer"])
    channel = env.h.channel(other, "general")
    stranger = env.h.member(other, "stranger", roles=["GM", "Maintainer"])
    before = len(env.h.fake.requests)

    result = await env.h.slash(stranger, channel, "lookup", name=secret_name)
    choices = await env.h.autocomplete(stranger, channel, "lookup", "name", "Va")

    assert result.ephemeral and result.text == "This bot serves only its own servers; its commands can't be used here."
    assert choices == []
    assert other.id in env.h.fake.left_guilds
    assert any("not listed in DISCORD_GUILD_ID" in r.getMessage() for r in caplog.records)
    assert not env.relay.requests("/get")
    for request in env.h.fake.requests[before:]:
        assert secret_name not in f"{request.json} {request.raw_body!r}"
