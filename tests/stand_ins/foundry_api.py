"""A stand-in for Foundry's Package Release API and for the host serving package manifests and zips.

It answers as /work/shared/docs/release-api.md says, on 127.0.0.1 (a free port):

    async with StandInFoundryAPI() as foundry:
        foundry.add_package("my-module", "fvttp_secret")
        url = foundry.serve_manifest("manifests/my-module/v1.2.0/module.json", {...})
        ... ReleaseClient(session, foundry.release_url) ...
        foundry.requests        # what the client sent (Authorization reduced to a verdict)
        foundry.published       # package id -> versions really released

A manifest served as a dict without a "download" comes with its package, as on a real release host: a zip
holding the same manifest at `<path>.zip`, its URL added as "download" (`package=False` serves it bare).
`serve_zip` serves any other zip (tests/stand_ins/package_zips.py), with or without Range support, the way
GitHub's release assets answer Range requests (206 and Content-Range; a suffix range for the end of a file).
`serve_redirect` answers a path with a 302, as GitHub's download URLs redirect to their storage host.

Choices where Foundry's behaviour is undocumented: a missing or unknown token gets 401 with a
small JSON body; the cooldown applies to real releases only and is checked before validation;
missing compatibility fields are reported under their own names ("minimum", "verified").
"""

from __future__ import annotations

import asyncio
import json
import math
import time
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from aiohttp import web

from tests.stand_ins.package_zips import ServedZip, build_zip

RELEASE_PATH = "/_api/packages/release_version/"
DRY_RUN_MESSAGE = "Dry run completed successfully. To save, submit the request again without dry-run"


def proxy_page(status: int, reason: str) -> str:
    """A long HTML error page like a reverse proxy's, to check clients don't dump it."""
    filler = "<p>" + "The web server reported a gateway error. " * 40 + "</p>"
    return (
        f"<!DOCTYPE html><html><head><title>foundryvtt.com | {status}: {reason}</title>"
        f"<style>body{{font-family:sans-serif}}</style></head>"
        f"<body><h1>Error {status}</h1><h2>{reason}</h2>{filler}<footer>cloudflare</footer></body></html>"
    )


@dataclass
class RecordedRequest:
    method: str
    path: str
    # Headers as received, except Authorization, whose value is replaced by `auth`.
    headers: dict[str, str]
    # "missing", "bearer" (a "Bearer ..." value), "unknown", or "token-of:<package id>" when the
    # header is exactly a registered token.
    auth: str
    body: object  # parsed JSON, or the raw text when it isn't JSON


@dataclass
class Fault:
    status: int | None = None  # None: answer normally (after `delay`)
    body: str = ""
    content_type: str = "text/html"
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0
    save: bool = False  # Foundry handles the request (a real release is saved), then this answer replaces its own
    drop: bool = False  # the connection is closed instead of answering
    hold: asyncio.Event | None = None  # answered only once the test sets it


@dataclass
class Manifest:
    body: str
    status: int = 200
    content_type: str = "application/json"
    delay: float = 0.0


class StandInFoundryAPI:
    def __init__(self, *, cooldown: float = 60.0, host: str = "127.0.0.1"):
        self.host = host
        self.cooldown = cooldown
        self.tokens: dict[str, str] = {}  # token -> package id
        self.published: dict[str, list[str]] = {}
        self.requests: list[RecordedRequest] = []
        self._last_release: dict[str, float] = {}
        self._faults: list[Fault] = []
        self._manifests: dict[str, Manifest] = {}
        self.zips: dict[str, ServedZip] = {}
        self._redirects: dict[str, tuple[int, str]] = {}
        self._stopping = asyncio.Event()
        self._runner: web.AppRunner | None = None
        self.base_url = ""

    # Life cycle
    async def start(self) -> str:
        app = web.Application()
        app.router.add_post(RELEASE_PATH, self._release)
        app.router.add_get("/{path:.*}", self._manifest)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.1)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, 0)
        await site.start()
        port = self._runner.addresses[0][1]
        self.base_url = f"http://{self.host}:{port}"
        return self.base_url

    async def stop(self) -> None:
        self._stopping.set()  # ends any injected delay at once
        if self._runner:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> StandInFoundryAPI:
        await self.start()
        return self

    async def __aexit__(self, *exc) -> None:
        await self.stop()

    @property
    def release_url(self) -> str:
        return self.base_url + RELEASE_PATH

    # Set-up
    def add_package(self, package_id: str, token: str, *, versions: tuple[str, ...] = ()) -> None:
        """Register a package, its release token and versions already published."""
        self.tokens[token] = package_id
        self.published.setdefault(package_id, []).extend(versions)

    def serve_manifest(
        self,
        path: str,
        content: dict | str,
        *,
        status: int = 200,
        content_type: str | None = None,
        delay: float = 0.0,
        package: bool = True,
    ) -> str:
        """Publish `content` (a dict is sent as JSON) at `path`; returns its full URL. A dict without "download"
        gets its package zip too (see the module's docstring), unless `package` is False."""
        if isinstance(content, dict) and package and "download" not in content:
            zip_path = "/" + path.lstrip("/") + ".zip"
            content = {**content, "download": self.serve_zip(zip_path, build_zip(content))}
        body = json.dumps(content) if isinstance(content, dict) else content
        if content_type is None:
            content_type = "application/json" if isinstance(content, dict) else "text/plain"
        path = "/" + path.lstrip("/")
        self._manifests[path] = Manifest(body, status, content_type, delay)
        return self.base_url + path

    def serve_zip(self, path: str, served: ServedZip) -> str:
        """Serve a zip (or anything else shaped as one) at `path`; returns its full URL."""
        path = "/" + path.lstrip("/")
        self.zips[path] = served
        return self.base_url + path

    def serve_redirect(self, path: str, target: str, *, status: int = 302) -> str:
        path = "/" + path.lstrip("/")
        self._redirects[path] = (status, target)
        return self.base_url + path

    def fail_next(
        self, status: int, body: str = "", *, content_type: str = "text/html", headers: dict | None = None
    ) -> None:
        """The next release call gets this answer instead of Foundry's (queued, one per call)."""
        self._faults.append(Fault(status, body, content_type, dict(headers or {})))

    def save_then_fail_next(self, status: int | None, body: str = "", *, drop: bool = False) -> None:
        """The next release call is handled (a real release is saved), then answered with `status` (a proxy's
        5xx), or with a dropped connection when `drop`: what a client sees when Foundry got the request."""
        self._faults.append(Fault(status, body, save=True, drop=drop))

    def hold_next(self) -> asyncio.Event:
        """The next release call is answered normally once the returned event is set (or the stand-in stops)."""
        release = asyncio.Event()
        self._faults.append(Fault(hold=release))
        return release

    def drop_next(self) -> None:
        """The next release call is read, then its connection closed without an answer (nothing saved)."""
        self._faults.append(Fault(drop=True))

    def fail_next_with_proxy_page(self, status: int, reason: str) -> None:
        self.fail_next(status, proxy_page(status, reason))

    def delay_next(self, seconds: float) -> None:
        """The next release call is answered normally, but only after `seconds`."""
        self._faults.append(Fault(delay=seconds))

    # Handlers
    async def _release(self, request: web.Request) -> web.StreamResponse:
        text = await request.text()
        try:
            body = json.loads(text)
        except ValueError:
            body = text
        self.requests.append(self._record(request, body))
        fault = self._faults.pop(0) if self._faults else Fault()
        if fault.delay:
            try:
                await asyncio.wait_for(self._stopping.wait(), fault.delay)
            except TimeoutError:
                pass
        if fault.hold is not None:
            stopping = asyncio.ensure_future(self._stopping.wait())
            held = asyncio.ensure_future(fault.hold.wait())
            await asyncio.wait({stopping, held}, return_when=asyncio.FIRST_COMPLETED)
            stopping.cancel()
            held.cancel()
        if fault.save:
            self._answer(request.headers.get("Authorization"), body)
        if fault.drop:
            request.transport.close()
            return web.Response(status=500)  # never reaches the client: its connection is gone
        if fault.status is not None:
            return web.Response(
                status=fault.status, text=fault.body, content_type=fault.content_type, headers=fault.headers
            )
        return self._answer(request.headers.get("Authorization"), body)

    def _answer(self, authorization: str | None, body) -> web.Response:
        owner = self.tokens.get(authorization or "")
        if owner is None:
            return web.json_response(
                {"status": "error", "message": "Invalid or missing package release token."}, status=401
            )
        if not isinstance(body, dict):
            return _invalid({"__all__": [_error("The request body must be a JSON object.", "invalid")]})
        package_id = body.get("id")
        if package_id != owner:
            return web.json_response(
                {"status": "error", "message": "You do not have permission to release this package."}, status=403
            )
        # Exactly the boolean true under the hyphenated key; "dryRun" is an unknown key, ignored.
        dry_run = body.get("dry-run") is True
        if not dry_run:
            remaining = self._last_release.get(package_id, -math.inf) + self.cooldown - time.monotonic()
            if remaining > 0:
                return web.Response(
                    status=429, text="Too Many Requests", headers={"Retry-After": str(math.ceil(remaining))}
                )
        errors = self._validate(package_id, body.get("release"))
        if errors:
            return _invalid(errors)
        page = f"https://foundryvtt.com/packages/{package_id}/edit/"
        if dry_run:
            return web.json_response({"status": "success", "page": page, "message": DRY_RUN_MESSAGE})
        self.published.setdefault(package_id, []).append(body["release"]["version"])
        self._last_release[package_id] = time.monotonic()
        return web.json_response({"status": "success", "page": page})

    def _validate(self, package_id: str, release) -> dict[str, list[dict]]:
        release = release if isinstance(release, dict) else {}
        compatibility = release.get("compatibility")
        compatibility = compatibility if isinstance(compatibility, dict) else {}
        errors: dict[str, list[dict]] = {}
        required = {
            "version": release.get("version"),
            "manifest": release.get("manifest"),
            "minimum": compatibility.get("minimum"),
            "verified": compatibility.get("verified"),
        }
        for name, value in required.items():
            if not value:
                errors[name] = [_error("This field is required.", "required")]
        for name in ("manifest", "notes"):
            value = release.get(name)
            if value and not _is_url(value):
                errors[name] = [_error("Enter a valid URL.", "invalid")]
        if not errors and release["version"] in self.published.get(package_id, []):
            errors["__all__"] = [
                _error("Package Version with this Package and Version Number already exists.", "unique_together")
            ]
        return errors

    async def _manifest(self, request: web.Request) -> web.StreamResponse:
        self.requests.append(self._record(request, None))
        if request.path in self._redirects:
            status, target = self._redirects[request.path]
            return web.Response(status=status, headers={"Location": target})
        if request.path in self.zips:
            return await self._zip(request, self.zips[request.path])
        manifest = self._manifests.get(request.path)
        if manifest is None:
            return web.Response(status=404, text=proxy_page(404, "Not Found"), content_type="text/html")
        if manifest.delay:
            try:
                await asyncio.wait_for(self._stopping.wait(), manifest.delay)
            except TimeoutError:
                pass
        return web.Response(status=manifest.status, text=manifest.body, content_type=manifest.content_type)

    async def _zip(self, request: web.Request, served: ServedZip) -> web.StreamResponse:
        wanted = _byte_range(request.headers.get("Range"), served.size) if served.ranges else None
        if wanted == "unsatisfiable":
            served.served.append("416")
            return web.Response(status=416, headers={"Content-Range": f"bytes */{served.size}"})
        if wanted is not None:
            start, end = wanted
            data = served.slice(start, end + 1)
            served.served.append(f"206 {start}-{end}")
            served.bytes_sent += len(data)
            return web.Response(
                status=206,
                body=data,
                content_type="application/zip",
                headers={"Content-Range": f"bytes {start}-{end}/{served.size}", "Accept-Ranges": "bytes"},
            )
        served.served.append("200")
        response = web.StreamResponse(status=200, headers={"Content-Type": "application/zip"})
        if served.content_length:
            response.content_length = served.size
        else:
            response.enable_chunked_encoding()
        await response.prepare(request)
        try:
            for chunk in served.chunks():
                await response.write(chunk)
                served.bytes_sent += len(chunk)
        except (ConnectionResetError, RuntimeError):  # the client stopped reading, as it should past its cap
            return response
        await response.write_eof()
        return response

    def _record(self, request: web.Request, body) -> RecordedRequest:
        authorization = request.headers.get("Authorization")
        if authorization is None:
            auth = "missing"
        elif authorization.lower().startswith("bearer"):
            auth = "bearer"
        elif authorization in self.tokens:
            auth = f"token-of:{self.tokens[authorization]}"
        else:
            auth = "unknown"
        headers = {k: v for k, v in request.headers.items() if k.lower() != "authorization"}
        return RecordedRequest(request.method, request.path, headers, auth, body)


def _byte_range(header: str | None, size: int):
    """(first, last) of a single "bytes=" range, "unsatisfiable", or None for no (or an unsupported) Range."""
    if not header or not header.startswith("bytes=") or "," in header:
        return None
    first, _, last = header[6:].strip().partition("-")
    if not first:  # a suffix: the last N bytes
        if not last.isdigit() or int(last) == 0:
            return "unsatisfiable"
        return max(0, size - int(last)), size - 1
    if not first.isdigit() or (last and not last.isdigit()):
        return None
    start = int(first)
    end = min(int(last), size - 1) if last else size - 1
    if start >= size or end < start:
        return "unsatisfiable"
    return start, end


def _error(message: str, code: str) -> dict:
    return {"message": message, "code": code}


def _invalid(errors: dict) -> web.Response:
    return web.json_response({"status": "error", "errors": errors}, status=400)


def _is_url(value) -> bool:
    if not isinstance(value, str):
        return False
    parts = urlsplit(value)
    return parts.scheme in ("http", "https") and bool(parts.netloc) and " " not in value
