"""The command-line twin: the bot's commands without Discord, printing what the bot would post.

    python bot.py refresh | lookup NAME | push NAME --file F [--rename N] [--yes] | reveal|hide NAME [--yes] | worlds
    python bot.py release dry-run|publish --package P --manifest URL [...] [--yes]

Exit codes: 0 done, 1 refused or not found, 2 usage or configuration error, 75 temporary
(timeout, 429, relay or Foundry unreachable).
"""

from __future__ import annotations

import argparse
import asyncio
import getpass
import json
import os
import re
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

from core.errors import ConfigurationError, UserFacingError
from core.replies import Decision, Reply
from core.settings import Settings, load_settings
from core.textsafe import echo
from services.gm.reveal import set_visibility
from services.maintainers.service import NoToken, ReleaseOptions
from services.resources import App
from storage import StorageError

EXIT_OK, EXIT_REFUSED, EXIT_USAGE, EXIT_TEMPORARY = 0, 1, 2, 75


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python bot.py", description="The bot's commands, without Discord.")
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--json", action="store_true", help="print machine-readable JSON")
    world = argparse.ArgumentParser(add_help=False)
    world.add_argument("--world", metavar="CLIENT_ID", help="the relay clientId to use (overrides RELAY_CLIENT_ID)")
    sub = parser.add_subparsers(dest="command", required=True)

    sub.add_parser("refresh", parents=[common, world], help="rebuild the name map from the live world")
    lookup = sub.add_parser("lookup", parents=[common, world], help="show a journal entry")
    lookup.add_argument("name")
    lookup.add_argument("--gm", action="store_true", help="include secrets and notes (the GM's view)")
    push = sub.add_parser("push", parents=[common, world], help="write Campaign Codex data into an entry")
    push.add_argument("name")
    push.add_argument("--file", required=True, type=Path, help="JSON file with a flags.campaign-codex object")
    push.add_argument("--rename", help="also rename the entry")
    push.add_argument("--yes", action="store_true", help="write without asking (otherwise only the preview is shown)")
    for action, text in (("reveal", "show an entry to the players"), ("hide", "hide an entry from the players")):
        cmd = sub.add_parser(action, parents=[common, world], help=text)
        cmd.add_argument("name")
        cmd.add_argument("--yes", action="store_true", help="change it without asking (otherwise only the preview)")
    sub.add_parser("worlds", parents=[common], help="list the relay's online worlds")

    release = sub.add_parser("release", help="Foundry package releases").add_subparsers(dest="action", required=True)
    for action, text in (("dry-run", "check a release without saving it"), ("publish", "release a version")):
        cmd = release.add_parser(action, parents=[common], help=text)
        cmd.add_argument("--package", required=True)
        cmd.add_argument("--manifest", required=True, help="URL of this version's manifest")
        for option in ("version", "minimum", "verified", "maximum", "notes"):
            cmd.add_argument(f"--{option}")
        if action == "publish":
            cmd.add_argument("--yes", action="store_true", help="publish without asking")
    return parser


def plain(text: str) -> str:
    """Discord's <t:UNIX:R> timestamps, spelled out for a terminal."""

    def spell(match: re.Match) -> str:
        when = int(match.group(1))
        at = datetime.fromtimestamp(when, UTC).strftime("%H:%M:%S UTC")
        return f"in {max(0, when - int(time.time()))} s (at {at})"

    return re.sub(r"<t:(\d+):R>", spell, text)


def _print_reply(reply: Reply, as_json: bool) -> None:
    print(json.dumps(reply.as_json(), indent=2) if as_json else plain(reply.as_text()))


def _print_error(error: UserFacingError, as_json: bool) -> None:
    if as_json:
        print(
            json.dumps(
                {"error": plain(error.message), "details": error.details, "temporary": error.temporary}, indent=2
            )
        )
    else:
        print(plain(str(error)), file=sys.stderr)


def _local_user() -> str:
    try:
        return getpass.getuser()
    except (OSError, KeyError):  # no user name in a bare container
        return "unknown user"


def _actor() -> str:
    """Who asked, for the release log."""
    return f"cli:{os.environ.get('GITHUB_ACTOR') or _local_user()}"


async def _run(args: argparse.Namespace, settings: Settings) -> int:
    if args.command == "release":
        if not settings.release_tokens and settings.foundry_release_token is None:
            raise ConfigurationError("No release token: set RELEASE_TOKENS, or FOUNDRY_RELEASE_TOKEN for one package.")
    else:
        settings.require_relay()
    try:
        app = await App.open(settings)
    except StorageError as error:
        raise ConfigurationError(error.message) from None
    async with app:
        if args.command == "worlds":
            worlds = await app.gm.relay.list_worlds()
            _print_reply(app.gm.worlds_reply(worlds, args_world(args, settings)), args.json)
            return EXIT_OK
        if args.command == "release":
            return await _release(app, args)
        world = await app.gm.resolve_world(None, override=args.world)
        if args.command == "refresh":

            async def progress(text: str) -> None:
                print(text, file=sys.stderr)

            _print_reply(await app.gm.refresh(world, progress), args.json)
        elif args.command == "lookup":
            found = await app.gm.lookup(world, args.name, gm=args.gm)
            _print_reply(found.gm or found.player, args.json)
        elif args.command == "push":
            return await _push(app, world, args)
        elif args.command in ("reveal", "hide"):
            done = await set_visibility(
                app.gm, world, args.name, visible=args.command == "reveal", confirm=_confirm(args, args.command + " it")
            )
            _print_reply(done.reply, args.json)
    return EXIT_OK


def args_world(args: argparse.Namespace, settings: Settings) -> str | None:
    return getattr(args, "world", None) or settings.relay_client_id


async def _push(app: App, world, args: argparse.Namespace) -> int:
    try:
        raw = args.file.read_bytes()
    except OSError as error:
        raise UserFacingError(f"Cannot read {args.file}: {error.strerror}.") from None

    reply = await app.gm.push(world, args.name, raw, rename=args.rename, confirm=_confirm(args, "write it"))
    _print_reply(reply, args.json)
    return EXIT_OK


def _confirm(args: argparse.Namespace, what: str):
    """--yes confirms; without it the preview is printed and nothing is sent."""

    async def confirm(preview: Reply) -> Decision:
        if args.yes:
            return Decision.CONFIRMED
        _print_reply(preview, args.json)
        if not args.json:
            print(f"\n(Run again with --yes to {what}.)\n")
        return Decision.PREVIEWED

    return confirm


async def _release(app: App, args: argparse.Namespace) -> int:
    options = ReleaseOptions(
        package=args.package,
        manifest=args.manifest,
        version=args.version,
        minimum=args.minimum,
        verified=args.verified,
        maximum=args.maximum,
        notes=args.notes,
    )
    try:
        if args.action == "dry-run":
            _print_reply(await app.releases.dry_run(options, actor=_actor()), args.json)
            return EXIT_OK
        previews: list[Reply] = []

        async def confirm(preview: Reply) -> Decision:
            # --yes confirms; without it only the preview is printed (once, after the dry run).
            previews.append(preview)
            return Decision.CONFIRMED if args.yes else Decision.PREVIEWED

        published = await app.releases.publish(options, actor=_actor(), confirm=confirm, released_by=_released_by())
    except NoToken as error:
        # In CI a package without a token is a configuration mistake, not a refusal.
        raise ConfigurationError(error.message) from None

    if published.announcement is None:  # not confirmed: show what would be released
        preview = previews[0] if previews else published.reply
        if args.json:
            print(json.dumps({**preview.as_json(), "released": False}, indent=2))
        else:
            print(plain(preview.as_text()))
            print(f"\n{published.reply.description} Run again with --yes to publish.")
        return EXIT_OK

    problem = await _announce(app.settings, published.announcement)
    if args.json:
        out = {**published.reply.as_json(), "released": True}
        if app.settings.discord_token and app.settings.announce_channel_id:
            out["announced"] = problem is None
            if problem:
                out["announce_error"] = problem
        print(json.dumps(out, indent=2))
    else:
        _print_reply(published.reply, False)
        if problem:
            print(problem, file=sys.stderr)
    return EXIT_OK


def _released_by() -> str:
    """Who the announcement names for a release made here: the GitHub actor in Actions, else the local user."""
    actor = os.environ.get("GITHUB_ACTOR")
    if actor:
        return f"{echo(actor, 80)} (GitHub Actions)"
    return f"{echo(_local_user(), 80)} (command line)"


async def _announce(settings: Settings, announcement: Reply) -> str | None:
    """Post the release announcement through Discord's REST API (no gateway), as the bot does.

    Returns None when posted or not configured, else one line saying why it was not posted.
    """
    if not (settings.discord_token and settings.announce_channel_id):
        return None
    from cli.announce import post_embed

    problem = await post_embed(settings.discord_token, settings.announce_channel_id, announcement)
    if problem:
        return (
            f"Released, but the announcement could not be posted in channel {settings.announce_channel_id}: {problem}."
        )
    return None


def main(argv: list[str]) -> int:
    parser = _parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exit_:
        return EXIT_USAGE if exit_.code else EXIT_OK
    try:
        settings = load_settings()
        return asyncio.run(_run(args, settings))
    except ConfigurationError as error:
        print(f"Configuration error: {error.message}", file=sys.stderr)
        return EXIT_USAGE
    except UserFacingError as error:
        _print_error(error, args.json if hasattr(args, "json") else False)
        return EXIT_TEMPORARY if error.temporary else EXIT_REFUSED
    except KeyboardInterrupt:
        return 130
