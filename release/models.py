"""The release a maintainer asks for, and what Foundry answered."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ReleaseRequest:
    package_id: str
    version: str
    manifest: str
    minimum: str
    verified: str
    maximum: str | None = None
    notes: str | None = None

    def payload(self, *, dry_run: bool) -> dict:
        """The JSON body Foundry expects. Optional fields are left out rather than sent empty."""
        compatibility = {"minimum": self.minimum, "verified": self.verified}
        if self.maximum:
            compatibility["maximum"] = self.maximum
        release = {"version": self.version, "manifest": self.manifest}
        if self.notes:
            release["notes"] = self.notes
        release["compatibility"] = compatibility
        body: dict = {"id": self.package_id}
        if dry_run:
            # The hyphen matters: Foundry ignores an unknown key like "dryRun" and saves the release.
            body["dry-run"] = True
        body["release"] = release
        return body


@dataclass(frozen=True)
class ReleaseResult:
    page: str
    message: str | None
    dry_run: bool
