"""Async client for the ThreeHats Foundry REST relay (see docs/relay.md in the shared docs).

Plain HTTP over an injected aiohttp session. The API key only ever goes into the ``x-api-key``
header; any relay text shown to a person is scrubbed of it first.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hashlib
import json
import logging
import re
from collections import defaultdict
from collections.abc import Callable
from typing import Any, TypeVar

import aiohttp
import orjson
from pydantic import SecretStr
from yarl import URL

from core.errors import ConfigurationError, connection_reason
from relay.errors import (
    CrossedReply,
    EntryNotFound,
    FileMissing,
    FileTooLarge,
    NotPermitted,
    NoWorldConnected,
    RelayAuthError,
    RelayBadResponse,
    RelayError,
    RelayModuleError,
    RelayRateLimited,
    RelayScopeError,
    RelayTimeout,
    RelayUnavailable,
    SeveralWorlds,
    UnknownFoundryUser,
    UnknownWorld,
)
from relay.models import (
    DownloadedFile,
    FolderDoc,
    FoundryUser,
    JournalEntry,
    RelayStatus,
    SearchHit,
    SearchResult,
    StructureReply,
    World,
)
from relay.pacing import Pacer

log = logging.getLogger(__name__)

T = TypeVar("T")

SEARCH_CAP = 500  # the relay's hard cap on /search results; it has no paging
_START_GAP = 0.002  # the relay ids requests by <type>_<unix ms>; two starts in one ms get crossed
_TEXT_LIMIT = 200
_SCOPE_RE = re.compile(r"lacks required scope:\s*(\S+)")
_NOT_PERMITTED_RE = re.compile(r"^User '.*' does not have permission to view", re.S)
_UNKNOWN_USER = "User not found: "
_NOT_JSON = object()
# The relay waits 45 s for Foundry's browser to send a file, then the bytes still have to reach us.
DOWNLOAD_TIMEOUT = 50.0
_FILENAME_RE = re.compile(r'filename="([^"]*)"')
# Replies of these routes carry nothing to check them by (relay.md, "Concurrency hazard"): one at a time each.
_ONE_AT_A_TIME = ("/search", "/structure", "/get-folder", "/create")
_REQUEST_ID = re.compile(rb'"requestId"\s*:\s*"[^"]*"')


def loads(raw: bytes) -> Any:
    """JSON from the relay: orjson (several times faster on big replies), json for what orjson refuses
    (lone surrogates, which Foundry text can hold)."""
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError:
        return json.loads(raw)


class _StartSpacer:
    """Spaces the *starts* of same-route requests; requests still overlap in flight."""

    def __init__(self, gap: float):
        self._gap = gap
        self._locks: defaultdict[str, asyncio.Lock] = defaultdict(asyncio.Lock)
        self._last: dict[str, float] = {}

    async def wait(self, route: str) -> None:
        loop = asyncio.get_running_loop()
        async with self._locks[route]:
            delay = self._last.get(route, float("-inf")) + self._gap - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
            self._last[route] = loop.time()


class RelayClient:
    def __init__(
        self,
        session: aiohttp.ClientSession,
        base_url: str,
        api_key: SecretStr,
        *,
        timeout: float = 15.0,
        pacer: Pacer | None = None,
    ):
        if not base_url.startswith(("http://", "https://")):
            raise ConfigurationError("RELAY_URL must start with http:// or https://; fix it in the settings.")
        self._session = session
        self._base = base_url.rstrip("/")
        self._shown_base = str(URL(self._base).with_user(None))  # never show credentials embedded in the URL
        self._key = api_key
        self._timeout = timeout
        self._spacer = _StartSpacer(_START_GAP)
        # A /download reply names only the file's base name: two in flight could be crossed unnoticed (relay.md).
        self._download_lock = asyncio.Lock()
        self._exclusive = {route: asyncio.Lock() for route in _ONE_AT_A_TIME}
        # The relay's 300 requests/minute bucket, kept on our side: every keyed request takes a token.
        self.pacer = pacer or Pacer()

    def __repr__(self) -> str:
        return f"RelayClient({self._shown_base!r})"

    # --- public API -----------------------------------------------------------------------------

    async def get_entry(self, uuid: str, *, client_id: str | None = None, user_id: str | None = None) -> JournalEntry:
        """The entry; with ``user_id`` as that Foundry user sees it (LIMITED: name and image only;
        NONE: NotPermitted). Pages are never filtered by the module: that is the caller's job."""

        def parse(body: dict) -> JournalEntry:
            self._check_uuid(uuid, body.get("uuid"))
            data = body.get("data")
            if user_id is not None and isinstance(data, dict) and "_id" not in data:
                return JournalEntry.from_limited(uuid, data)
            return JournalEntry.from_doc(uuid, data)

        params = {"uuid": uuid, **({"userId": user_id} if user_id is not None else {})}
        return await self._call("GET", "/get", parse, params=params, client_id=client_id, uuid=uuid, read=True)

    async def list_players(self, *, client_id: str | None = None) -> list[FoundryUser]:
        """The world's Foundry users (asked with GM rights: a player's view of /players is empty)."""

        def parse(body: dict) -> list[FoundryUser]:
            users = body.get("users")
            if not isinstance(users, list):
                raise ValueError("'users' is not a list")
            return [FoundryUser.from_reply(u) for u in users]

        return await self._call("GET", "/players", parse, client_id=client_id, read=True)

    async def folder_document(self, folder_id: str, *, client_id: str | None = None) -> FolderDoc:
        """The Folder document behind an id (``/get?uuid=Folder.<id>``): its name, type and parent."""
        uuid = f"Folder.{folder_id}"

        def parse(body: dict) -> FolderDoc:
            self._check_uuid(uuid, body.get("uuid"))
            return FolderDoc.from_doc(body.get("data"))

        return await self._call("GET", "/get", parse, params={"uuid": uuid}, client_id=client_id, uuid=uuid, read=True)

    async def update_entry(self, uuid: str, diff: dict, *, client_id: str | None = None) -> JournalEntry:
        def parse(body: dict) -> JournalEntry:
            self._check_uuid(uuid, body.get("uuid"))
            entity = body.get("entity")
            if not isinstance(entity, list) or not entity:
                raise ValueError("'entity' is not a non-empty list")
            return JournalEntry.from_doc(uuid, entity[0])

        return await self._call(
            "PUT",
            "/update",
            parse,
            params={"uuid": uuid},
            payload={"data": diff},
            client_id=client_id,
            uuid=uuid,
            read=False,
        )

    async def create_entry(
        self, name: str, data: dict, *, client_id: str | None = None, folder: str | None = None
    ) -> JournalEntry:
        payload: dict[str, Any] = {"entityType": "JournalEntry", "data": {"name": name, **data}}
        if folder is not None:
            payload["folder"] = folder

        def parse(body: dict) -> JournalEntry:
            new_uuid = body.get("uuid")
            if not isinstance(new_uuid, str):
                raise ValueError("'uuid' is missing")
            return JournalEntry.from_doc(new_uuid, body.get("entity"))

        return await self._call("POST", "/create", parse, payload=payload, client_id=client_id, read=False)

    async def search_journal_entries(
        self,
        *,
        client_id: str | None = None,
        folder_id: str | None = None,
        limit: int = SEARCH_CAP,
        query: str | None = None,
    ) -> SearchResult:
        if limit < 1:
            raise ValueError("limit must be at least 1")
        limit = min(limit, SEARCH_CAP)
        search_filter = "documentType:JournalEntry" + (f",folder:{folder_id}" if folder_id else "")
        # Not minified: the minified form drops each hit's folder.
        params = {"filter": search_filter, "excludeCompendiums": "true", "limit": str(limit)}
        if query is not None:  # matched by the module as a case-insensitive substring of the name
            params["query"] = query

        def parse(body: dict) -> SearchResult:
            results = body.get("results")
            if not isinstance(results, list):
                raise ValueError("'results' is not a list")
            hits = [SearchHit.from_result(r) for r in results]
            return SearchResult(hits=hits, capped=len(hits) >= limit)

        return await self._call("GET", "/search", parse, params=params, client_id=client_id, read=True)

    async def list_worlds(self) -> list[World]:
        def parse(body: dict) -> list[World]:
            clients = body.get("clients")
            if not isinstance(clients, list):
                raise ValueError("'clients' is not a list")
            return [World.from_client(c) for c in clients]

        return await self._call("GET", "/clients", parse, read=True)

    async def status(self) -> RelayStatus:
        def parse(body: dict) -> RelayStatus:
            version = body.get("version")
            if not isinstance(version, str):
                raise ValueError("'version' is missing")
            return RelayStatus(version=version)

        return await self._call("GET", "/api/status", parse, read=True, auth=False)

    async def structure(
        self,
        *,
        client_id: str | None = None,
        path: str | None = None,
        recursive_depth: int | None = None,
        user_id: str | None = None,
    ) -> dict:
        """The parsed ``data`` of a /structure reply (see ``structure_reply`` for big worlds)."""
        reply = await self.structure_reply(
            client_id=client_id, path=path, recursive_depth=recursive_depth, user_id=user_id
        )
        data = loads(reply.raw).get("data")
        if not isinstance(data, dict):
            raise RelayBadResponse("/structure", 200, "'data' is not an object")
        return data

    async def structure_reply(
        self,
        *,
        client_id: str | None = None,
        path: str | None = None,
        recursive_depth: int | None = None,
        user_id: str | None = None,
    ) -> StructureReply:
        """A /structure reply left as the relay's bytes, with a digest of everything but its request id:
        a large world's tree is megabytes, and an unchanged one need not be parsed at all. The caller
        parses ``raw`` (its ``data`` object) where it suits it."""
        params = {"types": "JournalEntry", "recursive": "true"}
        if user_id is not None:  # as that user: NONE entries omitted, LIMITED ones trimmed
            params["userId"] = user_id
        if path is not None:
            params["path"] = path
        if recursive_depth is not None:
            params["recursiveDepth"] = str(recursive_depth)

        def parse(raw: bytes) -> StructureReply:
            if not bytes(raw[:64]).lstrip().startswith(b"{") or b'"data"' not in raw:
                raise ValueError("'data' is missing")
            return StructureReply(raw=raw, digest=_digest(raw))

        return await self._call(
            "GET", "/structure", parse, params=params, client_id=client_id, read=True, raw_success=True
        )

    async def get_folder(self, name: str, *, client_id: str | None = None) -> dict:
        """The **first** folder of any type named exactly ``name``, with its direct contents (raw ``data``).

        An unknown name is a module failure (RelayModuleError "Folder not found: ...")."""

        def parse(body: dict) -> dict:
            data = body.get("data")
            if not isinstance(data, dict):
                raise ValueError("'data' is not an object")
            return data

        return await self._call("GET", "/get-folder", parse, params={"name": name}, client_id=client_id, read=True)

    async def download_file(
        self,
        path: str,
        *,
        client_id: str | None = None,
        max_bytes: int | None = None,
        timeout: float = DOWNLOAD_TIMEOUT,
    ) -> DownloadedFile:
        """A file from Foundry's server (scope ``file:read``): raw bytes and their Content-Type.

        Never retried: the module pulls the whole file through the GM's browser each time. One at a time (the
        time spent waiting for the one before counts in ``timeout``). A missing file is FileMissing; a file over
        ``max_bytes`` is FileTooLarge (not read past the limit)."""
        query = {"path": path}
        if client_id:
            query["clientId"] = client_id
        await self.pacer.take()
        try:
            async with asyncio.timeout(timeout), self._download_lock:
                status, content_type, raw, disposition = await self._receive("/download", query, path, max_bytes)
        except TimeoutError:
            raise RelayTimeout(seconds=timeout) from None
        if status == 200 and content_type != "application/json":
            filename = _filename(disposition)
            asked = path.rsplit("/", 1)[-1]
            # The header carries the name's raw bytes: compare only plain ASCII names (the lock covers the rest).
            if filename is not None and asked and filename.isascii() and asked.isascii() and filename != asked:
                raise CrossedReply(path, filename)
            return DownloadedFile(path, raw, content_type or "application/octet-stream", filename)
        try:
            body = json.loads(raw)
        except ValueError:
            body = _NOT_JSON
        if (
            status == 400
            and isinstance(body, dict)
            and str(body.get("error", "")).startswith("Failed to download file: 404")
        ):
            raise FileMissing(path)

        def parse(reply: dict) -> DownloadedFile:
            # The relay answers JSON instead of bytes when it cannot decode the module's data URL (an empty file).
            return _file_from_data_url(path, reply, max_bytes)

        return self._interpret("/download", status, body, parse, uuid=None, client_id=client_id)

    # --- plumbing -------------------------------------------------------------------------------

    async def _call(
        self,
        method: str,
        route: str,
        parse: Callable[[dict], T],
        *,
        params: dict | None = None,
        payload: dict | None = None,
        client_id: str | None = None,
        uuid: str | None = None,
        read: bool,
        auth: bool = True,
        raw_success: bool = False,
    ) -> T:
        query = dict(params or {})
        if client_id:
            query["clientId"] = client_id
        # Reads get one retry for faults a second try usually clears; writes never (it might apply twice).
        attempts = 2 if read else 1
        # The relay's rate limit is per key (unkeyed health checks don't count). The first token is
        # taken before our deadline starts: waiting our turn is not the relay being slow.
        exclusive = self._exclusive.get(route)
        if exclusive is not None:
            async with exclusive:
                return await self._attempts(
                    method, route, parse, query, payload, client_id, uuid, attempts, auth, raw_success
                )
        return await self._attempts(method, route, parse, query, payload, client_id, uuid, attempts, auth, raw_success)

    async def _attempts(
        self,
        method: str,
        route: str,
        parse: Callable[[Any], T],
        query: dict,
        payload: dict | None,
        client_id: str | None,
        uuid: str | None,
        attempts: int,
        auth: bool,
        raw_success: bool,
    ) -> T:
        if auth:
            await self.pacer.take()
        try:
            async with asyncio.timeout(self._timeout):
                for attempt in range(1, attempts + 1):
                    if attempt > 1 and auth:
                        await self.pacer.take()
                    try:
                        status, raw = await self._send(method, route, query, payload, auth)
                        if raw_success and 200 <= status < 300:
                            try:
                                return parse(raw)
                            except ValueError as exc:
                                raise RelayBadResponse(route, status, self._scrub(str(exc))) from None
                        body = _parse_body(raw)
                        if status == 429 and auth:
                            self.pacer.drain()  # someone else spent the key's bucket: pace from empty
                        return self._interpret(route, status, body, parse, uuid=uuid, client_id=client_id)
                    except (RelayTimeout, CrossedReply) as exc:
                        if attempt == attempts or not _retryable(exc):
                            raise
                        log.info("Retrying %s %s after: %s", method, route, exc.message)
        except TimeoutError:
            raise RelayTimeout(seconds=self._timeout) from None

    async def _send(self, method: str, route: str, query: dict, payload: dict | None, auth: bool) -> tuple[int, bytes]:
        headers = {"x-api-key": self._key.get_secret_value()} if auth else {}
        await self._spacer.wait(route)
        try:
            async with self._session.request(
                method, self._base + route, params=query, json=payload, headers=headers, raise_for_status=False
            ) as resp:
                raw = await _read_body(resp)
                status = resp.status
        except TimeoutError:  # the session's own timeout, if it has a shorter one than ours
            raise RelayTimeout(seconds=self._timeout) from None
        except aiohttp.ClientError as exc:
            raise RelayUnavailable(
                f"Couldn't reach the relay at {self._shown_base} ({connection_reason(exc)})"
            ) from None
        log.debug("%s %s -> %s", method, route, status)
        return status, raw

    async def _receive(
        self, route: str, query: dict, path: str, max_bytes: int | None
    ) -> tuple[int, str, bytes, str | None]:
        """GET a route whose success body is bytes: (status, content type, body, Content-Disposition)."""
        headers = {"x-api-key": self._key.get_secret_value()}
        await self._spacer.wait(route)
        try:
            async with self._session.get(
                self._base + route, params=query, headers=headers, raise_for_status=False
            ) as resp:
                if max_bytes is not None and resp.status == 200 and (resp.content_length or 0) > max_bytes:
                    raise FileTooLarge(path, max_bytes)
                chunks: list[bytes] = []
                size = 0
                async for chunk in resp.content.iter_chunked(1 << 16):
                    size += len(chunk)
                    if max_bytes is not None and size > max_bytes:
                        raise FileTooLarge(path, max_bytes)
                    chunks.append(chunk)
                log.debug("GET %s -> %s (%d bytes)", route, resp.status, size)
                return resp.status, resp.content_type, b"".join(chunks), resp.headers.get("Content-Disposition")
        except TimeoutError:
            raise RelayTimeout(seconds=self._timeout) from None
        except aiohttp.ClientError as exc:
            raise RelayUnavailable(
                f"Couldn't reach the relay at {self._shown_base}", details=[self._scrub(str(exc) or type(exc).__name__)]
            ) from None

    def _interpret(
        self, route: str, status: int, body: Any, parse: Callable[[dict], T], *, uuid: str | None, client_id: str | None
    ) -> T:
        # Status decides first for the faults whose body (often a proxy's HTML page) doesn't matter.
        if status in (408, 504):
            raise RelayTimeout(status=status)
        if status == 429:
            raise RelayRateLimited(self._error_text(body))
        if status >= 500:
            text = self._error_text(body)
            raise RelayUnavailable(f"The relay failed (HTTP {status}{': ' + text if text else ''})", status=status)
        if body is _NOT_JSON:
            raise RelayBadResponse(route, status, "The body is empty or not JSON.")
        if not isinstance(body, dict):
            raise RelayBadResponse(route, status, f"The body is a JSON {type(body).__name__}, not an object.")
        if 200 <= status < 300:
            try:
                return parse(body)
            except ValueError as exc:
                raise RelayBadResponse(route, status, self._scrub(str(exc))) from None
        raise self._error_for(route, status, body, uuid=uuid, client_id=client_id)

    def _error_for(self, route: str, status: int, body: dict, *, uuid: str | None, client_id: str | None) -> RelayError:
        text = self._error_text(body)
        error = body.get("error") if isinstance(body.get("error"), str) else ""
        if not text:
            return RelayBadResponse(route, status, "The error reply has no 'error' text.")
        if status == 401:
            return RelayAuthError(text)
        if status == 403:
            scope = _SCOPE_RE.search(text)
            return RelayScopeError(scope.group(1)) if scope else RelayAuthError(text, status=403)
        if status == 404 and error.startswith("No connected Foundry clients"):
            return NoWorldConnected()
        if status == 404 and error.startswith("Invalid client ID"):
            return UnknownWorld(client_id)
        if status == 400:
            if error.startswith(_UNKNOWN_USER):
                return UnknownFoundryUser(self._scrub(error.removeprefix(_UNKNOWN_USER)))
            if uuid is not None and _NOT_PERMITTED_RE.match(error):
                return NotPermitted(uuid)
            if error.startswith("Multiple clients connected"):
                worlds = body.get("connectedClients")
                return SeveralWorlds(worlds if isinstance(worlds, list) else [])
            if uuid is not None and _is_missing_entry(body):
                return EntryNotFound(uuid)
            return RelayModuleError(text)
        # An unknown 404 or an odd status usually means RELAY_URL points somewhere else.
        return RelayBadResponse(route, status, f"Error text: {text}")

    def _error_text(self, body: Any) -> str:
        """The relay's error sentence (plus the module's 'message' when it adds one), trimmed and scrubbed."""
        if not isinstance(body, dict):
            return ""
        parts = [body[k] for k in ("message", "error") if isinstance(body.get(k), str) and body[k]]
        return self._scrub(": ".join(parts))

    def _scrub(self, text: str) -> str:
        secret = self._key.get_secret_value()
        if secret:
            text = text.replace(secret, "[redacted]")
        text = " ".join(text.split())
        return text if len(text) <= _TEXT_LIMIT else text[: _TEXT_LIMIT - 1] + "…"

    @staticmethod
    def _check_uuid(asked: str, got: Any) -> None:
        if not isinstance(got, str):
            raise ValueError("'uuid' is missing")
        if got != asked:
            raise CrossedReply(asked, got)


async def _read_body(resp: aiohttp.ClientResponse) -> bytes:
    """The body, grown in one buffer as it arrives: ``resp.read()`` keeps every chunk and then joins
    them, twice the memory of a multi-megabyte /structure reply at its peak."""
    body = bytearray()
    async for chunk in resp.content.iter_any():
        body += chunk
    return bytes(body) if len(body) < 65_536 else body  # type: ignore[return-value]  # big: no extra copy


def _digest(raw: bytes) -> str:
    """Of the whole reply but its request id (which changes every time); no copy of the body is made."""
    digest = hashlib.blake2b(digest_size=16)
    view = memoryview(raw)
    # The module puts requestId beside `type` at the start; a relay may append it: look only there.
    found = _REQUEST_ID.search(raw, 0, 512) or _REQUEST_ID.search(raw, max(0, len(raw) - 512))
    if found is None:
        digest.update(view)
    else:
        digest.update(view[: found.start()])
        digest.update(view[found.end() :])
    return digest.hexdigest()


def _parse_body(raw: bytes) -> Any:
    try:
        return loads(raw)
    except ValueError:  # includes UnicodeDecodeError and an empty body
        return _NOT_JSON


def _retryable(exc: RelayError) -> bool:
    # A relay 408/504 or a crossed reply; our own deadline has already been spent, so not that.
    return isinstance(exc, CrossedReply) or exc.status in (408, 504)


def _is_missing_entry(body: dict) -> bool:
    error = body.get("error")
    if error == "Entity not found":
        return True
    # Updating an unknown uuid crashes inside the module rather than saying "not found".
    return isinstance(error, str) and "reading 'uuid'" in error and body.get("message") == "Failed to update entity"


def _filename(disposition: str | None) -> str | None:
    found = _FILENAME_RE.search(disposition or "")
    return found.group(1) if found and found.group(1) else None


def _file_from_data_url(path: str, body: dict, max_bytes: int | None) -> DownloadedFile:
    """The ``format=base64`` form: ``{fileData: "data:<mime>;base64,...", filename, mimeType}``."""
    data_url = body.get("fileData")
    if not isinstance(data_url, str) or not data_url.startswith("data:"):
        raise ValueError("'fileData' is not a data URL")
    header, _, encoded = data_url.partition(",")
    if max_bytes is not None and len(encoded) * 3 // 4 > max_bytes:
        raise FileTooLarge(path, max_bytes)
    try:
        data = base64.b64decode(encoded, validate=True)
    except (binascii.Error, ValueError):
        raise ValueError("'fileData' is not valid base64") from None
    mime = body.get("mimeType") if isinstance(body.get("mimeType"), str) and body.get("mimeType") else None
    mime = mime or header.removeprefix("data:").split(";", 1)[0] or "application/octet-stream"
    filename = body.get("filename") if isinstance(body.get("filename"), str) else None
    if isinstance(body.get("path"), str) and path and body["path"] != path:
        raise CrossedReply(path, body["path"])
    return DownloadedFile(path, data, mime, filename or None)
