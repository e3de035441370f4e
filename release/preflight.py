"""Checks Foundry's API does not make: the manifest a release points at must describe that release.

Foundry accepts a "latest" manifest URL, a manifest of another version or another package; users
then install the wrong build or see an endless update prompt. Every problem is collected so the
maintainer fixes them all in one go.
"""

from __future__ import annotations

import json
from urllib.parse import urlsplit

import aiohttp

from core.errors import connection_reason
from release.errors import PreflightFailed
from release.models import ReleaseRequest

_COMPATIBILITY = ("minimum", "verified", "maximum")


MANIFEST_MAX_BYTES = 1_000_000  # a manifest is a few kilobytes; a bigger answer is not one


async def fetch_manifest(session: aiohttp.ClientSession, url: str, *, timeout: float = 10.0) -> dict:
    """The manifest at `url` as a dict; PreflightFailed with one line saying why not. Reads at most
    1 MB, and never echoes a body back (it may be anyone's page): only its type and size."""
    try:
        async with session.get(url, timeout=aiohttp.ClientTimeout(total=timeout)) as response:
            status = response.status
            kind = response.content_type or "no content type"
            raw = await _read_at_most(response, MANIFEST_MAX_BYTES + 1)
            if len(raw) > MANIFEST_MAX_BYTES:
                raise _unusable(url, f"is larger than 1 MB ({kind}): it is not a manifest")
            body = raw.decode("utf-8-sig", errors="replace")
    except TimeoutError:
        raise _unusable(url, f"did not answer within {timeout:g} s", temporary=True) from None
    except aiohttp.ClientError as error:
        raise _unusable(url, f"could not be reached ({connection_reason(error)})", temporary=True) from None
    if status != 200:
        raise _unusable(url, f"answered HTTP {status} ({kind}, {len(raw)} bytes)")
    try:
        manifest = json.loads(body)
    except ValueError:
        raise _unusable(url, f"is not JSON (it is {kind}, {len(raw)} bytes)") from None
    except RecursionError:  # a hostile or broken document nested thousands deep
        raise _unusable(url, "is not JSON a manifest can be (nested too deeply)") from None
    if not isinstance(manifest, dict):
        raise _unusable(url, "is JSON but not an object")
    return manifest


async def _read_at_most(response: aiohttp.ClientResponse, limit: int) -> bytes:
    """Up to ``limit`` bytes of the body (``read(n)`` returns whatever has arrived, so loop)."""
    chunks: list[bytes] = []
    size = 0
    while size < limit:
        chunk = await response.content.read(limit - size)
        if not chunk:
            break
        chunks.append(chunk)
        size += len(chunk)
    return b"".join(chunks)


def _unusable(url: str, why: str, *, temporary: bool = False) -> PreflightFailed:
    # An unreachable or silent host is worth retrying later (exit 75); a bad document is not.
    failed = PreflightFailed("The manifest could not be read.", [f"The manifest at {url} {why}."])
    failed.temporary = temporary
    return failed


def check_manifest_url(request: ReleaseRequest) -> list[str]:
    problems = []
    if "/releases/latest/" in request.manifest:
        # The version may not be known yet (it is read from the manifest when left out).
        which = f"version {request.version}'s" if request.version else "this version's"
        problems.append(
            f"The manifest URL points at the latest release (/releases/latest/); it must point at "
            f"{which} own manifest so users on older Foundry versions get the right build."
        )
    if urlsplit(request.manifest).scheme not in ("http", "https"):
        problems.append("The manifest URL must start with http:// or https://.")
    return problems


def check_manifest(request: ReleaseRequest, manifest: dict) -> list[str]:
    """One line per way the manifest contradicts the release."""
    problems = []
    manifest_id = manifest.get("id")
    if manifest_id != request.package_id:
        problems.append(
            f"The manifest is for {manifest_id!r}, not {request.package_id}."
            if manifest_id
            else f"The manifest has no id (expected {request.package_id})."
        )
    manifest_version = _text(manifest.get("version"))
    if manifest_version is None:
        problems.append(f"The manifest has no version (expected {request.version}).")
    elif manifest_version != request.version:
        problems.append(
            f"The manifest says version {manifest_version}, but this release is {request.version}: "
            "users would be offered the update forever."
        )
    compatibility = manifest.get("compatibility")
    compatibility = compatibility if isinstance(compatibility, dict) else {}
    for key in _COMPATIBILITY:
        in_manifest = _text(compatibility.get(key))
        in_request = getattr(request, key)
        if in_manifest is None and key != "maximum":
            problems.append(f"The manifest has no compatibility.{key}.")
        elif in_manifest is not None and in_request and in_request != in_manifest:
            problems.append(f"compatibility.{key} is {in_request} for this release but {in_manifest} in the manifest.")
    return problems


def request_from_manifest(
    package_id: str,
    manifest_url: str,
    manifest: dict,
    *,
    version: str | None = None,
    minimum: str | None = None,
    verified: str | None = None,
    maximum: str | None = None,
    notes: str | None = None,
) -> ReleaseRequest:
    """A request whose missing version and compatibility come from the manifest."""
    compatibility = manifest.get("compatibility")
    compatibility = compatibility if isinstance(compatibility, dict) else {}
    version = version or _text(manifest.get("version"))
    minimum = minimum or _text(compatibility.get("minimum"))
    verified = verified or _text(compatibility.get("verified"))
    missing = [
        name for name, value in (("version", version), ("minimum", minimum), ("verified", verified)) if not value
    ]
    if missing:
        raise PreflightFailed(
            f"The manifest of {package_id} lacks what the release needs.",
            [f"Give {name} explicitly: the manifest has none." for name in missing],
        )
    return ReleaseRequest(
        package_id=package_id,
        version=version,
        manifest=manifest_url,
        minimum=minimum,
        verified=verified,
        maximum=maximum or _text(compatibility.get("maximum")),
        notes=notes,
    )


async def preflight(
    session: aiohttp.ClientSession, request: ReleaseRequest, *, timeout: float = 10.0, manifest: dict | None = None
) -> dict:
    """Run every check; return the manifest, or raise PreflightFailed listing every problem.

    `manifest`: the document at `request.manifest` when the caller has already fetched it (to read
    the version from it), so it is not fetched twice.
    """
    problems = check_manifest_url(request)
    if manifest is not None:
        problems += check_manifest(request, manifest)
    elif urlsplit(request.manifest).scheme in ("http", "https"):
        try:
            manifest = await fetch_manifest(session, request.manifest, timeout=timeout)
        except PreflightFailed as failed:
            problems += failed.details
        else:
            problems += check_manifest(request, manifest)
    if problems:
        raise PreflightFailed(
            f"Version {request.version} of {request.package_id} is not ready to release "
            f"({len(problems)} problem{'s' if len(problems) > 1 else ''}).",
            problems,
        )
    return manifest or {}


def _text(value) -> str | None:
    """A manifest value as text; numbers are common (`"verified": 12`), blanks count as missing."""
    if value is None or isinstance(value, (dict, list, bool)):
        return None
    return str(value).strip() or None
