"""Writing one entry through the relay, and the locks that keep writes from interleaving.

- One write per entry at a time, from preview to write (``entry_lock``): a second /push or /reveal of the
  same entry previews against the first's result.
- One re-read-and-write per world at a time (``world_lock``): two pushes to linked entries never
  interleave their read-modify-writes.
- A write whose reply is lost (a crossed reply, a timeout) is read back (``read_back``): the answer says
  what the entry holds, because a crossed /update is still applied (relay.md, "Concurrency hazard").
"""

from __future__ import annotations

import asyncio
import json
from collections import defaultdict
from collections.abc import Callable

from core.errors import UserFacingError
from core.replies import Decision, Reply, Tone
from core.textsafe import echo
from relay import JournalEntry, RelayClient
from relay.errors import CrossedReply, RelayError, RelayReplyTooLarge, RelayTimeout


class WriteUnclear(UserFacingError):
    """Foundry's reply to a write was lost and reading the entry back does not show the write."""


def get_path(doc: dict, path: str) -> object:
    """The value at a dot-path of a document (None where it is missing)."""
    node: object = doc
    for part in path.split("."):
        if not isinstance(node, dict) or part not in node:
            return None
        node = node[part]
    return node


def _holds(doc: dict, diff: dict) -> bool:
    return all(get_path(doc, path) == value for path, value in diff.items())


async def read_back(relay: RelayClient, world_id: str, uuid: str, diff: dict, error: RelayError) -> JournalEntry:
    """After a write whose reply was lost: read the entry and return it if it holds the write, else
    raise WriteUnclear saying what it holds (a crossed /update was still applied, relay.md)."""
    try:
        entry = await relay.get_entry(uuid, client_id=world_id)
    except RelayError as read_error:
        raise WriteUnclear(
            f"Foundry's reply to the write was lost ({error.message.rstrip('.')}) and reading the entry back "
            f"failed too ({read_error.message.rstrip('.')}): check it in Foundry before writing again.",
        ) from None
    if _holds(entry.raw, diff):
        return entry
    held = [f"{path}: now holds {echo(json.dumps(get_path(entry.raw, path)), 80)}" for path in diff]
    raise WriteUnclear(
        f"Foundry's reply to the write was lost ({error.message.rstrip('.')}); read back, "
        f"{echo(entry.name)} does not hold what was sent. Check it in Foundry before writing again.",
        details=held[:15],
    )


def not_sent(decision: Decision) -> Reply:
    """The answer when a preview was not confirmed: nothing reached Foundry."""
    text = {
        Decision.EXPIRED: "The confirmation expired; nothing was sent.",
        Decision.PREVIEWED: "Preview only; nothing was sent.",
    }.get(decision, "Cancelled; nothing was sent.")
    return Reply(description=text, tone=Tone.WARNING if decision is Decision.EXPIRED else Tone.INFO)


class EntryWriter:
    def __init__(self, relay: Callable[[], RelayClient]):
        self._relay = relay  # a callable: the relay may be unconfigured until a command needs it
        self._entry_locks: dict[str, asyncio.Lock] = defaultdict(asyncio.Lock)
        self._world_locks: dict[str, asyncio.Lock] = defaultdict(asyncio.Lock)

    @property
    def relay(self) -> RelayClient:
        return self._relay()

    def entry_lock(self, uuid: str) -> asyncio.Lock:
        return self._entry_locks[uuid]

    def world_lock(self, world_id: str) -> asyncio.Lock:
        return self._world_locks[world_id]

    async def update(self, world_id: str, uuid: str, diff: dict) -> JournalEntry:
        """One dot-path update; a lost reply is read back (WriteUnclear when the entry does not hold it)."""
        try:
            return await self.relay.update_entry(uuid, diff, client_id=world_id)
        except (CrossedReply, RelayTimeout, RelayReplyTooLarge) as error:
            return await read_back(self.relay, world_id, uuid, diff, error)
