"""/status, /help, and the one log line per command."""

from __future__ import annotations

import logging
import time

from tests.conftest import RELAY_KEY


async def test_status_shows_relay_world_map_packages_and_cooldowns(gm_env):
    gm_env.world.add_entry("Harbor")
    await gm_env.h.slash(gm_env.gm, gm_env.channel, "refresh")
    await gm_env.app.releases.store.set_cooldown("my-module", time.time() + 45)

    result = await gm_env.h.slash(gm_env.gm, gm_env.channel, "status")

    assert result.ephemeral
    fields = {f.name: f.value for f in result.response.embeds[0].fields}
    assert "reachable, version 3.4.1" in fields["Relay"]
    assert "Ashes of the Valley" in fields["World"] or "client-main" in fields["World"]
    assert fields["Name map"].startswith("1 entries, refreshed") and "complete" in fields["Name map"]
    assert fields["Release packages"] == "my-module, other-module"  # ids only
    assert "my-module: until <t:" in fields["Release cooldowns"]
    assert "fvttp_" not in result.text and RELAY_KEY not in result.text


async def test_status_when_the_relay_is_down_says_so_instead_of_failing(gm_env):
    gm_env.app.relay._base = "http://127.0.0.1:9"
    result = await gm_env.h.slash(gm_env.maintainer, gm_env.channel, "status")
    fields = {f.name: f.value for f in result.response.embeds[0].fields}
    assert fields["Relay"].startswith("unreachable")
    assert "Release packages" in fields


async def test_status_is_for_gms_and_maintainers_only(gm_env):
    result = await gm_env.h.slash(gm_env.player, gm_env.channel, "status")
    assert "Only GMs and maintainers" in result.text and result.ephemeral


async def test_help_lists_every_command_with_who_may_use_it_and_an_example(gm_env):
    result = await gm_env.h.slash(gm_env.player, gm_env.channel, "help")
    text = result.text
    for command in (
        "/lookup",
        "/push",
        "/reveal",
        "/hide",
        "/refresh",
        "/world",
        "/players",
        "/release dry-run",
        "/release publish",
        "/status",
        "/help",
    ):
        assert command in text
    assert "GM role (GM)" in text and "maintainer role" in text
    synced = {c["name"] for c in gm_env.h.fake.guild_commands[gm_env.guild.id]}
    assert synced == {"lookup", "push", "reveal", "hide", "refresh", "world", "players", "release", "status", "help"}


async def test_each_command_logs_one_line_with_who_what_outcome_and_duration(gm_env, caplog):
    caplog.set_level(logging.INFO, logger="bot.commands")
    await gm_env.h.slash(gm_env.player, gm_env.channel, "lookup", name="Nowhere")
    await gm_env.h.slash(gm_env.player, gm_env.channel, "help")

    lines = [r.getMessage() for r in caplog.records if r.name == "bot.commands"]
    assert len(lines) == 2
    failed, ok = lines
    assert failed.startswith("/lookup by player") and "failed: NoSuchEntry" in failed and failed.endswith(" ms")
    assert ok.startswith("/help by player") and ": ok in " in ok


def test_the_redacting_filter_removes_secrets_whatever_logged_them(tmp_path):
    from core.logsafe import REDACTED, RedactSecrets

    record = logging.LogRecord("aiohttp", logging.INFO, __file__, 1, "header x-api-key=%s sent", (RELAY_KEY,), None)
    RedactSecrets([RELAY_KEY]).filter(record)
    assert record.getMessage() == f"header x-api-key={REDACTED} sent"
