"""The worker process dying, as the GM sees it: once, nobody notices (the job runs again on a new one); twice
on one job, /refresh says so in words, the map in use and SQLite stay as they were, and the bot itself —
which never runs that job in its own process — keeps answering."""

from __future__ import annotations

import os
import signal
import sqlite3

import pytest

from services.maps.background import BackgroundRefresher
from tests.conftest import WORLD_ID
from tests.test_background import INTERVAL, Clock

BIG = 1_200  # a map this big is built in the worker process


def _die() -> None:
    os.kill(os.getpid(), signal.SIGKILL)  # as the kernel's out-of-memory killer does


def rows(env) -> list[tuple]:
    conn = sqlite3.connect(env.app.db.path)
    try:
        return conn.execute("SELECT uuid, name FROM name_entries ORDER BY uuid").fetchall()
    finally:
        conn.close()


@pytest.fixture
async def big_world(gm_env):
    for n in range(BIG):
        gm_env.world.add_entry(f"Entry {n:04d}")
    result = await gm_env.h.slash(gm_env.gm, gm_env.channel, "refresh", timeout=60)
    assert "Name map refreshed" in result.text, result.text
    assert gm_env.app.offload.uses_processes
    return gm_env


def killing(env, monkeypatch, what: str) -> None:
    """Every job named ``what`` kills the worker process it runs in."""
    real = env.app.offload.run

    async def run(fn, *args, what: str = "this job"):
        return await real(_die, what=what) if what == killed else await real(fn, *args, what=what)

    killed = what
    monkeypatch.setattr(env.app.offload, "run", run)


async def test_a_worker_killed_once_is_replaced_and_the_refresh_just_works(big_world):
    env = big_world
    os.kill(env.app.offload.worker_pid, signal.SIGKILL)
    env.world.add_entry("Newcomer")
    result = await env.h.slash(env.gm, env.channel, "refresh", timeout=60)
    assert "Name map refreshed" in result.text, result.text
    assert "Newcomer" in dict((name, uuid) for uuid, name in rows(env))


async def test_a_job_that_kills_the_worker_twice_is_told_and_changes_nothing(big_world, monkeypatch):
    env = big_world
    before = rows(env)
    env.world.add_entry("Newcomer")
    killing(env, monkeypatch, "building the name index")

    result = await env.h.slash(env.gm, env.channel, "refresh", timeout=60)

    assert "worker process stopped twice during building the name index" in result.text, result.text
    assert "nothing was changed" in result.text and "more memory" in result.text
    assert rows(env) == before  # SQLite as it was: the index is built before anything is written
    monkeypatch.undo()  # the job no longer kills it: the bot lived on, and so does its map
    lookup = await env.h.slash(env.gm, env.channel, "lookup", name="Entry 0007")
    assert "No entry named" not in lookup.text and "Entry 0007" in lookup.text
    again = await env.h.slash(env.gm, env.channel, "refresh", timeout=60)
    assert "Name map refreshed" in again.text and "Newcomer" in dict((n, u) for u, n in rows(env))


async def test_the_background_refresh_meeting_the_same_job_shows_it_in_status(big_world, monkeypatch):
    env = big_world
    env.world.add_entry("Newcomer")
    env.app.refresher = env.app.servers.default.refresher = BackgroundRefresher(env.app.gm, INTERVAL, clock=Clock())
    killing(env, monkeypatch, "building the name index")
    assert await env.app.refresher.run_one(WORLD_ID) == "failed"
    status = await env.h.slash(env.gm, env.channel, "status")
    assert "last error" in status.text and "worker process stopped twice" in status.text, status.text


async def test_two_jobs_in_the_worker_when_it_dies_both_run_again():
    """A refresh's index build and a player view's cut meet the same death: each runs again on the new
    worker, and neither stops the new worker the other started."""
    import asyncio
    import time

    from services.offload import Offloader

    offload = Offloader()
    try:
        await offload.run(int)
        dying = offload.worker_pid
        jobs = [asyncio.create_task(offload.run(time.sleep, 0.3, what=f"job {n}")) for n in range(3)]
        await asyncio.sleep(0.1)
        os.kill(dying, signal.SIGKILL)
        assert await asyncio.gather(*jobs) == [None, None, None]
        assert offload.worker_pid not in (None, dying)
        assert await offload.run(sum, [1, 2]) == 3
    finally:
        await offload.close()
