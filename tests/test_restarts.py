"""A bot that restarts, starts with a wrong setting or an unknown database, and meets Discord's own hiccups:
each says what happened in one line, and the rest keeps working."""

from __future__ import annotations

import asyncio
import logging
import sqlite3

import pytest

from bot import create_bot
from tests.cli_runner import run_bot
from tests.conftest import WORLD_ID
from tests.helpers import pending_with_button, run_until_button
from tests.test_outcomes import closed_port
from tests.test_push_codex import codex, confirm, data_of, push, push_file, refresh

EXPIRED = "This preview expired when the bot restarted; run the command again."


@pytest.fixture
async def harbor(gm_env):
    uuid = gm_env.world.add_entry("Harbor", flags=codex("location", description="<p>Salt.</p>"))
    await refresh(gm_env)
    return uuid


def buttons(env, message_id: int) -> list:
    return [b for row in env.h.fake.messages[message_id].payload.get("components") or [] for b in row["components"]]


# --- Confirm buttons from before a restart -------------------------------------------------------------


async def test_a_preview_from_before_a_restart_answers_that_it_expired_and_loses_its_buttons(gm_env, harbor):
    task, preview = await push(gm_env, "Harbor", {"data": {"description": "<p>Tar.</p>"}})
    old = await gm_env.h.restart(create_bot(gm_env.bot.settings))  # the old process died: no goodbye
    try:
        clicked = await gm_env.h.click(gm_env.gm, preview, label="Confirm")

        assert EXPIRED in clicked.text, clicked.text
        assert clicked.ephemeral
        assert buttons(gm_env, preview) == []
        assert not gm_env.relay.requests("/update")
        assert data_of(gm_env, harbor)["description"] == "<p>Salt.</p>"
        # The new process works as ever.
        result = await gm_env.h.slash(gm_env.gm, gm_env.channel, "lookup", name="Harbor")
        assert "Salt." in result.text
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await old.close()


async def test_cancel_on_a_preview_from_before_a_restart_answers_too(gm_env, harbor):
    task, preview = await push(gm_env, "Harbor", {"data": {"description": "<p>Tar.</p>"}})
    old = await gm_env.h.restart(create_bot(gm_env.bot.settings))
    try:
        clicked = await gm_env.h.click(gm_env.gm, preview, label="Cancel")
        assert EXPIRED in clicked.text and buttons(gm_env, preview) == []
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await old.close()


async def test_every_expired_preview_loses_its_buttons_the_fresh_one_too(gm_env, harbor, monkeypatch):
    import cogs.utils.confirm as confirm_module

    task, first = await push(gm_env, "Harbor", {"data": {"description": "<p>Tar.</p>"}})
    newest = max(gm_env.h.fake.messages)
    data_of(gm_env, harbor)["description"] = "<p>The GM's own edit.</p>"
    monkeypatch.setattr(confirm_module, "CONFIRM_TIMEOUT", 0.3)  # the fresh preview expires unanswered
    await confirm(gm_env, first)
    fresh = await gm_env.h.wait_for(lambda: pending_with_button(gm_env.h, "Confirm", newest))
    result = await task

    assert "expired; nothing was sent" in result.text
    assert buttons(gm_env, first) == [] and buttons(gm_env, fresh) == []
    assert not gm_env.relay.requests("/update")


# --- start-up ------------------------------------------------------------------------------------------


async def test_a_listed_guild_that_never_invited_the_bot_is_one_line_and_the_others_keep_working(gm_env, caplog):
    gm_env.world.add_entry("Harbor")
    typo = 987654321012345678
    gm_env.bot.settings.discord_guild_id = (gm_env.guild.id, typo)
    gm_env.bot.settings.relay_client_id = WORLD_ID  # several servers listed: the campaign's world is named
    with caplog.at_level(logging.WARNING):
        await gm_env.bot.sync_commands()  # what start-up runs: no traceback, no crash loop

    lines = [r.getMessage() for r in caplog.records if str(typo) in r.getMessage()]
    assert len(lines) == 1, lines
    assert "DISCORD_GUILD_ID" in lines[0] and "invite" in lines[0].lower()
    assert not [r for r in caplog.records if r.exc_info]
    result = await gm_env.h.slash(gm_env.gm, gm_env.channel, "refresh")
    assert "Name map refreshed" in result.text


async def test_a_database_of_a_newer_version_is_refused_at_start_with_one_line(tmp_path):
    path = tmp_path / "bot.sqlite3"
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA user_version = 99")  # written by a newer bot, then the image was rolled back
    conn.close()
    env = {
        "DISCORD_TOKEN": "t-token",
        "DISCORD_GUILD_ID": "1234",
        "RELAY_URL": "http://127.0.0.1:9",
        "RELAY_API_KEY": "k-123456789",
        "DATABASE_PATH": str(path),
        "DISCORD_API_BASE": closed_port(),
    }
    run = await run_bot(env=env, cwd=tmp_path)
    assert run.code == 2, run.err
    lines = run.err.strip().splitlines()
    assert len(lines) == 1 and "newer" in lines[0] and "99" in lines[0], run.err
    cli = await run_bot("lookup", "Harbor", env=env, cwd=tmp_path)
    assert cli.code == 2 and "newer" in cli.err
    assert sqlite3.connect(path).execute("PRAGMA user_version").fetchone()[0] == 99  # left as it was


# --- Discord's hiccups, a second /refresh ------------------------------------------------------------------


async def test_progress_edits_discord_refuses_never_abort_a_refresh(gm_env):
    gm_env.world.add_entry("Harbor")
    listing = gm_env.relay.hold_replies("/structure")
    background = asyncio.create_task(gm_env.app.gm.rebuilder.rebuild(WORLD_ID, background=True))
    await gm_env.h.wait_for(lambda: gm_env.relay.requests("/structure"), what="the background refresh")

    def progress_edit(request) -> bool:
        return "Refreshing the name map" in str(request.json)

    gm_env.h.fake.fail("PATCH", r"/webhooks/\d+/[^/]+/messages/@original", 503, times=None, when=progress_edit)
    refreshing = asyncio.create_task(gm_env.h.slash(gm_env.gm, gm_env.channel, "refresh", timeout=30))
    await gm_env.h.wait_for(
        lambda: any(r.status == 503 for r in gm_env.h.fake.requests), what="a refused progress edit"
    )
    listing.set()
    await background
    result = await refreshing

    assert "Name map refreshed" in result.text, result.text
    lookup = await gm_env.h.slash(gm_env.gm, gm_env.channel, "lookup", name="Harbor")
    assert "No entry named" not in lookup.text


async def test_a_second_refresh_while_one_runs_posts_that_refreshs_result(gm_env):
    gm_env.world.add_entry("Only")
    listing = gm_env.relay.hold_replies("/structure")
    first = asyncio.create_task(gm_env.h.slash(gm_env.gm, gm_env.channel, "refresh", timeout=30))
    await gm_env.h.wait_for(lambda: gm_env.relay.requests("/structure"), what="the first refresh")
    cogm = gm_env.h.member(gm_env.guild, "cogm", roles=["GM"])
    second = asyncio.create_task(gm_env.h.slash(cogm, gm_env.channel, "refresh", timeout=30))
    await asyncio.sleep(0.2)
    listing.set()
    first, second = await asyncio.gather(first, second)

    assert "Name map refreshed" in first.text
    assert "Name map refreshed" in second.text, second.text
    assert "already running" in second.text  # and it says whose result it is
    gm_listings = [r for r in gm_env.relay.requests("/structure") if "userId" not in r.query]
    assert len(gm_listings) == 1  # one enumeration, two answers


# --- a stale map ---------------------------------------------------------------------------------------


async def test_a_rename_with_a_stale_map_finds_the_entry_being_renamed(gm_env):
    await refresh(gm_env)
    harbor = gm_env.world.add_entry("Harbor", flags=codex("location"))  # after the last /refresh
    task, preview = await run_until_button(
        gm_env.h,
        gm_env.gm,
        gm_env.channel,
        "push",
        name="Harbor",
        rename="Old Harbor",
        data=push_file({"data": {"description": "<p>Salt.</p>"}}),
    )
    shown = str(gm_env.h.fake.messages[preview].payload)
    assert "Create" not in shown and "Harbor" in shown and "Old Harbor" in shown
    await confirm(gm_env, preview)
    result = await task
    assert "Pushed to Old Harbor" in result.text, result.text
    assert gm_env.world.entry(harbor)["name"] == "Old Harbor"
    assert not gm_env.relay.requests("/create")
    assert [d["name"] for d in gm_env.world.entries.values()] == ["Old Harbor"]
