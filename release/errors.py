"""What can go wrong when releasing a package, each said as one sentence a maintainer can act on.

No exception here ever holds a release token: they are built from the request, the answer's
status and a short excerpt of its body, never from the headers that were sent.
"""

from __future__ import annotations

import html
import re
from datetime import datetime

from core.errors import ConfigurationError, UserFacingError
from core.textsafe import echo

_TITLE = re.compile(r"<title[^>]*>(.*?)</title>", re.IGNORECASE | re.DOTALL)
_TAG = re.compile(r"<[^>]+>")
_BLOCK = re.compile(r"<(script|style)\b.*?</\1>", re.IGNORECASE | re.DOTALL)


def short_text(body: str, limit: int = 100) -> str:
    """A proxy page's <title>, or the first `limit` characters of a body's text, on one line."""
    title = _TITLE.search(body)
    text = title.group(1) if title else _TAG.sub(" ", _BLOCK.sub(" ", body))
    text = " ".join(html.unescape(text).split())
    if not text:
        return "empty answer"
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


class ReleaseError(UserFacingError):
    """Base of every release failure."""


class ReleaseRejected(ReleaseError):
    """400: Foundry validated the request and refused it; one detail line per error."""

    def __init__(self, package_id: str, version: str, field_errors: dict[str, list[dict]]):
        self.field_errors = field_errors
        self.already_published = any(e.get("code") == "unique_together" for e in field_errors.get("__all__", []))
        details: list[str] = []
        for field, errors in field_errors.items():
            for error in errors:
                if field == "__all__" and error.get("code") == "unique_together":
                    details.append(f"Version {version} of {package_id} is already published.")
                elif field == "__all__":
                    details.append(error.get("message") or "invalid request")
                else:
                    details.append(f"{field}: {error.get('message') or error.get('code') or 'invalid'}")
        super().__init__(f"Foundry rejected version {version} of {package_id}.", details=details)


class ReleaseForbidden(ReleaseError):
    """403: the token is valid but belongs to another package."""

    def __init__(self, package_id: str):
        self.package_id = package_id
        super().__init__(f"The release token used does not belong to {package_id}: check its entry in RELEASE_TOKENS.")


class ReleaseRateLimited(ReleaseError):
    """429: Foundry's per-package cooldown between releases."""

    temporary = True

    def __init__(self, package_id: str, retry_after: int, retry_at: datetime):
        self.package_id = package_id
        self.retry_after = retry_after
        self.retry_at = retry_at
        super().__init__(f"Foundry allows one release per package per minute; try again in {retry_after} s.")


class ReleaseUnavailable(ReleaseError):
    """Any undocumented answer: an unexpected status, or a body that is not Foundry's JSON."""

    def __init__(self, status: int | None, cause: str):
        self.status = status
        self.cause = cause
        if status is None:  # the connection broke mid-answer
            super().__init__(f"Foundry's release API sent a broken answer: {cause.rstrip('.')}.", temporary=True)
        else:
            super().__init__(f"Foundry's release API answered {status}: {cause.rstrip('.')}.", temporary=status >= 500)


class ReleaseTimeout(ReleaseError):
    """No answer in time, where nothing can have been saved (a dry run, or no connection made); a real release
    whose request was sent is `ReleaseUncertain` instead."""

    temporary = True

    def __init__(self, timeout: float):
        self.timeout = timeout
        super().__init__(f"Foundry's release API did not answer within {timeout:g} s.")


class ReleaseUnreachable(ReleaseError):
    temporary = True

    def __init__(self, host: str, reason: str):
        self.host = host
        self.reason = reason
        super().__init__(f"Could not reach Foundry's release API at {host}: {reason.rstrip('.')}.")


class ReleaseMisdirected(ReleaseError, ConfigurationError):
    """A redirect from RELEASE_API_URL: never followed (a 301/302 turns the POST into a GET, and the token would
    go to another address), so nothing was released."""

    def __init__(self, host: str, article_url: str):
        self.host = host
        super().__init__(
            f"RELEASE_API_URL answered with a redirect to {echo(host, 100)}; set it to the address in Foundry's article "
            f"({article_url}). Nothing was released."
        )


class ReleaseUncertain(ReleaseError):
    """A real release whose request was sent, with no answer saying what Foundry did (the connection dropped, a 5xx,
    a timeout). Foundry may have saved it: only the package page tells, and a blind retry would be refused as
    "already published" if it did."""

    uncertain = True

    def __init__(self, package_id: str, version: str, page: str, cause: str):
        self.package_id = package_id
        self.version = version
        self.page = page
        self.cause = cause
        super().__init__(
            f"Version {echo(version, 40)} of {echo(package_id)} may have been released: check the package page ({page}).",
            details=[
                f"{cause.rstrip('.')}.",
                "If the version is listed there, it is released; if it is not, release it again.",
            ],
        )


class PreflightFailed(ReleaseError):
    """The release or its manifest has problems Foundry would not catch; one detail line each."""

    def __init__(self, message: str, problems: list[str]):
        super().__init__(message, details=problems)
