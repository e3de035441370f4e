"""Foundry's Package Release API: the client, the checks before calling it (the manifest and the package zip),
the changelog for the announcement, token handling, and fetching user-given URLs safely.

Plain async code over injected aiohttp sessions; nothing here knows about Discord.
"""

from core.release_tokens import check_token, parse_release_tokens
from core.settings import DEFAULT_RELEASE_API_URL
from release.changelog import Changelog, ChangelogReader, clip_markdown, section_for
from release.client import ReleaseClient, public_page, release_api_url_problem
from release.errors import (
    PreflightFailed,
    ReleaseError,
    ReleaseForbidden,
    ReleaseMisdirected,
    ReleaseRateLimited,
    ReleaseRejected,
    ReleaseTimeout,
    ReleaseUnavailable,
    ReleaseUncertain,
    ReleaseUnreachable,
)
from release.models import ReleaseRequest, ReleaseResult
from release.network import AddressPolicy, Fetcher, guarded_session
from release.package import STREAM_MAX_BYTES, PackageCheck, PackageChecker
from release.preflight import (
    Checked,
    check_manifest,
    check_request,
    fetch_manifest,
    preflight,
    request_from_manifest,
)
from release.urls import points_at_latest, shown_url
from release.versions import compatibility_problems, is_newer

__all__ = [
    "DEFAULT_RELEASE_API_URL",
    "STREAM_MAX_BYTES",
    "AddressPolicy",
    "Changelog",
    "ChangelogReader",
    "Checked",
    "Fetcher",
    "PackageCheck",
    "PackageChecker",
    "PreflightFailed",
    "ReleaseClient",
    "ReleaseError",
    "ReleaseForbidden",
    "ReleaseMisdirected",
    "ReleaseRateLimited",
    "ReleaseRejected",
    "ReleaseRequest",
    "ReleaseResult",
    "ReleaseTimeout",
    "ReleaseUnavailable",
    "ReleaseUncertain",
    "ReleaseUnreachable",
    "check_manifest",
    "check_request",
    "check_token",
    "clip_markdown",
    "compatibility_problems",
    "fetch_manifest",
    "guarded_session",
    "is_newer",
    "parse_release_tokens",
    "points_at_latest",
    "preflight",
    "public_page",
    "release_api_url_problem",
    "request_from_manifest",
    "section_for",
    "shown_url",
]
