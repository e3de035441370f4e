"""The GM's writes told as they happened: bookkeeping after a write (the name map, what players may see, the
channel post) can add a warning, never replace the outcome; a stop mid-write finishes or says what to check;
a push landing while a /refresh enumerates is never lost from the map."""

from __future__ import annotations

import asyncio
import logging
import sqlite3
from contextlib import asynccontextmanager

import pytest

import bot as bot_module
from tests.conftest import WORLD_ID
from tests.helpers import run_until_button
from tests.test_push_codex import codex, confirm, data_of, push, push_file, refresh


@pytest.fixture
async def town(gm_env):
    w = gm_env.world
    ids = {
        "mira": w.add_entry("Mira Thorn", flags=codex("npc", associates=[], linkedLocations=[])),
        "harbor": w.add_entry(
            "Harbor", flags=codex("location", linkedNPCs=[], linkedShops=[]), ownership={"default": 0}
        ),
    }
    await refresh(gm_env)
    return ids


@asynccontextmanager
async def busy_database(env):
    """A second connection holds SQLite's write lock, as a `python bot.py refresh` next to the bot does."""
    await env.app.db.conn.execute("PRAGMA busy_timeout = 100")
    blocker = sqlite3.connect(env.app.db.path)
    blocker.execute("BEGIN EXCLUSIVE")
    try:
        yield
    finally:
        blocker.rollback()
        blocker.close()
        await env.app.db.conn.execute("PRAGMA busy_timeout = 5000")


def names_in_map(env) -> dict[str, str]:
    conn = sqlite3.connect(env.app.db.path)
    try:
        return dict(conn.execute("SELECT name, uuid FROM name_entries WHERE world = ?", (WORLD_ID,)).fetchall())
    finally:
        conn.close()


# --- bookkeeping after the point of no return ------------------------------------------------------


async def test_a_reveal_whose_bookkeeping_meets_a_busy_database_is_reported_revealed(gm_env, town):
    task, preview = await run_until_button(gm_env.h, gm_env.gm, gm_env.channel, "reveal", name="Harbor")
    async with busy_database(gm_env):
        await confirm(gm_env, preview)
        result = await task

    assert gm_env.world.entry(town["harbor"])["ownership"]["default"] == 2
    assert "Revealed: Harbor" in result.text, result.text
    assert "nothing was changed" not in result.text
    assert "could not update what players may see" in result.text and "busy" in result.text
    assert "/refresh" in result.text  # what puts it right
    # The channel gets only what every player's view, read now, proves: it could not be read, and the GM is told why.
    assert not gm_env.h.messages_in(gm_env.channel)
    assert "Not posted in the channel: what its players see could not be read (the bot's database was busy)" in (
        result.text
    )


async def test_a_rename_whose_map_update_meets_a_busy_database_still_writes_the_links_other_side(gm_env, town):
    task, preview = await run_until_button(
        gm_env.h,
        gm_env.gm,
        gm_env.channel,
        "push",
        name="Harbor",
        rename="Old Harbor",
        data=push_file({"data": {"linkedNPCs": [town["mira"]]}}),
    )
    async with busy_database(gm_env):
        await confirm(gm_env, preview)
        result = await task

    assert gm_env.world.entry(town["harbor"])["name"] == "Old Harbor"
    assert data_of(gm_env, town["mira"])["linkedLocations"] == [town["harbor"]]  # never a one-sided link
    assert "Pushed to Old Harbor" in result.text, result.text
    assert "Linked entries updated" in result.text and "Mira Thorn" in result.text
    assert "nothing was changed" not in result.text
    assert "could not update the name map" in result.text and "/refresh" in result.text


async def test_a_create_whose_map_update_meets_a_busy_database_is_reported_created_with_its_links(gm_env, town):
    task, preview = await push(gm_env, "Tar Shop", {"type": "shop", "data": {"linkedLocation": town["harbor"]}})
    async with busy_database(gm_env):
        await confirm(gm_env, preview)
        result = await task

    [shop] = [f"JournalEntry.{i}" for i, d in gm_env.world.entries.items() if d["name"] == "Tar Shop"]
    assert data_of(gm_env, town["harbor"])["linkedShops"] == [shop]
    assert "Created Tar Shop" in result.text, result.text
    assert "nothing was changed" not in result.text and "it is in the name map" not in result.text
    assert "could not add it to the name map" in result.text and "/refresh" in result.text


async def test_a_write_whose_reply_is_lost_and_cannot_be_read_back_says_what_to_check_and_what_was_not_written(
    gm_env, town
):
    task, preview = await push(gm_env, "Harbor", {"data": {"linkedNPCs": [town["mira"]]}})
    gm_env.relay.not_answering("/update", applied=True)
    gm_env.relay.fail_after("/get", passed=2)  # Confirm re-reads both entries; then the read-back fails
    await confirm(gm_env, preview)
    result = await task

    assert "may have been written" in result.text and "Harbor" in result.text, result.text
    assert "Not written" in result.text and "Mira Thorn" in result.text
    assert len(gm_env.relay.requests("/update")) == 1  # the other side is not written blindly


# --- a stop in the middle of a write ---------------------------------------------------------------


async def test_a_stop_mid_push_lets_the_write_finish_and_reports_it(gm_env, town):
    held = gm_env.relay.hold_replies("/update")
    task, preview = await push(gm_env, "Harbor", {"data": {"description": "<p>Tar.</p>"}})
    await confirm(gm_env, preview)
    await gm_env.h.wait_for(lambda: gm_env.relay.requests("/update"), what="the write to reach Foundry")

    stopping = asyncio.create_task(gm_env.bot.close())  # what SIGTERM runs (bot._run)
    await gm_env.h.wait_for(lambda: gm_env.bot.stopping, what="the stop to begin")
    held.set()  # Foundry's reply arrives within the shutdown grace
    await stopping
    result = await task

    assert data_of(gm_env, town["harbor"])["description"] == "<p>Tar.</p>"
    assert "Pushed to Harbor" in result.text, result.text


async def test_a_write_a_stop_cuts_off_is_reported_as_may_have_been_written(gm_env, town, monkeypatch, caplog):
    monkeypatch.setattr(bot_module, "SHUTDOWN_GRACE", 0.3)
    held = gm_env.relay.hold_replies("/update")
    task, preview = await push(gm_env, "Harbor", {"data": {"linkedNPCs": [town["mira"]]}})
    await confirm(gm_env, preview)
    await gm_env.h.wait_for(lambda: gm_env.relay.requests("/update"), what="the write to reach Foundry")

    with caplog.at_level(logging.ERROR):
        await gm_env.bot.close()  # Foundry's reply never comes within the grace
    result = await task
    held.set()

    assert data_of(gm_env, town["harbor"])["linkedNPCs"] == [town["mira"]]  # it did land
    assert "may have been written" in result.text and "check" in result.text, result.text
    assert "Harbor" in result.text and "Mira Thorn" in result.text  # what to check, and what was not written
    assert "nothing was sent" not in result.text and "Cancelled" not in result.text
    assert any("may have been written" in r.getMessage() and "Harbor" in r.getMessage() for r in caplog.records)


async def test_a_preview_waiting_for_confirm_when_the_bot_stops_loses_its_buttons_and_sends_nothing(gm_env, town):
    task, preview = await push(gm_env, "Harbor", {"data": {"description": "<p>Tar.</p>"}})
    await gm_env.bot.close()
    result = await task
    assert gm_env.h.fake.messages[preview].payload.get("components") in (None, [])
    assert "nothing was sent" in result.text and "restart" in result.text, result.text
    assert not gm_env.relay.requests("/update")


# --- a push while /refresh enumerates ----------------------------------------------------------------


def held_listing(env) -> asyncio.Event:
    """A world of over 500 entries (the relay's search is capped, so the refresh then checks folder names):
    its listing (the tree and the capped search) is read at once, the folder checks after it are held, and
    a push lands meanwhile, as in a big world's long enumeration."""
    for n in range(510):
        env.world.add_entry(f"Filler {n:03d}")
    return env.relay.hold_replies("/get-folder")


async def test_an_entry_created_while_a_refresh_enumerates_stays_in_the_map(gm_env, town):
    listing = held_listing(gm_env)
    refreshing = asyncio.create_task(gm_env.h.slash(gm_env.gm, gm_env.channel, "refresh", timeout=30))
    await gm_env.h.wait_for(lambda: gm_env.relay.requests("/get-folder"), what="the refresh's listing")

    task, preview = await push(gm_env, "Tar Shop", {"type": "shop"})
    await confirm(gm_env, preview)
    assert "Created Tar Shop" in (await task).text
    listing.set()
    refreshed = await refreshing

    assert "Name map refreshed" in refreshed.text, refreshed.text
    assert "Tar Shop" in names_in_map(gm_env)
    lookup = await gm_env.h.slash(gm_env.gm, gm_env.channel, "lookup", name="Tar Shop")
    assert "No entry named" not in lookup.text and "Tar Shop" in lookup.text


async def test_an_entry_renamed_while_a_refresh_enumerates_keeps_its_new_name(gm_env, town):
    listing = held_listing(gm_env)
    refreshing = asyncio.create_task(gm_env.h.slash(gm_env.gm, gm_env.channel, "refresh", timeout=30))
    await gm_env.h.wait_for(lambda: gm_env.relay.requests("/get-folder"), what="the refresh's listing")

    task, preview = await run_until_button(
        gm_env.h,
        gm_env.gm,
        gm_env.channel,
        "push",
        name="Harbor",
        rename="Old Harbor",
        data=push_file({"data": {"description": "<p>Salt.</p>"}}),
    )
    await confirm(gm_env, preview)
    assert "Pushed to Old Harbor" in (await task).text
    listing.set()
    await refreshing

    assert names_in_map(gm_env).get("Old Harbor") == town["harbor"] and "Harbor" not in names_in_map(gm_env)
    lookup = await gm_env.h.slash(gm_env.gm, gm_env.channel, "lookup", name="Old Harbor")
    assert "No entry named" not in lookup.text
