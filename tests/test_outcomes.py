"""Outcomes reported as they happened: a release Foundry accepted stays released when the bot's own
bookkeeping fails; SQLite takes one transaction at a time and closes every cursor; a broken database
stops start-up before Discord is contacted."""

from __future__ import annotations

import asyncio
import logging
import re
import socket

import aiosqlite

from storage import ReleaseStore, open_database
from tests.cli_runner import run_bot
from tests.helpers import run_until_button
from tests.test_release_commands import posts, serve


async def start_publish(env):
    url = serve(env.foundry)
    return await run_until_button(
        env.h, env.maintainer, env.channel, "release publish", package="my-module", manifest=url
    )


async def test_an_accepted_release_is_reported_and_announced_when_the_log_write_fails(gm_env, caplog):
    task, preview = await start_publish(gm_env)
    await gm_env.app.db.conn.execute("PRAGMA query_only = ON")  # every write fails from now on
    try:
        with caplog.at_level(logging.WARNING):
            await gm_env.h.click(gm_env.maintainer, preview, label="Confirm")
            result = await task
    finally:
        await gm_env.app.db.conn.execute("PRAGMA query_only = OFF")
    assert gm_env.foundry.published["my-module"] == ["1.0.0", "1.2.0"]
    assert "Released my-module 1.2.0" in result.text
    assert "could not write the release log" in result.text
    assert len(gm_env.h.messages_in(gm_env.announce)) == 1  # announced all the same
    assert any("write the release log" in r.getMessage() for r in caplog.records)


async def test_a_429_whose_cooldown_cannot_be_saved_still_reports_the_wait(gm_env):
    task, preview = await start_publish(gm_env)
    gm_env.foundry.fail_next(429, "Too Many Requests", content_type="text/plain", headers={"Retry-After": "30"})
    await gm_env.app.db.conn.execute("PRAGMA query_only = ON")
    try:
        await gm_env.h.click(gm_env.maintainer, preview, label="Confirm")
        result = await task
    finally:
        await gm_env.app.db.conn.execute("PRAGMA query_only = OFF")
    assert re.search(r"try again <t:\d+:R>", result.text), result.text
    assert "could not save the cooldown" in result.text
    assert "database failed; nothing was changed" not in result.text
    assert len(posts(gm_env.foundry)) == 2  # the dry run and the refused release, nothing more


async def test_a_write_while_another_transaction_is_open_waits_its_turn(tmp_path):
    db = await open_database(tmp_path / "bot.sqlite3")
    try:
        inside, release = asyncio.Event(), asyncio.Event()

        async def long_refresh():
            async with db.transaction() as conn:
                await conn.execute("INSERT INTO name_maps VALUES ('w', 0, 1, NULL)")
                inside.set()
                await release.wait()

        refresh = asyncio.create_task(long_refresh())
        await inside.wait()
        store = ReleaseStore(db)
        logging_task = asyncio.create_task(
            store.log(
                actor="a",
                package_id="p",
                version="1",
                dry_run=True,
                options={},
                status="success",
                http_status=200,
                answer=None,
            )
        )
        await asyncio.sleep(0.05)
        release.set()
        await asyncio.gather(refresh, logging_task)  # neither fails with "database failed"
        assert len(await store.history("p")) == 1
        assert len(await db.fetchall("SELECT * FROM name_maps")) == 1
    finally:
        await db.close()


async def test_start_up_commits_even_when_the_runtime_keeps_cursors_alive(tmp_path, monkeypatch):
    kept = []
    real_init = aiosqlite.Cursor.__init__

    def keeping(self, *args, **kwargs):
        real_init(self, *args, **kwargs)
        kept.append(self)  # as a runtime holding references a little longer would

    monkeypatch.setattr(aiosqlite.Cursor, "__init__", keeping)
    db = await open_database(tmp_path / "bot.sqlite3")
    try:
        await ReleaseStore(db).set_cooldown("p", 1e12)
        assert await ReleaseStore(db).cooldown_until("p") == 1e12
    finally:
        await db.close()


def closed_port() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{s.getsockname()[1]}"


async def test_a_database_that_cannot_be_opened_stops_the_bot_before_discord_with_exit_2(tmp_path):
    broken = tmp_path / "bot.sqlite3"
    broken.write_bytes(b"this is not an SQLite database, just bytes" * 100)
    env = {
        "DISCORD_TOKEN": "t-token",
        "DISCORD_GUILD_ID": "1234",
        "RELAY_URL": "http://127.0.0.1:9",
        "RELAY_API_KEY": "k-123456789",
        "DATABASE_PATH": str(broken),
        "DISCORD_API_BASE": closed_port(),  # reaching for Discord would say "Cannot reach Discord", exit 75
    }
    run = await run_bot(env=env, cwd=tmp_path)
    assert run.code == 2, run.err
    lines = run.err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Database error") and "DATABASE_PATH" in lines[0]

    cli = await run_bot("lookup", "Harbor", env=env, cwd=tmp_path)
    assert cli.code == 2 and "DATABASE_PATH" in cli.err
