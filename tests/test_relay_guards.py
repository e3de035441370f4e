"""The relay client's guards, met through the command tree and the command line: a player's /lookup next to
a GM's /lookup of the same entry (the relay matches replies by type and millisecond, so the player's read could
receive the GM's copy; with the stand-in's crossing mode, everything sent to Discord scanned for the entry's
hidden text), a redirecting RELAY_URL, and a runaway reply."""

from __future__ import annotations

import asyncio

import pytest

from tests.cli_runner import run_bot
from tests.conftest import RELAY_KEY
from tests.stand_ins.relay_server import StandInRelay

HIDDEN = "The vault key is under the third stair"


@pytest.fixture
async def vault(gm_env):
    env = gm_env
    env.world.add_entry(
        "Vault",
        ownership={"default": 1},  # LIMITED: players may see the title only
        flags={"campaign-codex": {"type": "location", "data": {"description": f"<p>{HIDDEN}.</p>"}}},
        pages=[{"_id": "p1", "name": "Notes", "type": "text", "text": {"content": f"<p>{HIDDEN}</p>"}}],
    )
    refreshed = await env.h.slash(env.gm, env.channel, "refresh")
    assert "Name map refreshed" in refreshed.text
    return env


def sent_to_discord(env) -> str:
    return "\n".join(f"{r.json} {r.raw_body[:200_000]!r}" for r in env.h.fake.requests)


async def test_a_gm_and_a_player_looking_up_one_entry_at_once_each_get_their_own_view(vault):
    env = vault
    env.relay.crossing = True
    env.relay.foundry_delay = 0.02
    env.relay.clock_ms = lambda: 1_700_000_000_000  # every request the same relay id: overlapping reads cross
    gm, player = await asyncio.gather(
        env.h.slash(env.gm, env.channel, "lookup", name="Vault", private=True),
        env.h.slash(env.player, env.channel, "lookup", name="Vault"),
    )
    assert HIDDEN in gm.text
    assert "The GM has shared only this entry's title." in player.text and HIDDEN not in player.text
    assert env.relay.peak_in_flight == 1
    assert not player.ephemeral and all(HIDDEN not in m.text for m in player.messages)  # the channel's post


async def test_the_gms_copy_handed_to_a_player_is_never_shown(vault):
    env = vault
    env.relay.cross_viewers("/get", times=1)
    once = await env.h.slash(env.player, env.channel, "lookup", name="Vault")
    assert "The GM has shared only this entry's title." in once.text  # refused, asked again, shown

    env.relay.cross_viewers("/get", times=2)
    twice = await env.h.slash(env.player, env.channel, "lookup", name="Vault")
    assert "could not be proven to be the player's view of this entry" in twice.text
    assert HIDDEN not in sent_to_discord(env)


# --- a redirecting RELAY_URL, a runaway reply -------------------------------------------------------------


async def test_a_gm_is_told_relay_url_is_wrong_when_the_relay_redirects(gm_env):
    env = gm_env
    env.world.add_entry("Harbor")
    async with StandInRelay(keys={}) as elsewhere:
        env.relay.redirect("/structure", elsewhere.base_url + "/structure", status=302)
        result = await env.h.slash(env.gm, env.channel, "refresh")
        assert elsewhere.log == []
    assert f"RELAY_URL (127.0.0.1) answered with a redirect to {elsewhere.base_url} (HTTP 302)" in result.text


async def test_a_runaway_entry_reply_stops_at_the_default_cap(gm_env):
    env = gm_env
    env.world.add_entry("Harbor")
    assert "Name map refreshed" in (await env.h.slash(env.gm, env.channel, "refresh")).text
    env.relay.stream("/get", b" " * 65_536, count=6_400)  # 400 MiB
    result = await env.h.slash(env.gm, env.channel, "lookup", name="Harbor")
    assert "The relay's reply to /get was larger than the 16 MiB the bot reads there" in result.text
    assert env.relay.streamed["/get"] < 640  # the bot stopped near 16 MiB (plus socket buffers), not at 400


async def test_the_command_line_calls_a_redirect_a_configuration_error(tmp_path, relay):
    relay.add_world("client-main", "Ashes")
    relay.redirect("/clients", "https://relay.example.org/clients", status=301)
    env = {"RELAY_URL": relay.base_url, "RELAY_API_KEY": RELAY_KEY, "DATABASE_PATH": str(tmp_path / "db.sqlite3")}
    run = await run_bot("worlds", env=env, cwd=tmp_path)
    assert run.code == 2
    assert run.err.startswith(
        "Configuration error: RELAY_URL (127.0.0.1) answered with a redirect to https://relay.example.org (HTTP 301)"
    )
