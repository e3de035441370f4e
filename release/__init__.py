"""Foundry's Package Release API: the client, the checks before calling it, and token handling.

Plain async code over an injected aiohttp session; nothing here knows about Discord.
"""

from core.release_tokens import check_token, parse_release_tokens
from core.settings import DEFAULT_RELEASE_API_URL
from release.client import ReleaseClient
from release.errors import (
    PreflightFailed,
    ReleaseError,
    ReleaseForbidden,
    ReleaseRateLimited,
    ReleaseRejected,
    ReleaseTimeout,
    ReleaseUnavailable,
    ReleaseUnreachable,
)
from release.models import ReleaseRequest, ReleaseResult
from release.preflight import check_manifest, check_manifest_url, fetch_manifest, preflight, request_from_manifest

__all__ = [
    "DEFAULT_RELEASE_API_URL",
    "PreflightFailed",
    "ReleaseClient",
    "ReleaseError",
    "ReleaseForbidden",
    "ReleaseRateLimited",
    "ReleaseRejected",
    "ReleaseRequest",
    "ReleaseResult",
    "ReleaseTimeout",
    "ReleaseUnavailable",
    "ReleaseUnreachable",
    "check_manifest",
    "check_manifest_url",
    "check_token",
    "fetch_manifest",
    "parse_release_tokens",
    "preflight",
    "request_from_manifest",
]
