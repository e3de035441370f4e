"""The CPU-heavy parts of a refresh, in one worker process, so the event loop keeps answering Discord.

A thread is not enough: JSON parsing, C-level sorts and object building hold the GIL, and every time
the loop wakes up (a socket is readable) it must wait for the GIL the thread holds (the "convoy"):
acknowledgements measured several hundred ms late during a 50,000-entry refresh. In a process the
loop only pays for the hand-over:

* ``read_tree``: parses a ``/structure`` reply (megabytes) and reads it into a ``Tree``; the tree
  comes back pickled (~20 ms to unpickle 50,000 entries, in the executor's result thread).
* ``build_index``: builds a ``NameIndex`` and sends it back as a list of pickled *parts*;
  ``index_from_parts`` unpickles them one at a time, yielding to the loop in between, so no single
  step holds it for long.

One process for the whole bot (``max_workers=1``: refreshes are rare and one at a time per world),
started on first use with the ``forkserver`` method (forking a process that runs threads is unsafe),
and started again if it dies.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import pickle
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import Any, TypeVar

from services.gm.names import NameEntry, NameIndex

T = TypeVar("T")

_CHUNK = 5_000  # list items per part: unpickling one part takes a few ms
_pool: ProcessPoolExecutor | None = None


def _executor() -> ProcessPoolExecutor:
    global _pool
    if _pool is None:
        _pool = ProcessPoolExecutor(max_workers=1, mp_context=multiprocessing.get_context("forkserver"))
    return _pool


async def run(fn: Callable[..., T], *args: Any) -> T:
    """``fn(*args)`` in the worker process (``fn`` and its arguments must pickle)."""
    global _pool
    loop = asyncio.get_running_loop()
    try:
        return await loop.run_in_executor(_executor(), fn, *args)
    except BrokenProcessPool:  # the worker died (killed, out of memory): one more try on a new one
        _pool = None
        return await loop.run_in_executor(_executor(), fn, *args)


def shutdown() -> None:
    global _pool
    if _pool is not None:
        _pool.shutdown(wait=False, cancel_futures=True)
        _pool = None


# --- in the worker ----------------------------------------------------------------------------------


def read_tree(raw: bytes, depth: int):
    from services.gm.enumerate import parse_structure
    from services.gm.structure import Tree

    tree = Tree()
    need = tree.read_root(parse_structure(raw), depth)
    return tree, need


def build_index(rows: list[tuple[str, str, str | None]]) -> list[bytes]:
    index = NameIndex(NameEntry(uuid, name, folder) for uuid, name, folder in rows)
    return index_parts(index)


def index_parts(index: NameIndex) -> list[bytes]:
    """The index's attributes, pickled separately; long lists cut into ``_CHUNK``-item slices."""
    parts: list[bytes] = []
    for name, value in vars(index).items():
        if isinstance(value, list) and len(value) > _CHUNK:
            for start in range(0, len(value), _CHUNK):
                parts.append(pickle.dumps((name, start > 0, value[start : start + _CHUNK]), pickle.HIGHEST_PROTOCOL))
        else:
            parts.append(pickle.dumps((name, False, value), pickle.HIGHEST_PROTOCOL))
    return parts


# --- back on the loop --------------------------------------------------------------------------------


async def index_from_parts(parts: list[bytes]) -> NameIndex:
    index = NameIndex.__new__(NameIndex)
    for part in parts:
        name, more, value = pickle.loads(part)
        if more:
            getattr(index, name).extend(value)
        else:
            setattr(index, name, value)
        await asyncio.sleep(0)  # let interactions in between parts
    return index
