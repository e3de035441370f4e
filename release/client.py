"""One call to Foundry's Package Release API, every answer turned into a result or a ReleaseError."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from urllib.parse import urlsplit

import aiohttp
from pydantic import SecretStr

from core.errors import connection_reason
from core.settings import DEFAULT_RELEASE_API_URL
from release.errors import (
    ReleaseForbidden,
    ReleaseRateLimited,
    ReleaseRejected,
    ReleaseTimeout,
    ReleaseUnavailable,
    ReleaseUnreachable,
    short_text,
)
from release.models import ReleaseRequest, ReleaseResult

# foundryvtt.com, not api.foundryvtt.com: the latter saves the version without refreshing the listing.
DEFAULT_RETRY_AFTER = 60


class ReleaseClient:
    def __init__(self, session: aiohttp.ClientSession, url: str = DEFAULT_RELEASE_API_URL, *, timeout: float = 30.0):
        self.session = session
        self.url = url
        self.timeout = timeout

    async def release(self, request: ReleaseRequest, token: SecretStr, *, dry_run: bool) -> ReleaseResult:
        # The bare token, prefix included: Foundry does not accept "Bearer ".
        secret = token.get_secret_value()
        headers = {"Authorization": secret, "Accept": "application/json"}
        try:
            async with self.session.post(
                self.url,
                json=request.payload(dry_run=dry_run),
                headers=headers,
                timeout=aiohttp.ClientTimeout(total=self.timeout),
            ) as response:
                status = response.status
                retry_after = response.headers.get("Retry-After")
                body = (await response.read()).decode("utf-8", errors="replace")
        # aiohttp's timeouts are also ClientConnectionErrors, so they must be caught first.
        except TimeoutError:
            raise ReleaseTimeout(self.timeout, dry_run=dry_run) from None
        except aiohttp.ClientConnectionError as error:
            raise ReleaseUnreachable(urlsplit(self.url).netloc, connection_reason(error)) from None
        except aiohttp.ClientError as error:
            raise ReleaseUnavailable(None, connection_reason(error)) from None
        if secret:  # a debug or proxy page may echo our headers; excerpts of it end up in errors
            body = body.replace(secret, "[token]")
        return _interpret(request, dry_run, status, retry_after, body)


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
    except ValueError:
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
