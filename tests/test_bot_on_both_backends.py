"""The whole bot on each backend: the same commands through discord.py's command tree, the SQLite file or a
PostgreSQL server (DATABASE_URL) behind them."""

from __future__ import annotations

import pytest

from tests.conftest import WORLD_ID


@pytest.fixture
def settings_overrides(backend):
    return backend.settings()


async def test_refresh_lookup_and_players_work_on_either_database(gm_env, backend):
    env = gm_env
    ana = env.world.add_user("Ana")
    env.world.add_entry(
        "Harbor", flags={"campaign-codex": {"type": "location", "data": {"description": "<p>Salt air.</p>"}}}
    )
    env.world.add_entry("Letter to Ana", ownership={"default": 0, ana: 2})
    assert (env.app.db.dialect == "postgresql") is backend.postgres

    refreshed = await env.h.slash(env.gm, env.channel, "refresh")
    assert "Name map refreshed" in refreshed.text, refreshed.text
    lookup = await env.h.slash(env.player, env.channel, "lookup", name="Harbor")
    assert lookup.response.embeds[0].title == "Harbor" and "Salt air." in lookup.text
    choices = await env.h.autocomplete(env.player, env.channel, "lookup", "name", "har")
    assert [c["name"] for c in choices] == ["Harbor"]

    linked = await env.h.slash(env.gm, env.channel, "players link", member=env.player, user="Ana")
    assert "Player linked" in linked.text, linked.text
    letter = await env.h.slash(env.player, env.channel, "lookup", name="Letter to Ana", private=True)
    assert letter.response.embeds[0].title == "Letter to Ana"

    info = await env.app.gm.maps.store.info(WORLD_ID)
    assert info.total == 2 and info.complete
