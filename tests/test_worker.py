"""The worker process: same results as in place, a dead worker replaced once, a second death or a stuck job
reported (never run inside the bot), no process at all tolerated, closed with the app."""

from __future__ import annotations

import os
import signal
import time

import pytest

from services.maps.names import NameIndex
from services.offload import Offloader, WorkerFailed, pickled_parts
from storage import NameEntry


def entries(n: int) -> list[NameEntry]:
    return [NameEntry(f"JournalEntry.{i:016d}", f"Name {i} of the Keep {i % 7}", "Folder") for i in range(n)]


async def built_in_the_worker(offload: Offloader, items: list[NameEntry]) -> NameIndex:
    rows = pickled_parts([(e.uuid, e.name, e.folder) for e in items])
    parts = await offload.run(NameIndex.build_parts, rows)
    return await NameIndex.from_parts(parts, items)


@pytest.fixture
async def offload():
    offload = Offloader()
    yield offload
    await offload.close()


async def test_an_index_built_in_the_worker_answers_as_one_built_in_place(offload):
    items = entries(6_000)
    here, there = NameIndex(items), await built_in_the_worker(offload, items)
    for typed in ("name 5", "keep 3", "nmae 12", "of the", "", "Name 5999 of the Keep 0"):
        assert there.suggest(typed) == here.suggest(typed)
        assert there.find_exact(typed) == here.find_exact(typed)
    assert next(e for e in there.entries if e.uuid == items[0].uuid) is items[0]  # shared, not copied


async def test_a_killed_worker_is_replaced(offload):
    await offload.run(int)
    first = offload.worker_pid
    os.kill(first, signal.SIGKILL)
    assert await offload.run(sum, [1, 2, 3]) == 6
    assert offload.worker_pid not in (None, first)


def _die() -> None:
    os.kill(os.getpid(), signal.SIGKILL)


async def test_a_job_that_kills_the_worker_twice_is_reported_and_never_run_in_the_bot(offload):
    with pytest.raises(WorkerFailed) as failed:
        await offload.run(_die, what="reading the world's folder tree")
    assert "stopped twice during reading the world's folder tree" in failed.value.message
    assert "nothing was changed" in failed.value.message
    assert await offload.run(sum, [2, 2]) == 4  # the bot is alive, and a new worker answers


async def test_a_stuck_job_is_stopped_and_reported():
    offload = Offloader(timeout=0.5)
    try:
        with pytest.raises(WorkerFailed) as failed:
            await offload.run(time.sleep, 60, what="rendering the entry")
        assert "gave up on rendering the entry" in failed.value.message
        assert await offload.run(sum, [1, 1]) == 2
    finally:
        await offload.close()


async def test_without_processes_the_work_runs_in_a_thread():
    offload = Offloader(processes=False)
    items = entries(50)
    index = await built_in_the_worker(offload, items)
    assert not offload.uses_processes and offload.worker_pid is None
    assert [e.uuid for e in index.suggest("name 1")] == [e.uuid for e in NameIndex(items).suggest("name 1")]


async def test_a_closed_offloader_takes_no_more_jobs(offload):
    await offload.run(int)
    await offload.close()
    with pytest.raises(WorkerFailed):
        await offload.run(int)
