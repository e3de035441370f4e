"""What a write did, told as it happened: one mechanism for the GM's writes and for releases.

A write has a point of no return: once a request that changes Foundry may have been received, the answer
a person gets must say what Foundry now holds, whatever fails afterwards. So:

- ``WriteOutcome`` is what every write path returns: what was written, what may have been written (a lost
  reply), what failed, what was never attempted, and warnings from the bookkeeping after it.
- ``after_write`` runs one piece of that bookkeeping (a map update, an audit log line, an announcement):
  its failure becomes a warning on the outcome, never the answer.
- ``Writes.past_no_return`` runs the part of a write that must finish once begun in a task that neither
  the caller's cancellation nor a shutdown interrupts; ``Writes.drain`` is how shutdown waits for them
  (within its grace) and learns which did not finish, so that they can be reported as "may have been
  written".
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Coroutine
from dataclasses import dataclass, field
from typing import Any, TypeVar

from core.errors import UserFacingError

log = logging.getLogger(__name__)

T = TypeVar("T")


@dataclass
class WriteOutcome:
    """Lines a person reads, one per thing: each list says one kind of result."""

    written: list[str] = field(default_factory=list)
    uncertain: list[str] = field(default_factory=list)  # may have been written: each line says what to check
    failed: list[str] = field(default_factory=list)
    not_attempted: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    @property
    def changed_anything(self) -> bool:
        """True when Foundry may hold something new: then "nothing was changed" is never the answer."""
        return bool(self.written or self.uncertain)

    def warn(self, line: str) -> None:
        self.warnings.append(line)


def _reason(error: BaseException) -> str:
    # An error's ``brief`` is its cause alone: its message may speak of the bot's own step ("nothing was
    # changed"), which after a write would read as if the write had not happened.
    brief = getattr(error, "brief", None)
    if isinstance(brief, str) and brief:
        return brief
    if isinstance(error, UserFacingError):
        return error.message
    return f"an unexpected {type(error).__name__}; the error is in the bot's log"


async def after_write(outcome: WriteOutcome, what: str, step: Awaitable[T], *, then: str = "") -> T | None:
    """Bookkeeping past the point of no return: ``what`` is a verb phrase ("update the name map"), ``then``
    what puts it right ("Run /refresh to correct it.").

    Any failure (a busy database, Discord, a bug) is logged and added to ``outcome.warnings`` as
    "The bot could not WHAT: REASON. THEN"; the result is then None. Cancellation is not swallowed."""
    try:
        return await step
    except asyncio.CancelledError:
        raise
    except Exception as error:  # noqa: BLE001 - bookkeeping must never replace the outcome
        if isinstance(error, UserFacingError):
            log.warning("After a write, could not %s: %s", what, error.message)
        else:
            log.exception("After a write, could not %s", what)
        warning = f"The bot could not {what}: {_reason(error)}"
        outcome.warn(f"{warning.rstrip('.')}. {then}" if then else warning)
        return None


class Stopping(UserFacingError):
    """A write asked for while the bot stops: it is not begun."""

    temporary = True

    def __init__(self) -> None:
        super().__init__(
            "The bot is stopping (a restart or an update); nothing was sent. Run the command again in a minute."
        )


class Writes:
    """The writes past their point of no return, so that a stop lets them finish and be reported."""

    def __init__(self) -> None:
        self._running: dict[asyncio.Task, str] = {}
        self.closing = False

    async def past_no_return(self, description: str, work: Coroutine[Any, Any, T]) -> T:
        """Run ``work`` to its end even if the caller is cancelled; a shutdown waits for it (``drain``).
        Once the bot is closing no write begins: ``Stopping`` is raised and ``work`` never runs.

        ``description`` names the write for the log when a stop cuts it off ("/push of Harbor")."""
        if self.closing:
            work.close()
            raise Stopping()
        task = asyncio.ensure_future(work)
        self._running[task] = description
        task.add_done_callback(self._finished)
        return await asyncio.shield(task)

    def _finished(self, task: asyncio.Task) -> None:
        description = self._running.pop(task, "a write")
        if not task.cancelled() and task.exception() is not None:  # retrieved: its caller may be gone
            log.debug("%s ended with %r", description, task.exception())

    @property
    def running(self) -> list[str]:
        return list(self._running.values())

    async def drain(self, grace: float) -> list[str]:
        """Wait up to ``grace`` seconds for the running writes; return the descriptions of those that did not
        finish (they are logged as "may have been written")."""
        self.closing = True
        if not self._running:
            return []
        _, pending = await asyncio.wait(set(self._running), timeout=grace)
        unfinished = [self._running[task] for task in pending if task in self._running]
        for description in unfinished:
            log.error("Stopped during %s: it may have been written; check it in Foundry", description)
        return unfinished
