"""Client for the ThreeHats Foundry REST relay: the only way the bot talks to Foundry."""

from relay.client import SEARCH_CAP, RelayClient
from relay.errors import (
    CrossedReply,
    EntryNotFound,
    FileMissing,
    FileTooLarge,
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
from relay.models import DownloadedFile, JournalEntry, RelayStatus, SearchHit, SearchResult, World

__all__ = [
    "SEARCH_CAP",
    "CrossedReply",
    "DownloadedFile",
    "EntryNotFound",
    "FileMissing",
    "FileTooLarge",
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
