"""CPU-heavy work in one worker process, so the event loop keeps answering Discord.

A thread is not enough: JSON parsing, C-level sorts and object building hold the GIL, and every time
the loop wakes up (a socket is readable) it must wait for the GIL the thread holds (the "convoy"):
acknowledgements measured several hundred ms late during a 50,000-entry refresh. In a process the
loop only pays for the hand-over.

The ``Offloader`` is owned by the App and handed to whoever has such work (the name maps, the refresh's
tree reading, the player views, big renders). It runs plain module-level functions of the modules above
it; nothing here knows what they do. One rule decides where work runs: ``worth_offloading(cost_ms)`` —
work expected to hold the loop longer than ``OFFLOAD_MS`` goes to the process, the rest runs in place.

Big objects travel as lists of small pickles (*parts*, ``CHUNK`` items each): the executor's threads then
only copy bytes, and the loop unpickles one part per turn (``each_part``).

One process for the whole bot (``max_workers=1``: refreshes are rare and one at a time per world),
started with the ``forkserver`` method (forking a process that runs threads is unsafe). A job that
kills the process (out of memory) is tried once more on a new one; a second death is reported, never run
inside the bot's own process (the same parse would take the bot down). A job past its timeout has its
process stopped. Where no process can be started at all (no /dev/shm, a sandbox), jobs run in a thread.
"""

from __future__ import annotations

import asyncio
import ctypes
import logging
import multiprocessing
import os
import pickle
import signal
from collections.abc import AsyncIterator, Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import Any, TypeVar

from core.errors import UserFacingError

T = TypeVar("T")
log = logging.getLogger(__name__)

CHUNK = 2_000  # list items per part or per step on the loop: a few ms each
OFFLOAD_MS = 15.0  # work expected to hold the loop longer than this runs in the worker process
JOB_TIMEOUT = 300.0  # seconds: a 50,000-entry refresh's parse takes about one
_M_MMAP_THRESHOLD = -3  # mallopt parameter (malloc.h)


class WorkerFailed(UserFacingError):
    """The worker process died twice on one job, or the job ran past its timeout."""

    temporary = True


def worth_offloading(cost_ms: float) -> bool:
    return cost_ms >= OFFLOAD_MS


def _lower_priority() -> None:
    # The worker's work can wait; the event loop's answers to Discord can't: on a busy machine the
    # scheduler gives the bot's own process the CPU first.
    try:
        os.nice(5)
    except OSError:
        pass


class Offloader:
    def __init__(self, *, processes: bool = True, timeout: float = JOB_TIMEOUT):
        """``processes=False``: every job runs in a thread (tests and tools that need no process)."""
        self.timeout = timeout
        self._pool: ProcessPoolExecutor | None = None
        self._pid: int | None = None  # the worker process, learnt from its first job
        self._unavailable = not processes  # no process can be started here: threads instead
        self._closed = False

    @property
    def uses_processes(self) -> bool:
        return not self._unavailable

    def _executor(self) -> ProcessPoolExecutor:
        if self._pool is None:
            self._pool = ProcessPoolExecutor(
                max_workers=1, mp_context=multiprocessing.get_context("forkserver"), initializer=_lower_priority
            )
        return self._pool

    @property
    def worker_pid(self) -> int | None:
        """The worker process's id, once a job has run on it."""
        return self._pid

    def start(self) -> None:
        """Start the worker process (blocking: call it in a thread), so the first job need not."""
        if self._unavailable:
            return
        fixed_mmap_threshold()
        try:
            self._pid = self._executor().submit(os.getpid).result()
        except (OSError, BrokenProcessPool):
            log.warning("No worker process can be started: heavy work will run in a thread", exc_info=True)
            self._drop_pool()
            self._unavailable = True

    async def run(self, fn: Callable[..., T], *args: Any, what: str = "this job") -> T:
        """``fn(*args)`` in the worker process (``fn`` and its arguments must pickle).

        ``what`` names the work for the person who asked ("reading the world's folder tree")."""
        if self._closed:
            raise WorkerFailed("The bot is shutting down; try again once it is back.")
        if self._unavailable:
            return await asyncio.wait_for(asyncio.to_thread(fn, *args), self.timeout)
        loop = asyncio.get_running_loop()
        deaths = 0
        while True:
            pool = self._executor()
            try:
                if self._pid is None:
                    self._pid = await loop.run_in_executor(pool, os.getpid)
                return await asyncio.wait_for(loop.run_in_executor(pool, fn, *args), self.timeout)
            except BrokenProcessPool:  # the worker died (killed, out of memory): once more on a new one
                deaths += 1
                log.warning("The worker process died during %s (attempt %d)", what, deaths)
                self._drop_pool(pool)
                if deaths == 2:
                    raise WorkerFailed(
                        f"The bot's worker process stopped twice during {what} (it may have run out of memory); "
                        "nothing was changed. Try again; if it keeps happening, the machine needs more memory for "
                        "this world."
                    ) from None
            except RuntimeError:
                if pool is self._pool:
                    raise
                # Another job met the same death first and replaced this pool: to the new one, uncounted.
            except TimeoutError:
                log.error("The worker process ran past %.0f s on %s: stopped", self.timeout, what)
                self._stop_pool()
                raise WorkerFailed(
                    f"The bot gave up on {what} after {self.timeout:.0f} s; nothing was changed. Try again later."
                ) from None
            except OSError:
                log.warning("No worker process can be started: heavy work runs in a thread", exc_info=True)
                self._drop_pool()
                self._unavailable = True
                return await asyncio.wait_for(asyncio.to_thread(fn, *args), self.timeout)

    def _drop_pool(self, broken: ProcessPoolExecutor | None = None) -> None:
        """Stop using the pool (``broken``: only if it is still the current one: jobs that were running in
        the same dead worker each come here, and a pool already replaced must stay)."""
        if broken is not None and broken is not self._pool:
            broken.shutdown(wait=False, cancel_futures=True)
            return
        pool, self._pool, self._pid = self._pool, None, None
        if pool is not None:
            pool.shutdown(wait=False, cancel_futures=True)

    def _stop_pool(self) -> None:
        """Kill the worker (a stuck job can't be cancelled otherwise); the next job starts a new one."""
        pid = self._pid
        self._drop_pool()
        if pid is not None:
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass

    async def close(self) -> None:
        self._closed = True
        pool, self._pool, self._pid = self._pool, None, None
        if pool is not None:
            await asyncio.to_thread(pool.shutdown, wait=True, cancel_futures=True)


# --- parts: big lists between the processes -------------------------------------------------------


def pickled_parts(items: Sequence) -> list[bytes]:
    """``items`` as pickles of ``CHUNK`` items each."""
    return [pickle.dumps(items[i : i + CHUNK], pickle.HIGHEST_PROTOCOL) for i in range(0, len(items), CHUNK)]


async def each_part(parts: list[bytes]) -> AsyncIterator[Any]:
    """Each part unpickled, one per turn of the loop; each is freed once read (the list is megabytes)."""
    for i, part in enumerate(parts):
        parts[i] = b""
        value = pickle.loads(part)
        del part
        yield value
        await asyncio.sleep(0)


async def in_steps(items: Sequence[T]) -> AsyncIterator[Sequence[T]]:
    """``items`` in ``CHUNK``-sized slices, the loop let in between."""
    for start in range(0, len(items), CHUNK):
        yield items[start : start + CHUNK]
        await asyncio.sleep(0)


def fixed_mmap_threshold() -> None:
    """Big buffers (a /structure reply, the parts) are allocated and freed once per refresh. glibc
    raises its mmap threshold after the first such free, so later ones land in the heap and their memory
    stays with the process when freed. A fixed threshold keeps them mmapped: returned to the system at
    once. No-op where glibc is not the allocator."""
    try:
        libc = ctypes.CDLL("libc.so.6")
        libc.mallopt(_M_MMAP_THRESHOLD, 128 * 1024)
    except (OSError, AttributeError):
        pass
