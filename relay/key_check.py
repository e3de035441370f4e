"""Checking a relay URL and scoped key at once (/setup relay): which worlds it sees, which scopes it lacks.

The relay checks a request's scope before it looks for a world to send it to, but only when the request names
no world: a named world that is not connected is refused first, by the key's authentication (go-relay:
middleware/auth.go checks ``clientId``, then the route's scope middleware, then the handler picks the world).
So each scope is tried with one request that names no world. With no world or several connected, the relay
answers after the scope check and nothing reaches Foundry; with exactly one (or a key bound to one world), the
request reaches that world and changes nothing: an entry, a folder and a file that do not exist, a search of
one result.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from relay.client import RelayClient
from relay.errors import (
    EntryNotFound,
    FileMissing,
    NotPermitted,
    NoWorldConnected,
    RelayAuthError,
    RelayModuleError,
    RelayScopeError,
    SeveralWorlds,
    UnknownWorld,
)
from relay.models import World

# Answers that come only after the scope check passed. Anything else (a timeout, a 5xx) proves nothing: raised.
_PAST_THE_SCOPE = (
    UnknownWorld,
    NoWorldConnected,
    SeveralWorlds,
    EntryNotFound,
    NotPermitted,
    FileMissing,
    RelayModuleError,
)
_PROBE_UUID = "JournalEntry.setupScopeCheck0"

# Each scope the bot's commands use, and what works with it.
SCOPES: dict[str, str] = {
    "clients:read": "/world and /setup world (the relay's worlds), image addresses",
    "entity:read": "/lookup, /players",
    "structure:read": "/refresh and the background refresh (the name map), what players may see",
    "search": "/lookup of an entry the name map does not hold yet",
    "entity:write": "/push, /reveal, /hide",
    "file:read": "entry images",
}


@dataclass
class KeyCheck:
    worlds: list[World] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)  # scopes the key lacks, in SCOPES' order

    @property
    def works(self) -> list[str]:
        return [what for scope, what in SCOPES.items() if scope not in self.missing]

    @property
    def broken(self) -> list[str]:
        return [f"`{scope}`: {what}" for scope, what in SCOPES.items() if scope in self.missing]


async def check_key(client: RelayClient) -> KeyCheck:
    """Raises what the relay's first answer says when the URL or the key is wrong (unreachable, 401, not the
    relay); else which scopes the key lacks. Seven requests."""
    await client.status()  # unkeyed: is this the relay at all
    check = KeyCheck()
    try:
        check.worlds = await client.list_worlds()
    except RelayScopeError:
        check.missing.append("clients:read")
    probes = {
        "entity:read": lambda: client.get_entry(_PROBE_UUID),
        "structure:read": lambda: client.get_folder("setup scope check"),
        "search": lambda: client.search_journal_entries(limit=1),
        "entity:write": lambda: client.update_entry(_PROBE_UUID, {}),
        "file:read": lambda: client.download_file("setup-scope-check.webp"),
    }
    for scope in SCOPES:
        probe = probes.get(scope)
        if probe is None:
            continue
        try:
            await probe()
        except RelayScopeError:
            check.missing.append(scope)
        except RelayAuthError as error:
            if error.status == 401:
                raise
            # 403 "not authorized for this client": a key bound to some worlds, past the scope check.
        except _PAST_THE_SCOPE:
            pass  # no such world, entry, folder or file: the scope let the request through
    check.missing.sort(key=list(SCOPES).index)
    return check
