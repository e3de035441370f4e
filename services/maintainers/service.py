"""What /release dry-run and /release publish do, without Discord.

A real release has a point of no return: once its request may have reached Foundry, the answer says what
Foundry did (released, or may have released: check the package page), whatever fails afterwards. The audit
log and the announcement after it are bookkeeping (core/outcomes.py `after_write`): their failures become
warnings. The release itself runs under `Writes.past_no_return`, so a stop lets it finish and be reported.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable
from dataclasses import asdict, dataclass, field, replace
from typing import Protocol
from urllib.parse import urlsplit

from pydantic import SecretStr

from core.errors import UserFacingError
from core.outcomes import WriteOutcome, Writes, after_write
from core.replies import Confirm, Decision, Reply, Tone
from core.settings import Settings
from core.textsafe import echo
from release import (
    Changelog,
    ChangelogReader,
    Checked,
    Fetcher,
    PackageChecker,
    PreflightFailed,
    ReleaseClient,
    ReleaseError,
    ReleaseForbidden,
    ReleaseRateLimited,
    ReleaseRejected,
    ReleaseRequest,
    ReleaseResult,
    ReleaseUncertain,
    check_request,
    clip_markdown,
    fetch_manifest,
    preflight,
    public_page,
    request_from_manifest,
    shown_url,
)
from storage import ReleaseStore

log = logging.getLogger(__name__)

# The announcement's description holds the changelog: Discord's limit for it, less room for the rest.
CHANGELOG_MAX_CHARS = 3500


class CoolingDown(UserFacingError):
    """Foundry's per-package minute between releases has not passed; Foundry was not called."""

    temporary = True

    def __init__(self, package_id: str, until: float):
        self.package_id = package_id
        self.until = until
        # <t:UNIX:R> renders as "in 42 seconds" in each reader's Discord; the CLI rewrites it.
        super().__init__(f"Foundry allows one release per package per minute; try again <t:{int(until + 0.999)}:R>.")


class NoToken(UserFacingError):
    pass


class AnnouncementFailed(UserFacingError):
    """Raised by an Announcer: the message is why the announcement could not be posted."""


class Announcer(Protocol):
    """Posts the announcement somewhere (a channel through the gateway, or Discord's REST API from the command
    line); raises UserFacingError saying why it could not. `where` completes "post the announcement …"."""

    where: str

    def __call__(self, announcement: Reply) -> Awaitable[None]: ...


@dataclass(frozen=True)
class ReleaseOptions:
    """What the maintainer typed; missing version/compatibility come from the manifest."""

    package: str | None  # None: the manifest's id (the command line, the GitHub Action)
    manifest: str
    version: str | None = None
    minimum: str | None = None
    verified: str | None = None
    maximum: str | None = None
    notes: str | None = None
    package_check: bool = True  # False: the rare package without a zip; the reply says it was skipped


@dataclass(frozen=True)
class Published:
    reply: Reply
    # The announcement embed, when a real release went through.
    announcement: Reply | None
    released: bool | None = False  # None: Foundry may have released it (check the package page)
    announced: bool | None = None  # None: no announcement was attempted
    warnings: list[str] = field(default_factory=list)


class ReleaseService:
    def __init__(
        self,
        *,
        settings: Settings,
        client: ReleaseClient,
        fetcher: Fetcher,
        store: ReleaseStore,
        writes: Writes,
        package: PackageChecker | None = None,
        changelog: ChangelogReader | None = None,
    ):
        self.settings = settings
        self.client = client
        self.fetcher = fetcher
        self.store = store
        self.writes = writes
        self.package = package or PackageChecker(fetcher)
        self.changelog = changelog or ChangelogReader(fetcher, token=settings.github_token)

    def packages(self) -> list[str]:
        return sorted(self.settings.release_tokens)

    def token_for(self, package: str) -> SecretStr:
        token = self.settings.release_tokens.get(package) or self.settings.foundry_release_token
        if token is None:
            known = ", ".join(self.packages()) or "none"
            raise NoToken(
                f"No release token is configured for {echo(package)}: {self.settings.release_token_hint()} "
                f"(packages with tokens: {known})."
            )
        # Checked at start-up, but only the check trims: a CI secret often ends with a newline.
        return SecretStr(token.get_secret_value().strip())

    async def prepare(self, options: ReleaseOptions, *, manifest: dict | None = None) -> tuple[ReleaseRequest, Checked]:
        """The full request, preflighted: every problem Foundry would not catch is raised together.

        The manifest is fetched once, whether it fills in the version and compatibility or not (`manifest`:
        already fetched by the caller).
        """
        if options.version and options.minimum and options.verified:
            request = ReleaseRequest(
                package_id=options.package,
                version=options.version,
                manifest=options.manifest,
                minimum=options.minimum,
                verified=options.verified,
                maximum=options.maximum,
                notes=options.notes,
            )
        else:
            # The request can't be built before the manifest is read: report its URL's problems
            # together with whatever stops the manifest from filling in the rest.
            problems = check_request(ReleaseRequest(options.package, options.version or "", options.manifest, "", ""))
            request = None
            unreachable = False  # only an unreachable manifest is worth retrying later (exit 75)
            if urlsplit(options.manifest).scheme in ("http", "https"):
                try:
                    if manifest is None:
                        manifest = await fetch_manifest(self.fetcher, options.manifest)
                    request = request_from_manifest(
                        options.package,
                        options.manifest,
                        manifest,
                        version=options.version,
                        minimum=options.minimum,
                        verified=options.verified,
                        maximum=options.maximum,
                        notes=options.notes,
                    )
                except PreflightFailed as failed:
                    unreachable = failed.temporary and not problems
                    problems += failed.details
            if request is None:
                not_ready = PreflightFailed(
                    f"This release of {echo(options.package)} is not ready "
                    f"({len(problems)} problem{'s' if len(problems) > 1 else ''}).",
                    problems,
                )
                not_ready.temporary = unreachable
                raise not_ready
        checked = await preflight(
            self.fetcher, request, manifest=manifest, package=self.package if options.package_check else None
        )
        return request, checked

    async def _call(
        self, request: ReleaseRequest, actor: str, *, dry_run: bool, outcome: WriteOutcome
    ) -> ReleaseResult:
        """Foundry's answer; failures of the bookkeeping after it become warnings on `outcome`.

        What Foundry did is what the maintainer is told: a failing audit log or cooldown write never
        turns an accepted release (or a 429) into a different outcome."""
        token = self.token_for(request.package_id)
        until = await self.store.cooldown_until(request.package_id)
        if until is not None:
            await self._log(request, actor, dry_run, "cooldown", None, "not sent: waiting for Foundry's cooldown")
            raise CoolingDown(request.package_id, until)
        try:
            result = await self.client.release(request, token, dry_run=dry_run)
        except ReleaseRateLimited as error:
            until = time.time() + error.retry_after
            await after_write(outcome, "save the cooldown", self.store.set_cooldown(request.package_id, until))
            await after_write(
                outcome,
                "write the release log",
                self._log(request, actor, dry_run, "rate-limited", 429, error.message),
            )
            cooling = CoolingDown(request.package_id, until)
            cooling.details = list(outcome.warnings)
            raise cooling from None
        except ReleaseUncertain as error:
            await after_write(
                outcome, "write the release log", self._log(request, actor, dry_run, "uncertain", None, str(error))
            )
            raise
        except ReleaseError as error:
            status = "rejected" if isinstance(error, ReleaseRejected) else "failed"
            await after_write(
                outcome,
                "write the release log",
                self._log(request, actor, dry_run, status, _status_of(error), str(error)),
            )
            error.details = [*error.details, *outcome.warnings]
            raise
        await after_write(
            outcome,
            "write the release log",
            self._log(request, actor, dry_run, "success", 200, result.message or result.page),
        )
        return result

    async def _log(self, request, actor, dry_run, status, http_status, answer) -> None:
        await self.store.log(
            actor=actor,
            package_id=request.package_id,
            version=request.version,
            dry_run=dry_run,
            options=asdict(request),
            status=status,
            http_status=http_status,
            answer=answer,
        )

    async def _log_options(self, options: ReleaseOptions, actor: str, status: str, answer: str) -> None:
        """An attempt stopped before a request was sent (cooldown, preflight): logged with what was typed."""
        typed = asdict(options)
        typed["package_id"] = typed.pop("package")
        typed.pop("package_check")
        await self.store.log(
            actor=actor,
            package_id=options.package,
            version=options.version,
            dry_run=True,
            options=typed,
            status=status,
            http_status=None,
            answer=answer,
        )

    async def log(self, package: str | None = None, limit: int = 20) -> Reply:
        """The release log, newest first: who asked for what, and what Foundry answered (never a token)."""
        rows = await self.store.history(package, limit)
        lines = [
            f"{time.strftime('%Y-%m-%d %H:%M', time.gmtime(row['at']))} UTC — {echo(row['package_id'], 60)} "
            f"{echo(row['version'] or '?', 30)}{' (dry run)' if row['dry_run'] else ''}: {echo(row['status'], 30)}"
            f" — {echo(row['actor'] or '?', 60)}"
            for row in rows
        ]
        return Reply(
            title=f"Release log — {echo(package)}" if package else "Release log",
            description="\n".join(lines)[:4000] if lines else "Nothing has been released or checked yet.",
            footer=f"the last {len(rows)} entr{'y' if len(rows) == 1 else 'ies'}, newest first" if rows else None,
            data={
                "entries": [
                    {k: row[k] for k in ("at", "actor", "package_id", "version", "dry_run", "status")} for row in rows
                ]
            },
        )

    async def dry_run(self, options: ReleaseOptions, actor: str) -> Reply:
        request, checked = await self._prepared(options, actor)
        outcome = WriteOutcome()
        result = await self._call(request, actor, dry_run=True, outcome=outcome)
        changelog = await self.changelog.read(request.notes, request.version)
        reply = _summary(
            request,
            result,
            title=f"Dry run passed — {echo(request.package_id)} {echo(request.version, 40)}",
            description="Foundry accepted this release without saving it. Run /release publish to release it.",
        )
        _add_checks(reply, checked, changelog)
        return _with_warnings(reply, outcome.warnings)

    async def publish(
        self,
        options: ReleaseOptions,
        actor: str,
        confirm: Confirm,
        *,
        released_by: str | None = None,
        announce: Announcer | None = None,
    ) -> Published:
        """Dry run, ask `confirm`, release, announce through `announce`. `released_by`: who the announcement
        names (default `actor`); the caller makes it safe to post (no mention may ping)."""
        request, checked = await self._prepared(options, actor)
        checked_answer = await self._call(request, actor, dry_run=True, outcome=WriteOutcome())
        changelog = await self.changelog.read(request.notes, request.version)
        preview = _summary(
            request,
            checked_answer,
            title=f"Release {echo(request.package_id)} {echo(request.version, 40)}?",
            description="The dry run passed. Confirm to publish this version on Foundry's package listing.",
        )
        _add_checks(preview, checked, changelog)
        decision = await confirm(preview)
        if decision is not Decision.CONFIRMED:
            text = {Decision.EXPIRED: "The confirmation expired", Decision.PREVIEWED: "Dry run only"}.get(
                decision, "Cancelled"
            )
            return Published(Reply(description=f"{text}; nothing was released.", tone=Tone.INFO), None)
        # The point of no return: from the request on, a stop lets it finish and be reported.
        return await self.writes.past_no_return(
            f"/release publish of {request.package_id} {request.version}",
            self._release(request, actor, checked, changelog, released_by or echo(actor), announce),
        )

    async def _release(
        self,
        request: ReleaseRequest,
        actor: str,
        checked: Checked,
        changelog: Changelog,
        released_by: str,
        announce: Announcer | None,
    ) -> Published:
        outcome = WriteOutcome()
        try:
            result = await self._call(request, actor, dry_run=False, outcome=outcome)
        except ReleaseUncertain as error:
            outcome.uncertain.append(error.message)
            reply = Reply(
                title=f"{echo(request.package_id)} {echo(request.version, 40)} may have been released",
                description="\n".join([error.message, *error.details]),
                url=error.page,
                tone=Tone.WARNING,
                data={"request": request.payload(dry_run=False), "page": error.page, "uncertain": True},
            )
            return Published(_with_warnings(reply, outcome.warnings), None, released=None, warnings=outcome.warnings)
        outcome.written.append(f"{request.package_id} {request.version} on Foundry's package listing")
        reply = _summary(
            request,
            result,
            title=f"Released {echo(request.package_id)} {echo(request.version, 40)}",
            description="The new version is live on Foundry's package listing.",
        )
        _add_checks(reply, checked, changelog)
        embed = announcement(request, released_by, changelog)
        announced = None
        if announce is not None:
            before = len(outcome.warnings)
            await after_write(outcome, f"post the announcement {announce.where}", announce(embed))
            announced = len(outcome.warnings) == before
        return Published(
            _with_warnings(reply, outcome.warnings),
            embed,
            released=True,
            announced=announced,
            warnings=list(outcome.warnings),
        )

    async def _prepared(self, options: ReleaseOptions, actor: str) -> tuple[ReleaseRequest, Checked]:
        manifest = None
        if not options.package:  # the command line and the GitHub Action may leave it to the manifest
            manifest = await fetch_manifest(self.fetcher, options.manifest)
            package = _text(manifest.get("id"))
            if not package:
                raise PreflightFailed(
                    "The manifest has no id: give the package id (--package, or the action's package-id).", []
                )
            options = replace(options, package=package)
        self.token_for(options.package)  # say "no token" before fetching anything (else)
        until = await self.store.cooldown_until(options.package)
        if until is not None:
            error = CoolingDown(options.package, until)
            await self._log_options(options, actor, "cooldown", "not sent: waiting for Foundry's cooldown")
            raise error
        try:
            return await self.prepare(options, manifest=manifest)
        except PreflightFailed as error:
            await self._log_options(options, actor, "preflight-failed", str(error))
            raise


def _with_warnings(reply: Reply, warnings: list[str]) -> Reply:
    if warnings:
        reply.add_field("Warning", "\n".join(warnings)[:1000])
        reply.data["warnings"] = list(warnings)
    return reply


def _add_checks(reply: Reply, checked: Checked, changelog: Changelog) -> None:
    lines = [*checked.passed, *checked.notes]
    if lines:
        reply.add_field("Checked", "\n".join(lines)[:1000])
    reply.data["package_check"] = "passed" if checked.package_checked else "skipped"
    if changelog.text:
        reply.add_field("Changelog", f"From {changelog.source}; it goes in the announcement.")
    elif changelog.missing:
        reply.add_field("Changelog", changelog.missing[:1000])


def _text(value) -> str | None:
    if value is None or isinstance(value, (dict, list, bool)):
        return None
    return str(value).strip() or None


def _status_of(error: ReleaseError) -> int | None:
    if isinstance(error, ReleaseRejected):
        return 400
    if isinstance(error, ReleaseForbidden):
        return 403
    return getattr(error, "status", None)


def _compatibility(request: ReleaseRequest) -> str:
    text = f"minimum {request.minimum}, verified {request.verified}"
    return text + (f", maximum {request.maximum}" if request.maximum else "")


def _summary(request: ReleaseRequest, result: ReleaseResult, *, title: str, description: str) -> Reply:
    reply = Reply(
        title=title,
        description=description,
        url=result.page,
        tone=Tone.SUCCESS,
        data={
            "package": request.package_id,
            "version": request.version,
            "request": request.payload(dry_run=result.dry_run),
            "page": result.page,
            "message": result.message,
        },
    )
    reply.add_field("Version", echo(request.version, 60), inline=True)
    reply.add_field("Compatibility", echo(_compatibility(request), 200), inline=True)
    reply.add_field("Manifest", shown_url(request.manifest, 1000))
    if request.notes:
        reply.add_field("Notes", shown_url(request.notes, 1000))
    reply.add_field("Package page", result.page[:1000])
    return reply


def announcement(request: ReleaseRequest, released_by: str, changelog: Changelog | None = None) -> Reply:
    """The embed for ANNOUNCE_CHANNEL_ID. `released_by` is shown as given (a display name and a
    mention, which in an embed never pings); it must already be safe to post. The changelog, if any, is its
    description, clipped on a line boundary with a link to the full notes."""
    # The public package page: Foundry's answer links the maintainer's /edit/ page, useless to readers.
    page = public_page(request.package_id)
    reply = Reply(
        title=f"{echo(request.package_id)} {echo(request.version, 40)} released",
        url=page,
        tone=Tone.SUCCESS,
    )
    if changelog is not None and changelog.text:
        reply.description = clip_markdown(changelog.text, CHANGELOG_MAX_CHARS, shown_url(request.notes or page, 500))
    reply.add_field("Package", echo(request.package_id), inline=True)
    reply.add_field("Version", echo(request.version, 60), inline=True)
    reply.add_field("Compatibility", echo(_compatibility(request), 200), inline=True)
    if request.notes:
        reply.add_field("Release notes", shown_url(request.notes, 1000))
    reply.add_field("Package page", page[:1000])
    reply.add_field("Released by", released_by[:200])
    return reply
