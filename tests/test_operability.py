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


def test_log_redaction_scrubs_the_whole_formatted_record_tracebacks_included(capsys, tmp_path):
    """A secret in an exception's text reaches the log through the traceback, not the message: the line the
    bot writes (message, traceback, stack) holds none of it."""
    from core.logsafe import REDACTED, setup_logging
    from core.settings import Settings

    token = "relay-key-only-in-this-test-0a1b2c3d"  # not a session secret: the session's scanner stays quiet
    settings = Settings(_env_file=None, relay_api_key=token, database_path=tmp_path / "x.sqlite3")
    root = logging.getLogger()
    kept_handlers, kept_level = root.handlers[:], root.level
    try:
        setup_logging(settings)
        log = logging.getLogger("aiohttp.client")
        try:
            raise RuntimeError(f"bad header x-api-key: {token}")
        except RuntimeError:
            log.exception("Request failed")
        log.warning("stack of %s", "a request", stack_info=True, extra={"key": token})
        log.error("chained", exc_info=ValueError(f"wrapped {token[:-1]}{token[-1]}"))
    finally:
        root.handlers[:] = kept_handlers
        root.setLevel(kept_level)
    written = capsys.readouterr().err
    assert "Request failed" in written and "Traceback" in written and "RuntimeError" in written
    assert token not in written and token[6:18] not in written
    assert written.count(REDACTED) >= 2
