"""The command-line twin: the bot's commands without Discord, printing what the bot would post.

`python bot.py --help` lists the commands (cli/parser.py); cli/terminal.py turns replies into plain text or JSON.
Exit codes: 0 done, 1 refused or not found, 2 usage or configuration error, 3 a release Foundry may have
saved (the request was sent and no answer said what happened: check the package page, never retry blindly),
4 the relay's monthly request limit is used up (nothing to retry before the 1st, UTC), 75 temporary (timeout,
429, relay or Foundry unreachable before anything was sent).
"""

from __future__ import annotations

import argparse
import asyncio
import getpass
import logging
import os
import signal
import sys
from pathlib import Path

from cli.announce import RestAnnouncer
from cli.secrets import run_secrets
from cli.terminal import error_json, error_text, plain, reply_json, reply_text
from core.errors import ConfigurationError, UserFacingError
from core.logsafe import setup_logging
from core.replies import Decision, Reply
from core.settings import Settings, load_settings
from core.textsafe import echo
from services.maintainers.service import NoToken, ReleaseOptions
from services.players.roster import PlayersService
from services.players.viewers import GM_VIEWER
from services.relay_budget import month_spent, worded_for
from services.resources import App
from services.status import status_report
from storage import StorageError

EXIT_OK, EXIT_REFUSED, EXIT_USAGE, EXIT_UNCERTAIN, EXIT_MONTH_SPENT, EXIT_TEMPORARY = 0, 1, 2, 3, 4, 75


class BadInput(UserFacingError):
    """A local input given on the command line is unusable (exit 2, like any usage error)."""


def _print_reply(reply: Reply, as_json: bool) -> None:
    print(reply_json(reply) if as_json else reply_text(reply))


def _print_error(error: UserFacingError, as_json: bool, exit_code: int) -> None:
    if as_json:
        print(error_json(error, exit_code))
    else:
        print(error_text(error), file=sys.stderr)


def _local_user() -> str:
    try:
        return getpass.getuser()
    except (OSError, KeyError):  # no user name in a bare container
        return "unknown user"


def _actor() -> str:
    """Who asked, for the release log."""
    return f"cli:{os.environ.get('GITHUB_ACTOR') or _local_user()}"


async def _run(args: argparse.Namespace, settings: Settings) -> int:
    if args.command == "secrets":
        return await run_secrets(args, settings)
    if args.command == "release":
        if args.action != "log" and not settings.release_tokens and settings.foundry_release_token is None:
            raise ConfigurationError("No release token: set RELEASE_TOKENS, or FOUNDRY_RELEASE_TOKEN for one package.")
    elif args.command != "status":
        settings.require_relay()
    # Local input is checked before anything reaches the network.
    raw = _read_push_file(args.file) if args.command == "push" else None
    try:
        app = await App.open(settings)
    except StorageError as error:
        raise ConfigurationError(error.message) from None
    async with app:
        if args.command == "status":
            _print_reply(await status_report(app, None), args.json)
            return EXIT_OK
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
            players = PlayersService(app.gm.viewers, app.gm.visibility)
            viewer = await players.viewer_for(world.client_id, args.as_player) if args.as_player else GM_VIEWER
            found = await app.gm.lookup(world, args.name, viewer=viewer)
            _print_reply(found.own or found.player, args.json)
        elif args.command == "push":
            reply = await app.gm.push(world, args.name, raw, rename=args.rename, confirm=_confirm(args, "write it"))
            _print_reply(reply, args.json)
        elif args.command in ("reveal", "hide"):
            done = await app.gm.set_visibility(
                world, args.name, visible=args.command == "reveal", confirm=_confirm(args, args.command + " it")
            )
            _print_reply(done.reply, args.json)
    return EXIT_OK


def args_world(args: argparse.Namespace, settings: Settings) -> str | None:
    return getattr(args, "world", None) or settings.relay_client_id


def _read_push_file(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as error:
        raise BadInput(f"Cannot read {path}: {error.strerror}. Nothing was sent.") from None


def _confirm(args: argparse.Namespace, what: str):
    """--yes confirms; without it the preview is printed and nothing is sent."""

    async def confirm(preview: Reply) -> Decision:
        if args.yes:
            return Decision.CONFIRMED
        _print_reply(preview, args.json)
        if not args.json:
            print(f"Run again with --yes to {what}.")
        return Decision.PREVIEWED

    return confirm


async def _release(app: App, args: argparse.Namespace) -> int:
    if args.action == "log":
        _print_reply(await app.releases.log(args.package), args.json)
        return EXIT_OK
    options = ReleaseOptions(
        package=args.package,
        manifest=args.manifest,
        version=args.version,
        minimum=args.minimum,
        verified=args.verified,
        maximum=args.maximum,
        notes=args.notes,
        package_check=not args.skip_package_check,
    )
    _finish_writes_on_stop(app)
    try:
        if args.action == "dry-run":
            _print_reply(await app.releases.dry_run(options, actor=_actor()), args.json)
            return EXIT_OK
        previews: list[Reply] = []

        async def confirm(preview: Reply) -> Decision:
            # --yes confirms; without it only the preview is printed (once, after the dry run).
            previews.append(preview)
            return Decision.CONFIRMED if args.yes else Decision.PREVIEWED

        settings = app.settings
        announcer = (
            RestAnnouncer(settings.discord_token, settings.announce_channel_id)
            if settings.discord_token and settings.announce_channel_id
            else None
        )
        published = await app.releases.publish(
            options, actor=_actor(), confirm=confirm, released_by=_released_by(), announce=announcer
        )
    except NoToken as error:
        # In CI a package without a token is a configuration mistake, not a refusal.
        raise ConfigurationError(error.message) from None

    if published.released is False:  # not confirmed: show what would be released
        preview = previews[0] if previews else published.reply
        if args.json:
            print(reply_json(preview, released=False))
        else:
            print(reply_text(preview))
            print(f"{plain(published.reply.description)} Run again with --yes to publish.")
        return EXIT_OK
    if published.released is None:  # Foundry may have saved it: the package page tells, a retry would not
        print(reply_json(published.reply, released=None) if args.json else reply_text(published.reply))
        return EXIT_UNCERTAIN

    if args.json:
        extra: dict = {"released": True}
        if published.announced is not None:
            extra["announced"] = published.announced
            if not published.announced:
                extra["announce_error"] = next(
                    (w for w in published.warnings if "post the announcement" in w), published.warnings[-1]
                )
        print(reply_json(published.reply, **extra))
    else:
        _print_reply(published.reply, False)
        for warning in published.warnings:
            print(plain(warning), file=sys.stderr)
    return EXIT_OK


def _finish_writes_on_stop(app: App) -> None:
    """SIGINT or SIGTERM (a cancelled CI job) stops the command, except past a release's point of no return:
    that release finishes and is reported, and the command ends on its own."""
    loop = asyncio.get_running_loop()
    command = asyncio.current_task()

    def stop() -> None:
        if app.writes.running:
            print("Stopping once the release in progress is reported.", file=sys.stderr)
        elif command is not None:
            command.cancel()

    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop)


def _released_by() -> str:
    """Who the announcement names for a release made here: the GitHub actor in Actions, else the local user."""
    actor = os.environ.get("GITHUB_ACTOR")
    if actor:
        return f"{echo(actor, 80)} (GitHub Actions)"
    return f"{echo(_local_user(), 80)} (command line)"


def main(args: argparse.Namespace) -> int:
    """Runs one command parsed by cli/parser.py (bot.py parses, so a typo never starts the bot)."""
    try:
        settings = load_settings()
        # What a command did is printed as its output; the log shows only unexpected errors (secrets scrubbed).
        setup_logging(settings, level=logging.ERROR)
        return asyncio.run(_run(args, settings))
    except ConfigurationError as error:
        if args.json:
            print(error_json(error, EXIT_USAGE))
        else:
            print(f"Configuration error: {plain(error.message)}", file=sys.stderr)
        return EXIT_USAGE
    except UserFacingError as error:
        code = _exit_code(error)
        _print_error(worded_for(error, args.command), args.json, code)
        return code
    except (KeyboardInterrupt, asyncio.CancelledError):  # stopped by SIGINT or SIGTERM
        return 130


def _exit_code(error: UserFacingError) -> int:
    if isinstance(error, BadInput):
        return EXIT_USAGE
    if month_spent(error):
        return EXIT_MONTH_SPENT
    return EXIT_TEMPORARY if error.temporary else EXIT_REFUSED
