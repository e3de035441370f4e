"""The one exception type every layer raises when a person has to be told something.

relay/ and release/ subclass it; cogs render it (cogs/utils/errors.py) and the command-line
twin prints it, so both show the same sentence.
"""

from __future__ import annotations


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
