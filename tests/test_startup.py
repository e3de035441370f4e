"""Starting the bot on a fresh machine: what a newcomer sees without (or with a bad) configuration."""

from __future__ import annotations

import json

import pytest

from core.errors import ConfigurationError
from core.settings import load_settings
from tests.cli_runner import run_bot

GOOD = {"RELAY_URL": "http://127.0.0.1:9", "RELAY_API_KEY": "k-123456789"}


async def test_without_a_token_the_bot_says_exactly_what_to_set(tmp_path):
    run = await run_bot(env={}, cwd=tmp_path)
    assert run.code == 2
    assert run.err.strip().startswith("DISCORD_TOKEN is not set")
    assert ".env" in run.err and len(run.err.strip().splitlines()) == 1


@pytest.mark.parametrize(
    ("env", "named"),
    [
        ({"DISCORD_GUILD_ID": "my server"}, "DISCORD_GUILD_ID"),
        ({"RELAY_URL": "relay.example.com"}, "RELAY_URL"),
        ({"RELAY_URL": "https://relay.example.com/api"}, "RELAY_URL"),
        ({"RELAY_TIMEOUT": "soon"}, "RELAY_TIMEOUT"),
        ({"ANNOUNCE_CHANNEL_ID": "#releases"}, "ANNOUNCE_CHANNEL_ID"),
        ({"RELEASE_TOKENS": "{not json"}, "RELEASE_TOKENS"),
        ({"MAINTAINER_ROLE": '{"my-module": 5}'}, "MAINTAINER_ROLE"),
    ],
)
async def test_a_malformed_setting_stops_start_up_with_one_line_naming_it(tmp_path, env, named):
    run = await run_bot(env={"DISCORD_TOKEN": "t-secret-value", **GOOD, **env}, cwd=tmp_path)
    assert run.code == 2
    lines = run.err.strip().splitlines()
    assert len(lines) == 1 and named in lines[0], run.err
    assert "t-secret-value" not in run.err


@pytest.mark.parametrize(
    ("token", "problem"),
    [
        ('"fvttp_abcdefghijklmnop"', "quotes"),
        ("Bearer fvttp_abcdefghijklmnop", "Bearer"),
        ("fvttp_fvttp_abcdefghijklmnop", "twice"),
        ("fvttp_abc defghijklmnop", "whitespace"),
        ("abcdefghijklmnop", "fvttp_"),
    ],
)
async def test_a_malformed_release_token_is_named_never_printed(tmp_path, token, problem):
    run = await run_bot(env={"DISCORD_TOKEN": "t", "RELEASE_TOKENS": json.dumps({"my-module": token})}, cwd=tmp_path)
    assert run.code == 2
    assert "my-module" in run.err and problem in run.err
    assert "abcdefghijklmnop" not in run.err and "defghijk" not in run.err


@pytest.mark.parametrize(
    ("env", "named"),
    [({"RELAY_URL": "https://relay.example.com"}, "RELAY_API_KEY"), ({"RELAY_API_KEY": "k-1"}, "RELAY_URL")],
)
async def test_half_a_relay_configuration_names_exactly_what_is_missing(tmp_path, env, named):
    run = await run_bot(env={"DISCORD_TOKEN": "t", "DISCORD_GUILD_ID": "1234", **env}, cwd=tmp_path)
    assert run.code == 2
    assert run.err.strip() == (
        f"{named} is not set: add the relay's address and a scoped API key to .env (see .env.example)."
    )


def test_a_blank_gm_role_means_the_default_role_like_a_blank_maintainer_role(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    settings = load_settings(gm_role="  ", maintainer_role="")
    assert settings.gm_role == "GM" and settings.maintainer_role_for("any-module") == "Maintainer"


async def test_help_lists_every_command_and_every_option_explains_itself(tmp_path):
    import argparse

    from cli.parser import build_parser

    run = await run_bot("--help", env={}, cwd=tmp_path)
    assert run.code == 0
    for command in ("refresh", "lookup", "push", "worlds", "status", "release"):
        assert f"    {command} " in run.out, command

    def walk(parser: argparse.ArgumentParser, path: str):
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                for name, child in action.choices.items():
                    assert any(c.dest == name and c.help for c in action._choices_actions), f"{path} {name}"
                    yield from walk(child, f"{path} {name}")
            elif not isinstance(action, argparse._HelpAction):
                yield path, action

    options = list(walk(build_parser(), "bot.py"))
    assert len(options) > 20
    assert [f"{path} {a.dest}" for path, a in options if not a.help] == []


@pytest.mark.parametrize("argv", [["--sync-gloabl"], ["refesh"], ["lookup", "Harbor", "--gmm"]])
async def test_a_mistyped_flag_or_command_is_an_error_and_never_starts_the_bot(tmp_path, argv):
    run = await run_bot(*argv, env={"DISCORD_TOKEN": "t", **GOOD}, cwd=tmp_path)
    assert run.code == 2
    assert "usage: python bot.py" in run.err and "error:" in run.err
    assert "Cannot reach Discord" not in run.err


def test_settings_read_the_env_file_and_secrets_stay_hidden(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    for name in ("DISCORD_TOKEN", "RELAY_URL", "RELAY_API_KEY"):
        monkeypatch.delenv(name, raising=False)
    (tmp_path / ".env").write_text(
        "DISCORD_TOKEN=abc.def.ghi\nRELAY_URL=https://relay.example.com/\nRELAY_API_KEY=key-xyz\n"
    )
    settings = load_settings()
    assert settings.relay_url == "https://relay.example.com"
    assert settings.discord_token.get_secret_value() == "abc.def.ghi"
    assert "abc.def.ghi" not in repr(settings) and "key-xyz" not in repr(settings)


def test_a_missing_relay_setting_is_named_when_a_gm_command_needs_it(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("RELAY_API_KEY", raising=False)
    settings = load_settings(relay_url="https://relay.example.com")
    with pytest.raises(ConfigurationError) as raised:
        settings.require_relay()
    assert "RELAY_API_KEY" in raised.value.message and "RELAY_URL" not in raised.value.message


async def test_the_docker_healthcheck_fails_without_a_heartbeat_and_passes_with_one(tmp_path):
    import asyncio
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parent.parent
    beat = tmp_path / "run" / "heartbeat"
    env = {"HEARTBEAT_FILE": str(beat), "PATH": "/usr/bin:/bin"}
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "core.health", cwd=root, env=env, stderr=asyncio.subprocess.PIPE
    )
    _, err = await proc.communicate()
    assert proc.returncode != 0 and b"no heartbeat" in err
    beat.parent.mkdir()
    beat.touch()
    proc = await asyncio.create_subprocess_exec(sys.executable, "-m", "core.health", cwd=root, env=env)
    assert await proc.wait() == 0


async def test_the_heartbeat_beats_only_while_the_gateway_is_up(tmp_path, relay, foundry, own_heartbeat_file):
    from bot import create_bot
    from tests.conftest import make_settings
    from tests.harness import DiscordHarness

    beat = own_heartbeat_file
    beat.touch()  # left by an earlier run (or an earlier container on the same volume)
    bot = create_bot(make_settings(tmp_path, relay, foundry))
    async with DiscordHarness(bot, token="discord-token-not-used-by-the-fake"):
        assert not beat.exists(), "a stale heartbeat must not report the new process healthy"
        await bot.on_ready()
        assert beat.exists()
        await bot.on_disconnect()  # discord.py still says is_ready() while it reconnects
        beat.unlink()
        await bot.heartbeat()
        assert not beat.exists(), "no beat while the gateway is down"
        await bot.on_resumed()
        assert beat.exists()
        await bot.heartbeat()
        assert beat.exists()
    assert not beat.exists(), "closing removes the heartbeat"
