"""The one error the stores raise, and how each backend's failures become its sentences.

Both backends say the same thing for the same fault, so a person sees one wording whichever database the
bot uses; only the hint names the backend's own setting (DATABASE_PATH for SQLite, DATABASE_URL for PostgreSQL).
"""

from __future__ import annotations

import sqlite3

import asyncpg

from core.errors import UserFacingError

BUSY = "The bot's database is busy right now; nothing was changed. Try again in a moment."
FULL = "The disk holding the bot's database is full; nothing was saved."
UNREACHABLE = "The bot's database cannot be reached right now; nothing was changed. Try again in a moment."
# The connection died while COMMIT was under way: the server may have made the change durable.
LOST_AT_COMMIT = (
    "The connection to the bot's database was lost while saving; the change may or may not have been saved. "
    "Check before doing it again."
)


# The cause alone, for a warning after a write to Foundry, where "nothing was changed" would be untrue.
_BRIEF = {
    BUSY: "the bot's database was busy",
    FULL: "the disk holding the bot's database is full",
    UNREACHABLE: "the bot's database could not be reached",
    LOST_AT_COMMIT: "the connection to the bot's database was lost while saving",
}


class StorageError(UserFacingError):
    """The database refused: busy, read-only, full, unreachable or corrupt. Nothing was half-written.

    ``uncertain`` marks the one case where the change may have been saved (the connection died at COMMIT);
    ``brief`` is the cause alone (core/outcomes.py words bookkeeping warnings with it)."""

    uncertain: bool = False

    def __init__(self, message: str, *, temporary: bool | None = None, uncertain: bool = False, brief: str = ""):
        super().__init__(message, temporary=temporary)
        self.uncertain = uncertain
        self.brief = brief or _BRIEF.get(message, "")


def failed(error: BaseException) -> StorageError:
    return StorageError(
        f"The bot's database failed ({error.__class__.__name__}); nothing was changed.",
        brief=f"the bot's database failed ({error.__class__.__name__})",
    )


def newer_schema(where: str, found: int, known: int, setting: str) -> StorageError:
    """A database a newer bot wrote (an image rolled back): its tables may mean other things; refused at start."""
    return StorageError(
        f"The database at {where} was written by a newer version of the bot (schema {found}; this one knows up to "
        f"{known}): run that newer version, or point {setting} at a backup made by this one."
    )


def sqlite_error(error: sqlite3.Error) -> StorageError:
    text = str(error).lower()
    if "locked" in text or "busy" in text:
        return StorageError(BUSY, temporary=True)
    if "readonly" in text or "read-only" in text:
        return StorageError(
            "The bot's database is read-only, so nothing was saved; check that DATABASE_PATH and its folder are writable.",
            brief="the bot's database is read-only (check DATABASE_PATH)",
        )
    if "disk" in text and "full" in text:
        return StorageError(FULL)
    return failed(error)


# Waiting on another process's lock, or chosen to give way to it: the same as SQLite's "database is locked".
_PG_BUSY = (
    asyncpg.LockNotAvailableError,
    asyncpg.DeadlockDetectedError,
    asyncpg.SerializationError,
    asyncpg.TooManyConnectionsError,
    asyncpg.QueryCanceledError,
)
_PG_UNREACHABLE = (
    asyncpg.PostgresConnectionError,
    asyncpg.ConnectionDoesNotExistError,
    asyncpg.CannotConnectNowError,
    asyncpg.AdminShutdownError,
    asyncpg.CrashShutdownError,
    OSError,
    TimeoutError,
)

# What the PostgreSQL backend catches and maps; anything else is a bug and propagates as itself.
POSTGRES_ERRORS = (asyncpg.PostgresError, asyncpg.InterfaceError, asyncpg.InternalClientError, *_PG_UNREACHABLE)


def _unreachable(error: BaseException) -> bool:
    # asyncpg's InterfaceError also reports misuse ("another operation is in progress"): only a closed
    # connection means the server is out of reach.
    return isinstance(error, _PG_UNREACHABLE) or (isinstance(error, asyncpg.InterfaceError) and "closed" in str(error))


def postgres_error(error: BaseException, *, at_commit: bool = False, closed: bool = False) -> StorageError:
    """``closed``: the connection was found closed after the failure. Whatever asyncpg raised then (it may be
    an internal state error when the server hung up mid-query), the cause is the lost connection."""
    if closed:
        return StorageError(LOST_AT_COMMIT if at_commit else UNREACHABLE, temporary=True, uncertain=at_commit)
    if isinstance(error, _PG_BUSY):
        return StorageError(BUSY, temporary=True)
    if isinstance(error, asyncpg.ReadOnlySQLTransactionError):
        return StorageError(
            "The bot's database is read-only, so nothing was saved; check that DATABASE_URL names the primary "
            "server and a role that may write.",
            brief="the bot's database is read-only (check DATABASE_URL)",
        )
    if isinstance(error, asyncpg.DiskFullError):
        return StorageError(FULL)
    if _unreachable(error):
        if at_commit:
            return StorageError(LOST_AT_COMMIT, temporary=True, uncertain=True)
        return StorageError(UNREACHABLE, temporary=True)
    return failed(error)
