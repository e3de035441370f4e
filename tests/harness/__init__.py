"""Offline Discord test harness: a fake Discord REST server plus a driver that acts as users."""

from .driver import (
    Channel,
    CommandNotAvailable,
    DiscordHarness,
    Guild,
    HarnessError,
    Member,
    Result,
    Role,
    SentMessage,
    User,
    patched_discord_base,
)
from .fake_discord import FakeDiscord, Violation

__all__ = [
    "Channel",
    "CommandNotAvailable",
    "DiscordHarness",
    "FakeDiscord",
    "Guild",
    "HarnessError",
    "Member",
    "Result",
    "Role",
    "SentMessage",
    "User",
    "Violation",
    "patched_discord_base",
]
