"""Listing every journal entry of a world through the relay, for /refresh."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from names import NameEntry
from relay import RelayClient

Progress = Callable[[str], Awaitable[None]]


@dataclass(frozen=True)
class Enumeration:
    entries: list[NameEntry]
    complete: bool
    # Why the map may be incomplete, in words for the GM (None when complete).
    note: str | None
    requests: int


async def enumerate_journal(relay: RelayClient, client_id: str, progress: Progress | None = None) -> Enumeration:
    result = await relay.search_journal_entries(client_id=client_id)
    entries = [NameEntry(uuid=h.uuid, name=h.name, folder=h.folder) for h in result.hits]
    note = None
    if result.capped:
        last = max((e.name for e in entries), key=str.casefold, default="")
        note = (
            f"The relay returned {len(entries)} entries, its maximum for one search: the map may be incomplete "
            f"(entries whose names sort after “{last[:60]}” can be missing)."
        )
    return Enumeration(entries=entries, complete=not result.capped, note=note, requests=1)
