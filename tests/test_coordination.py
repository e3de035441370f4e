"""Where processes meet in the database: one refresh per world at a time, map changes told to every process,
and one relay key's request budget shared by all. On PostgreSQL "another process" is another connection pool
(or a real child process); on SQLite, which one process owns, the same guarantees hold inside it."""

from __future__ import annotations

import asyncio
import sys
import textwrap
from pathlib import Path

import pytest
from pydantic import SecretStr

from services.maps.world_maps import NameMaps
from storage import NameEntry, NameMapStore
from storage.name_map import MAP_CHANGED
from storage.pacing import SharedBucket, SharedPacing, bucket_name

WAIT = 30  # seconds a notification may take on a loaded machine before the test gives up


def names(*pairs: tuple[str, str]) -> list[NameEntry]:
    return [NameEntry(uuid=uuid, name=name, folder=None) for uuid, name in pairs]


async def _two_processes(backend):
    """Two handles on one database: two pools (two processes' worth) on PostgreSQL, the one handle on SQLite."""
    first = await backend.open()
    second = await backend.open() if backend.postgres else first
    return first, second


async def _close(*dbs) -> None:
    for db in dict.fromkeys(dbs):
        await db.close()


async def test_one_holder_of_a_worlds_refresh_turn_at_a_time(backend):
    first, second = await _two_processes(backend)
    try:
        async with NameMapStore(first).refresh_turn("world-a") as mine:
            assert mine is True
            async with NameMapStore(second).refresh_turn("world-a") as theirs:
                assert theirs is False
            async with NameMapStore(second).refresh_turn("world-b") as other_world:
                assert other_world is True
        async with NameMapStore(second).refresh_turn("world-a") as after:
            assert after is True
    finally:
        await _close(first, second)


async def test_a_refresh_turn_is_let_go_when_its_holder_fails(backend):
    first, second = await _two_processes(backend)
    try:
        with pytest.raises(RuntimeError):
            async with NameMapStore(first).refresh_turn("world-a") as mine:
                assert mine
                raise RuntimeError("the relay went away")
        async with NameMapStore(second).refresh_turn("world-a") as after:
            assert after is True
    finally:
        await _close(first, second)


CHILD = textwrap.dedent(
    """
    import asyncio, sys
    from pydantic import SecretStr
    from storage import NameMapStore, open_database

    async def main():
        db = await open_database(SecretStr(sys.argv[1]))
        async with NameMapStore(db).refresh_turn("world-a") as mine:
            print("held" if mine else "not held", flush=True)
            await asyncio.sleep(3600)  # until killed

    asyncio.run(main())
    """
)


async def test_a_process_that_dies_mid_refresh_lets_the_others_take_over(pg_backend):
    root = str(Path(__file__).resolve().parent.parent)
    child = await asyncio.create_subprocess_exec(
        sys.executable, "-c", CHILD, pg_backend.url(), cwd=root, stdout=asyncio.subprocess.PIPE
    )
    db = await pg_backend.open()
    try:
        assert (await asyncio.wait_for(child.stdout.readline(), 60)).strip() == b"held"
        async with NameMapStore(db).refresh_turn("world-a") as mine:
            assert mine is False
        child.kill()  # no clean-up of its own: the server notices the connection is gone
        await child.wait()
        for _ in range(300):
            async with NameMapStore(db).refresh_turn("world-a") as mine:
                if mine:
                    break
            await asyncio.sleep(0.1)
        assert mine, "the dead process's turn was never let go"
    finally:
        if child.returncode is None:
            child.kill()
            await child.wait()
        await db.close()


async def test_map_changes_reach_every_process_once_committed(backend):
    writer, reader = await _two_processes(backend)
    try:
        changes = await NameMapStore(reader).changes()
        store = NameMapStore(writer)
        await NameMaps(store).replace("world-a", names(("JournalEntry.1", "Alpha")), complete=True)
        notice = await asyncio.wait_for(anext(changes), WAIT)
        assert notice.payload == "world-a"
        assert notice.from_here is (not backend.postgres)  # the other pool is another process

        with pytest.raises(RuntimeError):  # a write that rolls back tells nothing
            async with writer.transaction() as tx:
                await tx.notify(MAP_CHANGED, "world-b")
                raise RuntimeError("the relay failed midway")
        await store.put("world-c", NameEntry("JournalEntry.3", "Gamma", None))
        assert (await asyncio.wait_for(anext(changes), WAIT)).payload == "world-c"
        assert [e.name for e in await NameMapStore(reader).entries("world-c")] == ["Gamma"]  # already readable

        await changes.close()
        assert [n async for n in changes] == []  # a closed subscription ends
    finally:
        await _close(writer, reader)


async def test_a_lost_listening_connection_comes_back_and_asks_for_a_full_reread(pg_backend):
    writer, reader = await pg_backend.open(), await pg_backend.open()
    admin = await pg_backend.admin()
    try:
        changes = await NameMapStore(reader).changes()
        pids = [
            r[0]
            for r in await admin.fetch(
                "SELECT pid FROM pg_stat_activity WHERE query LIKE 'LISTEN %' AND query LIKE $1",
                f"%{pg_backend.schema}%",
            )
        ]
        assert len(pids) == 1
        await admin.execute("SELECT pg_terminate_backend($1)", pids[0])
        missed = await asyncio.wait_for(anext(changes), WAIT)
        assert missed.payload is None  # whatever was sent meanwhile is lost: re-read every map
        await NameMaps(NameMapStore(writer)).replace("world-a", names(("JournalEntry.1", "Alpha")), complete=True)
        assert (await asyncio.wait_for(anext(changes), WAIT)).payload == "world-a"
    finally:
        await admin.close()
        await _close(writer, reader)


async def test_a_keys_budget_holds_across_processes(backend):
    """400 requests asked for at once, half by each process, against the relay's bucket (300, then 5 a
    second): exactly 300 may go at once and each of the rest 0.2 s after the one before, whatever the order."""
    first, second = await _two_processes(backend)
    try:
        pacers = [SharedPacing(db, capacity=300, per_second=5.0) for db in (first, second)]
        now = 1_000_000.0
        ready = await asyncio.gather(*(pacers[i % 2].reserve("relay:key-a", now=now) for i in range(400)))
        assert sorted(ready) == pytest.approx([now] * 300 + [now + k / 5.0 for k in range(1, 101)])
        # Another key's bucket is its own, and full.
        assert await pacers[0].reserve("relay:key-b", now=now) == now
        # 10 s later the bucket, 100 tokens in debt, has refilled 50: the next request queues behind the 400th.
        assert await pacers[1].reserve("relay:key-a", now=now + 10) == pytest.approx(now + 20.2)
        # Once it has refilled past the debt, a request goes at once.
        assert await pacers[0].reserve("relay:key-a", now=now + 60) == now + 60
    finally:
        await _close(first, second)


async def test_a_429_empties_the_shared_bucket_for_every_process(backend):
    first, second = await _two_processes(backend)
    try:
        now = 2_000_000.0
        one, other = (
            SharedPacing(first, capacity=300, per_second=5.0),
            SharedPacing(second, capacity=300, per_second=5.0),
        )
        assert await one.reserve("relay:key-a", now=now) == now
        assert await one.reserve("relay:key-a", now=now, drained=True) == pytest.approx(now + 1 / 5.0)
        assert await other.reserve("relay:key-a", now=now) == pytest.approx(now + 2 / 5.0)
    finally:
        await _close(first, second)


async def test_a_shared_bucket_paces_like_the_relay_clients_own(backend):
    db = await backend.open()
    try:
        pacing = SharedPacing(db, capacity=2, per_second=50.0)
        name = bucket_name("relay", SecretStr("k" * 20))
        t = 1_000.0  # the clock held still: only the bucket decides
        ready = [await pacing.reserve(name, now=t) for _ in range(4)]
        assert ready[:2] == [t, t]  # the two tokens there
        assert ready[2:] == [pytest.approx(t + 0.02), pytest.approx(t + 0.04)]  # queued, one refill apart
        assert await pacing.reserve(name, now=t, drained=True) == pytest.approx(t + 0.06)
        bucket = SharedBucket(pacing, bucket_name("relay", SecretStr("j" * 20)))
        for _ in range(3):
            await bucket.take()
        assert bucket.granted == 3
    finally:
        await db.close()


def test_a_bucket_name_does_not_reveal_its_key():
    key = SecretStr("relay-scoped-key-7c1e9a0b2d4f6e8a")
    name = bucket_name("relay", key)
    assert name.startswith("relay:") and name == bucket_name("relay", key)
    assert not any(key.get_secret_value()[i : i + 8] in name for i in range(len(key.get_secret_value()) - 7))
    assert name != bucket_name("relay", SecretStr("another-key-0000000000"))
