"""Runs a script of the bot (bot.py) with test seams set inside its process, never through its environment:

    python tests/seamed_bot.py '{"discord_api": "http://127.0.0.1:5000/api/v10"}' bot.py release publish ...

Seams: `discord_api` (where cli/announce.py sends the bot token), `github_api` (GitHub's REST API for
changelogs). The bot itself has no way to move either from outside.
"""

from __future__ import annotations

import json
import runpy
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def main() -> None:
    seams = json.loads(sys.argv[1])
    script = sys.argv[2]
    sys.path.insert(0, str(Path(script).resolve().parent))
    sys.path.insert(0, str(ROOT))
    # Imported here, once the repository is on sys.path (this script runs from tests/, outside the package).
    import cli.announce
    import release.changelog

    if "discord_api" in seams:
        cli.announce.DISCORD_API = seams["discord_api"]
    if "github_api" in seams:
        release.changelog.GITHUB_API = seams["github_api"]
    sys.argv = [script, *sys.argv[3:]]
    runpy.run_path(script, run_name="__main__")


if __name__ == "__main__":
    main()
