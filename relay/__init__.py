"""Client for the ThreeHats Foundry REST relay: the only way the bot talks to Foundry."""

from relay.client import SEARCH_CAP, RelayClient
from relay.errors import (
    CrossedReply,
    EntryNotFound,
    NotPermitted,
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
    UnknownFoundryUser,
    UnknownWorld,
)
from relay.models import FoundryUser, JournalEntry, RelayStatus, SearchHit, SearchResult, World

__all__ = [
    "SEARCH_CAP",
    "CrossedReply",
    "EntryNotFound",
    "FoundryUser",
    "JournalEntry",
    "NotPermitted",
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
    "UnknownFoundryUser",
    "UnknownWorld",
    "World",
]
