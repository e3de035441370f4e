"""Checking a relay URL and scoped key at once (/setup relay): which worlds it sees, which scopes it lacks.

The relay answers a request its key may not make with 403 "API key lacks required scope" before it looks for
the world (go-relay: the scope middleware runs before the route's handler). So each scope is tried with one
request naming a world no relay has (``PROBE_WORLD``): "no such world" means the scope is there, and nothing
reaches Foundry. A key bound to one world is sent there by the relay whatever the request names: then the
probes reach Foundry, and still change nothing (an update of an entry that does not exist, a folder and a file
that are not there).
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

PROBE_WORLD = "setup-scope-check"
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
        "entity:read": lambda: client.get_entry(_PROBE_UUID, client_id=PROBE_WORLD),
        "structure:read": lambda: client.get_folder("setup scope check", client_id=PROBE_WORLD),
        "search": lambda: client.search_journal_entries(client_id=PROBE_WORLD, limit=1),
        "entity:write": lambda: client.update_entry(_PROBE_UUID, {}, client_id=PROBE_WORLD),
        "file:read": lambda: client.download_file("setup-scope-check.webp", client_id=PROBE_WORLD),
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
