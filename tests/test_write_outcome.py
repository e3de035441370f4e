"""The one mechanism behind every write's answer: bookkeeping adds warnings, shutdown waits for writes."""

from __future__ import annotations

import asyncio

from core.errors import UserFacingError
from core.outcomes import WriteOutcome, Writes, after_write


async def test_failed_bookkeeping_is_a_warning_not_the_answer():
    outcome = WriteOutcome(written=["Harbor: description"])

    async def busy():
        raise UserFacingError("The bot's database is busy right now.")

    assert await after_write(outcome, "update the name map", busy()) is None
    assert outcome.written == ["Harbor: description"]
    assert outcome.changed_anything
    assert outcome.warnings == ["The bot could not update the name map: The bot's database is busy right now."]


async def test_bookkeeping_result_is_returned_when_it_works():
    outcome = WriteOutcome()

    async def fine():
        return 3

    assert await after_write(outcome, "count", fine()) == 3
    assert outcome.warnings == []


async def test_an_unexpected_bug_in_bookkeeping_does_not_escape():
    outcome = WriteOutcome(uncertain=["Harbor may have been written"])

    async def bug():
        raise KeyError("x")

    await after_write(outcome, "write the release log", bug())
    assert outcome.warnings == [
        "The bot could not write the release log: an unexpected KeyError; the error is in the bot's log"
    ]


async def test_a_write_past_no_return_finishes_although_its_caller_is_cancelled():
    writes = Writes()
    release = asyncio.Event()
    finished = []

    async def write():
        await release.wait()
        finished.append("written")
        return "ok"

    caller = asyncio.create_task(writes.past_no_return("/push of Harbor", write()))
    await asyncio.sleep(0)
    assert writes.running == ["/push of Harbor"]
    caller.cancel()
    release.set()
    assert await writes.drain(grace=30) == []
    assert finished == ["written"]
    assert writes.running == []


async def test_drain_names_the_writes_a_stop_cut_off():
    writes = Writes()
    never = asyncio.Event()
    task = asyncio.create_task(writes.past_no_return("/release publish of my-module 1.2.0", never.wait()))
    await asyncio.sleep(0)
    assert await writes.drain(grace=0) == ["/release publish of my-module 1.2.0"]
    assert writes.closing
    task.cancel()
