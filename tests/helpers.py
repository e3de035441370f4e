"""Small helpers for command tests: running a command that waits for a button press."""

from __future__ import annotations

import asyncio

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
