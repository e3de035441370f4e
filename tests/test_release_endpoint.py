"""RELEASE_API_URL: Foundry's api.foundryvtt.com by default, a warning (one log line at start-up, a line in /status)
for any other address; where the command line sends the bot token cannot be moved by the environment; Foundry's
answer is read up to a cap; versions compare as Foundry compares them."""

from __future__ import annotations

import logging
from contextlib import asynccontextmanager

import pytest

from bot import create_bot
from core.settings import Settings
from release import DEFAULT_RELEASE_API_URL, is_newer
from tests.harness import DiscordHarness
from tests.harness.fake_discord import FakeDiscord
from tests.test_release_cli import cli, discord_api, discord_env  # noqa: F401 - fixtures
from tests.test_release_commands import dry_run, serve

WARNING = (
    "RELEASE_API_URL is not an https:// URL on api.foundryvtt.com: releases go to another address than Foundry's "
    "(https://api.foundryvtt.com/_api/packages/release_version/)."
)


def test_the_default_endpoint_is_the_one_foundrys_article_names():
    settings = Settings(_env_file=None)
    assert (
        settings.release_api_url
        == DEFAULT_RELEASE_API_URL
        == "https://api.foundryvtt.com/_api/packages/release_version/"
    )


async def start(tmp_path, caplog, url: str | None):
    values = {
        "release_tokens": {"my-module": "fvttp_9c2e4a6b8d0f1e3a5c7b9d1f"},
        "database_path": tmp_path / "b.sqlite3",
    }
    if url:
        values["release_api_url"] = url
    bot = create_bot(Settings(_env_file=None, discord_token="discord-token-not-used-by-the-fake", **values))
    with caplog.at_level(logging.WARNING, logger="bot"):
        harness = DiscordHarness(bot)
        await harness.start()
    return bot, harness


@pytest.mark.parametrize(
    "url",
    [
        "https://foundryvtt.com/_api/packages/release_version/",
        "http://api.foundryvtt.com/_api/packages/release_version/",
    ],
    ids=["old-host", "plain-http"],
)
async def test_another_endpoint_is_warned_about_once_and_in_status(tmp_path, caplog, url):
    bot, h = await start(tmp_path, caplog, url)
    try:
        assert [r.getMessage() for r in caplog.records if r.name == "bot" and "RELEASE_API_URL" in r.getMessage()] == [
            WARNING
        ]
        guild = h.guild("Packages", roles=["Maintainer"])
        channel = h.channel(guild, "dev")
        dev = h.member(guild, "dev", roles=["Maintainer"])
        bot.settings.discord_guild_id = guild.id
        await bot.sync_commands()
        status = await h.slash(dev, channel, "status")
        fields = {f.name: f.value for f in status.response.embeds[0].fields}
        assert fields["Release endpoint"] == WARNING
    finally:
        await h.close()


async def test_the_default_endpoint_gets_no_warning(tmp_path, caplog):
    bot, h = await start(tmp_path, caplog, None)
    try:
        assert not [r for r in caplog.records if "RELEASE_API_URL" in r.getMessage()]
    finally:
        await h.close()


async def test_a_huge_answer_from_the_release_api_is_read_up_to_a_cap(gm_env):
    gm_env.foundry.fail_next(500, "<p>" + "x" * 5_000_000 + "</p>")
    result = await dry_run(gm_env, package="my-module", manifest=serve(gm_env.foundry))
    assert result.text.startswith("Foundry's release API answered 500: ")
    assert len(result.text) < 300


async def test_the_environment_cannot_move_where_the_bot_token_goes(cli, foundry, discord_api):  # noqa: F811
    # DISCORD_API_BASE (once read by cli/announce.py) pointing at one fake Discord; the in-process seam at the
    # harness's: the token reaches only the seam's.
    async with _second_fake() as decoy:
        env = discord_env(discord_api)
        run = await cli(
            "release", "publish", "--package", "my-module", "--manifest", cli.url, "--yes",
            DISCORD_API_BASE=decoy.api_base, **env,
        )  # fmt: skip
        assert run.code == 0, run.err
        assert decoy.requests == []
        assert [r.route for r in discord_api.requests][-1] == "POST /channels/555000111/messages"


@asynccontextmanager
async def _second_fake():
    fake = FakeDiscord()
    await fake.start()
    try:
        yield fake
    finally:
        await fake.close()


@pytest.mark.parametrize(
    ("newer", "older"),
    [("12.331", "12"), ("13", "12.400"), ("1.10.0", "1.9.9"), ("2.0.0", "1.99"), ("1.0.0-beta", "1.0.0-alpha")],
)
def test_versions_compare_as_foundry_compares_them(newer, older):
    assert is_newer(newer, older) and not is_newer(older, newer)


def test_equal_versions_are_not_newer():
    assert not is_newer("12.331", "12.331") and not is_newer("12", "12")
