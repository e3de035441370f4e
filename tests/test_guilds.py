"""Only our servers: DISCORD_GUILD_ID is required, may list several servers, and every other server is
refused with one line and left."""

from __future__ import annotations

import logging

import pytest

from core.errors import ConfigurationError
from core.settings import load_settings
from tests.cli_runner import run_bot

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


async def test_a_second_listed_server_is_served_with_its_own_roles(gm_env):
    env = gm_env
    env.world.add_entry("Harbor")
    community = env.h.guild("Package community", roles=["GM"])
    channel = env.h.channel(community, "general")
    gm_there = env.h.member(community, "helper", roles=["GM"])
    env.bot.settings.discord_guild_id = (env.guild.id, community.id)
    await env.bot.sync_commands()
    result = await env.h.slash(gm_there, channel, "refresh")
    assert "Name map refreshed" in result.text, result.text
    assert community.id not in env.h.fake.left_guilds


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
