"""Client for the ThreeHats Foundry REST relay: the only way the bot talks to Foundry."""

from relay.client import SEARCH_CAP, RelayClient
from relay.errors import (
    CrossedReply,
    EntryNotFound,
    NoWorldConnected,
    RelayAuthError,
    RelayBadResponse,
    RelayError,
    RelayModuleError,
    RelayRateLimited,
    RelayScopeError,
    RelayTimeout,
    RelayUnavailable,
    SeveralWorlds,
    UnknownWorld,
)
from relay.models import JournalEntry, RelayStatus, SearchHit, SearchResult, World

__all__ = [
    "SEARCH_CAP",
    "CrossedReply",
    "EntryNotFound",
    "JournalEntry",
    "NoWorldConnected",
    "RelayAuthError",
    "RelayBadResponse",
    "RelayClient",
    "RelayError",
    "RelayModuleError",
    "RelayRateLimited",
    "RelayScopeError",
    "RelayStatus",
    "RelayTimeout",
    "RelayUnavailable",
    "SearchHit",
    "SearchResult",
    "SeveralWorlds",
    "UnknownWorld",
    "World",
]
