"""A stand-in for the ThreeHats Foundry REST relay plus the Foundry module behind it.

Written from the facts in the shared docs/relay.md (not from the relay's code), quirks included:
per-endpoint envelopes, module failures as 400, the 500-result search cap (sorted by name, no paging;
a `folder:<id>` filter matches direct entries by folder id only and never root entries), the
`<type>_<unix ms>` request ids that cross same-millisecond requests, the per-key rate limit (token
bucket of 300 refilling 5/s, 429 without Retry-After), and /structure's name-keyed folder tree built
as the module builds it (see ``_folder_nodes``): `path=Folder.<id>` gives one subtree plus its direct
entries, /get-folder returns the first folder of any type with the name (`parentFolder` = parent id),
and /get?uuid=Folder.<id> returns the Folder document. Worlds of 50,000 entries answer fast.

    relay = StandInRelay()
    world = relay.add_world("client-a", "Ashes of Damascus")
    uuid = world.add_entry("Harbor", flags={"campaign-codex": {"type": "location"}})
    async with relay:                      # or: base_url = await relay.start(); ...; await relay.stop()
        ... RelayClient(session, relay.base_url, SecretStr("test-key")) ...
    relay.requests("/get")[0].query        # the request log
    world.rename_entry(uuid, "Port"); world.move_entry(uuid, folder); world.delete_entry(uuid)

Players (relay.md "Who may see what"): every world has a GM user; ``world.add_user("Ana")`` adds a
player. ``userId`` (an id, or a name matched case-insensitively) makes /get, /search, /structure,
/get-folder and /players answer as that user. ``add_entry`` shares entries with players by default
(``{"default": 2}``, as a GM who revealed them); pass ``ownership={"default": 0}`` to hide one. /create
makes ``{"default": 0, <GM>: 3}`` as Foundry does.

Faults: force(), fail_send(), not_answering(), add_latency(), enable_rate_limit(), redirect(),
cross_viewers(), and the `crossing=True` constructor flag. Timings default small so tests stay fast.

Monthly quotas (relay.md "Monthly quotas", checked against the relay's go-relay/internal/middleware/auth.go
and handler/routes.go at v3.4.1): ``set_monthly_limit(n)`` is MONTHLY_REQUEST_LIMIT for the one account all
keys belong to, ``set_key_monthly_limit(key, n)`` a scoped key's own ``monthlyLimit``, ``new_month()`` the
relay's reset on the 1st. The checks run in the relay's order: the key (401), a ``clientId`` that isn't
connected (404 "Invalid client ID"), the key's own monthly limit (429), the per-minute bucket (429), the
account's monthly limit (429); only a request past all of them is counted (``requests_this_month``,
``key_requests``), before its scope (403) and its handler run. /api/health and /api/status are never
counted. The real relay reads both counters through a 60-second auth cache (and checks a key's own limit
only when that cache misses), so near the limit it lets a few more through than here: the stand-in is
exact, which is what a test can rely on.
"""

from __future__ import annotations

import asyncio
import base64
import copy
import itertools
import json
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web
from aiohttp.payload import AsyncIterablePayload

from tests.stand_ins import codex_rules

ALL_SCOPES = frozenset({"entity:read", "entity:write", "search", "clients:read", "structure:read", "file:read"})
VERSION = "3.4.1"
SEARCH_CAP = 500
SEARCH_DEFAULT_LIMIT = 200

# route -> (method, scope, request-id type); the id type is what same-millisecond requests collide on.
_FOUNDRY_ROUTES = {
    "/get": ("GET", "entity:read", "entity"),
    "/update": ("PUT", "entity:write", "update"),
    "/create": ("POST", "entity:write", "create"),
    "/search": ("GET", "search", "search"),
    "/structure": ("GET", "structure:read", "structure"),
    "/get-folder": ("GET", "structure:read", "get-folder"),
    "/players": ("GET", "entity:read", "players"),
    "/download": ("GET", "file:read", "download-file"),
}
# Foundry's ownership levels; pages default to INHERIT (the entry's level).
INHERIT, NONE, LIMITED, OBSERVER, OWNER = -1, 0, 1, 2, 3
GM_USER_ID = "stiGamemaster000"

_ids = itertools.count(1)


def new_id() -> str:
    """A 16-character Foundry-style document id, unique within the process."""
    return f"sti{next(_ids):013d}"


@dataclass
class Folder:
    id: str
    name: str
    parent: str | None = None
    type: str = "JournalEntry"

    @property
    def uuid(self) -> str:
        return f"Folder.{self.id}"


@dataclass
class Pack:
    id: str  # e.g. "world.lore"
    label: str
    entries: dict[str, dict] = field(default_factory=dict)  # id -> document

    def add_entry(self, name: str, **fields: Any) -> str:
        doc = _journal_doc(name, **fields)
        self.entries[doc["_id"]] = doc
        return f"Compendium.{self.id}.JournalEntry.{doc['_id']}"


def _journal_doc(
    name: str,
    *,
    folder: str | None = None,
    flags: dict | None = None,
    pages: list[str | dict] | None = None,
    img: str | None = None,
    ownership: dict | None = None,
    id: str | None = None,
) -> dict:
    return {
        "_id": id or new_id(),
        "name": name,
        "folder": folder,
        "img": img,
        "pages": [
            p
            if isinstance(p, dict)
            else {
                "_id": new_id(),
                "name": p,
                "type": "text",
                "text": {"content": ""},
                "ownership": {"default": INHERIT},
            }
            for p in pages or []
        ],
        "ownership": ownership or {"default": 0},
        "flags": flags or {},
    }


@dataclass
class StandInWorld:
    """One Foundry world (relay client) with its journal entries, folders and compendium packs."""

    client_id: str
    title: str
    world_id: str = ""
    foundry_version: str = "13.345"
    system_id: str = "dnd5e"
    system_title: str = "Dungeons & Dragons Fifth Edition"
    online: bool = True
    custom_name: str | None = None
    public_url: str | None = None
    entries: dict[str, dict] = field(default_factory=dict)  # id -> JournalEntry document
    folders: dict[str, Folder] = field(default_factory=dict)  # insertion order = Foundry's order
    packs: dict[str, Pack] = field(default_factory=dict)
    # Foundry users: id -> {"name", "role"} (role 4 = GAMEMASTER); the GM exists from the start.
    users: dict[str, dict] = field(default_factory=lambda: {GM_USER_ID: {"name": "Gamemaster", "role": 4}})

    def add_user(self, name: str, *, role: int = 1) -> str:
        """Adds a Foundry user (role 1 PLAYER by default) and returns its id."""
        user_id = new_id()
        self.users[user_id] = {"name": name, "role": role}
        return user_id

    def find_user(self, user: str) -> str | None:
        """The module's resolveUser: an id first, then a name compared case-insensitively."""
        if user in self.users:
            return user
        return next((uid for uid, u in self.users.items() if u["name"].lower() == user.lower()), None)

    def level(self, doc: dict, user_id: str) -> int:
        """testUserPermission's level for ``user_id`` on an entry (GMs: everything)."""
        if self.users[user_id]["role"] >= 3:
            return OWNER
        ownership = doc.get("ownership") or {}
        return ownership.get(user_id, ownership.get("default", NONE))

    files: dict[str, tuple[bytes, str]] = field(default_factory=dict)  # path (no leading /) -> (bytes, mime)
    actors: dict[str, dict] = field(default_factory=dict)  # id -> Actor document (for /get of linked actors)

    def add_actor(
        self, name: str, *, img: str | None = "icons/svg/mystery-man.svg", ownership: dict | None = None
    ) -> str:
        """An Actor (Foundry's default image unless given; hidden from players unless ``ownership`` says
        otherwise); returns its uuid ``Actor.<id>``."""
        doc = {
            "_id": new_id(),
            "name": name,
            "type": "npc",
            "img": img,
            "flags": {},
            "ownership": ownership or {"default": 0},
        }
        self.actors[doc["_id"]] = doc
        return f"Actor.{doc['_id']}"

    def add_file(self, path: str, data: bytes, mime: str = "image/webp") -> None:
        """A file Foundry serves (for /download); ``mime`` "" stands for a blob the browser gave no type."""
        self.files[path.lstrip("/")] = (data, mime)

    # Campaign Codex's "data will be lost" dialogs this world showed: [{uuid, lost: [fields]}].
    codex_dialogs: list[dict] = field(default_factory=list)

    def add_entry(
        self,
        name: str,
        *,
        folder: str | Folder | None = None,
        flags: dict | None = None,
        pages: list[str | dict] | None = None,
        img: str | None = None,
        ownership: dict | None = None,
    ) -> str:
        """Adds a journal entry and returns its uuid (``JournalEntry.<id>``)."""
        folder_id = folder.id if isinstance(folder, Folder) else folder
        ownership = ownership if ownership is not None else {"default": OBSERVER}
        doc = _journal_doc(name, folder=folder_id, flags=flags, pages=pages, img=img, ownership=ownership)
        self.entries[doc["_id"]] = doc
        return f"JournalEntry.{doc['_id']}"

    def add_folder(self, name: str, *, parent: str | Folder | None = None, type: str = "JournalEntry") -> Folder:
        parent_id = parent.id if isinstance(parent, Folder) else parent
        folder = Folder(new_id(), name, parent_id, type)
        self.folders[folder.id] = folder
        return folder

    def rename_entry(self, uuid: str, name: str) -> None:
        self.entries[uuid.removeprefix("JournalEntry.")]["name"] = name

    def move_entry(self, uuid: str, folder: str | Folder | None) -> None:
        self.entries[uuid.removeprefix("JournalEntry.")]["folder"] = folder.id if isinstance(folder, Folder) else folder

    def rename_folder(self, folder: Folder, name: str) -> None:
        folder.name = name

    def move_folder(self, folder: Folder, parent: Folder | None) -> None:
        folder.parent = parent.id if parent is not None else None

    def delete_entry(self, uuid: str) -> None:
        del self.entries[uuid.removeprefix("JournalEntry.")]

    def folder_path(self, folder: str | Folder | None) -> str | None:
        """The display path of a folder ("NPCs/Villains"), None for the root."""
        folder_id = folder.id if isinstance(folder, Folder) else folder
        names: list[str] = []
        while folder_id is not None:
            node = self.folders[folder_id]
            names.append(node.name)
            folder_id = node.parent
        return "/".join(reversed(names)) or None

    def add_pack(self, pack_id: str, label: str) -> Pack:
        pack = self.packs[pack_id] = Pack(pack_id, label)
        return pack

    def entry(self, uuid: str) -> dict | None:
        """The live document behind a uuid (world or compendium), or None."""
        parts = uuid.split(".")
        if len(parts) == 2 and parts[0] == "JournalEntry":
            return self.entries.get(parts[1])
        if len(parts) == 2 and parts[0] == "Actor":
            return self.actors.get(parts[1])
        if len(parts) == 5 and parts[0] == "Compendium" and parts[3] == "JournalEntry":
            pack = self.packs.get(f"{parts[1]}.{parts[2]}")
            return pack.entries.get(parts[4]) if pack else None
        return None

    def client_info(self) -> dict:
        info = {
            "clientId": self.client_id,
            "worldId": self.world_id or self.client_id,
            "worldTitle": self.title,
            "foundryVersion": self.foundry_version,
            "systemId": self.system_id,
            "systemTitle": self.system_title,
            "isOnline": self.online,
        }
        if self.custom_name:
            info["customName"] = self.custom_name
        if self.public_url:
            info["publicUrl"] = self.public_url
        return info


@dataclass
class LoggedRequest:
    method: str
    path: str
    query: dict[str, str]
    json: Any  # the parsed body, or None
    headers: dict[str, str]  # everything but x-api-key
    at: float  # loop time of arrival


@dataclass
class _Forced:
    status: int
    body: Any  # dict/list -> JSON; str -> raw text; None -> empty body
    content_type: str | None
    times: int


def apply_update(doc: dict, diff: dict) -> None:
    """Foundry's update merge as relay.md describes it: dot-path keys set one leaf (creating
    intermediate objects) and keep siblings; a plain key replaces the whole value."""
    for key, value in diff.items():
        *path, leaf = key.split(".")
        target = doc
        for part in path:
            if not isinstance(target.get(part), dict):
                target[part] = {}
            target = target[part]
        target[leaf] = copy.deepcopy(value)


class StandInRelay:
    def __init__(
        self,
        *,
        keys: dict[str, set[str]] | None = None,
        crossing: bool = False,
        foundry_delay: float = 0.0,
        relay_timeout: float = 0.2,
        clock_ms: Callable[[], int] | None = None,
    ):
        """``keys`` maps API key -> scopes (default: "test-key" with every scope).
        ``crossing`` turns on the relay's id-only reply matching; ``foundry_delay`` is how long the
        Foundry module "works" on each request; ``relay_timeout`` stands in for the relay's 10 s
        wait before answering 408; ``clock_ms`` replaces the wall clock in request ids."""
        self.keys = dict(keys) if keys is not None else {"test-key": set(ALL_SCOPES)}
        self.worlds: dict[str, StandInWorld] = {}
        self.crossing = crossing
        self.foundry_delay = foundry_delay
        self.relay_timeout = relay_timeout
        self.clock_ms = clock_ms or (lambda: time.time_ns() // 1_000_000)
        self.log: list[LoggedRequest] = []
        self.keys_used: list[str | None] = []  # the x-api-key of each request, in order (kept out of ``log``)
        self.in_flight = 0
        self.peak_in_flight = 0  # most requests waiting on Foundry at once
        self._forced: dict[str, list[_Forced]] = {}
        self._silent: dict[str, int] = {}
        self._applied_silently: set[str] = set()
        self._crossed: dict[str, list] = {}
        self._fail_after: dict[str, list] = {}
        self._latency: dict[str, float] = {}
        self._held: dict[str, tuple[asyncio.Event, Callable[[Any], bool] | None]] = {}
        self._pending: dict[str, asyncio.Future] = {}
        self._bucket: tuple[int, float] | None = None  # (capacity, refill per second)
        self._tokens: dict[str, tuple[float, float]] = {}  # key -> (tokens, last refill time)
        self.monthly_limit = 0  # MONTHLY_REQUEST_LIMIT of the account: 0 = unlimited
        self.requests_this_month = 0  # the account's counter, all keys together
        self.key_limits: dict[str, int] = {}  # scoped key -> its own monthlyLimit
        self.key_requests: dict[str, int] = {}  # scoped key -> its counter
        self._redirects: dict[str, list] = {}
        self._streams: dict[str, tuple[bytes, int, int]] = {}
        self.streamed: dict[str, int] = {}
        self._viewer_crossings: dict[str, int] = {}
        self._tasks: set[asyncio.Task] = set()
        self._runner: web.AppRunner | None = None
        self.base_url = ""

    # --- world setup ----------------------------------------------------------------------------

    def add_world(self, client_id: str, title: str, **fields: Any) -> StandInWorld:
        world = self.worlds[client_id] = StandInWorld(client_id, title, **fields)
        return world

    # --- faults ---------------------------------------------------------------------------------

    def force(
        self, route: str, status: int, body: Any = None, *, times: int = 1, content_type: str | None = None
    ) -> None:
        """The next ``times`` requests to ``route`` get this reply instead of the real one (before auth).
        ``body`` dict/list is sent as JSON, a str as-is (text/html unless ``content_type``), None empty."""
        self._forced.setdefault(route, []).append(_Forced(status, body, content_type, times))

    def fail_send(self, route: str, *, times: int = 1) -> None:
        """The relay can't hand the request to Foundry: 500 "Failed to send request to Foundry client"."""
        self.force(route, 500, {"error": "Failed to send request to Foundry client"}, times=times)

    def not_answering(self, route: str, *, times: int = 1, applied: bool = False) -> None:
        """Foundry ignores the next ``times`` requests: the relay answers 408 after ``relay_timeout``.
        ``applied``: Foundry did the work (a write lands) but its reply came too late."""
        self._silent[route] = self._silent.get(route, 0) + times
        if applied:
            self._applied_silently.add(route)

    def cross_replies(self, route: str, other_uuid: str, *, times: int = 1, applied: bool = True) -> None:
        """The next ``times`` requests get the reply of another same-type request (for ``other_uuid``),
        as the relay's id-only matching does; ``applied``: Foundry still did this request's work."""
        self._crossed[route] = [other_uuid, times, applied]

    def fail_after(self, route: str, passed: int, status: int = 500, body: Any = None) -> None:
        """Let ``passed`` requests to ``route`` through, then answer the next one with ``status``."""
        self._fail_after[route] = [passed, status, body or {"error": "Failed to send request to Foundry client"}]

    def add_latency(self, route: str, seconds: float) -> None:
        """Every request to ``route`` waits this long before being handled."""
        self._latency[route] = seconds

    def hold_replies(self, route: str, *, when: Callable[[Any], bool] | None = None) -> asyncio.Event:
        """Foundry does the work of each request to ``route`` (whose query satisfies ``when``, if given) at
        once, a write lands, but its reply is delivered only once the returned event is set: a slow way
        back, or a stop mid-request."""
        held = asyncio.Event()
        self._held[route] = (held, when)
        return held

    def _hold(self, path: str, query: Any) -> asyncio.Event | None:
        held, when = self._held.get(path, (None, None))
        return held if held is not None and (when is None or when(query)) else None

    def enable_rate_limit(self, capacity: int = 300, per_second: float = 5.0) -> None:
        """The relay's per-key token bucket: 429 without Retry-After when empty."""
        self._bucket = (capacity, per_second)

    def set_monthly_limit(self, limit: int, *, used: int | None = None) -> None:
        """The account's monthly limit (0 = unlimited); ``used``: requests already counted this month."""
        self.monthly_limit = limit
        if used is not None:
            self.requests_this_month = used

    def set_key_monthly_limit(self, key: str, limit: int, *, used: int | None = None) -> None:
        self.key_limits[key] = limit
        if used is not None:
            self.key_requests[key] = used

    def new_month(self) -> None:
        """The relay's reset at 00:00 UTC on the 1st: every counter back to 0."""
        self.requests_this_month = 0
        self.key_requests.clear()

    def redirect(self, route: str, location: str, *, status: int = 307, times: int = 1) -> None:
        """The next ``times`` requests to ``route`` are redirected (as a proxy in front of a wrong RELAY_URL does)."""
        self._redirects[route] = [location, status, times]

    def stream(self, route: str, chunk: bytes, count: int, *, status: int = 200) -> None:
        """The next request to ``route`` gets ``count`` copies of ``chunk``, chunked, with no Content-Length (a
        runaway reply); ``streamed[route]`` counts the chunks the server got to produce before the client left."""
        self._streams[route] = (chunk, count, status)
        self.streamed[route] = 0

    def cross_viewers(self, route: str = "/get", *, times: int = 1) -> None:
        """The next ``times`` requests asked as a user (``userId``) get the reply computed for the GM: what the
        relay's id-only matching hands a player whose /get shared a millisecond with the GM's /get."""
        self._viewer_crossings[route] = times

    def requests(self, path: str | None = None) -> list[LoggedRequest]:
        return [r for r in self.log if path is None or r.path == path]

    # --- lifecycle ------------------------------------------------------------------------------

    async def start(self) -> str:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app, handle_signals=False)
        await self._runner.setup()
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.bind(("127.0.0.1", 0))
        site = web.SockSite(self._runner, sock)
        await site.start()
        self.base_url = f"http://127.0.0.1:{sock.getsockname()[1]}"
        return self.base_url

    async def stop(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> StandInRelay:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    # --- HTTP -----------------------------------------------------------------------------------

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        path = request.path
        body: Any = None
        if request.can_read_body:
            try:
                body = json.loads(await request.text())
            except ValueError:
                body = None
        self.keys_used.append(request.headers.get("x-api-key"))
        self.log.append(
            LoggedRequest(
                method=request.method,
                path=path,
                query=dict(request.query),
                json=body,
                headers={k: v for k, v in request.headers.items() if k.lower() != "x-api-key"},
                at=asyncio.get_running_loop().time(),
            )
        )
        forced = self._take_forced(path)
        if forced is not None:
            return forced
        if path in self._streams:
            chunk, count, status = self._streams.pop(path)

            async def chunks():
                for _ in range(count):
                    self.streamed[path] += 1
                    yield chunk

            return web.Response(status=status, body=AsyncIterablePayload(chunks()), content_type="application/json")
        redirect = self._redirects.get(path)
        if redirect is not None:
            location, status, times = redirect
            if times <= 1:
                del self._redirects[path]
            else:
                redirect[2] -= 1
            return web.Response(status=status, headers={"Location": location})
        if path in self._fail_after:
            passed, status, fail_body = self._fail_after[path]
            if passed <= 0:
                del self._fail_after[path]
                return web.json_response(fail_body, status=status)
            self._fail_after[path][0] -= 1
        if path in self._latency:
            await asyncio.sleep(self._latency[path])

        if path == "/api/health" and request.method == "GET":
            return web.json_response({"status": "ok", "instance": "stand-in"})
        if path == "/api/status" and request.method == "GET":
            return web.json_response({"status": "ok", "version": VERSION, "websocket": "/relay"})
        if path == "/clients" and request.method == "GET":
            return self._guard(request, "clients:read") or web.json_response(
                {"total": len(self.worlds), "clients": [w.client_info() for w in self.worlds.values()]}
            )
        if path not in _FOUNDRY_ROUTES:
            return web.Response(status=404, text="404 page not found\n")  # Go's default
        method, scope, kind = _FOUNDRY_ROUTES[path]
        if request.method != method:
            return web.Response(status=405, text="Method Not Allowed\n")
        refused = self._guard(request, scope)
        if refused is not None:
            return refused
        world = self._resolve_world(request.query.get("clientId"))
        if isinstance(world, web.Response):
            return world
        if path == "/search" and not (request.query.get("query") or request.query.get("filter")):
            return _error(400, "'query' or 'filter' is required")
        held = self._hold(path, request.query)
        return await self._through_foundry(
            path, kind, lambda: self._module(path, world, request.query, body), held=held
        )

    def _take_forced(self, path: str) -> web.Response | None:
        queue = self._forced.get(path)
        if not queue:
            return None
        forced = queue[0]
        forced.times -= 1
        if forced.times <= 0:
            queue.pop(0)
        if forced.body is None:
            return web.Response(status=forced.status, body=b"", content_type=forced.content_type)
        if isinstance(forced.body, str):
            return web.Response(status=forced.status, text=forced.body, content_type=forced.content_type or "text/html")
        return web.Response(
            status=forced.status, text=json.dumps(forced.body), content_type=forced.content_type or "application/json"
        )

    def _guard(self, request: web.Request, scope: str) -> web.Response | None:
        """The relay's middleware chain, in its order: auth, per-minute limit, usage (counted), scope."""
        key = request.headers.get("x-api-key")
        if not key:
            return _error(401, "API key is required")
        if key not in self.keys:
            return _error(401, "Invalid API key")
        client_id = request.query.get("clientId")
        if client_id and not (client_id in self.worlds and self.worlds[client_id].online):
            return _error(404, "Invalid client ID")
        if key in self.key_limits and self.key_requests.get(key, 0) >= self.key_limits[key]:
            return _error(429, "Scoped key monthly request limit exceeded")
        if self._bucket is not None and not self._take_token(key):
            return _error(429, "Too many API requests, please slow down")
        if self.monthly_limit > 0 and self.requests_this_month >= self.monthly_limit:
            return web.json_response(
                {
                    "error": "Monthly API request limit reached",
                    "limit": self.monthly_limit,
                    "message": "Please upgrade to a paid subscription for unlimited monthly API access",
                    "upgradeUrl": "/api/subscriptions/create-checkout-session",
                },
                status=429,
            )
        self.requests_this_month += 1
        self.key_requests[key] = self.key_requests.get(key, 0) + 1
        if scope not in self.keys[key]:
            return _error(403, f"API key lacks required scope: {scope}")
        return None

    def _take_token(self, key: str) -> bool:
        capacity, per_second = self._bucket
        now = time.monotonic()
        tokens, last = self._tokens.get(key, (float(capacity), now))
        tokens = min(capacity, tokens + (now - last) * per_second)
        allowed = tokens >= 1
        self._tokens[key] = (tokens - 1 if allowed else tokens, now)
        return allowed

    def _resolve_world(self, client_id: str | None) -> StandInWorld | web.Response:
        online = [w for w in self.worlds.values() if w.online]
        if client_id:
            world = self.worlds.get(client_id)
            return world if world is not None and world.online else _error(404, "Invalid client ID")
        if not online:
            return _error(404, "No connected Foundry clients found")
        if len(online) > 1:
            return web.json_response(
                {
                    "error": "Multiple clients connected. Please specify clientId.",
                    "connectedClients": [w.client_info() for w in online],
                },
                status=400,
            )
        return online[0]

    async def _through_foundry(
        self, path: str, kind: str, answer: Callable[[], tuple[int, dict]], *, held: asyncio.Event | None = None
    ) -> web.Response:
        """Sends the request "to Foundry" and waits for the reply the way the relay does: by id alone."""
        request_id = f"{kind}_{self.clock_ms()}"
        self.in_flight += 1
        self.peak_in_flight = max(self.peak_in_flight, self.in_flight)
        try:
            if self._silent.get(path):
                self._silent[path] -= 1
                if path in self._applied_silently:
                    answer()
                await asyncio.sleep(self.relay_timeout)
                return _error(408, "Request timed out")
            if path in self._crossed:
                return self._crossed_reply(path, answer, request_id)
            if not self.crossing:
                await asyncio.sleep(self.foundry_delay)
                status, reply = answer()
                if held is not None:
                    await held.wait()
                return _respond(status, _stamp(reply, request_id))
            waiter = asyncio.get_running_loop().create_future()
            self._pending[request_id] = waiter  # a same-id request already pending loses its slot
            task = asyncio.create_task(self._foundry_reply(request_id, answer))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
            try:
                status, reply = await asyncio.wait_for(waiter, self.relay_timeout)
            except TimeoutError:
                return _error(408, "Request timed out")
            finally:
                if self._pending.get(request_id) is waiter:
                    del self._pending[request_id]
            return _respond(status, reply)
        finally:
            self.in_flight -= 1

    def _crossed_reply(self, path: str, answer: Callable[[], tuple[int, dict]], request_id: str) -> web.Response:
        other, times, applied = self._crossed[path]
        if times <= 1:
            del self._crossed[path]
        else:
            self._crossed[path][1] -= 1
        status, reply = answer() if applied else (200, {"type": "update-result", "entity": [{}]})
        reply = {**reply, "uuid": other}
        return web.json_response(_stamp(reply, request_id), status=status)

    async def _foundry_reply(self, request_id: str, answer: Callable[[], tuple[int, dict]]) -> None:
        await asyncio.sleep(self.foundry_delay)
        status, reply = answer()
        waiter = self._pending.pop(request_id, None)  # whoever holds the id now gets this reply
        if waiter is not None and not waiter.done():
            waiter.set_result((status, _stamp(reply, request_id)))

    # --- the Foundry module ---------------------------------------------------------------------

    def _module(self, path: str, world: StandInWorld, query: Any, body: Any) -> tuple[int, dict]:
        asked_as = query.get("userId")
        if asked_as and self._viewer_crossings.get(path):
            self._viewer_crossings[path] -= 1
            asked_as = None  # this reply is the one made for the GM's request
        if asked_as and path in _AS_USER:
            user_id = world.find_user(asked_as)
            if user_id is None:
                return 400, {"type": _AS_USER[path], "error": f"User not found: {asked_as}", "data": None}
            return _answer_as(world, user_id, path, query)
        if path == "/players":
            return _players(world)
        if path == "/get":
            return _get(world, query.get("uuid", ""))
        if path == "/update":
            return _update(world, query.get("uuid", ""), body)
        if path == "/create":
            return _create(world, body)
        if path == "/search":
            return _search(world, query)
        if path == "/structure":
            return _structure(world, query)
        if path == "/download":
            return _download(world, query.get("path"), query.get("format"))
        return _get_folder(world, query.get("name"))


_AS_USER = {
    "/get": "entity-result",
    "/search": "search-result",
    "/structure": "structure-result",
    "/get-folder": "get-folder-result",
    "/players": "players-result",
}


def _players(world: StandInWorld, *, as_gm: bool = True) -> tuple[int, dict]:
    users = [
        {
            "id": uid,
            "name": u["name"],
            "role": u["role"],
            "isGM": u["role"] >= 3,
            "active": False,
            "color": None,
            "avatar": None,
        }
        for uid, u in world.users.items()
    ]
    return 200, {"type": "players-result", "users": users if as_gm else []}


def _answer_as(world: StandInWorld, user_id: str, path: str, query: Any) -> tuple[int, dict]:
    """The module's answer with ``userId``: entries filtered by ownership, folders and compendiums never."""
    if path == "/players":
        return _players(world, as_gm=world.users[user_id]["role"] >= 3)
    if path == "/get":
        uuid = query.get("uuid", "")
        doc = world.entry(uuid)
        if doc is None or not uuid.startswith(("JournalEntry.", "Actor.")):
            return _get(world, uuid)
        level = world.level(doc, user_id)  # serializeWithPermission: any document, actors too
        if level <= NONE:
            name = world.users[user_id]["name"]
            error = f"User '{name}' does not have permission to view this entity"
            return 400, {"type": "entity-result", "uuid": uuid, "error": error, "data": None}
        if level == LIMITED:
            kind = uuid.split(".", 1)[0]
            limited = {"uuid": uuid, "name": doc["name"], "type": kind, "img": doc.get("img")}
            return 200, {"type": "entity-result", "uuid": uuid, "data": limited}
        return _get(world, uuid)  # pages come unfiltered: the caller must drop what the user can't see
    status, reply = {"/search": _search, "/structure": _structure}.get(
        path, lambda w, q: _get_folder(w, q.get("name"))
    )(world, query)
    if status != 200:
        return status, reply

    def level_of(ref: dict) -> int:
        doc = world.entry(str(ref.get("uuid", ""))) if str(ref.get("uuid", "")).startswith("JournalEntry.") else None
        return OWNER if doc is None else world.level(doc, user_id)

    if path == "/search":
        kept = []
        for hit in reply["results"]:  # the limit was applied before this filter, as in the module
            if hit.get("documentType") != "JournalEntry":
                kept.append(hit)
            elif (lv := level_of(hit)) >= OBSERVER:
                kept.append(hit)
            elif lv == LIMITED:
                kept.append({k: hit[k] for k in ("uuid", "id", "name", "img", "documentType")})
        reply["results"] = kept
    elif path == "/get-folder":
        reply["data"]["contents"] = [c for c in reply["data"]["contents"] if level_of(c) >= LIMITED]  # untrimmed
    else:
        _filter_tree(reply["data"], level_of, world)
    return status, reply


def _filter_tree(node: dict, level_of: Callable[[dict], int], world: StandInWorld) -> None:
    """/structure as a user: NONE entries omitted, LIMITED ones trimmed to {uuid, name, id, type, img}."""
    for key, value in list(node.items()):
        if key == "compendiumPacks":
            continue
        if key in ("entities", "journalentrys") and isinstance(value, list):
            kept = []
            for ref in value:
                lv = level_of(ref)
                if lv >= OBSERVER:
                    kept.append(ref)
                elif lv == LIMITED:
                    doc = world.entry(ref["uuid"]) or {}
                    kept.append({**ref, "img": doc.get("img")})
            node[key] = kept
        elif isinstance(value, dict):
            _filter_tree(value, level_of, world)


def _stamp(reply: dict | web.Response, request_id: str) -> dict | web.Response:
    # Module envelopes carry the request id; the bare crash reply of /update and relay errors don't.
    stamped = isinstance(reply, dict) and ("type" in reply or "requestId" in reply)
    return {**reply, "requestId": request_id} if stamped else reply


def _respond(status: int, reply: dict | web.Response) -> web.Response:
    return reply if isinstance(reply, web.Response) else web.json_response(reply, status=status)


def _error(status: int, message: str) -> web.Response:
    return web.json_response({"error": message}, status=status)


def _get(world: StandInWorld, uuid: str) -> tuple[int, dict]:
    folder = world.folders.get(uuid.removeprefix("Folder.")) if uuid.startswith("Folder.") else None
    if folder is not None:
        return 200, {"type": "entity-result", "uuid": uuid, "data": _folder_doc(folder)}
    doc = world.entry(uuid)
    if doc is None:
        return 400, {"type": "entity-result", "error": "Entity not found", "data": None}
    return 200, {"type": "entity-result", "uuid": uuid, "data": copy.deepcopy(doc)}


def _update(world: StandInWorld, uuid: str, body: Any) -> tuple[int, dict]:
    doc = world.entry(uuid)
    if doc is None:
        return 400, {"error": "Cannot read properties of null (reading 'uuid')", "message": "Failed to update entity"}
    if not isinstance(body, dict) or not isinstance(body.get("data"), dict):
        return 400, {"type": "update-result", "error": "data is required"}
    diff = copy.deepcopy(body["data"])
    pending = codex_rules.before_update(doc, diff)
    apply_update(doc, diff)
    codex_rules.after_update(world, doc, pending)
    _touch(doc)
    return 200, {"type": "update-result", "uuid": uuid, "entity": [copy.deepcopy(doc)]}


_modified = itertools.count(1_700_000_000_000)


def _touch(doc: dict) -> None:
    """Foundry stamps every write in _stats.modifiedTime (ms)."""
    doc.setdefault("_stats", {})["modifiedTime"] = next(_modified)


def _create(world: StandInWorld, body: Any) -> tuple[int, dict]:
    if not isinstance(body, dict) or body.get("entityType") != "JournalEntry" or not isinstance(body.get("data"), dict):
        return 400, {"type": "create-result", "error": "entityType and data are required"}
    data = copy.deepcopy(body["data"])
    name = str(data.pop("name", "New Journal Entry"))
    # Foundry: hidden from players, owned by the GM who created it (the relay module's user).
    uuid = world.add_entry(name, folder=body.get("folder"), ownership={"default": NONE, GM_USER_ID: OWNER})
    doc = world.entry(uuid)
    apply_update(doc, data)  # no Campaign Codex pre-create hook: the entry keeps exactly what was sent
    _touch(doc)
    return 200, {"type": "create-result", "uuid": uuid, "entity": copy.deepcopy(doc)}


def _search_candidates(world: StandInWorld, exclude_compendiums: bool) -> list[dict]:
    found = [
        {
            "uuid": f"JournalEntry.{d['_id']}",
            "id": d["_id"],
            "name": d["name"],
            "img": d.get("img"),
            "documentType": "JournalEntry",
            "folder": d.get("folder"),
            "package": "world",
        }
        for d in world.entries.values()
    ]
    found += [
        {
            "uuid": f.uuid,
            "id": f.id,
            "name": f.name,
            "img": None,
            "documentType": "Folder",
            "folder": f.parent,
            "package": "world",
            "subType": f.type,
        }
        for f in world.folders.values()
    ]
    if not exclude_compendiums:
        found += [
            {
                "uuid": f"Compendium.{p.id}.JournalEntry.{d['_id']}",
                "id": d["_id"],
                "name": d["name"],
                "img": d.get("img"),
                "documentType": "JournalEntry",
                "folder": d.get("folder"),
                "package": p.id,
            }
            for p in world.packs.values()
            for d in p.entries.values()
        ]
    return found


def _search(world: StandInWorld, query: Any) -> tuple[int, dict]:
    text = (query.get("query") or "").casefold()
    filters = dict(part.split(":", 1) for part in (query.get("filter") or "").split(",") if ":" in part)
    try:
        limit = min(int(query.get("limit", SEARCH_DEFAULT_LIMIT)), SEARCH_CAP)
    except ValueError:
        limit = SEARCH_DEFAULT_LIMIT
    # Each filter compares the hit's field with the text; `folder` holds a folder id (never its
    # name) and a root entry has none, so no filter selects root entries; subfolders aren't included.
    hits = [
        h
        for h in _search_candidates(world, query.get("excludeCompendiums") == "true")
        if text in h["name"].casefold()
        and all(h.get(k) is not None and str(h.get(k)) == v for k, v in filters.items() if k != "resultType")
    ]
    hits.sort(key=lambda h: h["name"].casefold())
    hits = hits[:limit]
    if query.get("minified") == "true":
        hits = [{k: h[k] for k in ("uuid", "id", "name", "img", "documentType")} for h in hits]
    return 200, {
        "type": "search-result",
        "query": query.get("query", ""),
        "filter": query.get("filter", ""),
        "results": hits,
    }


def _entity_ref(uuid: str, doc: dict) -> dict:
    return {"uuid": uuid, "name": doc["name"], "id": doc["_id"], "type": "JournalEntry"}


def _by_folder(world: StandInWorld) -> dict[str | None, list[dict]]:
    """Direct journal entries per folder id (None = root), built once per request: fast for 20,000 entries."""
    index: dict[str | None, list[dict]] = {}
    for d in world.entries.values():
        index.setdefault(d.get("folder"), []).append(_entity_ref(f"JournalEntry.{d['_id']}", d))
    return index


def _children(world: StandInWorld) -> dict[str | None, list[Folder]]:
    index: dict[str | None, list[Folder]] = {}
    for folder in world.folders.values():  # insertion order = Foundry's order
        index.setdefault(folder.parent, []).append(folder)
    return index


def _folder_nodes(
    children: dict[str | None, list[Folder]],
    entries: dict[str | None, list[dict]] | None,
    parent: str | None,
    types: set[str],
    recursive: bool,
    depth: int,
    current: int = 0,
) -> dict:
    """Folders under ``parent`` keyed by *name*, as the module builds them (structure.ts, v3.4.1).

    Each node is ``{id, uuid, type, ...subfolders}`` and only *then*, when the folder has direct
    entries, ``node["entities"] = [...]``: a subfolder named ``id``, ``uuid`` or ``type`` overwrites
    that field; one named ``entities`` is lost when its parent has direct entries (and is the node's
    ``entities`` when it has none); the last same-name sibling in ``game.folders.contents`` order wins
    with its whole subtree; a folder named ``__proto__`` is set as the JavaScript object's prototype and
    so never reaches the JSON. Nothing is built once ``current`` reaches ``depth`` (root folders are
    built at 0), so folders deeper than ``depth`` levels are not shown.
    """
    nodes: dict = {}
    if not recursive or current >= depth:
        return nodes
    for folder in children.get(parent, ()):
        if folder.type not in types:
            continue
        key = folder.name or folder.id
        node: dict = {
            "id": folder.id,
            "uuid": folder.uuid,
            "type": folder.type,
            **_folder_nodes(children, entries, folder.id, types, recursive, depth, current + 1),
        }
        direct = entries.get(folder.id) if entries is not None else None
        if direct:
            node["entities"] = list(direct)
        if key != "__proto__":
            nodes[key] = node  # a same-name sibling overwrites this one
    return nodes


def _structure(world: StandInWorld, query: Any) -> tuple[int, dict]:
    types = {t.strip() for t in (query.get("types") or "").split(",") if t.strip()}
    if not types:
        return 200, {"type": "structure-result", "data": {"folders": {}}}
    recursive = query.get("recursive") == "true"
    try:
        depth = int(query.get("recursiveDepth", 5))
    except ValueError:
        depth = 5
    path = query.get("path") or ""
    children = _children(world)
    entries = _by_folder(world) if "JournalEntry" in types else None
    data: dict = {}
    if path.startswith("Folder."):
        folder = world.folders.get(path.removeprefix("Folder."))
        if folder is None:
            return 400, {"type": "structure-result", "error": f"Folder not found: {path}", "data": {}}
        if folder.type not in types:
            error = f"Folder type {folder.type} not included in requested types"
            return 400, {"type": "structure-result", "error": error, "data": {}}
        data["folders"] = _folder_nodes(children, entries, folder.id, types, recursive, depth)
        direct = entries.get(folder.id) if entries is not None else None
        if direct:  # the key is absent when the folder holds no entries directly
            data["entities"] = list(direct)
        return 200, {"type": "structure-result", "data": data}
    data["folders"] = _folder_nodes(children, entries, None, types, True, depth if recursive else 1)
    root = entries.get(None) if entries is not None else None
    if root:  # absent when no entry sits at the top level
        data["entities"] = {"journalentrys": list(root)}
    packs = {
        p.label: {
            "id": p.id,
            "name": p.label,
            "type": "JournalEntry",
            "uuid": f"Compendium.{p.id}",
            "entities": [_entity_ref(f"Compendium.{p.id}.JournalEntry.{i}", d) for i, d in p.entries.items()],
        }
        for p in world.packs.values()
    }
    if packs:
        data["compendiumPacks"] = packs
    return 200, {"type": "structure-result", "data": data}


def _get_folder(world: StandInWorld, name: str | None) -> tuple[int, dict]:
    if not name:
        return 400, {"type": "get-folder-result", "error": "name is required", "data": None}
    folder = next((f for f in world.folders.values() if f.name == name), None)  # the first, of any type
    if folder is None:
        return 400, {"type": "get-folder-result", "error": f"Folder not found with name: {name}", "data": None}
    contents = _by_folder(world).get(folder.id, []) if folder.type == "JournalEntry" else []
    return 200, {
        "type": "get-folder-result",
        "data": {
            "id": folder.id,
            "uuid": folder.uuid,
            "name": folder.name,
            "type": folder.type,
            "parentFolder": folder.parent,
            "contents": [{**c, "img": None} for c in contents],
        },
    }


def _download(world: StandInWorld, path: str | None, fmt: str | None) -> tuple[int, dict | web.Response]:
    """The module fetches the file in the GM's browser and sends it as a data URL; the relay answers the raw
    bytes with the file's Content-Type (or, with ``format=base64``, the module's reply as JSON). Errors: the
    relay's ``{"requestId", "error"}`` with 400, no ``type``."""
    if not path:
        return 400, {"requestId": None, "error": "Missing required parameter (path)"}
    found = world.files.get(path.lstrip("/"))
    if found is None:
        return 400, {"requestId": None, "error": "Failed to download file: 404 Not Found"}
    data, mime = found
    filename = path.split("/")[-1] or "file"
    if fmt == "base64" or not data:  # the relay cannot decode an empty data URL and falls back to JSON
        data_url = f"data:{mime or 'application/octet-stream'};base64,{base64.b64encode(data).decode()}"
        reply = {"type": "download-file-result", "success": True, "path": path, "fileData": data_url}
        return 200, {**reply, "filename": filename, "mimeType": mime}
    return 200, web.Response(
        body=data,
        headers={
            "Content-Type": mime or "application/octet-stream",
            "Content-Disposition": f'attachment; filename="{filename}"',
        },
    )


def _folder_doc(folder: Folder) -> dict:
    """A Folder document as /get returns it (``toObject``): ``folder`` is the parent's id."""
    return {
        "_id": folder.id,
        "name": folder.name,
        "type": folder.type,
        "folder": folder.parent,
        "description": "",
        "sorting": "a",
        "sort": 0,
        "color": None,
        "flags": {},
    }
