"""Checks Foundry's API does not make: the manifest a release points at, and the package zip behind it, must
describe that release.

Foundry accepts a "latest" manifest URL, a manifest of another version or another package, a zip built from
another commit; users then install the wrong build or see an endless update prompt. Every problem is
collected so the maintainer fixes them all in one go. Values read from a manifest are echoed escaped.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from core.textsafe import echo
from release.errors import PreflightFailed
from release.models import ReleaseRequest
from release.network import Fetcher, FetchFailed
from release.package import MANIFEST_NAMES, PackageCheck, PackageChecker
from release.urls import points_at_latest, shown_url
from release.versions import compatibility_problems

_COMPATIBILITY = ("minimum", "verified", "maximum")

MANIFEST_MAX_BYTES = 1_000_000  # a manifest is a few kilobytes; a bigger answer is not one
SKIPPED = (
    "Package check skipped (package_check: False, or --skip-package-check): the zip Foundry installs was not checked."
)


@dataclass
class Checked:
    """What the preflight found good, for the reply: one line per check passed, and notes."""

    manifest: dict
    passed: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    package_checked: bool = False


async def fetch_manifest(fetcher: Fetcher, url: str, *, timeout: float = 10.0) -> dict:
    """The manifest at `url` as a dict; PreflightFailed with one line saying why not. Reads at most
    1 MB, and never echoes a body back (it may be anyone's page): only its type and size."""
    try:
        answer = await fetcher.get(url, limit=MANIFEST_MAX_BYTES, timeout=timeout)
    except FetchFailed as failed:
        raise _unusable(url, failed.reason, temporary=failed.temporary) from None
    kind = echo(answer.content_type, 60)
    if answer.over_limit:
        raise _unusable(url, f"is larger than 1 MB ({kind}): it is not a manifest")
    if answer.status != 200:
        raise _unusable(url, f"answered HTTP {answer.status} ({kind}, {len(answer.body)} bytes)")
    try:
        manifest = json.loads(answer.body.decode("utf-8-sig", errors="replace"))
    except ValueError:
        raise _unusable(url, f"is not JSON (it is {kind}, {len(answer.body)} bytes)") from None
    except RecursionError:  # a hostile or broken document nested thousands deep
        raise _unusable(url, "is not JSON a manifest can be (nested too deeply)") from None
    if not isinstance(manifest, dict):
        raise _unusable(url, "is JSON but not an object")
    return manifest


def _unusable(url: str, why: str, *, temporary: bool = False) -> PreflightFailed:
    # An unreachable or silent host is worth retrying later (exit 75); a bad document is not.
    failed = PreflightFailed("The manifest could not be read.", [f"The manifest at {shown_url(url)} {why}."])
    failed.temporary = temporary
    return failed


def check_request(request: ReleaseRequest) -> list[str]:
    """What is wrong with the release itself: its manifest URL, and a compatibility range that contradicts itself."""
    problems = []
    if points_at_latest(request.manifest):
        # The version may not be known yet (it is read from the manifest when left out).
        which = f"version {echo(request.version, 40)}'s" if request.version else "this version's"
        problems.append(
            f"The manifest URL points at the latest release (a /latest/ URL); it must point at "
            f"{which} own manifest so users on older Foundry versions get the right build."
        )
    if urlsplit(request.manifest).scheme not in ("http", "https"):
        problems.append("The manifest URL must start with http:// or https://.")
    if request.minimum and request.verified:
        problems += compatibility_problems(request.minimum, request.verified, request.maximum)
    return problems


def check_manifest(request: ReleaseRequest, manifest: dict) -> list[str]:
    """One line per way the manifest contradicts the release."""
    problems = []
    manifest_id = _text(manifest.get("id"))
    if manifest_id != request.package_id:
        problems.append(
            f"The manifest is for {echo(manifest_id, 60)}, not {echo(request.package_id, 60)}."
            if manifest_id
            else f"The manifest has no id (expected {echo(request.package_id, 60)})."
        )
    manifest_version = _text(manifest.get("version"))
    if manifest_version is None:
        problems.append(f"The manifest has no version (expected {echo(request.version, 40)}).")
    elif manifest_version != request.version:
        problems.append(
            f"The manifest says version {echo(manifest_version, 40)}, but this release is {echo(request.version, 40)}: "
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
            problems.append(
                f"compatibility.{key} is {echo(in_request, 40)} for this release but {echo(in_manifest, 40)} "
                "in the manifest."
            )
    download = _text(manifest.get("download"))
    if download and points_at_latest(download):
        problems.append(
            "The manifest's download URL points at the latest release (a /latest/ URL); it must point at this "
            "version's zip, or users on older Foundry versions install the newest build."
        )
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
            f"The manifest of {echo(package_id)} lacks what the release needs.",
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


def _expected_manifest_name(manifest_url: str) -> str | None:
    name = urlsplit(manifest_url).path.rsplit("/", 1)[-1].lower()
    return name if name in MANIFEST_NAMES else None


async def preflight(
    fetcher: Fetcher,
    request: ReleaseRequest,
    *,
    timeout: float = 10.0,
    manifest: dict | None = None,
    package: PackageChecker | None = None,
) -> Checked:
    """Run every check; return what passed, or raise PreflightFailed listing every problem.

    `manifest`: the document at `request.manifest` when the caller has already fetched it (to read
    the version from it), so it is not fetched twice. `package`: the zip checker, None to skip that check
    (the reply then says it was skipped).
    """
    problems = check_request(request)
    checked = Checked(manifest=manifest or {})
    if manifest is None and urlsplit(request.manifest).scheme in ("http", "https"):
        try:
            manifest = await fetch_manifest(fetcher, request.manifest, timeout=timeout)
        except PreflightFailed as failed:
            problems += failed.details
    if manifest is not None:
        checked.manifest = manifest
        found = check_manifest(request, manifest)
        problems += found
        if not found:
            checked.passed.append("The manifest describes this release (id, version and compatibility).")
        if package is None:
            checked.notes.append(SKIPPED)
        else:
            result = await _check_package(package, request, manifest)
            problems += result.problems
            checked.notes += result.notes
            if result.passed:
                checked.passed.append(result.passed)
                checked.package_checked = True
    if problems:
        raise PreflightFailed(
            f"Version {echo(request.version, 40)} of {echo(request.package_id)} is not ready to release "
            f"({len(problems)} problem{'s' if len(problems) > 1 else ''}).",
            problems,
        )
    return checked


async def _check_package(package: PackageChecker, request: ReleaseRequest, manifest: dict) -> PackageCheck:
    download = _text(manifest.get("download"))
    if not download:
        return PackageCheck(
            problems=[
                "The manifest has no download URL, so Foundry has no zip to install: add it (a package without a "
                "zip is released with package_check: False, or --skip-package-check)."
            ]
        )
    return await package.check(request, download, expected=_expected_manifest_name(request.manifest))


def _text(value) -> str | None:
    """A manifest value as text; numbers are common (`"verified": 12`), blanks count as missing."""
    if value is None or isinstance(value, (dict, list, bool)):
        return None
    return str(value).strip() or None
