"""The CPU-heavy parts of a refresh, in one worker process, so the event loop keeps answering Discord.

A thread is not enough: JSON parsing, C-level sorts and object building hold the GIL, and every time
the loop wakes up (a socket is readable) it must wait for the GIL the thread holds (the "convoy"):
acknowledgements measured several hundred ms late during a 50,000-entry refresh. In a process the
loop only pays for the hand-over:

* ``read_tree``: parses a ``/structure`` reply (megabytes) and reads it into a ``Tree``;
* ``read_visible``: reads a player's ``/structure`` reply into the entries that player may see;
* ``build_index``: builds a ``NameIndex``.

Big objects travel as lists of small pickles (*parts*): the executor's threads then only copy bytes
(a 50,000-entry dict unpickled in one go holds the GIL ~20 ms, longer on a busy machine), and the loop
unpickles one part per turn.

One process for the whole bot (``max_workers=1``: refreshes are rare and one at a time per world),
started on first use with the ``forkserver`` method (forking a process that runs threads is unsafe),
and started again if it dies.
"""

from __future__ import annotations

import asyncio
import ctypes
import logging
import multiprocessing
import os
import pickle
from array import array
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import Any, TypeVar

from services.maps.names import NameIndex, _Table
from storage import NameEntry

T = TypeVar("T")
log = logging.getLogger(__name__)

_CHUNK = 2_000  # list items per part: unpickling one part takes a few ms
_pool: ProcessPoolExecutor | None = None
_unavailable = False  # processes cannot be started here: threads instead
_M_MMAP_THRESHOLD = -3  # mallopt parameter (malloc.h)


def _executor() -> ProcessPoolExecutor:
    global _pool
    if _pool is None:
        _pool = ProcessPoolExecutor(
            max_workers=1, mp_context=multiprocessing.get_context("forkserver"), initializer=_lower_priority
        )
    return _pool


def _lower_priority() -> None:
    # The worker's work can wait; the event loop's answers to Discord can't: on a busy machine the
    # scheduler gives the bot's own process the CPU first.
    try:
        os.nice(5)
    except OSError:
        pass


async def run(fn: Callable[..., T], *args: Any) -> T:
    """``fn(*args)`` in the worker process (``fn`` and its arguments must pickle). Where no process can
    be started (no /dev/shm, a sandbox), in a thread: slower acknowledgements, same results."""
    global _pool, _unavailable
    loop = asyncio.get_running_loop()
    if not _unavailable:
        for _attempt in range(2):
            try:
                return await loop.run_in_executor(_executor(), fn, *args)
            except BrokenProcessPool:  # the worker died (killed, out of memory): once more on a new one
                _pool = None
            except OSError:
                log.warning("No worker process can be started: refresh work runs in a thread", exc_info=True)
                _pool, _unavailable = None, True
                break
    return await asyncio.to_thread(fn, *args)


# --- in the worker ----------------------------------------------------------------------------------


def read_tree(raw: bytes, depth: int):
    """(the tree without its entries, folder ids to read with path=, the entries as pickled parts)."""
    from services.maps.enumerate import parse_structure
    from services.maps.structure import Tree

    tree = Tree()
    need = tree.read_root(parse_structure(raw), depth)
    uuids, values = list(tree.entries), list(tree.entries.values())
    tree.entries = {}
    parts = [
        pickle.dumps((uuids[i : i + _CHUNK], values[i : i + _CHUNK]), pickle.HIGHEST_PROTOCOL)
        for i in range(0, len(uuids), _CHUNK)
    ]
    return tree, need, parts


def read_visible(raw: bytes) -> list[bytes]:
    """A /structure reply asked as a player: its (uuid, limited) pairs, as parts."""
    from services.maps.enumerate import parse_structure
    from services.players.visibility import visible_in_structure

    pairs = list(visible_in_structure(parse_structure(raw)).items())
    return [pickle.dumps(pairs[i : i + _CHUNK], pickle.HIGHEST_PROTOCOL) for i in range(0, len(pairs), _CHUNK)]


def build_index(row_parts: list[bytes]) -> list[bytes]:
    """The index of the rows (uuid, name, folder), as parts. Its entries travel as positions in the
    rows: the loop already holds those NameEntry objects, and sharing them saves a copy of every name."""
    rows = [row for part in row_parts for row in pickle.loads(part)]
    index = NameIndex(NameEntry(uuid, name, folder) for uuid, name, folder in rows)
    position = {row[0]: i for i, row in enumerate(rows)}
    index._entries = array("i", (position[e.uuid] for e in index._entries))  # type: ignore[assignment]
    return index_parts(index)


def index_parts(index: NameIndex) -> list[bytes]:
    """The index as small pickles: attributes one by one, long lists (the heads of the fuzzy tables
    too) cut into ``_CHUNK``-item slices. A part is (attribute, key, table, field, extend, value)."""
    parts: list[bytes] = []

    def emit(name: str, key: Any, table: int | None, field: str | None, value: Any) -> None:
        if isinstance(value, list) and len(value) > _CHUNK:
            for start in range(0, len(value), _CHUNK):
                part = (name, key, table, field, start > 0, value[start : start + _CHUNK])
                parts.append(pickle.dumps(part, pickle.HIGHEST_PROTOCOL))
        else:
            parts.append(pickle.dumps((name, key, table, field, False, value), pickle.HIGHEST_PROTOCOL))

    for name, value in vars(index).items():
        if name == "_sorted_norms":
            continue  # the same strings as _norms, in _sorted_norm_ranks order: rebuilt from them on arrival
        if name == "_heads":
            emit(name, None, None, None, {k: [None] * len(tables) for k, tables in value.items()})
            for k, tables in value.items():
                for i, table in enumerate(tables):
                    emit(name, k, i, None, _Table([], table.ranks, table.offsets))
                    emit(name, k, i, "heads", table.heads)
        elif name == "_whole_words":
            emit(name, None, None, None, _Table([], value.ranks, value.offsets))
            emit(name, None, None, "heads", value.heads)
        else:
            emit(name, None, None, None, value)
    return parts


# --- back on the loop --------------------------------------------------------------------------------
# Big objects cross between the processes as lists of small pickles: the executor's threads only copy
# bytes, and the loop (un)pickles one part per turn.


async def rows_of(entries: list[NameEntry]) -> list[bytes]:
    """(uuid, name, folder) of each entry, as parts for ``build_index``."""
    parts = []
    for i in range(0, len(entries), _CHUNK):
        rows = [(e.uuid, e.name, e.folder) for e in entries[i : i + _CHUNK]]
        parts.append(pickle.dumps(rows, pickle.HIGHEST_PROTOCOL))
        await asyncio.sleep(0)
    return parts


async def entries_from_parts(parts: list[bytes], into: dict) -> None:
    """The tree entries ``read_tree`` sent, into ``into``: one part per turn of the loop."""
    for i, part in enumerate(parts):
        parts[i] = b""  # each part freed once read
        uuids, values = pickle.loads(part)
        del part
        into.update(zip(uuids, values))
        await asyncio.sleep(0)


async def index_from_parts(parts: list[bytes], entries: list[NameEntry]) -> NameIndex:
    """The index ``build_index`` sent, its entries taken from ``entries`` (the rows it was built from)."""
    index = NameIndex.__new__(NameIndex)
    for i, part in enumerate(parts):
        parts[i] = b""  # each part freed once read: the whole list is megabytes
        name, key, table, field, extend, value = pickle.loads(part)
        del part
        if table is None and field is None:  # a plain attribute (or a table's shell: _whole_words)
            if extend:
                getattr(index, name).extend(value)
            else:
                setattr(index, name, value)
        else:
            holder = getattr(index, name)
            if field is None:  # a fuzzy table's shell in _heads
                holder[key][table] = value
            else:
                obj = holder[key][table] if table is not None else holder
                if extend:
                    getattr(obj, field).extend(value)
                else:
                    setattr(obj, field, value)
        await asyncio.sleep(0)  # let interactions in between parts
    # Shares _norms' strings, as in an index built in place (pickled apart they would be copies).
    norms, ranks, index._sorted_norms = index._norms, index._sorted_norm_ranks, []
    for start in range(0, len(ranks), _CHUNK):
        index._sorted_norms.extend(norms[r] for r in ranks[start : start + _CHUNK])
        await asyncio.sleep(0)
    positions, ranked = index._entries, []
    for start in range(0, len(positions), _CHUNK):
        ranked.extend(entries[i] for i in positions[start : start + _CHUNK])
        await asyncio.sleep(0)
    index._entries = ranked
    return index


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


def warm() -> None:
    """Starts the worker process (blocking: call it in a thread), so the first refresh need not."""
    global _pool, _unavailable
    try:
        _executor().submit(int).result()
    except (OSError, BrokenProcessPool):
        log.warning("No worker process can be started: refresh work will run in a thread", exc_info=True)
        _pool, _unavailable = None, True
