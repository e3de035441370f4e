"""Docker HEALTHCHECK: healthy while the bot's heartbeat file is fresh (it is written every 30 s while connected)."""

import os
import sys
import time
from pathlib import Path

HEARTBEAT_NAME = "heartbeat"
MAX_AGE = 120


def heartbeat_path() -> Path:
    return Path(os.environ.get("DATABASE_PATH", "data/bot.sqlite3")).parent / HEARTBEAT_NAME


if __name__ == "__main__":
    try:
        age = time.time() - heartbeat_path().stat().st_mtime
    except OSError:
        sys.exit("unhealthy: no heartbeat yet")
    sys.exit(0 if age <= MAX_AGE else f"unhealthy: last heartbeat {age:.0f} s ago")
