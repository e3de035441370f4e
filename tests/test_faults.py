"""Faults a long-running bot meets: crossed replies, expired interactions, SQLite trouble, concurrency, shutdown."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sqlite3
import sys
import textwrap

import pytest

from tests.conftest import RELAY_KEY, WORLD_ID
from tests.helpers import run_until_button
from tests.stand_ins.relay_server import ALL_SCOPES, StandInRelay


def codex(description: str) -> dict:
    return {"campaign-codex": {"type": "location", "data": {"description": description}}}


async def refresh(env):
    result = await env.h.slash(env.gm, env.channel, "refresh")
    assert "Name map refreshed" in result.text, result.text


@pytest.fixture
async def harbor(gm_env):
    uuid = gm_env.world.add_entry("Harbor", flags=codex("<p>Salt.</p>"))
    gm_env.world.add_entry("Lighthouse", flags=codex("<p>Light.</p>"))
    await refresh(gm_env)
    return uuid


# --- replies for another entry ------------------------------------------------------------------


async def test_a_reply_for_another_uuid_is_never_shown(gm_env, harbor):
    lighthouse = next(
        u for u, e in ((f"JournalEntry.{k}", v) for k, v in gm_env.world.entries.items()) if e["name"] == "Lighthouse"
    )
    crossed = {
        "type": "entity-result",
        "requestId": "entity_1",
        "uuid": lighthouse,
        "data": gm_env.world.entry(lighthouse),
    }
    gm_env.relay.force("/get", 200, crossed, times=2)

    result = await gm_env.h.slash(gm_env.player, gm_env.channel, "lookup", name="Harbor")

    assert "Light." not in result.text and "Lighthouse" not in result.text
    assert "reply meant for" in result.text and "nothing was shown" in result.text, result.text


# --- interactions older than 15 minutes ----------------------------------------------------------


async def test_a_confirmation_answered_after_the_token_expired_reports_by_direct_message(gm_env, harbor):
    h = gm_env.h
    task, preview = await run_until_button(
        h,
        gm_env.gm,
        gm_env.channel,
        "push",
        name="Harbor",
        data=("h.json", json.dumps({"data": {"description": "<p>Tar.</p>"}}).encode()),
    )
    h.expire_interactions()  # fifteen minutes pass before the GM presses Confirm
    await h.click(gm_env.gm, preview, label="Confirm")
    await task

    assert gm_env.world.entry(harbor)["flags"]["campaign-codex"]["data"]["description"] == "<p>Tar.</p>"
    assert not h.messages_in(gm_env.channel)  # a private (GM) result never goes to the channel
    [late] = h.messages_in(h.dm(gm_env.gm))
    assert "Pushed to Harbor" in late.text and late.allowed_mentions == {"parse": []}


async def test_a_slow_lookup_that_outlives_its_token_still_answers_in_the_channel(gm_env, harbor):
    result = await gm_env.h.slash(gm_env.player, gm_env.channel, "lookup", name="Harbor", expire="after_ack")
    assert result.acknowledged
    [late] = gm_env.h.messages_in(gm_env.channel)
    assert "Salt." in late.text


# --- SQLite trouble -----------------------------------------------------------------------------


async def test_a_busy_database_gives_a_clear_message_and_keeps_the_map(gm_env, harbor):
    before = await gm_env.app.gm.maps.store.entries(WORLD_ID)
    await gm_env.app.db.conn.execute("PRAGMA busy_timeout = 100")
    gm_env.world.add_entry("New Dock")
    blocker = sqlite3.connect(gm_env.app.db.path)
    blocker.execute("BEGIN EXCLUSIVE")
    try:
        result = await gm_env.h.slash(gm_env.gm, gm_env.channel, "refresh")
    finally:
        blocker.rollback()
        blocker.close()
    assert "database is busy" in result.text and "nothing was changed" in result.text
    assert await gm_env.app.gm.maps.store.entries(WORLD_ID) == before


async def test_a_read_only_database_gives_a_clear_message_and_half_writes_nothing(gm_env, harbor):
    before = await gm_env.app.gm.maps.store.entries(WORLD_ID)
    gm_env.world.add_entry("New Dock")
    await gm_env.app.db.conn.execute("PRAGMA query_only = ON")
    result = await gm_env.h.slash(gm_env.gm, gm_env.channel, "refresh")
    await gm_env.app.db.conn.execute("PRAGMA query_only = OFF")
    assert "read-only" in result.text and "DATABASE_PATH" in result.text
    assert await gm_env.app.gm.maps.store.entries(WORLD_ID) == before


# --- concurrency --------------------------------------------------------------------------------


@pytest.fixture
async def relay():
    """This module's relay crosses same-type requests made in the same millisecond, as the real one does."""
    stand_in = StandInRelay(keys={RELAY_KEY: set(ALL_SCOPES)}, crossing=True, foundry_delay=0.01, relay_timeout=0.3)
    async with stand_in:
        yield stand_in


async def test_fifty_concurrent_lookups_each_get_their_own_entry(gm_env):
    names = [f"Entry {n:02d}" for n in range(50)]
    for name in names:
        gm_env.world.add_entry(name, flags=codex(f"<p>Only {name} says this.</p>"))
    await refresh(gm_env)
    players = [gm_env.h.member(gm_env.guild, f"player{n}") for n in range(50)]

    results = await asyncio.gather(
        *(gm_env.h.slash(who, gm_env.channel, "lookup", name=name, timeout=30) for who, name in zip(players, names))
    )

    for name, result in zip(names, results):
        assert result.response is not None, f"{name}: no answer"
        [embed] = result.response.embeds
        assert embed.title == name, f"{name} was shown {embed.title}"
        assert f"Only {name} says this." in embed.description
        others = [n for n in names if n != name and f"Only {n} says" in result.text]
        assert not others


async def test_two_pushes_to_one_entry_apply_one_after_the_other(gm_env, harbor):
    h = gm_env.h
    second_gm = h.member(gm_env.guild, "cogm", roles=["GM"])
    first, first_preview = await run_until_button(
        h,
        gm_env.gm,
        gm_env.channel,
        "push",
        name="Harbor",
        data=("a.json", json.dumps({"data": {"description": "<p>First.</p>"}}).encode()),
    )
    newest = max(h.fake.messages)
    second = asyncio.create_task(
        h.slash(
            second_gm,
            gm_env.channel,
            "push",
            name="Harbor",
            data=("b.json", json.dumps({"data": {"description": "<p>Second.</p>"}}).encode()),
        )
    )
    await asyncio.sleep(0.3)
    from tests.helpers import pending_with_button

    assert pending_with_button(h, "Confirm", newest) is None  # waits for the first push to finish

    await h.click(gm_env.gm, first_preview, label="Confirm")
    second_preview = await h.wait_for(lambda: pending_with_button(h, "Confirm", newest))
    shown = json.dumps(h.fake.messages[second_preview].payload["embeds"])
    assert "First." in shown and "Second." in shown  # previewed against the state after the first
    await h.click(second_gm, second_preview, label="Confirm")
    await asyncio.gather(first, second)
    assert gm_env.world.entry(harbor)["flags"]["campaign-codex"]["data"]["description"] == "<p>Second.</p>"
    assert len(gm_env.relay.requests("/update")) == 2


# --- shutdown -----------------------------------------------------------------------------------


async def test_closing_the_bot_mid_command_leaves_sqlite_whole_and_closes_everything(gm_env, harbor):
    gm_env.world.add_entry("New Dock")
    gm_env.relay.add_latency("/search", 1.0)
    gm_env.relay.add_latency("/structure", 1.0)
    app = gm_env.app
    running = asyncio.create_task(gm_env.h.slash(gm_env.gm, gm_env.channel, "refresh", timeout=20))
    await asyncio.sleep(0.2)

    await gm_env.bot.close()
    await asyncio.gather(running, return_exceptions=True)

    assert app.session.closed
    rows = sqlite3.connect(app.db.path).execute("SELECT name FROM name_entries ORDER BY name").fetchall()
    assert [r[0] for r in rows] in (["Harbor", "Lighthouse"], ["Harbor", "Lighthouse", "New Dock"])


SIGNAL_SCRIPT = textwrap.dedent("""
    import asyncio, sys
    sys.path.insert(0, {root!r})
    import bot

    class Connected(bot.FoundryBot):
        async def start(self, token, *, reconnect=True):
            assert self.app is not None  # _run opened the database before "connecting"
            print("ready", flush=True)
            while not self.is_closed():  # as if connected to the gateway until close()
                await asyncio.sleep(0.05)

    settings = bot.load_settings()
    b = Connected(settings)
    asyncio.run(bot._run(b, "token"))
    print("closed", b.app is None, flush=True)
""")


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
async def test_sigterm_and_sigint_stop_the_bot_cleanly(tmp_path, sig):
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    script = tmp_path / "run.py"
    script.write_text(SIGNAL_SCRIPT.format(root=root))
    env = {"PATH": os.environ.get("PATH", ""), "DATABASE_PATH": str(tmp_path / "bot.sqlite3"), "DISCORD_TOKEN": "x"}
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        str(script),
        cwd=tmp_path,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    assert (await asyncio.wait_for(proc.stdout.readline(), 20)).strip() == b"ready"
    proc.send_signal(sig)
    out, err = await asyncio.wait_for(proc.communicate(), 20)
    assert proc.returncode == 0, err.decode()
    assert b"closed True" in out


# --- a refresh failing midway, a 429 burst -----------------------------------------------------


def map_rows(env) -> list[tuple]:
    conn = sqlite3.connect(env.app.db.path)
    try:
        return conn.execute("SELECT world, uuid, name, folder FROM name_entries ORDER BY uuid").fetchall()
    finally:
        conn.close()


async def test_a_refresh_failing_on_a_later_request_keeps_the_previous_map_row_for_row(gm_env, harbor):
    before = map_rows(gm_env)
    structure_calls = len(gm_env.relay.requests("/structure"))
    gm_env.world.add_entry("New Dock", folder=gm_env.world.add_folder("Docks"))
    gm_env.world.entries[harbor.split(".")[1]]["name"] = "Harbour"
    gm_env.relay.force("/search", 500, {"error": "Failed to send request to Foundry client"}, times=3)

    result = await gm_env.h.slash(gm_env.gm, gm_env.channel, "refresh")

    assert len(gm_env.relay.requests("/structure")) > structure_calls  # its first request had succeeded
    assert "500" in result.text and "refreshed" not in result.text
    assert map_rows(gm_env) == before


async def test_a_burst_of_429s_answers_every_user(gm_env, harbor):
    players = [gm_env.h.member(gm_env.guild, f"p{n}") for n in range(6)]
    gm_env.relay.enable_rate_limit(capacity=2, per_second=0.01)
    results = await asyncio.gather(*(gm_env.h.slash(p, gm_env.channel, "lookup", name="Harbor") for p in players))
    answered = [r for r in results if "Salt." in r.text]
    limited = [r for r in results if "300 requests a minute" in r.text]
    assert len(answered) + len(limited) == len(players)
    assert limited, "the stand-in's bucket should have run dry"
