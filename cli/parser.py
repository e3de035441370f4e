"""Every command and option of `python bot.py`, with help text; a mistyped flag or command is an error (exit 2)."""

from __future__ import annotations

import argparse
from pathlib import Path

DESCRIPTION = (
    "Without a command, runs the Discord bot (needs DISCORD_TOKEN). "
    "With a command, runs it once from the terminal and prints what the bot would post."
)
EPILOG = (
    "Exit codes: 0 done, 1 refused or not found, 2 usage or configuration error, "
    "3 a release Foundry may have saved (check the package page before anything else; never retry blindly), "
    "4 the relay's monthly request limit is used up (until the 1st, UTC: don't retry), "
    "75 temporary (timeout, rate limit, relay or Foundry unreachable). Settings come from .env (see .env.example)."
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python bot.py",
        description=DESCRIPTION,
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--sync-global",
        action="store_true",
        help="when running the bot: register the slash commands in every server (takes up to an hour to show)",
    )
    json_flag = argparse.ArgumentParser(add_help=False)
    json_flag.add_argument("--json", action="store_true", help="print one JSON object (shape in README, 'JSON output')")
    world = argparse.ArgumentParser(add_help=False)
    world.add_argument("--world", metavar="CLIENT_ID", help="the relay clientId to use (overrides RELAY_CLIENT_ID)")

    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.add_parser(
        "refresh",
        parents=[json_flag, world],
        help="rebuild the name map from the live world",
        description="Rebuild the bot's name map from the live world (zero downtime).",
    )
    lookup = sub.add_parser(
        "lookup", parents=[json_flag, world], help="show a journal entry", description="Show a journal entry by name."
    )
    lookup.add_argument("name", help="the entry's name, as in Foundry")
    lookup.add_argument(
        "--as-player", metavar="USER", help="show what this Foundry user (name or id) may see; default: the GM's view"
    )
    push = sub.add_parser(
        "push",
        parents=[json_flag, world],
        help="write Campaign Codex data into an entry",
        description="Preview, then with --yes write, Campaign Codex data from a JSON file into an entry.",
    )
    push.add_argument("name", help="the entry to update (or to create, if no entry has this name)")
    push.add_argument("--file", required=True, type=Path, help="JSON file with a flags.campaign-codex object")
    push.add_argument("--rename", metavar="NEW_NAME", help="also rename the entry")
    push.add_argument("--yes", action="store_true", help="write without asking (otherwise only the preview is shown)")
    for action, text in (("reveal", "show an entry to the players"), ("hide", "hide an entry from the players")):
        cmd = sub.add_parser(
            action,
            parents=[json_flag, world],
            help=text,
            description=f"Set the entry's default ownership the way Campaign Codex's eye button does ({text}).",
        )
        cmd.add_argument("name", help="the entry's name, as in Foundry")
        cmd.add_argument("--yes", action="store_true", help="change it without asking (otherwise only the preview)")
    sub.add_parser(
        "worlds",
        parents=[json_flag],
        help="list the relay's online worlds",
        description="List the worlds connected to the relay.",
    )
    sub.add_parser(
        "status",
        parents=[json_flag],
        help="check the relay, the world, the name map and release settings",
        description="What /status shows: is everything the bot depends on in working order.",
    )

    release = sub.add_parser(
        "release", help="check or publish a Foundry package release", description="Foundry package releases."
    )
    actions = release.add_subparsers(dest="action", required=True, metavar="ACTION")
    for action, text in (
        ("dry-run", "check a release with Foundry without saving it"),
        ("publish", "dry-run, then release a version (with --yes)"),
    ):
        cmd = actions.add_parser(action, parents=[json_flag], help=text, description=text[0].upper() + text[1:] + ".")
        cmd.add_argument("--package", help="the package id (default: the manifest's id)")
        cmd.add_argument("--manifest", required=True, help="URL of this version's manifest (not the 'latest' one)")
        cmd.add_argument("--version", help="the version to release (default: the manifest's version)")
        cmd.add_argument("--minimum", help="minimum Foundry version (default: the manifest's)")
        cmd.add_argument("--verified", help="verified Foundry version (default: the manifest's)")
        cmd.add_argument("--maximum", help="maximum Foundry version (default: the manifest's, if any)")
        cmd.add_argument(
            "--notes", help="URL of this version's release notes (a GitHub release or a CHANGELOG.md: announced)"
        )
        cmd.add_argument(
            "--skip-package-check",
            action="store_true",
            help="do not check the zip Foundry will install (only for a package without a zip; the output says so)",
        )
        if action == "publish":
            cmd.add_argument("--yes", action="store_true", help="publish without asking (otherwise only a preview)")
    log_cmd = actions.add_parser(
        "log", parents=[json_flag], help="the release log: who checked or released what, and Foundry's answer"
    )
    log_cmd.add_argument("--package", help="only this package")

    secrets = sub.add_parser(
        "secrets",
        help="make or rotate SECRETS_KEY, the key that seals the stored secrets",
        description="SECRETS_KEY seals each server's relay key and release tokens in the database.",
    )
    secrets.set_defaults(json=False)  # prints plain lines only
    secret_actions = secrets.add_subparsers(dest="action", required=True, metavar="ACTION")
    secret_actions.add_parser(
        "new-key",
        help="print a new random key for SECRETS_KEY",
        description="Print a new random key (32 bytes, URL-safe base64) to put in SECRETS_KEY.",
    )
    rotate = secret_actions.add_parser(
        "rotate",
        help="re-seal every stored secret with a new key",
        description=(
            "Re-seal every stored secret with a new key, in one transaction (all or nothing). SECRETS_KEY must "
            "hold the current key; afterwards, set it to the new one before the bot starts again."
        ),
    )
    rotate.add_argument(
        "--new-key",
        required=True,
        metavar="KEY",
        help="the new key (from `secrets new-key`), or - to read it from standard input (keeps it out of shell history)",
    )
    return parser
