"""Replies that outlive the 15-minute interaction token: private ones by direct message (or dropped with a
log line), progress edits dropped, only a final public result in the channel."""

from __future__ import annotations

import logging

import pytest

SECRET = "Lich Sorrowmere"


@pytest.fixture
async def harbor(gm_env):
    gm_env.world.add_entry(
        "Harbor",
        flags={
            "campaign-codex": {
                "type": "location",
                "data": {"description": f'<p>Salt air.</p><section class="secret"><p>{SECRET}</p></section>'},
            }
        },
    )
    result = await gm_env.h.slash(gm_env.gm, gm_env.channel, "refresh")
    assert "Name map refreshed" in result.text
    return gm_env


async def test_a_late_gm_lookup_sends_the_gm_view_by_dm_and_only_the_players_view_to_the_channel(harbor):
    env = harbor
    result = await env.h.slash(env.gm, env.channel, "lookup", name="Harbor", expire="after_ack")
    assert result.acknowledged
    [dm] = env.h.messages_in(env.h.dm(env.gm))
    assert SECRET in dm.text
    channel = env.h.messages_in(env.channel)
    assert channel and all(SECRET not in m.text for m in channel)
    assert any("Salt air." in m.text for m in channel)


async def test_a_late_private_lookup_goes_by_dm_never_to_the_channel(harbor):
    env = harbor
    await env.h.slash(env.player, env.channel, "lookup", name="Harbor", private=True, expire="after_ack")
    assert not env.h.messages_in(env.channel)
    [dm] = env.h.messages_in(env.h.dm(env.player))
    assert "Salt air." in dm.text and SECRET not in dm.text


async def test_with_dms_closed_a_late_private_reply_is_dropped_with_a_log_line(harbor, caplog):
    env = harbor
    env.h.fake.closed_dms.add(env.gm.id)
    caplog.set_level(logging.WARNING)
    await env.h.slash(env.gm, env.channel, "refresh", expire="after_ack")
    assert not env.h.messages_in(env.channel)
    assert any("Dropped a late private reply for /refresh" in r.getMessage() for r in caplog.records)


async def test_late_refresh_progress_is_dropped_and_the_result_goes_by_dm(harbor):
    env = harbor
    await env.h.slash(env.gm, env.channel, "refresh", expire="after_ack")
    assert not env.h.messages_in(env.channel)
    [dm] = env.h.messages_in(env.h.dm(env.gm))  # the result alone: no progress edit became a message
    assert "Name map refreshed" in dm.text
