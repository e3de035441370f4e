"""The one exception type every layer raises when a person has to be told something.

relay/ and release/ subclass it; cogs render it (cogs/utils/errors.py) and the command-line
twin prints it, so both show the same sentence.
"""

from __future__ import annotations

import os
import socket


class UserFacingError(Exception):
    """An error whose ``message`` is a complete sentence a GM or maintainer can act on.

    ``temporary`` marks faults worth retrying later (timeouts, 429, unreachable hosts): the
    command line exits 75 for those and 1 for the rest. ``details`` are extra lines shown under
    the message (one per field error, one per failed check).
    """

    temporary: bool = False

    def __init__(self, message: str, *, details: list[str] | None = None, temporary: bool | None = None):
        super().__init__(message)
        self.message = message
        self.details = list(details or [])
        if temporary is not None:
            self.temporary = temporary

    def __str__(self) -> str:
        return "\n".join([self.message, *self.details])


class ConfigurationError(UserFacingError):
    """A missing or malformed setting: start-up stops and the command line exits 2."""


def connection_reason(error: BaseException) -> str:
    """Why a connection failed, in the OS's few words ("Connection refused"), else the error's kind.

    Nothing else of the library's text is copied: it is long, and aiohttp's can carry the request's headers.
    """
    cause = getattr(error, "os_error", None) or error
    if isinstance(cause, socket.gaierror) and cause.strerror:
        return cause.strerror  # "Name or service not known"
    if isinstance(cause, OSError) and cause.errno and cause.errno > 0:
        return os.strerror(cause.errno)  # asyncio's own text adds the address: "Connect call failed (...)"
    return getattr(cause, "strerror", None) or type(error).__name__
