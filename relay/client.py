"""Async client for the ThreeHats Foundry REST relay (see docs/relay.md in the shared docs).

Plain HTTP over an injected aiohttp session. The API key only ever goes into the ``x-api-key``
header; any relay text shown to a person is scrubbed of it first. Redirects are never followed (the
key would go with them), every reply is read up to a cap sized to its route (``BODY_CAPS``), and every
request the relay counts against its monthly quota is counted in ``quota`` (relay/quota.py).
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hashlib
import json
import logging
import re
import time
from collections import defaultdict
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any, TypeVar

import aiohttp
import orjson
from pydantic import SecretStr
from yarl import URL

from core.bodies import BodyTooLarge, chunks_within, read_within
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
    RelayMonthlyLimit,
    RelayRateLimited,
    RelayRedirected,
    RelayReplyTooLarge,
    RelayScopeError,
    RelayTimeout,
    RelayUnavailable,
    SeveralWorlds,
    UnknownFoundryUser,
    UnknownWorld,
    UnprovenView,
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
from relay.quota import Quota, in_background

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

_MiB = 1024 * 1024
# The most the bot reads of a reply, per route (success or error): a big world's /structure is about 6 MB
# (50,000 entries), an entry's /get a few MB at most; writes answer with the whole entry. A larger reply is
# dropped unread (RelayReplyTooLarge), so a wrong RELAY_URL or a broken relay can't fill the bot's memory.
BODY_CAPS = {
    "/structure": 32 * _MiB,
    "/get": 16 * _MiB,
    "/get-folder": 16 * _MiB,
    "/update": 32 * _MiB,
    "/create": 32 * _MiB,
    "/search": 4 * _MiB,
    "/players": 1 * _MiB,
    "/clients": 1 * _MiB,
    "/api/status": 64 * 1024,
    "/download": 16 * _MiB,  # unless the caller gives its own max_bytes
}
_CAP_ADVICE = {
    "/get": "the entry is too large to show (images pasted into its text?): move pictures into image files in Foundry.",
    "/structure": "a world of 50,000 journal entries sends about 6 MB, so check that RELAY_URL points at the relay.",
    "/update": "Foundry may have applied the write: check the entry in Foundry before writing again.",
    "/create": "Foundry may have created the entry: check the world in Foundry before pushing again.",
}
_DEFAULT_CAP_ADVICE = "check that RELAY_URL points at the relay."
# The relay's three 429s: its per-minute bucket, the account's month, a scoped key's own month.
_MONTHLY_ACCOUNT = "Monthly API request limit reached"
_MONTHLY_KEY = "Scoped key monthly request limit exceeded"
_REDIRECTS = (301, 302, 303, 307, 308)


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


class _Slot:
    def __init__(self, viewer: str | None):
        self.viewer = viewer
        self.count = 0
        self.waiting = 0
        self.released = asyncio.Event()


class _ViewerTurns:
    """Per uuid, reads for one viewer at a time: the relay matches replies by type and millisecond, so a
    player's /get beside the GM's /get of the same entry could receive the GM's copy, and nothing in the
    reply says whose view it is. Reads for the same viewer overlap; another viewer's read waits until they
    end (and, once one waits, newcomers queue behind it)."""

    def __init__(self):
        self._slots: dict[str, _Slot] = {}

    @asynccontextmanager
    async def turn(self, uuid: str, viewer: str | None) -> AsyncIterator[None]:
        while True:
            slot = self._slots.get(uuid)
            if slot is None:
                slot = self._slots[uuid] = _Slot(viewer)
            if slot.viewer == viewer and not slot.waiting:
                break
            slot.waiting += 1
            try:
                await slot.released.wait()
            finally:
                slot.waiting -= 1
        slot.count += 1
        try:
            yield
        finally:
            slot.count -= 1
            if slot.count == 0:
                del self._slots[uuid]
                slot.released.set()

    def busy(self) -> int:
        return len(self._slots)


class RelayClient:
    def __init__(
        self,
        session: aiohttp.ClientSession,
        base_url: str,
        api_key: SecretStr,
        *,
        timeout: float = 15.0,
        pacer: Pacer | None = None,
        clock: Callable[[], float] = time.time,
        body_caps: dict[str, int] | None = None,
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
        # This month's requests and the relay's "monthly limit" answer (``clock`` is wall-clock seconds).
        self.quota = Quota(clock)
        self._caps = {**BODY_CAPS, **(body_caps or {})}
        self._viewer_turns = _ViewerTurns()

    def __repr__(self) -> str:
        return f"RelayClient({self._shown_base!r})"

    # --- public API -----------------------------------------------------------------------------

    async def get_entry(self, uuid: str, *, client_id: str | None = None, user_id: str | None = None) -> JournalEntry:
        """The entry; with ``user_id`` (a Foundry user id) as that user sees it (LIMITED: name and image only;
        NONE: NotPermitted). Pages are never filtered by the module: that is the caller's job.

        A reply is used only when it is provably the asked viewer's: no read of this uuid for another
        viewer is in flight meanwhile, and a full document read as a user must grant that user OBSERVER
        (else it is someone else's copy: UnprovenView, retried once like any crossed read)."""

        def parse(body: dict) -> JournalEntry:
            self._check_uuid(uuid, body.get("uuid"))
            data = body.get("data")
            trimmed = isinstance(data, dict) and "_id" not in data and isinstance(data.get("name"), str)
            if user_id is None:
                if trimmed:
                    raise UnprovenView(uuid)  # a player's trimmed copy answered the GM's read
                return JournalEntry.from_doc(uuid, data)
            if trimmed:
                return JournalEntry.from_limited(uuid, data)
            entry = JournalEntry.from_doc(uuid, data)
            if _entry_level(entry.ownership, user_id) < _OBSERVER:
                raise UnprovenView(uuid)  # a fuller copy than this user may read: not theirs
            return entry

        params = {"uuid": uuid, **({"userId": user_id} if user_id is not None else {})}
        async with self._viewer_turns.turn(uuid, user_id):
            return await self._call(
                "GET", "/get", parse, params=params, client_id=client_id, uuid=uuid, read=True, as_user=user_id
            )

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
        self._gate()
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

    def _gate(self, auth: bool = True) -> None:
        """Background work stops while the relay says the month is spent (one probe a day goes through)."""
        if auth and in_background() and not self.quota.may_send_background():
            raise self._monthly_error(self.quota.spent())

    def _monthly_error(self, spent) -> RelayMonthlyLimit:
        return RelayMonthlyLimit(
            scope=spent.scope, limit=spent.limit, resets_at=datetime.fromtimestamp(spent.resets_at, UTC)
        )

    def _counted(self, status: int | None, raw: bytes | None) -> None:
        """Book one request as the relay does: it counts a request once it has passed the key check (401,
        and a clientId not connected: 404 "Invalid client ID"), the per-minute bucket and the monthly limits
        (429); everything after, a missing scope (403) included, counts. ``status`` None: no answer came in
        our time, but the relay had the request."""
        if status in (401, 429, *_REDIRECTS):
            return
        if status == 404 and raw is not None and b"Invalid client ID" in raw[:200]:
            return
        self.quota.count()
        if status is not None:
            self.quota.accepted()  # the relay let it past its monthly limits: the month is not spent

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
        as_user: str | None = None,
    ) -> T:
        query = dict(params or {})
        if client_id:
            query["clientId"] = client_id
        self._gate(auth)
        # Reads get one retry for faults a second try usually clears; writes never (it might apply twice).
        attempts = 2 if read else 1
        # The relay's rate limit is per key (unkeyed health checks don't count). The first token is
        # taken before our deadline starts: waiting our turn is not the relay being slow.
        call = (method, route, parse, query, payload, client_id, uuid, attempts, auth, raw_success, as_user)
        exclusive = self._exclusive.get(route)
        if exclusive is not None:
            async with exclusive:
                return await self._attempts(*call)
        return await self._attempts(*call)

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
        as_user: str | None,
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
                        return self._interpret(
                            route, status, body, parse, uuid=uuid, client_id=client_id, as_user=as_user, auth=auth
                        )
                    except (RelayTimeout, CrossedReply) as exc:
                        if attempt == attempts or not _retryable(exc):
                            raise
                        log.info("Retrying %s %s after: %s", method, route, exc.message)
        except TimeoutError:
            raise RelayTimeout(seconds=self._timeout) from None

    async def _send(self, method: str, route: str, query: dict, payload: dict | None, auth: bool) -> tuple[int, bytes]:
        headers = {"x-api-key": self._key.get_secret_value()} if auth else {}
        await self._spacer.wait(route)
        status: int | None = None
        raw: bytes | None = None
        try:
            async with self._session.request(
                method,
                self._base + route,
                params=query,
                json=payload,
                headers=headers,
                raise_for_status=False,
                allow_redirects=False,  # the key must never follow a redirect
            ) as resp:
                status = resp.status
                self._refuse_redirect(resp)
                raw = await _read_body(resp, self._caps.get(route, BODY_CAPS["/get"]), route)
        except TimeoutError:  # the session's own timeout, if it has a shorter one than ours
            raise RelayTimeout(seconds=self._timeout) from None
        except aiohttp.ClientError as exc:
            if status is None:
                raise RelayUnavailable(
                    f"Couldn't reach the relay at {self._shown_base} ({connection_reason(exc)})"
                ) from None
            raise RelayUnavailable(
                f"The relay's reply to {route} broke off ({connection_reason(exc)})", status=status
            ) from None
        finally:
            # Answered, or our deadline ran out while the relay worked on it: the relay counted it.
            if auth and (status is not None or _cancelled()):
                self._counted(status, raw)
        log.debug("%s %s -> %s", method, route, status)
        return status, raw

    def _refuse_redirect(self, resp: aiohttp.ClientResponse) -> None:
        if resp.status not in _REDIRECTS:
            return
        location = resp.headers.get("Location") or ""
        try:
            target = URL(self._base).join(URL(location)) if location else None
        except ValueError:
            target = None
        relay = URL(self._base)
        if target is None or not target.host:
            where = "an address it did not name"
        elif (target.scheme, target.host, target.port) == (relay.scheme, relay.host, relay.port):
            where = f"another path on {target.host}"
        else:
            where = f"{target.scheme}://{target.host}" + (f":{target.explicit_port}" if target.explicit_port else "")
        raise RelayRedirected(relay.host or self._shown_base, where, resp.status)

    async def _receive(
        self, route: str, query: dict, path: str, max_bytes: int | None
    ) -> tuple[int, str, bytes, str | None]:
        """GET a route whose success body is bytes: (status, content type, body, Content-Disposition)."""
        headers = {"x-api-key": self._key.get_secret_value()}
        await self._spacer.wait(route)
        status: int | None = None
        chunks: list[bytes] | None = None
        limit = max_bytes if max_bytes is not None else self._caps["/download"]
        try:
            async with self._session.get(
                self._base + route, params=query, headers=headers, raise_for_status=False, allow_redirects=False
            ) as resp:
                status = resp.status
                self._refuse_redirect(resp)
                chunks = []
                try:
                    async for chunk in chunks_within(resp, limit):
                        chunks.append(chunk)
                except BodyTooLarge:
                    if resp.status == 200:
                        raise FileTooLarge(path, limit) from None
                    raise RelayReplyTooLarge(route, limit, _DEFAULT_CAP_ADVICE) from None
                log.debug("GET %s -> %s (%d bytes)", route, resp.status, sum(map(len, chunks)))
                return resp.status, resp.content_type, b"".join(chunks), resp.headers.get("Content-Disposition")
        except TimeoutError:
            raise RelayTimeout(seconds=self._timeout) from None
        except aiohttp.ClientError as exc:
            raise RelayUnavailable(
                f"Couldn't reach the relay at {self._shown_base}", details=[self._scrub(str(exc) or type(exc).__name__)]
            ) from None
        finally:
            if status is not None:
                self._counted(status, b"".join(chunks[:4]) if chunks else None)

    def _interpret(
        self,
        route: str,
        status: int,
        body: Any,
        parse: Callable[[dict], T],
        *,
        uuid: str | None,
        client_id: str | None,
        as_user: str | None = None,
        auth: bool = True,
    ) -> T:
        # Status decides first for the faults whose body (often a proxy's HTML page) doesn't matter.
        if status in (408, 504):
            raise RelayTimeout(status=status)
        if status == 429:
            raise self._too_many(body, auth)
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
        raise self._error_for(route, status, body, uuid=uuid, client_id=client_id, as_user=as_user)

    def _too_many(self, body: Any, auth: bool) -> RelayError:
        """Which of the relay's three 429s: the month's (account or key) lasts until the 1st; the minute's passes."""
        error = body.get("error") if isinstance(body, dict) else None
        if error in (_MONTHLY_ACCOUNT, _MONTHLY_KEY):
            limit = body.get("limit")
            limit = limit if isinstance(limit, int) and not isinstance(limit, bool) and limit > 0 else None
            spent = self.quota.exhausted("account" if error == _MONTHLY_ACCOUNT else "key", limit)
            log.info("The relay refuses requests until %s: %s", datetime.fromtimestamp(spent.resets_at, UTC), error)
            return self._monthly_error(spent)
        if auth:
            self.pacer.drain()  # someone else spent the key's bucket: pace from empty
        return RelayRateLimited(self._error_text(body))

    def _error_for(
        self, route: str, status: int, body: dict, *, uuid: str | None, client_id: str | None, as_user: str | None
    ) -> RelayError:
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
                # Only a read as a user can be refused so; the GM's read got a player's answer.
                return NotPermitted(uuid) if as_user is not None else UnprovenView(uuid)
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


_OBSERVER = 2


def _entry_level(ownership: dict, user_id: str) -> int:
    """Foundry's level for a (non-GM) user on an entry: their own grant, else ``default``; malformed is NONE."""
    level = ownership.get(user_id, ownership.get("default", 0))
    return level if isinstance(level, int) and not isinstance(level, bool) else 0


def _cancelled() -> bool:
    task = asyncio.current_task()
    return task is not None and task.cancelling() > 0


async def _read_body(resp: aiohttp.ClientResponse, cap: int, route: str) -> bytes:
    """The body, never more than ``cap`` bytes (core/bodies.py); over it, the route's own advice."""
    try:
        return await read_within(resp, cap)
    except BodyTooLarge:
        raise RelayReplyTooLarge(route, cap, _CAP_ADVICE.get(route, _DEFAULT_CAP_ADVICE)) from None


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
