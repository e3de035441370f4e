"""A fake Discord REST API (aiohttp, 127.0.0.1, random port) for offline bot tests.

It implements the routes a discord.py bot uses for slash commands, interaction
responses, follow-ups, channel messages and command sync, keeps an in-memory
record of everything (``requests``, ``messages``, ``interactions``, ``violations``)
and answers the way Discord does, including Discord's error bodies:

* message limits (content, embeds, components, autocomplete choices) -> 400 50035
  "Invalid Form Body" with Discord-style nested ``errors`` (also in ``violations``)
* a second acknowledgement of one interaction -> 400 40060 (also in ``violations``)
* an expired interaction token -> callback 404 10062 "Unknown interaction",
  webhook routes 401 50027 "Invalid Webhook Token"
* optional acknowledgement deadline (``ack_deadline`` seconds, default ``None`` = off):
  a callback arriving later than that after dispatch gets 404 10062 and a
  ``late_ack`` violation, as Discord does after its 3 s window
* an unknown route -> 404 and an ``unknown_route`` violation naming the route

Discord API paths are served below ``/api/v{N}``; attachment bytes below ``/cdn/``.
"""

from __future__ import annotations

import asyncio
import datetime
import json
import logging
import re
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

_log = logging.getLogger(__name__)

DISCORD_EPOCH_MS = 1420070400000

EPHEMERAL = 1 << 6
LOADING = 1 << 7
SUPPRESS_EMBEDS = 1 << 2
SUPPRESS_NOTIFICATIONS = 1 << 12
IS_COMPONENTS_V2 = 1 << 15

# Files uploaded with one message, in a server without boosts: more is 413 40005 "Request entity too large".
UPLOAD_LIMIT = 10 * 1024 * 1024

# Discord's documented limits
LIMITS = {
    "content": 2000,
    "embeds": 10,
    "embed_title": 256,
    "embed_description": 4096,
    "embed_fields": 25,
    "field_name": 256,
    "field_value": 1024,
    "footer_text": 2048,
    "author_name": 256,
    "embed_total": 6000,
    "choices": 25,
    "choice_name": 100,
    "choice_value": 100,
    "action_rows": 5,
    "row_components": 5,
    "button_label": 80,
    "custom_id": 100,
}


class _Snowflakes:
    """Time based, strictly increasing snowflakes (so ``created_at`` is "now")."""

    def __init__(self) -> None:
        self._last = 0

    def __call__(self) -> int:
        ms = int(time.time() * 1000) - DISCORD_EPOCH_MS
        value = ms << 22
        if value <= self._last:
            value = self._last + 1
        self._last = value
        return value


def _now_iso() -> str:
    return datetime.datetime.now(datetime.UTC).isoformat()


@dataclass
class RecordedRequest:
    method: str
    path: str  # API path without the /api/vN prefix (or the /cdn/... path)
    query: dict[str, str]
    headers: dict[str, str]
    json: Any = None  # JSON body, or the payload_json part of a multipart body
    files: list[tuple[str, str, bytes]] = field(default_factory=list)  # (field name, filename, bytes)
    raw_body: bytes = b""
    status: int = 0
    response: Any = None
    at: float = 0.0  # loop time

    @property
    def route(self) -> str:
        return f"{self.method} {self.path}"


@dataclass
class Violation:
    kind: str  # 'invalid_form_body', 'already_acknowledged', 'late_ack', 'unknown_route', 'empty_message', ...
    route: str
    status: int
    body: Any
    detail: str = ""

    def __str__(self) -> str:
        return f"{self.kind} on {self.route} -> {self.status}: {self.detail or self.body}"


@dataclass
class MessageRecord:
    id: int
    channel_id: int
    payload: dict[str, Any]  # Discord-shaped message object as returned to the bot
    allowed_mentions: dict[str, Any] | None = None  # as sent by the bot
    files: dict[int, tuple[str, bytes]] = field(default_factory=dict)  # attachment id -> (filename, bytes)
    source: str = "channel"  # 'callback', 'followup', 'channel'
    interaction_id: int | None = None
    deleted: bool = False
    history: list[dict[str, Any]] = field(default_factory=list)  # every payload sent for this message


@dataclass
class InteractionRecord:
    id: int
    token: str
    type: int
    application_id: int
    channel_id: int
    guild_id: int | None
    user_id: int
    message_id: int | None = None  # for component interactions: the message the component is on
    dispatched_at: float = 0.0
    callbacks: list[dict[str, Any]] = field(default_factory=list)  # {'type', 'data', 'at'}
    original_id: int | None = None
    loading: bool = False  # original message is a deferred "thinking" message
    followup_ids: list[int] = field(default_factory=list)
    expired: bool = False
    expire_after_ack: bool = False
    choices: list[dict[str, Any]] | None = None
    modal: dict[str, Any] | None = None

    @property
    def acknowledged(self) -> bool:
        return bool(self.callbacks)


@dataclass
class _Failure:
    method: str
    path: re.Pattern[str]
    status: int
    times: int | None
    when: Callable[[RecordedRequest], bool] | None


class FakeDiscord:
    def __init__(
        self,
        *,
        bot_id: int | None = None,
        bot_name: str = "HarnessBot",
        application_id: int | None = None,
        ack_deadline: float | None = None,
        upload_limit: int = UPLOAD_LIMIT,
    ) -> None:
        self.snowflake = _Snowflakes()
        self.upload_limit = upload_limit  # bytes of files per message (a server without boosts)
        self.bot_id: int = bot_id or self.snowflake()
        self.application_id: int = application_id or self.bot_id
        self.bot_name = bot_name
        self.ack_deadline = ack_deadline

        self.requests: list[RecordedRequest] = []
        self.violations: list[Violation] = []
        self.unknown_routes: list[str] = []

        self.users: dict[int, dict[str, Any]] = {}
        self.guilds: dict[int, dict[str, Any]] = {}
        self.channels: dict[int, dict[str, Any]] = {}
        self.members: dict[tuple[int, int], dict[str, Any]] = {}
        self.dm_channels: dict[int, int] = {}  # user id -> channel id
        self.closed_dms: set[int] = set()  # users who accept no direct messages from the bot
        self.left_guilds: list[int] = []  # guilds the bot left (DELETE /users/@me/guilds/{id})
        self._failures: list[_Failure] = []  # injected server errors (fail())

        self.messages: dict[int, MessageRecord] = {}
        self.channel_messages: dict[int, list[int]] = {}
        self.interactions: dict[int, InteractionRecord] = {}
        self._by_token: dict[str, InteractionRecord] = {}

        self.global_commands: list[dict[str, Any]] | None = None
        self.guild_commands: dict[int, list[dict[str, Any]]] = {}
        self._command_ids: dict[tuple[int | None, int, str], int] = {}

        self.cdn: dict[int, tuple[str, bytes]] = {}

        self.users[self.bot_id] = self.bot_user_payload()

        self._runner: web.AppRunner | None = None
        self._site: web.TCPSite | None = None
        self.port: int | None = None
        self._routes: list[tuple[str, re.Pattern[str], Callable[..., Awaitable[web.Response]]]] = []
        self._setup_routes()

    # ------------------------------------------------------------------ server

    @property
    def base_url(self) -> str:
        assert self.port is not None, "FakeDiscord is not started"
        return f"http://127.0.0.1:{self.port}"

    @property
    def api_base(self) -> str:
        return f"{self.base_url}/api/v10"

    async def start(self) -> FakeDiscord:
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_route("*", "/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        self._site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await self._site.start()
        server = self._site._server  # type: ignore[attr-defined]
        self.port = server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        return self

    async def close(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    def _loop_time(self) -> float:
        return asyncio.get_running_loop().time()

    # ------------------------------------------------------------------ world

    def bot_user_payload(self) -> dict[str, Any]:
        return {
            "id": str(self.bot_id),
            "username": self.bot_name,
            "discriminator": "0",
            "global_name": None,
            "avatar": None,
            "bot": True,
            "flags": 0,
            "public_flags": 0,
            "verified": True,
            "mfa_enabled": False,
            "locale": "en-US",
        }

    def add_user(self, payload: dict[str, Any]) -> None:
        self.users[int(payload["id"])] = payload

    def add_guild(self, payload: dict[str, Any]) -> None:
        self.guilds[int(payload["id"])] = payload

    def add_channel(self, payload: dict[str, Any]) -> None:
        self.channels[int(payload["id"])] = payload
        self.channel_messages.setdefault(int(payload["id"]), [])

    def add_member(self, guild_id: int, payload: dict[str, Any]) -> None:
        self.members[(guild_id, int(payload["user"]["id"]))] = payload

    def add_cdn_file(
        self, filename: str, data: bytes, *, channel_id: int = 0, content_type: str | None = None
    ) -> dict[str, Any]:
        """Store bytes on the fake CDN and return a Discord attachment object for them."""
        att_id = self.snowflake()
        self.cdn[att_id] = (filename, data)
        url = f"{self.base_url}/cdn/attachments/{channel_id}/{att_id}/{filename}"
        payload: dict[str, Any] = {
            "id": str(att_id),
            "filename": filename,
            "size": len(data),
            "url": url,
            "proxy_url": url,
        }
        if content_type:
            payload["content_type"] = content_type
        return payload

    def register_interaction(
        self,
        *,
        interaction_id: int,
        token: str,
        type: int,
        channel_id: int,
        guild_id: int | None,
        user_id: int,
        message_id: int | None = None,
        expired: bool = False,
        expire_after_ack: bool = False,
    ) -> InteractionRecord:
        rec = InteractionRecord(
            id=interaction_id,
            token=token,
            type=type,
            application_id=self.application_id,
            channel_id=channel_id,
            guild_id=guild_id,
            user_id=user_id,
            message_id=message_id,
            expired=expired,
            expire_after_ack=expire_after_ack,
        )
        self.interactions[interaction_id] = rec
        self._by_token[token] = rec
        return rec

    def expire(self, interaction_id: int | None = None) -> None:
        """Expire one interaction token (or all known ones), as after Discord's 15 minutes."""
        for rec in self.interactions.values():
            if interaction_id is None or rec.id == interaction_id:
                rec.expired = True

    def fail(
        self,
        method: str,
        path: str,
        status: int = 500,
        *,
        times: int | None = 1,
        when: Callable[[RecordedRequest], bool] | None = None,
    ) -> None:
        """The next ``times`` (None: every) ``method`` request whose API path matches the regex ``path`` (and
        ``when``, if given) gets a ``status`` error, as Discord's own hiccups do (a 5xx is retried by discord.py)."""
        self._failures.append(_Failure(method, re.compile(path), status, times, when))

    def _injected_failure(self, rec: RecordedRequest) -> web.Response | None:
        for failure in self._failures:
            if failure.method != rec.method or not failure.path.search(rec.path):
                continue
            if failure.when is not None and not failure.when(rec):
                continue
            if failure.times is not None:
                failure.times -= 1
                if failure.times <= 0:
                    self._failures.remove(failure)
            return self._error(failure.status, 0, f"{failure.status}: injected server error")
        return None

    def take_violations(self) -> list[Violation]:
        out = list(self.violations)
        self.violations.clear()
        return out

    # ------------------------------------------------------------------ routing

    def _setup_routes(self) -> None:
        add = self._add_route
        add("GET", r"/users/@me", self._get_me)
        add("GET", r"/users/(?P<user_id>\d+)", self._get_user)
        add("POST", r"/users/@me/channels", self._create_dm)
        add("DELETE", r"/users/@me/guilds/(?P<guild_id>\d+)", self._leave_guild)
        add("GET", r"/oauth2/applications/@me", self._get_application)
        add("GET", r"/applications/@me", self._get_application)
        add("GET", r"/applications/(?P<app_id>\d+)/commands", self._get_global_commands)
        add("PUT", r"/applications/(?P<app_id>\d+)/commands", self._put_global_commands)
        add("GET", r"/applications/(?P<app_id>\d+)/guilds/(?P<guild_id>\d+)/commands", self._get_guild_commands)
        add("PUT", r"/applications/(?P<app_id>\d+)/guilds/(?P<guild_id>\d+)/commands", self._put_guild_commands)
        add("POST", r"/interactions/(?P<interaction_id>\d+)/(?P<token>[^/]+)/callback", self._callback)
        add("POST", r"/webhooks/(?P<app_id>\d+)/(?P<token>[^/]+)", self._webhook_execute)
        add(
            "GET",
            r"/webhooks/(?P<app_id>\d+)/(?P<token>[^/]+)/messages/(?P<message_id>@original|\d+)",
            self._webhook_get,
        )
        add(
            "PATCH",
            r"/webhooks/(?P<app_id>\d+)/(?P<token>[^/]+)/messages/(?P<message_id>@original|\d+)",
            self._webhook_edit,
        )
        add(
            "DELETE",
            r"/webhooks/(?P<app_id>\d+)/(?P<token>[^/]+)/messages/(?P<message_id>@original|\d+)",
            self._webhook_delete,
        )
        add("GET", r"/channels/(?P<channel_id>\d+)", self._get_channel)
        add("POST", r"/channels/(?P<channel_id>\d+)/messages", self._channel_send)
        add("GET", r"/channels/(?P<channel_id>\d+)/messages/(?P<message_id>\d+)", self._channel_get_message)
        add("PATCH", r"/channels/(?P<channel_id>\d+)/messages/(?P<message_id>\d+)", self._channel_edit)
        add("DELETE", r"/channels/(?P<channel_id>\d+)/messages/(?P<message_id>\d+)", self._channel_delete)
        add("POST", r"/channels/(?P<channel_id>\d+)/typing", self._typing)
        add("GET", r"/guilds/(?P<guild_id>\d+)", self._get_guild)
        add("GET", r"/guilds/(?P<guild_id>\d+)/members/(?P<user_id>\d+)", self._get_member)

    def _add_route(self, method: str, pattern: str, handler: Callable[..., Awaitable[web.Response]]) -> None:
        self._routes.append((method, re.compile(pattern + r"/?$"), handler))

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        raw_path = request.path
        m = re.match(r"^/api/v\d+(/.*)$", raw_path)
        path = m.group(1) if m else raw_path
        rec = RecordedRequest(
            method=request.method,
            path=path,
            query=dict(request.query),
            headers=dict(request.headers),
            at=self._loop_time(),
        )
        await self._read_body(request, rec)
        self.requests.append(rec)

        uploaded = sum(len(data) for name, _, data in rec.files if name.startswith("files["))
        if raw_path.startswith("/cdn/") and request.method == "GET":
            resp = self._cdn(raw_path)
        elif uploaded > self.upload_limit:
            resp = self._violation(
                "too_large", rec, 413, 40005, "Request entity too large", detail=f"{uploaded} bytes of files"
            )
        elif m is None:
            resp = self._unknown(rec)
        elif (injected := self._injected_failure(rec)) is not None:
            resp = injected
        else:
            resp = None
            for method, pattern, handler in self._routes:
                pm = pattern.match(path)
                if pm and method == request.method:
                    try:
                        resp = await handler(rec, **pm.groupdict())
                    except Exception as exc:  # a bug in the fake must be loud, too
                        _log.exception("FakeDiscord handler crashed for %s", rec.route)
                        self.violations.append(Violation("fake_crash", rec.route, 500, None, repr(exc)))
                        resp = self._error(500, 0, f"FakeDiscord crashed: {exc!r}")
                    break
            if resp is None:
                resp = self._unknown(rec)
        rec.status = resp.status
        if resp.body and resp.headers.get("Content-Type") == "application/json":
            try:
                rec.response = json.loads(resp.body)  # type: ignore[arg-type]
            except Exception:
                rec.response = None
        return resp

    async def _read_body(self, request: web.Request, rec: RecordedRequest) -> None:
        ctype = request.content_type
        if ctype.startswith("multipart/"):
            reader = await request.multipart()
            while True:
                part = await reader.next()
                if part is None:
                    break
                name = part.name or ""
                data = await part.read(decode=False)  # type: ignore[union-attr]
                if part.filename is not None:  # type: ignore[union-attr]
                    rec.files.append((name, part.filename, bytes(data)))  # type: ignore[union-attr]
                elif name == "payload_json":
                    rec.json = json.loads(bytes(data).decode("utf-8"))
                else:
                    rec.files.append((name, name, bytes(data)))
        else:
            body = await request.read()
            rec.raw_body = body
            if body and (ctype == "application/json" or body[:1] in (b"{", b"[")):
                try:
                    rec.json = json.loads(body)
                except ValueError:
                    rec.json = None

    def _unknown(self, rec: RecordedRequest) -> web.Response:
        route = rec.route
        self.unknown_routes.append(route)
        self.violations.append(Violation("unknown_route", route, 404, None, f"FakeDiscord has no route for {route}"))
        _log.error("FakeDiscord: unknown route %s (add it to tests/harness/fake_discord.py)", route)
        return self._json({"message": f"404: Not Found (FakeDiscord has no route for {route})", "code": 0}, status=404)

    # ------------------------------------------------------------------ helpers

    @staticmethod
    def _json(data: Any, status: int = 200) -> web.Response:
        # exactly 'application/json' (no charset), like Discord: discord.py's json_or_text compares it verbatim
        return web.Response(status=status, body=json.dumps(data).encode(), headers={"Content-Type": "application/json"})

    @staticmethod
    def _no_content() -> web.Response:
        return web.Response(status=204)

    def _error(self, status: int, code: int, message: str, errors: Any = None) -> web.Response:
        body: dict[str, Any] = {"message": message, "code": code}
        if errors is not None:
            body["errors"] = errors
        return self._json(body, status=status)

    def _violation(
        self,
        kind: str,
        rec: RecordedRequest,
        status: int,
        code: int,
        message: str,
        errors: Any = None,
        detail: str = "",
    ) -> web.Response:
        resp = self._error(status, code, message, errors)
        body = json.loads(resp.body)  # type: ignore[arg-type]
        self.violations.append(Violation(kind, rec.route, status, body, detail))
        return resp

    def _form_error(self, rec: RecordedRequest, problems: list[tuple[tuple[str, ...], str, str]]) -> web.Response:
        errors: dict[str, Any] = {}
        for path, code, message in problems:
            node = errors
            for key in path:
                node = node.setdefault(key, {})
            node.setdefault("_errors", []).append({"code": code, "message": message})
        detail = "; ".join(f"{'.'.join(p) or '<root>'}: {msg}" for p, _, msg in problems)
        return self._violation("invalid_form_body", rec, 400, 50035, "Invalid Form Body", errors, detail)

    # ------------------------------------------------------------------ validation

    @staticmethod
    def _len_problem(path: tuple[str, ...], value: Any, limit: int) -> tuple[tuple[str, ...], str, str] | None:
        if isinstance(value, str) and len(value) > limit:
            return (path, "BASE_TYPE_MAX_LENGTH", f"Must be {limit} or fewer in length.")
        return None

    def validate_message(
        self, body: dict[str, Any], prefix: tuple[str, ...] = ()
    ) -> list[tuple[tuple[str, ...], str, str]]:
        problems: list[tuple[tuple[str, ...], str, str]] = []

        def add(p: tuple[tuple[str, ...], str, str] | None) -> None:
            if p is not None:
                problems.append(p)

        content = body.get("content")
        if content is not None:
            add(self._len_problem(prefix + ("content",), content, LIMITS["content"]))

        embeds = body.get("embeds") or []
        if len(embeds) > LIMITS["embeds"]:
            problems.append(
                (prefix + ("embeds",), "BASE_TYPE_MAX_LENGTH", f"Must be {LIMITS['embeds']} or fewer in length.")
            )
        total = 0
        for i, embed in enumerate(embeds):
            ep = prefix + ("embeds", str(i))
            title = embed.get("title") or ""
            desc = embed.get("description") or ""
            add(self._len_problem(ep + ("title",), title, LIMITS["embed_title"]))
            add(self._len_problem(ep + ("description",), desc, LIMITS["embed_description"]))
            total += len(title) + len(desc)
            fields = embed.get("fields") or []
            if len(fields) > LIMITS["embed_fields"]:
                problems.append(
                    (ep + ("fields",), "BASE_TYPE_MAX_LENGTH", f"Must be {LIMITS['embed_fields']} or fewer in length.")
                )
            for j, fld in enumerate(fields):
                fp = ep + ("fields", str(j))
                name = fld.get("name")
                value = fld.get("value")
                for key, val, limit in (("name", name, LIMITS["field_name"]), ("value", value, LIMITS["field_value"])):
                    if val is None or (isinstance(val, str) and not val.strip()):
                        problems.append((fp + (key,), "BASE_TYPE_REQUIRED", "This field is required"))
                    else:
                        add(self._len_problem(fp + (key,), str(val), limit))
                total += len(str(name or "")) + len(str(value or ""))
            footer = (embed.get("footer") or {}).get("text") or ""
            add(self._len_problem(ep + ("footer", "text"), footer, LIMITS["footer_text"]))
            author = (embed.get("author") or {}).get("name") or ""
            add(self._len_problem(ep + ("author", "name"), author, LIMITS["author_name"]))
            total += len(footer) + len(author)
        if total > LIMITS["embed_total"]:
            problems.append(
                (
                    prefix + ("embeds",),
                    "MAX_EMBED_SIZE_EXCEEDED",
                    f"Embed size exceeds maximum size of {LIMITS['embed_total']}",
                )
            )

        components = body.get("components") or []
        flags = int(body.get("flags") or 0)
        if not flags & IS_COMPONENTS_V2 and len(components) > LIMITS["action_rows"]:
            problems.append(
                (
                    prefix + ("components",),
                    "BASE_TYPE_MAX_LENGTH",
                    f"Must be {LIMITS['action_rows']} or fewer in length.",
                )
            )
        for i, comp in enumerate(components):
            self._validate_component(
                comp, prefix + ("components", str(i)), problems, top_level=not flags & IS_COMPONENTS_V2
            )
        return problems

    def _validate_component(
        self, comp: dict[str, Any], path: tuple[str, ...], problems: list[Any], top_level: bool
    ) -> None:
        ctype = comp.get("type")
        if top_level and ctype != 1:
            problems.append((path + ("type",), "UNION_TYPE_CHOICES", 'Value of field "type" must be one of (1,).'))
        children = comp.get("components") or []
        if ctype == 1 and len(children) > LIMITS["row_components"]:
            problems.append(
                (
                    path + ("components",),
                    "BASE_TYPE_MAX_LENGTH",
                    f"Must be {LIMITS['row_components']} or fewer in length.",
                )
            )
        if ctype == 2:
            label = comp.get("label")
            if label is not None and len(label) > LIMITS["button_label"]:
                problems.append(
                    (path + ("label",), "BASE_TYPE_MAX_LENGTH", f"Must be {LIMITS['button_label']} or fewer in length.")
                )
            if comp.get("style") == 5:
                if not comp.get("url"):
                    problems.append((path + ("url",), "BASE_TYPE_REQUIRED", "This field is required"))
            elif comp.get("style") != 6 and not comp.get("custom_id"):
                problems.append((path + ("custom_id",), "BASE_TYPE_REQUIRED", "This field is required"))
        custom_id = comp.get("custom_id")
        if isinstance(custom_id, str) and len(custom_id) > LIMITS["custom_id"]:
            problems.append(
                (path + ("custom_id",), "BASE_TYPE_MAX_LENGTH", f"Must be {LIMITS['custom_id']} or fewer in length.")
            )
        for j, child in enumerate(children):
            self._validate_component(child, path + ("components", str(j)), problems, top_level=False)
        accessory = comp.get("accessory")
        if isinstance(accessory, dict):
            self._validate_component(accessory, path + ("accessory",), problems, top_level=False)

    def _validate_choices(self, choices: Any) -> list[tuple[tuple[str, ...], str, str]]:
        problems: list[tuple[tuple[str, ...], str, str]] = []
        if not isinstance(choices, list):
            return [(("data", "choices"), "BASE_TYPE_REQUIRED", "This field is required")]
        if len(choices) > LIMITS["choices"]:
            problems.append(
                (("data", "choices"), "BASE_TYPE_MAX_LENGTH", f"Must be {LIMITS['choices']} or fewer in length.")
            )
        for i, ch in enumerate(choices):
            p = ("data", "choices", str(i))
            name = ch.get("name")
            if not isinstance(name, str) or not (1 <= len(name) <= LIMITS["choice_name"]):
                problems.append(
                    (p + ("name",), "BASE_TYPE_BAD_LENGTH", f"Must be between 1 and {LIMITS['choice_name']} in length.")
                )
            value = ch.get("value")
            if isinstance(value, str) and len(value) > LIMITS["choice_value"]:
                problems.append(
                    (p + ("value",), "BASE_TYPE_MAX_LENGTH", f"Must be {LIMITS['choice_value']} or fewer in length.")
                )
        return problems

    @staticmethod
    def _is_empty(body: dict[str, Any], files: list[Any]) -> bool:
        return not (
            body.get("content")
            or body.get("embeds")
            or body.get("components")
            or files
            or body.get("sticker_ids")
            or body.get("poll")
        )

    # ------------------------------------------------------------------ messages

    def _store_files(
        self, rec: RecordedRequest, body: dict[str, Any], channel_id: int
    ) -> tuple[list[dict[str, Any]], dict[int, tuple[str, bytes]]]:
        """Uploaded ``files[n]`` parts -> Discord attachment objects (+ bytes on the fake CDN)."""
        meta = {str(a.get("id")): a for a in (body.get("attachments") or []) if isinstance(a, dict)}
        attachments: list[dict[str, Any]] = []
        stored: dict[int, tuple[str, bytes]] = {}
        for field_name, filename, data in rec.files:
            m = re.match(r"files\[(\d+)\]", field_name)
            if not m:
                continue
            info = meta.get(m.group(1), {})
            att = self.add_cdn_file(info.get("filename") or filename, data, channel_id=channel_id)
            if info.get("description"):
                att["description"] = info["description"]
            attachments.append(att)
            stored[int(att["id"])] = (att["filename"], data)
        return attachments, stored

    def _make_message(
        self,
        rec: RecordedRequest,
        body: dict[str, Any],
        *,
        channel_id: int,
        source: str,
        flags: int,
        interaction: InteractionRecord | None = None,
        message_type: int = 0,
    ) -> MessageRecord:
        msg_id = self.snowflake()
        attachments, stored = self._store_files(rec, body, channel_id)
        channel = self.channels.get(channel_id) or {}
        payload: dict[str, Any] = {
            "id": str(msg_id),
            "type": message_type,
            "channel_id": str(channel_id),
            "author": self.bot_user_payload(),
            "content": body.get("content") or "",
            "timestamp": _now_iso(),
            "edited_timestamp": None,
            "tts": bool(body.get("tts", False)),
            "mention_everyone": False,
            "mentions": [],
            "mention_roles": [],
            "attachments": attachments,
            "embeds": [self._echo_embed(e) for e in body.get("embeds") or []],
            "components": body.get("components") or [],
            "pinned": False,
            "flags": flags,
        }
        if channel.get("guild_id"):
            payload["guild_id"] = str(channel["guild_id"])
        if interaction is not None:
            payload["webhook_id"] = str(self.application_id)
            payload["application_id"] = str(self.application_id)
            payload["interaction_metadata"] = {
                "id": str(interaction.id),
                "type": interaction.type,
                "user": self.users.get(interaction.user_id)
                or {"id": str(interaction.user_id), "username": "user", "discriminator": "0", "avatar": None},
                "authorizing_integration_owners": {},
            }
        self._link_attachments(payload)
        mrec = MessageRecord(
            id=msg_id,
            channel_id=channel_id,
            payload=payload,
            allowed_mentions=body.get("allowed_mentions"),
            files=stored,
            source=source,
            interaction_id=interaction.id if interaction else None,
            history=[body],
        )
        self.messages[msg_id] = mrec
        self.channel_messages.setdefault(channel_id, []).append(msg_id)
        return mrec

    @staticmethod
    def _link_attachments(payload: dict[str, Any]) -> None:
        """An embed image ``attachment://name`` shows the message's attachment of that name: Discord answers
        with the attachment's URL (and leaves the reference as it is when no such file was uploaded)."""
        urls = {a["filename"]: a["url"] for a in payload.get("attachments") or []}
        for embed in payload.get("embeds") or []:
            for key in ("image", "thumbnail"):
                media = embed.get(key)
                url = media.get("url") if isinstance(media, dict) else None
                if isinstance(url, str) and url.startswith("attachment://") and url[13:] in urls:
                    embed[key] = {**media, "url": urls[url[13:]], "proxy_url": urls[url[13:]]}

    @staticmethod
    def _echo_embed(embed: dict[str, Any]) -> dict[str, Any]:
        out = dict(embed)
        out.setdefault("type", "rich")
        return out

    def _apply_edit(
        self, rec: RecordedRequest, mrec: MessageRecord, body: dict[str, Any], *, clear_loading: bool = False
    ) -> None:
        p = mrec.payload
        if "content" in body:
            p["content"] = body["content"] or ""
        if "embeds" in body:
            p["embeds"] = [self._echo_embed(e) for e in body["embeds"] or []]
        if "components" in body:
            p["components"] = body["components"] or []
        new_atts, stored = self._store_files(rec, body, mrec.channel_id)
        if "attachments" in body or new_atts:
            keep_ids = {str(a.get("id")) for a in (body.get("attachments") or []) if isinstance(a, dict)}
            kept = (
                [a for a in p["attachments"] if a["id"] in keep_ids]
                if "attachments" in body
                else list(p["attachments"])
            )
            mrec.files = {k: v for k, v in mrec.files.items() if str(k) in {a["id"] for a in kept}}
            p["attachments"] = kept + new_atts
            mrec.files.update(stored)
        if "allowed_mentions" in body:
            mrec.allowed_mentions = body["allowed_mentions"]
        if "flags" in body and body["flags"] is not None:
            # only SUPPRESS_EMBEDS (and the v2 flag) can be changed by an edit
            keep = p["flags"] & ~(SUPPRESS_EMBEDS)
            p["flags"] = keep | (int(body["flags"]) & (SUPPRESS_EMBEDS | IS_COMPONENTS_V2))
        self._link_attachments(p)
        if clear_loading:
            p["flags"] &= ~LOADING
        p["edited_timestamp"] = _now_iso()
        mrec.history.append(body)

    def _message_response(self, mrec: MessageRecord) -> web.Response:
        return self._json(mrec.payload)

    # ------------------------------------------------------------------ users / app

    async def _get_me(self, rec: RecordedRequest) -> web.Response:
        auth = rec.headers.get("Authorization", "")
        if not auth.startswith("Bot "):
            return self._error(401, 0, "401: Unauthorized")
        return self._json(self.bot_user_payload())

    async def _get_user(self, rec: RecordedRequest, user_id: str) -> web.Response:
        user = self.users.get(int(user_id))
        if user is None:
            return self._error(404, 10013, "Unknown User")
        return self._json(user)

    async def _leave_guild(self, rec: RecordedRequest, guild_id: str) -> web.Response:
        if int(guild_id) not in self.guilds:
            return self._error(404, 10004, "Unknown Guild")
        self.left_guilds.append(int(guild_id))
        return web.Response(status=204)

    async def _create_dm(self, rec: RecordedRequest) -> web.Response:
        recipient = int((rec.json or {}).get("recipient_id", 0))
        user = self.users.get(recipient)
        if user is None or recipient in self.closed_dms:
            return self._error(400, 50007, "Cannot send messages to this user")
        cid = self.dm_channels.get(recipient)
        if cid is None:
            cid = self.snowflake()
            self.dm_channels[recipient] = cid
            self.add_channel({"id": str(cid), "type": 1, "recipients": [user], "last_message_id": None})
        return self._json(self.channels[cid])

    async def _get_application(self, rec: RecordedRequest) -> web.Response:
        return self._json(
            {
                "id": str(self.application_id),
                "name": self.bot_name,
                "description": "",
                "icon": None,
                "bot_public": True,
                "bot_require_code_grant": False,
                "owner": {"id": "1", "username": "owner", "discriminator": "0", "avatar": None, "global_name": None},
                "verify_key": "0" * 64,
                "flags": 0,
                "team": None,
                "summary": "",
                "bot": self.bot_user_payload(),
            }
        )

    # ------------------------------------------------------------------ commands

    _NAME_RE = re.compile(r"^[-_\w]{1,32}$")

    def _validate_commands(self, commands: Any) -> list[tuple[tuple[str, ...], str, str]]:
        problems: list[tuple[tuple[str, ...], str, str]] = []
        if not isinstance(commands, list):
            return [((), "BASE_TYPE_ARRAY", "Must be an array.")]
        if len(commands) > 100:
            problems.append(((), "BASE_TYPE_MAX_LENGTH", "Must be 100 or fewer in length."))

        def check(node: dict[str, Any], path: tuple[str, ...], is_command: bool) -> None:
            name = node.get("name") or ""
            ctype = node.get("type", 1)
            chat_input = (not is_command) or ctype == 1
            if not self._NAME_RE.match(name) or (chat_input and name != name.lower()):
                problems.append(
                    (path + ("name",), "APPLICATION_COMMAND_INVALID_NAME", f"Command name is invalid: {name!r}")
                )
            desc = node.get("description")
            if chat_input and (not isinstance(desc, str) or not 1 <= len(desc) <= 100):
                problems.append(
                    (path + ("description",), "BASE_TYPE_BAD_LENGTH", "Must be between 1 and 100 in length.")
                )
            options = node.get("options") or []
            if len(options) > 25:
                problems.append((path + ("options",), "BASE_TYPE_MAX_LENGTH", "Must be 25 or fewer in length."))
            seen_optional = False
            for i, opt in enumerate(options):
                op = path + ("options", str(i))
                if opt.get("type") not in (1, 2):
                    if opt.get("required"):
                        if seen_optional:
                            problems.append(
                                (
                                    op + ("required",),
                                    "APPLICATION_COMMAND_OPTIONS_REQUIRED_INVALID",
                                    "Required options must be placed before non-required options",
                                )
                            )
                    else:
                        seen_optional = True
                if len(opt.get("choices") or []) > 25:
                    problems.append((op + ("choices",), "BASE_TYPE_MAX_LENGTH", "Must be 25 or fewer in length."))
                if opt.get("choices") and opt.get("autocomplete"):
                    problems.append(
                        (
                            op + ("autocomplete",),
                            "APPLICATION_COMMAND_OPTION_AUTOCOMPLETE_INVALID",
                            "Autocomplete cannot be set with choices",
                        )
                    )
                check(opt, op, False)

        for i, cmd in enumerate(commands):
            check(cmd, (str(i),), True)
        return problems

    def _store_commands(self, rec: RecordedRequest, guild_id: int | None) -> web.Response:
        commands = rec.json
        problems = self._validate_commands(commands)
        if problems:
            return self._form_error(rec, problems)
        out = []
        for cmd in commands:
            c = dict(cmd)
            key = (guild_id, int(c.get("type", 1)), c["name"])
            cid = self._command_ids.setdefault(key, self.snowflake())
            c["id"] = str(cid)
            c["application_id"] = str(self.application_id)
            c["version"] = str(self.snowflake())
            c.setdefault("type", 1)
            c.setdefault("options", [])
            c.setdefault("default_member_permissions", None)
            if guild_id is not None:
                c["guild_id"] = str(guild_id)
            out.append(c)
        if guild_id is None:
            self.global_commands = out
        else:
            self.guild_commands[guild_id] = out
        return self._json(out)

    def _check_app(self, rec: RecordedRequest, app_id: str) -> web.Response | None:
        if int(app_id) != self.application_id:
            return self._error(403, 50001, "Missing Access")
        return None

    async def _get_global_commands(self, rec: RecordedRequest, app_id: str) -> web.Response:
        return self._check_app(rec, app_id) or self._json(self.global_commands or [])

    async def _put_global_commands(self, rec: RecordedRequest, app_id: str) -> web.Response:
        return self._check_app(rec, app_id) or self._store_commands(rec, None)

    async def _get_guild_commands(self, rec: RecordedRequest, app_id: str, guild_id: str) -> web.Response:
        return self._check_app(rec, app_id) or self._json(self.guild_commands.get(int(guild_id), []))

    async def _put_guild_commands(self, rec: RecordedRequest, app_id: str, guild_id: str) -> web.Response:
        if int(guild_id) not in self.guilds:
            return self._error(403, 50001, "Missing Access")
        return self._check_app(rec, app_id) or self._store_commands(rec, int(guild_id))

    # ------------------------------------------------------------------ interactions

    def _unknown_interaction(self) -> web.Response:
        return self._error(404, 10062, "Unknown interaction")

    def _invalid_token(self) -> web.Response:
        return self._error(401, 50027, "Invalid Webhook Token")

    async def _callback(self, rec: RecordedRequest, interaction_id: str, token: str) -> web.Response:
        irec = self.interactions.get(int(interaction_id))
        if irec is None or irec.token != token or irec.expired:
            return self._unknown_interaction()
        now = self._loop_time()
        if self.ack_deadline is not None and not irec.callbacks and now - irec.dispatched_at > self.ack_deadline:
            irec.expired = True
            return self._violation(
                "late_ack",
                rec,
                404,
                10062,
                "Unknown interaction",
                detail=f"callback arrived {now - irec.dispatched_at:.2f}s after dispatch (deadline {self.ack_deadline}s)",
            )
        if irec.callbacks:
            return self._violation(
                "already_acknowledged", rec, 400, 40060, "Interaction has already been acknowledged."
            )

        body = rec.json if isinstance(rec.json, dict) else {}
        ctype = body.get("type")
        data = body.get("data") or {}
        if ctype not in (1, 4, 5, 6, 7, 8, 9, 10, 12):
            return self._form_error(
                rec,
                [(("type",), "BASE_TYPE_CHOICES", f"Value must be one of (1, 4, 5, 6, 7, 8, 9, 12); got {ctype!r}.")],
            )
        component_types = (3, 5)
        if ctype in (6, 7) and irec.type not in component_types:
            return self._error(400, 40043, "Interaction callback type is not valid for this interaction type")
        if ctype == 8 and irec.type != 4:
            return self._error(400, 40043, "Interaction callback type is not valid for this interaction type")
        if irec.type == 4 and ctype != 8:
            return self._error(400, 40043, "Interaction callback type is not valid for this interaction type")

        if ctype in (4, 7):
            problems = self.validate_message(data, ("data",))
            if problems:
                return self._form_error(rec, problems)
            if ctype == 4 and self._is_empty(data, rec.files):
                return self._violation("empty_message", rec, 400, 50006, "Cannot send an empty message")
        if ctype == 8:
            problems = self._validate_choices(data.get("choices"))
            if problems:
                return self._form_error(rec, problems)

        message: MessageRecord | None = None
        if ctype == 4:
            flags = int(data.get("flags") or 0) & (
                EPHEMERAL | SUPPRESS_EMBEDS | SUPPRESS_NOTIFICATIONS | IS_COMPONENTS_V2
            )
            message = self._make_message(
                rec,
                data,
                channel_id=irec.channel_id,
                source="callback",
                flags=flags,
                interaction=irec,
                message_type=20 if irec.type == 2 else 0,
            )
            irec.original_id = message.id
        elif ctype == 5:
            flags = LOADING | (int(data.get("flags") or 0) & EPHEMERAL)
            message = self._make_message(
                rec,
                {"content": ""},
                channel_id=irec.channel_id,
                source="callback",
                flags=flags,
                interaction=irec,
                message_type=20 if irec.type == 2 else 0,
            )
            irec.original_id = message.id
            irec.loading = True
        elif ctype in (6, 7):
            irec.original_id = irec.message_id
            if ctype == 7:
                target = self.messages.get(irec.message_id or 0)
                if target is None or target.deleted:
                    return self._error(404, 10008, "Unknown Message")
                self._apply_edit(rec, target, data)
                message = target
        elif ctype == 8:
            irec.choices = data.get("choices")
        elif ctype == 9:
            irec.modal = data

        irec.callbacks.append({"type": ctype, "data": data, "at": now})
        if irec.expire_after_ack:
            irec.expired = True

        if rec.query.get("with_response") not in ("1", "true", "True"):
            return self._no_content()
        msg_payload = message.payload if message else None
        out: dict[str, Any] = {
            "interaction": {
                "id": str(irec.id),
                "type": irec.type,
                "response_message_id": str(message.id) if message else None,
                "response_message_loading": ctype == 5,
                "response_message_ephemeral": bool(msg_payload and msg_payload["flags"] & EPHEMERAL),
            }
        }
        if message is not None:
            out["resource"] = {"type": ctype, "message": msg_payload}
        return self._json(out)

    def _webhook_interaction(self, app_id: str, token: str) -> tuple[InteractionRecord | None, web.Response | None]:
        irec = self._by_token.get(token)
        if irec is None or int(app_id) != self.application_id or irec.expired:
            return None, self._invalid_token()
        if not irec.acknowledged:
            return None, self._error(404, 10015, "Unknown Webhook")
        return irec, None

    def _interaction_message(self, irec: InteractionRecord, message_id: str) -> MessageRecord | None:
        if message_id == "@original":
            mid = irec.original_id
        else:
            mid = int(message_id)
            allowed = {irec.original_id, *irec.followup_ids}
            if mid not in allowed:
                return None
        mrec = self.messages.get(mid or 0)
        if mrec is None or mrec.deleted:
            return None
        return mrec

    async def _webhook_execute(self, rec: RecordedRequest, app_id: str, token: str) -> web.Response:
        irec, err = self._webhook_interaction(app_id, token)
        if err is not None:
            return err
        assert irec is not None
        body = rec.json if isinstance(rec.json, dict) else {}
        problems = self.validate_message(body)
        if problems:
            return self._form_error(rec, problems)
        if self._is_empty(body, rec.files):
            return self._violation("empty_message", rec, 400, 50006, "Cannot send an empty message")
        original = self.messages.get(irec.original_id or 0)
        if irec.loading and original is not None and not original.deleted:
            # The first follow-up after a deferred "thinking" response replaces that message
            # (keeping the ephemeral state chosen at defer time), as Discord does.
            self._apply_edit(rec, original, body, clear_loading=True)
            irec.loading = False
            mrec = original
        else:
            flags = int(body.get("flags") or 0) & (
                EPHEMERAL | SUPPRESS_EMBEDS | SUPPRESS_NOTIFICATIONS | IS_COMPONENTS_V2
            )
            mrec = self._make_message(
                rec, body, channel_id=irec.channel_id, source="followup", flags=flags, interaction=irec
            )
        irec.followup_ids.append(mrec.id)
        if rec.query.get("wait") in ("1", "true", "True"):
            return self._message_response(mrec)
        return self._no_content()

    async def _webhook_get(self, rec: RecordedRequest, app_id: str, token: str, message_id: str) -> web.Response:
        irec, err = self._webhook_interaction(app_id, token)
        if err is not None:
            return err
        assert irec is not None
        mrec = self._interaction_message(irec, message_id)
        if mrec is None:
            return self._error(404, 10008, "Unknown Message")
        return self._message_response(mrec)

    async def _webhook_edit(self, rec: RecordedRequest, app_id: str, token: str, message_id: str) -> web.Response:
        irec, err = self._webhook_interaction(app_id, token)
        if err is not None:
            return err
        assert irec is not None
        mrec = self._interaction_message(irec, message_id)
        if mrec is None:
            return self._error(404, 10008, "Unknown Message")
        body = rec.json if isinstance(rec.json, dict) else {}
        problems = self.validate_message(body)
        if problems:
            return self._form_error(rec, problems)
        is_original = mrec.id == irec.original_id
        self._apply_edit(rec, mrec, body, clear_loading=is_original and irec.loading)
        if is_original:
            irec.loading = False
        return self._message_response(mrec)

    async def _webhook_delete(self, rec: RecordedRequest, app_id: str, token: str, message_id: str) -> web.Response:
        irec, err = self._webhook_interaction(app_id, token)
        if err is not None:
            return err
        assert irec is not None
        mrec = self._interaction_message(irec, message_id)
        if mrec is None:
            return self._error(404, 10008, "Unknown Message")
        mrec.deleted = True
        return self._no_content()

    # ------------------------------------------------------------------ channels

    async def _get_channel(self, rec: RecordedRequest, channel_id: str) -> web.Response:
        ch = self.channels.get(int(channel_id))
        if ch is None:
            return self._error(404, 10003, "Unknown Channel")
        return self._json(ch)

    async def _typing(self, rec: RecordedRequest, channel_id: str) -> web.Response:
        if int(channel_id) not in self.channels:
            return self._error(404, 10003, "Unknown Channel")
        return self._no_content()

    async def _channel_send(self, rec: RecordedRequest, channel_id: str) -> web.Response:
        cid = int(channel_id)
        if cid not in self.channels:
            return self._error(404, 10003, "Unknown Channel")
        body = rec.json if isinstance(rec.json, dict) else {}
        problems = self.validate_message(body)
        if problems:
            return self._form_error(rec, problems)
        if self._is_empty(body, rec.files):
            return self._violation("empty_message", rec, 400, 50006, "Cannot send an empty message")
        flags = int(body.get("flags") or 0) & (SUPPRESS_EMBEDS | SUPPRESS_NOTIFICATIONS | IS_COMPONENTS_V2)
        mrec = self._make_message(rec, body, channel_id=cid, source="channel", flags=flags)
        ref = body.get("message_reference")
        if ref:
            mrec.payload["message_reference"] = ref
            mrec.payload["type"] = 19
        return self._message_response(mrec)

    def _channel_message(self, channel_id: str, message_id: str) -> MessageRecord | None:
        mrec = self.messages.get(int(message_id))
        if mrec is None or mrec.deleted or mrec.channel_id != int(channel_id):
            return None
        return mrec

    async def _channel_get_message(self, rec: RecordedRequest, channel_id: str, message_id: str) -> web.Response:
        mrec = self._channel_message(channel_id, message_id)
        if mrec is None:
            return self._error(404, 10008, "Unknown Message")
        if mrec.payload["flags"] & EPHEMERAL:
            return self._error(404, 10008, "Unknown Message")
        return self._message_response(mrec)

    async def _channel_edit(self, rec: RecordedRequest, channel_id: str, message_id: str) -> web.Response:
        mrec = self._channel_message(channel_id, message_id)
        if mrec is None or mrec.payload["flags"] & EPHEMERAL:
            return self._error(404, 10008, "Unknown Message")
        body = rec.json if isinstance(rec.json, dict) else {}
        problems = self.validate_message(body)
        if problems:
            return self._form_error(rec, problems)
        self._apply_edit(rec, mrec, body)
        return self._message_response(mrec)

    async def _channel_delete(self, rec: RecordedRequest, channel_id: str, message_id: str) -> web.Response:
        mrec = self._channel_message(channel_id, message_id)
        if mrec is None or mrec.payload["flags"] & EPHEMERAL:
            return self._error(404, 10008, "Unknown Message")
        mrec.deleted = True
        return self._no_content()

    # ------------------------------------------------------------------ guilds

    async def _get_guild(self, rec: RecordedRequest, guild_id: str) -> web.Response:
        g = self.guilds.get(int(guild_id))
        if g is None:
            return self._error(404, 10004, "Unknown Guild")
        return self._json(g)

    async def _get_member(self, rec: RecordedRequest, guild_id: str, user_id: str) -> web.Response:
        m = self.members.get((int(guild_id), int(user_id)))
        if m is None:
            return self._error(404, 10007, "Unknown Member")
        return self._json(m)

    # ------------------------------------------------------------------ cdn

    def _cdn(self, raw_path: str) -> web.Response:
        m = re.match(r"^/cdn/attachments/\d+/(\d+)/[^/]+$", raw_path)
        if m and int(m.group(1)) in self.cdn:
            filename, data = self.cdn[int(m.group(1))]
            return web.Response(body=data, content_type="application/octet-stream")
        return web.Response(status=404, text="Not Found")
