"""The changelog of a release, for its announcement: read from where `notes` points, never blocking the release.

- A GitHub release page (`https://github.com/OWNER/REPO/releases/tag/TAG`): that release's body, through GitHub's
  REST API (`GET /repos/OWNER/REPO/releases/tags/TAG`), with `GITHUB_TOKEN` when set (60 requests an hour
  without one).
- A Markdown file (a `CHANGELOG.md` raw URL, or its github.com `blob` page): the section whose heading names the
  version.

Whatever fails (a rate limit, a missing tag, no such section) leaves the changelog out with one line saying
why; the release and its announcement go on. Every fetch obeys the network rules of release/network.py.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from urllib.parse import quote, unquote, urlsplit

from pydantic import SecretStr

from core.textsafe import echo
from release.network import Fetcher, FetchFailed

GITHUB_API = "https://api.github.com"
RELEASE_JSON_MAX_BYTES = 1_000_000  # GitHub caps a release body at 125,000 characters
MARKDOWN_MAX_BYTES = 2_000_000
_RELEASE_PAGE = re.compile(r"/([A-Za-z0-9_.-]+)/([A-Za-z0-9_.-]+)/releases/tag/([^/?#]+)/?")
_BLOB_PAGE = re.compile(r"/([A-Za-z0-9_.-]+)/([A-Za-z0-9_.-]+)/blob/(.+\.(?:md|markdown))")
_HEADING = re.compile(r"^(#{1,6})[ \t]+(.*?)[ \t#]*$")
_COMMENT = re.compile(r"<!--.*?-->", re.DOTALL)


@dataclass(frozen=True)
class Changelog:
    text: str | None  # Markdown, unclipped
    source: str | None  # where it came from, for the reply ("the GitHub release v1.2.0")
    missing: str | None  # why it was left out, when it was looked for


NONE = Changelog(None, None, None)


def version_pattern(version: str) -> re.Pattern:
    """The version as a word of a heading: "1.2.0", "v1.2.0", "[1.2.0]", never "1.2.0-beta" or "11.2.0"."""
    return re.compile(rf"(?<![\w.])v?{re.escape(version)}(?![\w]|\.\d|-\w)", re.IGNORECASE)


def section_for(markdown: str, version: str) -> str | None:
    """The section whose heading names `version`, without its heading, up to the next heading of its level."""
    lines = _COMMENT.sub("", markdown.replace("\r\n", "\n")).split("\n")
    wanted = version_pattern(version)
    start = level = None
    for index, line in enumerate(lines):
        heading = _HEADING.match(line)
        if not heading:
            continue
        depth = len(heading.group(1))
        if start is None:
            if wanted.search(heading.group(2)):
                start, level = index + 1, depth
        elif depth <= level:
            return "\n".join(lines[start:index]).strip() or None
    if start is None:
        return None
    return "\n".join(lines[start:]).strip() or None


class ChangelogReader:
    def __init__(
        self,
        fetcher: Fetcher,
        *,
        token: SecretStr | None = None,
        api_base: str | None = None,
        timeout: float = 10.0,
    ):
        self.fetcher = fetcher
        self.token = token
        self.api_base = (api_base or GITHUB_API).rstrip("/")
        self.timeout = timeout

    async def read(self, notes: str | None, version: str) -> Changelog:
        if not notes:
            return NONE
        parts = urlsplit(notes)
        host = (parts.hostname or "").lower()
        if parts.scheme == "https" and host == "github.com":
            page = _RELEASE_PAGE.fullmatch(parts.path)
            if page:
                return await self._github_release(*page.groups())
            blob = _BLOB_PAGE.fullmatch(parts.path)
            if blob:
                owner, repo, rest = blob.groups()
                raw = f"https://raw.githubusercontent.com/{owner}/{repo}/{rest}"
                return await self._markdown(raw, version)
        if parts.path.lower().endswith((".md", ".markdown")):
            return await self._markdown(notes, version)
        return NONE

    async def _github_release(self, owner: str, repo: str, tag: str) -> Changelog:
        tag = unquote(tag)
        source = f"the GitHub release {echo(tag, 60)}"
        url = f"{self.api_base}/repos/{owner}/{repo}/releases/tags/{quote(tag, safe='')}"
        headers = {"Accept": "application/vnd.github+json", "X-GitHub-Api-Version": "2022-11-28"}
        if self.token is not None:
            headers["Authorization"] = f"Bearer {self.token.get_secret_value()}"
        try:
            answer = await self.fetcher.get(url, limit=RELEASE_JSON_MAX_BYTES, timeout=self.timeout, headers=headers)
        except FetchFailed as failed:
            return _left_out(f"GitHub's API {failed.reason}")
        if answer.status in (403, 429) and answer.headers.get("x-ratelimit-remaining") == "0":
            hint = "" if self.token is not None else " (set GITHUB_TOKEN for a higher limit)"
            return _left_out(f"GitHub's API rate limit is used up{hint}")
        if answer.status == 401:
            return _left_out("GitHub refused GITHUB_TOKEN (Bad credentials)")
        if answer.status == 404:
            return _left_out(f"GitHub has no published release {echo(tag, 60)} in {echo(owner, 40)}/{echo(repo, 60)}")
        if answer.status != 200 or answer.over_limit:
            return _left_out(f"GitHub's API answered HTTP {answer.status}")
        try:
            release = json.loads(answer.body)
        except (ValueError, RecursionError):
            return _left_out("GitHub's API answered something that is not JSON")
        body = release.get("body") if isinstance(release, dict) else None
        if not isinstance(body, str) or not _COMMENT.sub("", body).strip():
            return _left_out(f"{source} has no description")
        return Changelog(_COMMENT.sub("", body.replace("\r\n", "\n")).strip(), source, None)

    async def _markdown(self, url: str, version: str) -> Changelog:
        name = echo(urlsplit(url).path.rsplit("/", 1)[-1] or "the notes file", 60)
        try:
            answer = await self.fetcher.get(url, limit=MARKDOWN_MAX_BYTES, timeout=self.timeout)
        except FetchFailed as failed:
            return _left_out(f"{name} {failed.reason}")
        if answer.status != 200:
            return _left_out(f"{name} answered HTTP {answer.status}")
        if answer.over_limit:
            return _left_out(f"{name} is larger than 2 MB")
        section = section_for(answer.body.decode("utf-8-sig", errors="replace"), version)
        if section is None:
            return _left_out(f"{name} has no section whose heading names version {echo(version, 40)}")
        return Changelog(section, f"{name}, section {echo(version, 40)}", None)


def _left_out(why: str) -> Changelog:
    return Changelog(None, None, f"The changelog was left out of the announcement: {why}.")


def clip_markdown(text: str, limit: int, link: str) -> str:
    """`text` within `limit` characters, cut at a line boundary, ending with "… full notes" linking `link` when cut.

    @everyone and @here are broken up as well: the announcement is sent with mentions disabled, and these
    must not even read as one."""
    text = text.replace("@everyone", "@\u200beveryone").replace("@here", "@\u200bhere")
    if len(text) <= limit:
        return text
    more = f"\n… [full notes]({link})"
    room = limit - len(more) - 4  # and a code fence, should the cut fall inside a code block
    kept: list[str] = []
    used = 0
    for line in text.split("\n"):
        if used + len(line) + 1 > room:
            break
        kept.append(line)
        used += len(line) + 1
    if not kept:  # one enormous first line: cut it at a word
        kept = [text[:room].rsplit(" ", 1)[0]]
    clipped = "\n".join(kept).rstrip()
    if clipped.count("```") % 2:  # cut inside a code block: close it, or the link would be shown as code
        clipped += "\n```"
    return clipped + more
