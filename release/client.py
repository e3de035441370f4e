"""One call to Foundry's Package Release API, every answer turned into a result or a ReleaseError.

Once the request may have reached Foundry, a real release that gets no clear answer (the connection dropped
after sending, a 5xx, a timeout) is `ReleaseUncertain`, never "could not reach": Foundry may have saved it.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from urllib.parse import quote, urlsplit

import aiohttp
from pydantic import SecretStr

from core.bodies import read_at_most
from core.errors import connection_reason
from core.settings import DEFAULT_RELEASE_API_URL
from release.errors import (
    ReleaseForbidden,
    ReleaseMisdirected,
    ReleaseRateLimited,
    ReleaseRejected,
    ReleaseTimeout,
    ReleaseUnavailable,
    ReleaseUncertain,
    ReleaseUnreachable,
    short_text,
)
from release.models import ReleaseRequest, ReleaseResult

RELEASE_API_HOST = "api.foundryvtt.com"
DEFAULT_RETRY_AFTER = 60
ANSWER_MAX_BYTES = 256 * 1024  # Foundry answers a few hundred bytes; a proxy's error page a few kilobytes
_REDIRECTS = (301, 302, 303, 307, 308)


def release_api_url_problem(url: str) -> str | None:
    """Why RELEASE_API_URL is probably not Foundry's endpoint (for the start-up warning and /status), else None."""
    parts = urlsplit(url)
    if parts.scheme == "https" and parts.hostname == RELEASE_API_HOST:
        return None
    return (
        f"RELEASE_API_URL is not an https:// URL on {RELEASE_API_HOST}: releases go to another address than "
        f"Foundry's ({DEFAULT_RELEASE_API_URL})."
    )


def public_page(package_id: str) -> str:
    """The package's page on foundryvtt.com, as its users know it."""
    return f"https://foundryvtt.com/packages/{quote(package_id, safe='')}"


class ReleaseClient:
    def __init__(self, session: aiohttp.ClientSession, url: str = DEFAULT_RELEASE_API_URL, *, timeout: float = 30.0):
        self.session = session
        self.url = url
        self.timeout = timeout

    async def release(self, request: ReleaseRequest, token: SecretStr, *, dry_run: bool) -> ReleaseResult:
        # The bare token, prefix included: Foundry does not accept "Bearer ".
        secret = token.get_secret_value()
        headers = {"Authorization": secret, "Accept": "application/json"}
        sent = False
        try:
            async with self.session.post(
                self.url,
                json=request.payload(dry_run=dry_run),
                headers=headers,
                # Never followed: a redirect turns the POST into a GET and would carry the token elsewhere.
                allow_redirects=False,
                timeout=aiohttp.ClientTimeout(total=self.timeout),
            ) as response:
                sent = True
                status = response.status
                retry_after = response.headers.get("Retry-After")
                location = response.headers.get("Location")
                raw, _ = await read_at_most(response, ANSWER_MAX_BYTES)
                body = raw.decode("utf-8", errors="replace")
        # Not connected: the request never left, so nothing can have been released.
        except (aiohttp.ConnectionTimeoutError, aiohttp.ClientConnectorError) as error:
            if isinstance(error, aiohttp.ConnectionTimeoutError):
                raise ReleaseTimeout(self.timeout) from None
            raise ReleaseUnreachable(urlsplit(self.url).netloc, connection_reason(error)) from None
        # Connected: from here on Foundry may have received the request. aiohttp's timeouts are also
        # ClientConnectionErrors, so they are caught first.
        except TimeoutError:
            if dry_run:
                raise ReleaseTimeout(self.timeout) from None
            raise self._uncertain(request, f"Foundry's release API did not answer within {self.timeout:g} s") from None
        except aiohttp.ClientError as error:
            what = "broke off its answer" if sent else "dropped the connection after the request was sent"
            if dry_run:
                raise ReleaseUnavailable(None, f"{what} ({connection_reason(error)})") from None
            raise self._uncertain(request, f"Foundry's release API {what}") from None
        if status in _REDIRECTS:
            target = urlsplit(location or "").hostname or urlsplit(self.url).hostname or "another address"
            raise ReleaseMisdirected(target, DEFAULT_RELEASE_API_URL)
        if secret:  # a debug or proxy page may echo our headers; excerpts of it end up in errors
            body = body.replace(secret, "[token]")
        if status >= 500 and not dry_run:
            raise self._uncertain(request, f"Foundry's release API answered {status}: {short_text(body).rstrip('.')}")
        return _interpret(request, dry_run, status, retry_after, body)

    @staticmethod
    def _uncertain(request: ReleaseRequest, cause: str) -> ReleaseUncertain:
        return ReleaseUncertain(request.package_id, request.version, public_page(request.package_id), cause)


def _interpret(
    request: ReleaseRequest, dry_run: bool, status: int, retry_after: str | None, body: str
) -> ReleaseResult:
    data = _json(body)
    if status == 200:
        if isinstance(data, dict) and data.get("status") == "success" and isinstance(data.get("page"), str):
            message = data.get("message")
            return ReleaseResult(
                page=data["page"], message=message if isinstance(message, str) else None, dry_run=dry_run
            )
        if not dry_run:  # a 200 was a success for Foundry, whatever the body says
            raise ReleaseUncertain(
                request.package_id,
                request.version,
                public_page(request.package_id),
                f"Foundry's release API answered 200 without its success report ({short_text(body).rstrip('.')})",
            )
        raise ReleaseUnavailable(status, f"not a success report ({short_text(body)})")
    if status == 400 and isinstance(data, dict) and "errors" in data:
        raise ReleaseRejected(request.package_id, request.version, _field_errors(data["errors"]))
    if status == 403:
        raise ReleaseForbidden(request.package_id)
    if status == 429:
        seconds = _retry_after_seconds(retry_after)
        retry_at = datetime.now(UTC) + timedelta(seconds=seconds)
        raise ReleaseRateLimited(request.package_id, seconds, retry_at)
    raise ReleaseUnavailable(status, _cause(data, body))


def _json(body: str):
    try:
        return json.loads(body)
    except (ValueError, RecursionError):
        return None


def _field_errors(errors) -> dict[str, list[dict]]:
    """Foundry's errors as {field: [{"message", "code"}]}, tolerating bare strings in place of dicts."""
    if not isinstance(errors, dict):
        return {"__all__": [{"message": short_text(str(errors)), "code": None}]}
    normalised: dict[str, list[dict]] = {}
    for field, items in errors.items():
        items = items if isinstance(items, list) else [items]
        normalised[str(field)] = [
            {"message": item.get("message"), "code": item.get("code")}
            if isinstance(item, dict)
            else {"message": str(item), "code": None}
            for item in items
        ]
    return normalised


def _retry_after_seconds(value: str | None) -> int:
    """Retry-After as delta-seconds or an HTTP date; Foundry's own cooldown when absent or garbled."""
    if not value:
        return DEFAULT_RETRY_AFTER
    value = value.strip()
    if value.isdigit():
        return max(1, int(value))
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return DEFAULT_RETRY_AFTER
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(1, round((when - datetime.now(UTC)).total_seconds()))


def _cause(data, body: str) -> str:
    """A short reason from a JSON error body ("message"/"detail"/"error"), else from its text."""
    if isinstance(data, dict):
        for key in ("message", "detail", "error"):
            if isinstance(data.get(key), str):
                return short_text(data[key])
    return short_text(body)
