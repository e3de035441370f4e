"""What /release dry-run and /release publish do, without Discord."""

from __future__ import annotations

import logging
import time
from dataclasses import asdict, dataclass
from urllib.parse import quote, urlsplit

import aiohttp
from pydantic import SecretStr

from core.errors import UserFacingError
from core.replies import Confirm, Decision, Reply, Tone
from core.settings import Settings
from core.textsafe import echo
from release import (
    PreflightFailed,
    ReleaseClient,
    ReleaseError,
    ReleaseForbidden,
    ReleaseRateLimited,
    ReleaseRejected,
    ReleaseRequest,
    ReleaseResult,
    check_manifest_url,
    fetch_manifest,
    preflight,
    request_from_manifest,
)
from storage import ReleaseStore, StorageError

log = logging.getLogger(__name__)

LOG_FAILED = "The release log could not be written (the bot's database failed); the error is in the bot's log."


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


@dataclass(frozen=True)
class ReleaseOptions:
    """What the maintainer typed; missing version/compatibility come from the manifest."""

    package: str
    manifest: str
    version: str | None = None
    minimum: str | None = None
    verified: str | None = None
    maximum: str | None = None
    notes: str | None = None


@dataclass(frozen=True)
class Published:
    reply: Reply
    # The embed for ANNOUNCE_CHANNEL_ID, when a real release went through.
    announcement: Reply | None


class ReleaseService:
    def __init__(
        self, *, settings: Settings, client: ReleaseClient, session: aiohttp.ClientSession, store: ReleaseStore
    ):
        self.settings = settings
        self.client = client
        self.session = session
        self.store = store

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

    async def prepare(self, options: ReleaseOptions) -> ReleaseRequest:
        """The full request, preflighted: every problem Foundry would not catch is raised together.

        The manifest is fetched once, whether it fills in the version and compatibility or not.
        """
        manifest = None
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
            problems = check_manifest_url(
                ReleaseRequest(options.package, options.version or "", options.manifest, "", "")
            )
            request = None
            unreachable = False  # only an unreachable manifest is worth retrying later (exit 75)
            if urlsplit(options.manifest).scheme in ("http", "https"):
                try:
                    manifest = await fetch_manifest(self.session, options.manifest)
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
        await preflight(self.session, request, manifest=manifest)
        return request

    async def _call(self, request: ReleaseRequest, actor: str, *, dry_run: bool) -> tuple[ReleaseResult, str | None]:
        """Foundry's answer, plus a warning when the bookkeeping after it failed.

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
            problems = [
                await self._safely(self.store.set_cooldown(request.package_id, until), "save the cooldown"),
                await self._safely(
                    self._log(request, actor, dry_run, "rate-limited", 429, error.message), "write the release log"
                ),
            ]
            cooling = CoolingDown(request.package_id, until)
            cooling.details = [p for p in problems if p]
            raise cooling from None
        except ReleaseError as error:
            status = "rejected" if isinstance(error, ReleaseRejected) else "failed"
            problem = await self._safely(
                self._log(request, actor, dry_run, status, _status_of(error), str(error)), "write the release log"
            )
            if problem:
                error.details = [*error.details, problem]
            raise
        problem = await self._safely(
            self._log(request, actor, dry_run, "success", 200, result.message or result.page), "write the release log"
        )
        return result, LOG_FAILED if problem else None

    @staticmethod
    async def _safely(write, what: str) -> str | None:
        """Run a bookkeeping write; on a database failure log it and return one line saying so."""
        try:
            await write
        except StorageError as error:
            log.error("Could not %s after Foundry answered: %s", what, error.message)
            return f"The bot could not {what} (its database failed); the error is in the bot's log."
        return None

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

    async def dry_run(self, options: ReleaseOptions, actor: str) -> Reply:
        request = await self._prepared(options, actor)
        result, problem = await self._call(request, actor, dry_run=True)
        reply = _summary(
            request,
            result,
            title=f"Dry run passed — {echo(request.package_id)} {echo(request.version, 40)}",
            description="Foundry accepted this release without saving it. Run /release publish to release it.",
        )
        return _with_warning(reply, problem)

    async def publish(
        self, options: ReleaseOptions, actor: str, confirm: Confirm, *, released_by: str | None = None
    ) -> Published:
        """Dry run, ask `confirm`, release. `released_by`: who the announcement names (default `actor`);
        the caller makes it safe to post (no mention may ping)."""
        request = await self._prepared(options, actor)
        checked, _ = await self._call(request, actor, dry_run=True)
        preview = _summary(
            request,
            checked,
            title=f"Release {echo(request.package_id)} {echo(request.version, 40)}?",
            description="The dry run passed. Confirm to publish this version on Foundry's package listing.",
        )
        decision = await confirm(preview)
        if decision is not Decision.CONFIRMED:
            text = {Decision.EXPIRED: "The confirmation expired", Decision.PREVIEWED: "Dry run only"}.get(
                decision, "Cancelled"
            )
            return Published(Reply(description=f"{text}; nothing was released.", tone=Tone.INFO), None)
        result, problem = await self._call(request, actor, dry_run=False)
        reply = _summary(
            request,
            result,
            title=f"Released {echo(request.package_id)} {echo(request.version, 40)}",
            description="The new version is live on Foundry's package listing.",
        )
        reply.tone = Tone.SUCCESS
        # Released is released: announced even when the log write failed.
        return Published(_with_warning(reply, problem), announcement(request, result, released_by or echo(actor)))

    async def _prepared(self, options: ReleaseOptions, actor: str) -> ReleaseRequest:
        self.token_for(options.package)  # say "no token" before fetching anything
        until = await self.store.cooldown_until(options.package)
        if until is not None:
            error = CoolingDown(options.package, until)
            await self._log_options(options, actor, "cooldown", "not sent: waiting for Foundry's cooldown")
            raise error
        try:
            return await self.prepare(options)
        except PreflightFailed as error:
            await self._log_options(options, actor, "preflight-failed", str(error))
            raise


def _with_warning(reply: Reply, problem: str | None) -> Reply:
    if problem:
        reply.add_field("Release log", problem)
        reply.data["log_failed"] = True
    return reply


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
        data={"request": request.payload(dry_run=result.dry_run), "page": result.page},
    )
    reply.add_field("Version", echo(request.version, 60), inline=True)
    reply.add_field("Compatibility", echo(_compatibility(request), 200), inline=True)
    reply.add_field("Manifest", request.manifest[:1000])
    if request.notes:
        reply.add_field("Notes", request.notes[:1000])
    reply.add_field("Package page", result.page[:1000])
    return reply


def announcement(request: ReleaseRequest, result: ReleaseResult, released_by: str) -> Reply:
    """The embed for ANNOUNCE_CHANNEL_ID. `released_by` is shown as given (a display name and a
    mention, which in an embed never pings); it must already be safe to post."""
    # The public package page: Foundry's answer links the maintainer's /edit/ page, useless to readers.
    page = public_page(request.package_id)
    reply = Reply(
        title=f"{echo(request.package_id)} {echo(request.version, 40)} released",
        url=page,
        tone=Tone.SUCCESS,
    )
    reply.add_field("Package", echo(request.package_id), inline=True)
    reply.add_field("Version", echo(request.version, 60), inline=True)
    reply.add_field("Compatibility", echo(_compatibility(request), 200), inline=True)
    if request.notes:
        reply.add_field("Release notes", request.notes[:1000])
    reply.add_field("Package page", page[:1000])
    reply.add_field("Released by", released_by[:200])
    return reply


def public_page(package_id: str) -> str:
    return f"https://foundryvtt.com/packages/{quote(package_id, safe='')}"
