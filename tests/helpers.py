"""Small helpers for command tests: running a command that waits for a button press, and checking that
nothing hidden reached Discord or a log line."""

from __future__ import annotations

import asyncio
import logging
from contextlib import contextmanager

from tests.harness import DiscordHarness


def pending_with_button(h: DiscordHarness, label: str, before: int):
    """The newest message sent after request #`before` that shows a `label` button."""
    for message in reversed(list(h.fake.messages.values())):
        if message.id > before and any(b.get("label") == label for b in _buttons(message.payload)):
            return message.id
    return None


def _buttons(payload: dict):
    for row in payload.get("components") or []:
        for item in row.get("components") or []:
            if item.get("type") == 2:
                yield item


async def run_until_button(h: DiscordHarness, who, channel, command: str, *, label: str = "Confirm", **options):
    """Start a slash command and return (task, message id) once it shows a `label` button."""
    newest = max(h.fake.messages, default=0)
    task = asyncio.create_task(h.slash(who, channel, command, **options))
    try:
        message_id = await h.wait_for(
            lambda: pending_with_button(h, label, newest) or (task.done() and -1),
            what=f"a {label} button from /{command}",
        )
    except BaseException:
        task.cancel()
        raise
    if message_id == -1:
        result = task.result()
        raise AssertionError(f"/{command} finished without showing {label}: {result.text!r}")
    return task, message_id


class LogWatch(logging.Handler):
    """Every record logged while it is attached, formatted whole (message, traceback, stack)."""

    def __init__(self):
        super().__init__(level=logging.DEBUG)
        self.setFormatter(logging.Formatter("%(name)s %(levelname)s %(message)s"))
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self.format(record))


def sent_text(request) -> str:
    """All a request to the fake Discord carried: its path, JSON, raw body and every attachment."""
    files = " ".join(f"{name} {data[:200_000]!r}" for _field, name, data in request.files)
    return f"{request.path} {request.json} {request.raw_body[:200_000]!r} {files}"


@contextmanager
def no_leak(env, words, what: str = ""):
    """Nothing the bot sends to Discord (attachments included), nor any log line, while the block runs
    holds one of ``words``."""
    watch = LogWatch()
    root = logging.getLogger()
    root.addHandler(watch)
    before = len(env.h.fake.requests)
    try:
        yield
    finally:
        root.removeHandler(watch)
    for request in env.h.fake.requests[before:]:
        text = sent_text(request)
        for word in words:
            assert word not in text, f"{what}: {word!r} reached Discord in {request.method} {request.path}"
    for line in watch.lines:
        for word in words:
            assert word not in line, f"{what}: {word!r} reached a log line: {line[:300]}"
