"""The refresh worker process: same results as in place, a dead worker replaced, no process at all tolerated."""

from __future__ import annotations

import asyncio
import os
import signal

from services import offload as worker
from services.maps.names import NameIndex
from storage import NameEntry


def entries(n: int) -> list[NameEntry]:
    return [NameEntry(f"JournalEntry.{i:016d}", f"Name {i} of the Keep {i % 7}", "Folder") for i in range(n)]


async def built_in_the_worker(items: list[NameEntry]) -> NameIndex:
    parts = await worker.run(worker.build_index, await worker.rows_of(items))
    return await worker.index_from_parts(parts, items)


async def test_an_index_built_in_the_worker_answers_as_one_built_in_place():
    items = entries(6_000)
    here, there = NameIndex(items), await built_in_the_worker(items)
    for typed in ("name 5", "keep 3", "nmae 12", "of the", "", "Name 5999 of the Keep 0"):
        assert there.suggest(typed) == here.suggest(typed)
        assert there.find_exact(typed) == here.find_exact(typed)
    assert next(e for e in there.entries if e.uuid == items[0].uuid) is items[0]  # shared, not copied


async def test_a_killed_worker_is_replaced():
    await worker.run(int)
    for pid in list(worker._executor()._processes):
        os.kill(pid, signal.SIGKILL)
    await asyncio.sleep(0.2)
    assert await worker.run(sum, [1, 2, 3]) == 6


async def test_without_processes_the_work_runs_in_a_thread(monkeypatch):
    def refuse():
        raise OSError("no /dev/shm here")

    monkeypatch.setattr(worker, "_executor", refuse)
    monkeypatch.setattr(worker, "_pool", None)
    monkeypatch.setattr(worker, "_unavailable", False)
    items = entries(50)
    index = await built_in_the_worker(items)
    assert worker._unavailable is True
    assert [e.uuid for e in index.suggest("name 1")] == [e.uuid for e in NameIndex(items).suggest("name 1")]
