"""A stand-in for the part of GitHub's REST API the announcements read: a release by its tag.

    async with StandInGitHub() as github:
        github.add_release("owner", "repo", "v1.2.0", body="## Fixed\\n- ...")
        ... ChangelogReader(..., api_base=github.base_url) ...
        github.requests     # (path, auth verdict, headers)

As GitHub answers (docs.github.com, "Get a release by tag name"; "Rate limits for the REST API"): 200 with the
release JSON (`body` may be null), 404 `{"message": "Not Found"}` for a missing tag or a draft, 401
`{"message": "Bad credentials"}` for a wrong token, and, once the unauthenticated budget is spent, 403 with
`x-ratelimit-remaining: 0` and `x-ratelimit-reset`. An authenticated request (the right token) is not limited.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from aiohttp import web


@dataclass
class GitHubRequest:
    path: str
    auth: str  # "missing", "token" (the right one), "wrong"
    headers: dict[str, str]


class StandInGitHub:
    def __init__(self, *, token: str | None = None):
        self.token = token
        self.releases: dict[tuple[str, str, str], dict] = {}
        self.requests: list[GitHubRequest] = []
        self.anonymous_budget: int | None = None  # None: unlimited
        self._runner: web.AppRunner | None = None
        self.base_url = ""

    async def start(self) -> str:
        app = web.Application()
        app.router.add_get("/repos/{owner}/{repo}/releases/tags/{tag:.+}", self._release)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.1)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.base_url = f"http://127.0.0.1:{self._runner.addresses[0][1]}"
        return self.base_url

    async def stop(self) -> None:
        if self._runner:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> StandInGitHub:
        await self.start()
        return self

    async def __aexit__(self, *exc) -> None:
        await self.stop()

    def add_release(self, owner: str, repo: str, tag: str, *, body: str | None, draft: bool = False) -> str:
        """Returns the release's page, as `notes` would name it."""
        page = f"https://github.com/{owner}/{repo}/releases/tag/{tag}"
        self.releases[(owner.lower(), repo.lower(), tag)] = {
            "url": f"https://api.github.com/repos/{owner}/{repo}/releases/1",
            "html_url": page,
            "id": 1,
            "tag_name": tag,
            "name": tag,
            "draft": draft,
            "prerelease": False,
            "body": body,
        }
        return page

    async def _release(self, request: web.Request) -> web.Response:
        authorization = request.headers.get("Authorization")
        if authorization is None:
            auth = "missing"
        elif self.token and authorization == f"Bearer {self.token}":
            auth = "token"
        else:
            auth = "wrong"
        headers = {k: v for k, v in request.headers.items() if k.lower() != "authorization"}
        self.requests.append(GitHubRequest(request.path, auth, headers))
        if auth == "wrong":
            return _message(401, "Bad credentials")
        if auth == "missing" and self.anonymous_budget is not None:
            if self.anonymous_budget <= 0:
                return web.json_response(
                    {
                        "message": "API rate limit exceeded for 127.0.0.1. (But here's the good news: Authenticated "
                        "requests get a higher rate limit. Check out the documentation for more details.)",
                        "documentation_url": "https://docs.github.com/rest/overview/rate-limits-for-the-rest-api",
                    },
                    status=403,
                    headers={
                        "x-ratelimit-limit": "60",
                        "x-ratelimit-remaining": "0",
                        "x-ratelimit-reset": str(int(time.time()) + 1800),
                    },
                )
            self.anonymous_budget -= 1
        key = (request.match_info["owner"].lower(), request.match_info["repo"].lower(), request.match_info["tag"])
        release = self.releases.get(key)
        if release is None or release["draft"]:
            return _message(404, "Not Found")
        return web.json_response(release)


def _message(status: int, message: str) -> web.Response:
    return web.json_response({"message": message, "documentation_url": "https://docs.github.com/rest"}, status=status)
