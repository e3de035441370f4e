"""Past one machine: two bot processes (tests/bot_process.py, each the real bot with its own fake Discord) on one
PostgreSQL and one relay stand-in. Shards are split with SHARD_COUNT=2: process 1 runs shard 0, process 2 runs
shards 0 and 1 (it is taking shard 0 over, as in a rolling restart, so both serve the server on shard 0). Each
world's background refresh runs in one process per interval between them, the map change reaches the other
process's memory (LISTEN/NOTIFY), and both answer with the new names; both pace the relay key through one bucket."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from pathlib import Path

import pytest
from pydantic import SecretStr

from core.sealing import SealingKey
from storage.guild_settings import GuildSettingsStore
from storage.pacing import bucket_name
from storage.secrets import RELAY_KEY, SecretStore
from storage.worlds import WorldChoiceStore
from tests.hosted import SECRETS_KEY, relay_for

ROOT = Path(__file__).resolve().parent.parent
KEY = "relay-key-processes-2b4d6f8a0c1e"
SHARED = (2_000_000 * 2) << 22  # a server on shard 0 of 2 ((id >> 22) % 2)
SECOND = (2_000_000 * 2 + 1) << 22  # a server on shard 1
WAIT = 60  # seconds a child may take to answer on a loaded machine before the test gives up
T0 = 1_800_000_000.0


class Child:
    def __init__(self, process: asyncio.subprocess.Process):
        self.process = process

    @classmethod
    async def start(cls, env: dict[str, str], guilds: list[int]) -> Child:
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "tests.bot_process",
            *map(str, guilds),
            cwd=ROOT,
            env={**os.environ, **env},
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
        )
        child = cls(process)
        assert await child.read() == {"ready": True}
        return child

    async def read(self):
        line = await asyncio.wait_for(self.process.stdout.readline(), WAIT)
        assert line, "the bot process ended"
        return json.loads(line)

    async def ask(self, **command):
        self.process.stdin.write((json.dumps(command) + "\n").encode())
        await self.process.stdin.drain()
        return await self.read()

    async def stop(self) -> None:
        if self.process.returncode is None:
            try:
                await self.ask(do="quit")
                await asyncio.wait_for(self.process.wait(), WAIT)
            except (TimeoutError, AssertionError, BrokenPipeError, ConnectionResetError):
                self.process.kill()
                await self.process.wait()


def tree_reads(relay, client_id: str) -> int:
    """The GM tree reads of a world (a refresh's one /structure; player views would carry a userId)."""
    return sum(
        1 for r in relay.requests("/structure") if r.query.get("clientId") == client_id and "userId" not in r.query
    )


async def _set_up(db, relay, guild_id: int, client_id: str) -> None:
    """What /setup relay and /setup world stored for the server (tests/test_hosted_setup.py drives those)."""
    await GuildSettingsStore(db).update(guild_id, {"relay_url": relay.base_url}, set_by=1)
    await SecretStore(db, SealingKey.from_text(SECRETS_KEY)).put(guild_id, RELAY_KEY, "", SecretStr(KEY), set_by=1)
    await WorldChoiceStore(db).set(guild_id, client_id, client_id, 1)


@pytest.fixture
async def processes(pg_backend):
    relay = relay_for(KEY)
    async with relay:
        shared = relay.add_world("client-shared", "Shared world", online=True)
        second = relay.add_world("client-second", "Second world", online=True)
        harbor = shared.add_entry("Harbor")
        second.add_entry("Lighthouse")
        db = await pg_backend.open()
        try:
            await _set_up(db, relay, SHARED, "client-shared")
            await _set_up(db, relay, SECOND, "client-second")
        finally:
            await db.close()
        env = {
            "DISCORD_TOKEN": "discord-token-not-used-by-the-fake",
            "DATABASE_URL": pg_backend.url(),
            "SECRETS_KEY": SECRETS_KEY,
            "HOSTED": "true",
            "ALLOW_PRIVATE_RELAY_HOSTS": "true",
            "REFRESH_INTERVAL": "0",  # the children run passes when told, on the tests' clock
            "SHARD_COUNT": "2",
        }
        first = await Child.start({**env, "SHARD_IDS": "0"}, [SHARED])
        try:
            taking_over = await Child.start({**env, "SHARD_IDS": "0,1"}, [SHARED, SECOND])
            try:
                yield first, taking_over, relay, shared, harbor, pg_backend
            finally:
                await taking_over.stop()
        finally:
            await first.stop()


async def both(first: Child, other: Child, **command):
    return await asyncio.gather(first.ask(**command), other.ask(**command))


async def test_one_refresh_per_interval_per_world_and_both_processes_answer_with_the_new_names(processes):
    first, taking_over, relay, shared, harbor, pg_backend = processes
    assert await first.ask(do="loaded") == [SHARED]  # shard 1's server is not this process's
    assert await taking_over.ask(do="loaded") == [SHARED, SECOND]

    a, b = await both(first, taking_over, do="pass", now=T0)
    assert sorted([a[str(SHARED)]["client-shared"], b[str(SHARED)]["client-shared"]]) == ["elsewhere", "updated"]
    assert b[str(SECOND)] == {"client-second": "updated"}
    assert tree_reads(relay, "client-shared") == 1
    assert await first.ask(do="names", guild=SHARED) == ["Harbor"]
    assert await taking_over.ask(do="names", guild=SHARED) == ["Harbor"]

    shared.rename_entry(harbor, "Harbor Gate")  # the GM renames it in Foundry
    a, b = await both(first, taking_over, do="pass", now=T0 + 900)
    assert sorted([a[str(SHARED)]["client-shared"], b[str(SHARED)]["client-shared"]]) == ["elsewhere", "updated"]
    assert tree_reads(relay, "client-shared") == 2
    for child in (first, taking_over):  # the process that did not refresh hears of it (LISTEN/NOTIFY)
        for _ in range(WAIT * 10):
            names = await child.ask(do="names", guild=SHARED)
            if names == ["Harbor Gate"]:
                break
            await asyncio.sleep(0.1)
        assert names == ["Harbor Gate"]

    a, b = await both(first, taking_over, do="pass", now=T0 + 960)  # within the interval: nothing is due
    assert a[str(SHARED)] == {} and b[str(SHARED)] == {}
    a, b = await both(first, taking_over, do="pass", now=T0 + 1800)  # unchanged: still one read between them
    outcomes = sorted([a[str(SHARED)]["client-shared"], b[str(SHARED)]["client-shared"]])
    assert outcomes[0] == "elsewhere" and outcomes[1] in ("unchanged", "updated")
    assert tree_reads(relay, "client-shared") == 3

    db = await pg_backend.open()
    try:
        buckets = [r[0] for r in await db.fetchall("SELECT bucket FROM pacing_buckets")]
    finally:
        await db.close()
    assert buckets == [bucket_name("relay", SecretStr(KEY))]  # one key, one budget, whichever process asks
