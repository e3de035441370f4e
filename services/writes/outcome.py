"""How the GM's writes are told: a ``WriteOutcome`` (core/outcomes.py) as the fields of a reply, the steps of a
write that a stop may cut off, and the error that says so in place of the cancellation."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from dataclasses import asdict, dataclass, field
from typing import Any, TypeVar

from core.outcomes import WriteOutcome, Writes
from core.replies import Reply, Tone
from core.textsafe import echo

T = TypeVar("T")

FIELD_LIMIT = 1000  # Discord allows 1024 characters in a field value


class WriteInterrupted(Exception):
    """Raised in place of the caller's cancellation (the bot stopping) while a write past its point of no
    return runs on: ``reply`` says what was written and what may have been, for the cog to deliver."""

    def __init__(self, reply: Reply):
        super().__init__(reply.title)
        self.reply = reply


def shown(name: str) -> str:
    """An entry's name as the outcome's lines show it (inert: no Markdown, no mention)."""
    return echo(name, 80)


@dataclass
class Steps:
    """The writes of one command, in order, by entry name: what is settled goes into ``outcome``; ``pending``
    is what a stop could cut off (the step running, and those after it). Reasons are sentences for a person."""

    pending: list[str] = field(default_factory=list)
    outcome: WriteOutcome = field(default_factory=WriteOutcome)

    @classmethod
    def of(cls, names: list[str]) -> Steps:
        return cls([shown(n) for n in names])

    def add(self, names: list[str]) -> None:
        self.pending.extend(shown(n) for n in names)

    def written(self, name: str, *, now: str | None = None) -> None:
        """``name`` was written; ``now`` is its name after the write (a rename)."""
        self._settle(name)
        self.outcome.written.append(shown(now or name))

    def failed(self, name: str, reason: str) -> None:
        self._settle(name)
        self.outcome.failed.append(f"{shown(name)}: {reason}")

    def uncertain(self, name: str, what_to_check: str) -> None:
        self._settle(name)
        self.outcome.uncertain.append(f"{shown(name)}: {what_to_check}")

    def not_attempted(self) -> None:
        """Every step still pending is given up (after a failure or an unclear write)."""
        self.outcome.not_attempted.extend(self.pending)
        self.pending = []

    def _settle(self, name: str) -> None:
        if shown(name) in self.pending:
            self.pending.remove(shown(name))

    def cut_off(self) -> WriteOutcome:
        """The outcome as a stop leaves it: the pending steps may have been written."""
        outcome = WriteOutcome(**{k: list(v) for k, v in asdict(self.outcome).items()})
        outcome.uncertain.extend(
            f"{name}: the bot stopped while this was being written; check it in Foundry" for name in self.pending
        )
        return outcome


async def past_no_return(writes: Writes, description: str, steps: Steps, work: Coroutine[Any, Any, T], title: str) -> T:
    """``work`` under ``Writes.past_no_return``; when the caller is cancelled meanwhile (a stop), the work runs
    on and ``WriteInterrupted`` tells what may have been written (``title`` heads that reply)."""
    try:
        return await writes.past_no_return(description, work)
    except asyncio.CancelledError:
        reply = Reply(title=title, tone=Tone.WARNING)
        raise WriteInterrupted(tell(reply, steps.cut_off(), retry=CHECK_THEN_PUSH)) from None


CHECK_THEN_PUSH = (
    "Check the entries above in Foundry, then push the same file again: the bot re-reads every entry and "
    "writes only what is still missing."
)
PUSH_AGAIN = "Push the same file again: the bot re-reads every entry and writes only what is still missing."


def tell(reply: Reply, outcome: WriteOutcome, *, retry: str = PUSH_AGAIN) -> Reply:
    """Add the outcome to ``reply`` (whose title says what happened): what was written, may have been,
    failed, was not attempted, and the warnings of the bookkeeping after it."""
    if outcome.failed or outcome.uncertain:
        reply.tone = Tone.ERROR if outcome.failed else Tone.WARNING
        reply.add_field("Written", _names(outcome.written) or "nothing")
        if outcome.uncertain:
            reply.add_field("May have been written (check these in Foundry)", _lines(outcome.uncertain))
        if outcome.failed:
            reply.add_field("Failed", _lines(outcome.failed))
        if outcome.not_attempted:
            reply.add_field("Not written", _names(outcome.not_attempted))
        reply.add_field("To finish", retry)
    if outcome.warnings:
        reply.add_field("Warnings", _lines(outcome.warnings))
        if reply.tone is Tone.SUCCESS:
            reply.tone = Tone.WARNING
    reply.data["outcome"] = asdict(outcome)
    return reply


def _names(names: list[str]) -> str:
    text = ", ".join(names)
    return text if len(text) <= FIELD_LIMIT else text[: FIELD_LIMIT - 10] + "…"


def _lines(lines: list[str]) -> str:
    text = "\n".join(f"• {line}" for line in lines)
    return text if len(text) <= FIELD_LIMIT else text[: FIELD_LIMIT - 10].rsplit("\n", 1)[0] + "\n…"
