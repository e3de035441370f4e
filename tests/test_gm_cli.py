"""The command-line twin: the same services, the same text, exit codes 0 / 1 / 2 / 75."""

from __future__ import annotations

import json

import pytest

from tests.cli_runner import run_bot
from tests.conftest import RELAY_KEY, WORLD_ID


@pytest.fixture
async def cli(tmp_path, relay):
    world = relay.add_world(WORLD_ID, "Ashes of the Valley", online=True)
    world.add_entry(
        "Harbor",
        flags={
            "campaign-codex": {
                "type": "location",
                "data": {"description": "<p>Salt <em>air</em>.</p>", "notes": "<p>Smugglers.</p>"},
            }
        },
    )
    env = {"RELAY_URL": relay.base_url, "RELAY_API_KEY": RELAY_KEY, "DATABASE_PATH": str(tmp_path / "bot.sqlite3")}

    async def run(*args: str, **extra: str):
        return await run_bot(*args, env={**env, **extra}, cwd=tmp_path)

    run.relay, run.world, run.tmp = relay, world, tmp_path
    return run


async def test_refresh_then_lookup_print_what_the_bot_would_post(cli):
    refreshed = await cli("refresh")
    assert refreshed.code == 0, refreshed.err
    assert "Name map refreshed — Ashes of the Valley" in refreshed.out and "Entries: 1" in refreshed.out

    looked = await cli("lookup", "Harbor")
    assert looked.code == 0
    assert looked.out.splitlines()[0] == "Harbor"
    assert "Salt *air*." in looked.out
    assert "Smugglers" not in looked.out  # notes are for the GM view only
    assert "Smugglers" in (await cli("lookup", "Harbor", "--gm")).out


async def test_json_output_is_machine_readable(cli):
    data = json.loads((await cli("refresh", "--json")).out)
    assert data["data"]["total"] == 1 and data["data"]["complete"] is True
    data = json.loads((await cli("lookup", "Harbor", "--json")).out)
    assert data["title"] == "Harbor"


async def test_not_found_exits_1_with_close_matches(cli):
    await cli("refresh")
    run = await cli("lookup", "Harbour")
    assert run.code == 1
    assert "No entry named" in run.err and "Harbor" in run.err


async def test_push_without_yes_only_previews_and_with_yes_writes(cli):
    await cli("refresh")
    file = cli.tmp / "harbor.json"
    file.write_text(json.dumps({"data": {"description": "<p>Tar.</p>"}}))

    preview = await cli("push", "Harbor", "--file", str(file))
    assert preview.code == 0
    assert "data.description" in preview.out and "--yes" in preview.out
    assert not cli.relay.requests("/update")

    written = await cli("push", "Harbor", "--file", str(file), "--yes")
    assert written.code == 0, written.err
    assert "Pushed to Harbor" in written.out
    [update] = cli.relay.requests("/update")
    assert update.json == {"data": {"flags.campaign-codex.data.description": "<p>Tar.</p>"}}


async def test_a_bad_push_file_exits_1_and_sends_nothing(cli):
    await cli("refresh")
    file = cli.tmp / "bad.json"
    file.write_text("{oops")
    run = await cli("push", "Harbor", "--file", str(file), "--yes")
    assert run.code == 1 and "not valid JSON" in run.err
    assert not cli.relay.requests("/update")


async def test_worlds_lists_online_worlds_and_world_overrides(cli):
    other = cli.relay.add_world("client-b", "Second Campaign")
    other.add_entry("Only B")
    run = await cli("worlds")
    assert run.code == 0 and "Ashes of the Valley" in run.out and "Second Campaign" in run.out

    several = await cli("refresh")
    assert several.code == 1 and "Several Foundry worlds" in several.err

    run = await cli("refresh", "--world", "client-b")
    assert run.code == 0 and "Entries: 1" in run.out
    assert cli.relay.requests("/search")[-1].query["clientId"] == "client-b"


async def test_temporary_failures_exit_75(cli):
    # (A 429 during a refresh is waited out: tests/test_enumerate.py.)
    cli.relay.force("/clients", 429, {"error": "Too many API requests, please slow down"}, times=3)
    run = await cli("worlds")
    assert run.code == 75 and "300 requests a minute" in run.err

    run = await cli("worlds", RELAY_URL="http://127.0.0.1:9")
    assert run.code == 75


async def test_usage_and_configuration_errors_exit_2(cli):
    assert (await cli("push", "Harbor")).code == 2  # --file is required
    run = await cli("refresh", RELAY_API_KEY="")
    assert run.code == 2 and "RELAY_API_KEY" in run.err
