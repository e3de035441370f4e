"""Rendering an entry for /lookup without holding the event loop.

A small entry renders in place (well under a millisecond once its conversion is cached). A big one (a
400 KB description takes ~1.8 s of BeautifulSoup and markdownify) renders in the worker process
(services/offload.py): the loop keeps acknowledging other interactions meanwhile. The worker gets
the names of the entries the text links to, not the whole map.
"""

from __future__ import annotations

import re
from collections.abc import Callable

import orjson

from core.replies import Reply
from services.codex import render_entry
from services.offload import Offloader, worth_offloading

# Rendering costs about 1 ms of the loop's time per KB of flags and pages (more when deeply nested): a
# typical 2 KB description renders in place, a 400 KB one in the worker.
RENDER_MS_PER_BYTE = 1 / 1_000
_UUID = re.compile(rb"(?:JournalEntry|Compendium|Actor|Item|Scene|RollTable)\.[A-Za-z0-9_.-]{1,300}")
_ENRICHER = re.compile(rb"@(JournalEntry|Actor|Item|Scene|RollTable)\[([^\]\n]{1,300})\]")


def _linked_names(text: bytes, names: Callable[[str], str | None]) -> dict[str, str]:
    """Names of every uuid the text can refer to (each dotted prefix of a uuid-looking string, and the
    ``@Kind[id]`` short forms), looked up in the map."""
    found: dict[str, str] = {}
    candidates: set[str] = set()
    for match in _UUID.finditer(text):
        parts = match.group().decode(errors="replace").split(".")
        candidates.update(".".join(parts[:n]) for n in range(2, len(parts) + 1))
    for match in _ENRICHER.finditer(text):
        candidates.add(f"{match.group(1).decode()}.{match.group(2).decode(errors='replace')}")
    for uuid in candidates:
        name = names(uuid)
        if name is not None:
            found[uuid] = name
    return found


def _render_one(
    name: str, flags: dict, pages: list[dict], gm: bool, names: dict[str, str], image_base: str | None
) -> Reply:
    return render_entry(name, flags, pages, gm=gm, names=names.get, image_base=image_base)


async def render_view(
    name: str,
    flags: dict,
    pages: list[dict],
    *,
    gm: bool,
    names: Callable[[str], str | None],
    image_base: str | None,
    offload: Offloader | None = None,
) -> Reply:
    """One view of an entry (the GM's, or a player's from what that player may see): in place when small,
    in the worker process when big."""
    try:
        text = orjson.dumps([flags, pages])
    except TypeError:  # something orjson won't serialise (never from JSON): render in place
        text = b""
    if offload is None or not worth_offloading(len(text) * RENDER_MS_PER_BYTE):
        return render_entry(name, flags, pages, gm=gm, names=names, image_base=image_base)
    return await offload.run(
        _render_one, name, flags, pages, gm, _linked_names(text, names), image_base, what="rendering the entry"
    )
