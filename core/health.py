"""The heartbeat behind Docker's HEALTHCHECK: `python -m core.health` exits 0 while the bot is connected.

The bot touches the file every 30 s while its gateway connection is up (not merely `is_ready()`, which
discord.py keeps true while it reconnects), and removes it at start and on close. The file lives outside the
data volume (default: the system's temp folder, inside the container) so a heartbeat left by an earlier
container can never vouch for a new one.
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path

MAX_AGE = 120  # seconds: four missed beats


def heartbeat_path() -> Path:
    configured = os.environ.get("HEARTBEAT_FILE", "").strip()
    return Path(configured) if configured else Path(tempfile.gettempdir()) / "foundry-campaign-bot.heartbeat"


class Heartbeat:
    def __init__(self, path: Path | None = None):
        self.path = path or heartbeat_path()
        self.connected = False

    def reset(self) -> None:
        """Forget any earlier beat (at start and on close)."""
        self.connected = False
        self.path.unlink(missing_ok=True)

    def beat(self) -> None:
        if self.connected:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self.path.touch()


def check() -> str | None:
    """None when healthy, else why not."""
    try:
        age = time.time() - heartbeat_path().stat().st_mtime
    except OSError:
        return "unhealthy: no heartbeat (the bot is not connected to Discord)"
    return None if age <= MAX_AGE else f"unhealthy: last heartbeat {age:.0f} s ago"


if __name__ == "__main__":
    sys.exit(check() or 0)
