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

    looked = await cli("lookup", "Harbor")  # the command line acts as the GM
    assert looked.code == 0
    assert looked.out.splitlines()[0] == "Harbor"
    assert "Salt air." in looked.out and "Smugglers" in looked.out
    cli.world.add_user("Ana")
    as_player = await cli("lookup", "Harbor", "--as-player", "ana")
    assert as_player.code == 0, as_player.err
    assert "Salt air." in as_player.out and "Smugglers" not in as_player.out  # notes are for the GM view only


async def test_lookup_as_player_never_names_an_entry_hidden_since_the_last_refresh(cli):
    """--as-player reads that user's view live, not the one stored by the last /refresh."""
    cli.world.add_user("Table")
    inn = cli.world.add_entry("Smugglers' Inn")
    harbor = cli.world.entry(next(f"JournalEntry.{i}" for i, d in cli.world.entries.items() if d["name"] == "Harbor"))
    harbor["flags"]["campaign-codex"]["data"]["linkedShops"] = [inn]
    refreshed = await cli("refresh", FOUNDRY_PLAYER="Table")  # learns Table's view: the inn is shared
    assert refreshed.code == 0 and "Player views: 1" in refreshed.out, refreshed.out
    cli.world.entry(inn)["ownership"] = {"default": 0}  # hidden in Foundry afterwards; no refresh

    as_player = await cli("lookup", "Harbor", "--as-player", "Table", FOUNDRY_PLAYER="Table")
    near = await cli("lookup", "Smuglers Inn", "--as-player", "Table", FOUNDRY_PLAYER="Table")
    assert as_player.code == 0 and "Salt air." in as_player.out, as_player.err
    assert "Smugglers' Inn" not in as_player.out + as_player.err
    assert near.code == 1 and "Smugglers' Inn" not in near.out + near.err


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


async def test_replies_speak_to_a_terminal_not_to_discord(cli):
    run = await cli("lookup", "Harbor")  # before any refresh: the map is empty
    assert run.code == 1
    assert run.err.strip() == "The name map for this world is empty: run python bot.py refresh first."

    [doc] = cli.world.entries.values()
    doc["flags"]["campaign-codex"]["data"]["description"] = (
        '<p>Salt air.</p><section class="secret"><p>Smugglers cove.</p></section>'
    )
    refreshed = await cli("refresh")
    lines = refreshed.out.splitlines()
    assert "" not in lines and not any("**" in line or "`" in line for line in lines)
    looked = (await cli("lookup", "Harbor")).out.splitlines()
    assert "🔒 Secret:" in looked and "Smugglers cove." in looked  # no Markdown quote markers or bold
    assert "Entries: 1" in lines and "Added: 1" in lines  # one field a line, no blank lines between

    run = await cli("refresh", "--world", "client-gone")
    assert run.code == 1
    assert "/world" not in run.err and "--world CLIENT_ID (python bot.py worlds lists them)" in run.err


async def test_json_has_one_documented_shape_for_answers_and_errors(cli):
    answer = json.loads((await cli("refresh", "--json")).out)
    assert set(answer) == {"ok", "title", "description", "fields", "tone", "url", "image_url", "footer", "data"}
    assert answer["ok"] is True and {"name": "Entries", "value": "1"} in answer["fields"]

    run = await cli("lookup", "Nowhere", "--json")
    error = json.loads(run.out)
    assert run.code == 1 and error == {
        "ok": False,
        "error": "No entry named “Nowhere”. Run python bot.py refresh if it is new.",
        "details": [],
        "temporary": False,
        "exit_code": 1,
    }


async def test_a_missing_push_file_is_named_before_the_relay_is_asked(cli):
    run = await cli("push", "Harbor", "--file", "missing.json", RELAY_URL="http://127.0.0.1:9")
    assert run.code == 2
    assert run.err.strip() == "Cannot read missing.json: No such file or directory. Nothing was sent."


async def test_an_unreachable_relay_is_one_plain_sentence(cli):
    run = await cli("worlds", RELAY_URL="http://127.0.0.1:9")
    assert run.code == 75
    assert run.err.strip() == "Couldn't reach the relay at http://127.0.0.1:9 (Connection refused); try again later."


async def test_status_runs_from_the_terminal(cli):
    await cli("refresh")
    run = await cli("status")
    assert run.code == 0, run.err
    assert "Bot status" in run.out and "Name map: 1 entries" in run.out


async def test_reveal_and_hide_preview_without_yes_and_set_ownership_with_it(cli):
    await cli("refresh")
    [uuid] = [f"JournalEntry.{i}" for i in cli.world.entries]
    cli.world.entry(uuid)["ownership"] = {"default": 0}  # as Foundry creates it: hidden from players
    preview = await cli("reveal", "Harbor")
    assert preview.code == 0 and "Reveal Harbor?" in preview.out and "--yes" in preview.out
    assert cli.world.entry(uuid)["ownership"]["default"] == 0

    revealed = await cli("reveal", "Harbor", "--yes")
    assert revealed.code == 0, revealed.err
    assert "Revealed: Harbor" in revealed.out
    assert cli.world.entry(uuid)["ownership"]["default"] == 2

    hidden = await cli("hide", "Harbor", "--yes", "--json")
    assert json.loads(hidden.out)["data"]["ownership_default"] == 0
    assert cli.world.entry(uuid)["ownership"]["default"] == 0
    [first, second] = cli.relay.requests("/update")
    assert first.json == {"data": {"ownership.default": 2}} and second.json == {"data": {"ownership.default": 0}}
