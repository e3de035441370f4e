"""DiscordHarness: drive a discord.py ``commands.Bot`` offline against :class:`FakeDiscord`.

The bot logs in for real (``bot.login``, ``setup_hook``) with discord.py's own
``HTTPClient`` and interaction webhook adapter pointed at the fake (``Route.BASE``
is patched for the harness' lifetime). There is no gateway: world objects and
interactions are fed to the bot's ``ConnectionState`` through its real parsers
(``parse_guild_create``, ``parse_channel_create``, ``parse_guild_member_add``,
``parse_interaction_create``), so the real ``CommandTree`` and ``ViewStore`` run.

Usage::

    async with DiscordHarness(MyBot()) as h:
        await h.sync()                       # or let setup_hook call bot.tree.sync()
        g = h.guild('Acme', roles=['Admin'])
        alice = h.member(g, 'alice', roles=['Admin'])
        general = h.channel(g, 'general')
        r = await h.slash(alice, general, 'release dry-run', version='1.2.3')
        assert r.ephemeral and 'dry run' in r.text
        r2 = await h.click(alice, r.response, label='Confirm')

Options are built from what the bot SYNCED to the fake (names/types), so a
command that was not synced, an unknown option, a wrong value type or a
missing required option raises :class:`HarnessError` (an AssertionError).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import discord
import discord.http
import discord.webhook.async_
from discord import app_commands

from .fake_discord import EPHEMERAL, LOADING, FakeDiscord, InteractionRecord, MessageRecord, RecordedRequest, Violation

__all__ = [
    "DiscordHarness",
    "HarnessError",
    "CommandNotAvailable",
    "Result",
    "SentMessage",
    "User",
    "Member",
    "Role",
    "Guild",
    "Channel",
    "patched_discord_base",
]

# Tasks the harness waits for after dispatching an interaction.
TRACKED_TASK_PREFIXES: tuple[str, ...] = (
    "CommandTree-invoker",
    "discord-ui-view-dispatch-",
    "discord-ui-dynamic-item-",
    "discord-ui-modal-",
    "discord.py: on_interaction",
    "discord.py: on_app_command_completion",
)

DEFAULT_EVERYONE_PERMS = discord.Permissions(
    view_channel=True,
    send_messages=True,
    read_message_history=True,
    embed_links=True,
    attach_files=True,
    add_reactions=True,
    use_application_commands=True,
    use_external_emojis=True,
    create_public_threads=True,
    send_messages_in_threads=True,
    connect=True,
    speak=True,
).value

OPTION_TYPE_NAMES = {
    1: "SUB_COMMAND",
    2: "SUB_COMMAND_GROUP",
    3: "STRING",
    4: "INTEGER",
    5: "BOOLEAN",
    6: "USER",
    7: "CHANNEL",
    8: "ROLE",
    9: "MENTIONABLE",
    10: "NUMBER",
    11: "ATTACHMENT",
}


class HarnessError(AssertionError):
    """The test asked for something Discord would not let a user do (or the bot hung)."""


class CommandNotAvailable(HarnessError):
    """The command exists but Discord would not offer it to this user / in this context."""


# ---------------------------------------------------------------------------- world objects


@dataclass(eq=False)
class User:
    id: int
    name: str
    global_name: str | None = None
    bot: bool = False

    def payload(self) -> dict[str, Any]:
        return {
            "id": str(self.id),
            "username": self.name,
            "discriminator": "0",
            "global_name": self.global_name,
            "avatar": None,
            "bot": self.bot,
            "public_flags": 0,
        }

    @property
    def mention(self) -> str:
        return f"<@{self.id}>"


@dataclass(eq=False)
class Role:
    id: int
    name: str
    guild: Guild
    permissions: int = 0
    position: int = 0
    mentionable: bool = False

    def payload(self) -> dict[str, Any]:
        return {
            "id": str(self.id),
            "name": self.name,
            "color": 0,
            "colors": {"primary_color": 0, "secondary_color": None, "tertiary_color": None},
            "hoist": False,
            "icon": None,
            "unicode_emoji": None,
            "position": self.position,
            "permissions": str(self.permissions),
            "managed": False,
            "mentionable": self.mentionable,
            "flags": 0,
        }

    @property
    def mention(self) -> str:
        return f"<@&{self.id}>"


@dataclass(eq=False)
class Channel:
    id: int
    name: str
    guild: Guild | None
    type: int = 0  # 0 text, 1 DM, 2 voice, 5 news, 15 forum
    recipient: User | None = None
    position: int = 0

    def payload(self) -> dict[str, Any]:
        if self.guild is None:
            return {
                "id": str(self.id),
                "type": 1,
                "last_message_id": None,
                "recipients": [self.recipient.payload()] if self.recipient else [],
            }
        return {
            "id": str(self.id),
            "type": self.type,
            "guild_id": str(self.guild.id),
            "name": self.name,
            "position": self.position,
            "permission_overwrites": [],
            "nsfw": False,
            "parent_id": None,
            "topic": None,
            "rate_limit_per_user": 0,
            "last_message_id": None,
        }

    @property
    def mention(self) -> str:
        return f"<#{self.id}>"


@dataclass(eq=False)
class Guild:
    id: int
    name: str
    owner_id: int
    roles: dict[str, Role] = field(default_factory=dict)  # by name (includes '@everyone')
    channels: list[Channel] = field(default_factory=list)
    members: list[Member] = field(default_factory=list)

    @property
    def everyone(self) -> Role:
        return self.roles["@everyone"]

    def role(self, name: str) -> Role:
        try:
            return self.roles[name]
        except KeyError:
            raise HarnessError(f"guild {self.name!r} has no role {name!r} (roles: {sorted(self.roles)})") from None


@dataclass(eq=False)
class Member:
    user: User
    guild: Guild
    roles: list[Role] = field(default_factory=list)
    nick: str | None = None
    permissions_override: int | None = None

    @property
    def id(self) -> int:
        return self.user.id

    @property
    def name(self) -> str:
        return self.user.name

    @property
    def mention(self) -> str:
        return self.user.mention

    @property
    def permissions(self) -> int:
        if self.permissions_override is not None:
            return self.permissions_override
        if self.guild.owner_id == self.user.id:
            return discord.Permissions.all().value
        value = self.guild.everyone.permissions
        for r in self.roles:
            value |= r.permissions
        if value & discord.Permissions(administrator=True).value:
            return discord.Permissions.all().value
        return value

    def payload(self, *, with_user: bool = True, with_permissions: bool = False) -> dict[str, Any]:
        data: dict[str, Any] = {
            "roles": [str(r.id) for r in self.roles],
            "nick": self.nick,
            "avatar": None,
            "joined_at": "2024-01-01T00:00:00+00:00",
            "premium_since": None,
            "deaf": False,
            "mute": False,
            "pending": False,
            "flags": 0,
            "communication_disabled_until": None,
        }
        if with_user:
            data["user"] = self.user.payload()
        if with_permissions:
            data["permissions"] = str(self.permissions)
        return data


Who = Member | User


# ---------------------------------------------------------------------------- results


class SentMessage:
    """A live view of a message the bot made, as the fake stores it (reflects later edits)."""

    def __init__(self, record: MessageRecord) -> None:
        self._rec = record

    def __repr__(self) -> str:
        return (
            f"<SentMessage id={self.id} source={self._rec.source} ephemeral={self.ephemeral} content={self.content!r}>"
        )

    @property
    def record(self) -> MessageRecord:
        return self._rec

    @property
    def id(self) -> int:
        return self._rec.id

    @property
    def channel_id(self) -> int:
        return self._rec.channel_id

    @property
    def payload(self) -> dict[str, Any]:
        return self._rec.payload

    @property
    def content(self) -> str:
        return self._rec.payload.get("content") or ""

    @property
    def embeds(self) -> list[discord.Embed]:
        return [discord.Embed.from_dict(e) for e in self._rec.payload.get("embeds") or []]

    @property
    def components(self) -> list[dict[str, Any]]:
        return self._rec.payload.get("components") or []

    @property
    def flags(self) -> int:
        return int(self._rec.payload.get("flags") or 0)

    @property
    def ephemeral(self) -> bool:
        return bool(self.flags & EPHEMERAL)

    @property
    def loading(self) -> bool:
        """Still the deferred "Bot is thinking..." placeholder."""
        return bool(self.flags & LOADING)

    @property
    def deleted(self) -> bool:
        return self._rec.deleted

    @property
    def edited(self) -> bool:
        return len(self._rec.history) > 1

    @property
    def allowed_mentions(self) -> dict[str, Any] | None:
        return self._rec.allowed_mentions

    @property
    def attachments(self) -> list[tuple[str, bytes]]:
        return list(self._rec.files.values())

    def _walk(self, comps: Iterable[dict[str, Any]]) -> Iterator[dict[str, Any]]:
        for c in comps:
            yield c
            yield from self._walk(c.get("components") or [])
            acc = c.get("accessory")
            if isinstance(acc, dict):
                yield from self._walk([acc])

    @property
    def buttons(self) -> list[dict[str, Any]]:
        return [c for c in self._walk(self.components) if c.get("type") == 2]

    @property
    def button_labels(self) -> list[str]:
        return [b.get("label") or "" for b in self.buttons]

    @property
    def custom_ids(self) -> list[str]:
        return [c["custom_id"] for c in self._walk(self.components) if c.get("custom_id")]

    def component(self, *, label: str | None = None, custom_id: str | None = None) -> dict[str, Any]:
        for c in self._walk(self.components):
            if custom_id is not None and c.get("custom_id") == custom_id:
                return c
            if label is not None and c.get("type") == 2 and c.get("label") == label:
                return c
        raise HarnessError(
            f"message {self.id} has no component with label={label!r} custom_id={custom_id!r} "
            f"(buttons: {self.button_labels}, custom_ids: {self.custom_ids})"
        )

    def is_disabled(self, label: str | None = None, *, custom_id: str | None = None) -> bool:
        return bool(self.component(label=label, custom_id=custom_id).get("disabled", False))

    @property
    def text(self) -> str:
        parts: list[str] = []
        if self.content:
            parts.append(self.content)
        for e in self._rec.payload.get("embeds") or []:
            for key in ("title", "description"):
                if e.get(key):
                    parts.append(str(e[key]))
            if (e.get("author") or {}).get("name"):
                parts.append(e["author"]["name"])
            for f in e.get("fields") or []:
                parts.append(str(f.get("name", "")))
                parts.append(str(f.get("value", "")))
            if (e.get("footer") or {}).get("text"):
                parts.append(e["footer"]["text"])
        for c in self._walk(self.components):
            if c.get("type") == 10 and c.get("content"):  # components v2 TextDisplay
                parts.append(c["content"])
        return "\n".join(parts)


class Result:
    """What the user saw after one interaction (live: reflects later edits/follow-ups)."""

    def __init__(
        self, harness: DiscordHarness, record: InteractionRecord, payload: dict[str, Any], request_start: int
    ) -> None:
        self._h = harness
        self._fake = harness.fake
        self.record = record
        self.payload = payload  # the interaction payload dispatched to the bot
        self._req_start = request_start
        self._req_end: int | None = None
        self.errors: list[BaseException] = []  # exceptions the bot raised/logged while handling it

    def __repr__(self) -> str:
        return (
            f"<Result interaction={self.record.id} acknowledged={self.acknowledged} type={self.callback_type} "
            f"ephemeral={self.ephemeral} text={self.text!r} errors={self.errors!r}>"
        )

    # -- acknowledgement
    @property
    def interaction_id(self) -> int:
        return self.record.id

    @property
    def callback_type(self) -> int | None:
        return self.record.callbacks[0]["type"] if self.record.callbacks else None

    @property
    def acknowledged(self) -> bool:
        return self.record.acknowledged

    @property
    def deferred(self) -> bool:
        return self.callback_type in (5, 6)

    @property
    def ephemeral(self) -> bool:
        if not self.record.callbacks:
            return False
        data = self.record.callbacks[0]["data"] or {}
        if int(data.get("flags") or 0) & EPHEMERAL:
            return True
        msg = self.response
        return bool(msg and msg.ephemeral)

    @property
    def response_time(self) -> float | None:
        """Seconds from dispatch to the first callback POST (None if never acknowledged)."""
        if not self.record.callbacks:
            return None
        return self.record.callbacks[0]["at"] - self.record.dispatched_at

    # -- messages
    @property
    def response(self) -> SentMessage | None:
        """The original response (after edits). After a defer this is the message the first follow-up replaced."""
        mid = self.record.original_id
        if mid is None or mid not in self._fake.messages:
            return None
        return SentMessage(self._fake.messages[mid])

    @property
    def followups(self) -> list[SentMessage]:
        """Every message POSTed to the follow-up webhook, in order (the first one after a defer is the response)."""
        return [SentMessage(self._fake.messages[i]) for i in self.record.followup_ids]

    @property
    def messages(self) -> list[SentMessage]:
        out: list[SentMessage] = []
        seen = set()
        for m in ([self.response] if self.response else []) + self.followups:
            if m.id not in seen and not m.deleted:
                seen.add(m.id)
                out.append(m)
        return out

    @property
    def text(self) -> str:
        return "\n".join(m.text for m in self.messages if m.text)

    @property
    def choices(self) -> list[dict[str, Any]] | None:
        return self.record.choices

    @property
    def modal(self) -> dict[str, Any] | None:
        return self.record.modal

    def messages_in(self, channel: Channel | int) -> list[SentMessage]:
        return self._h.messages_in(channel)

    # -- traffic
    @property
    def requests(self) -> list[RecordedRequest]:
        end = self._req_end if self._req_end is not None else len(self._fake.requests)
        return self._fake.requests[self._req_start : end]

    @property
    def http_errors(self) -> list[RecordedRequest]:
        """Requests made while handling this interaction that the fake answered with an error status."""
        return [r for r in self.requests if r.status >= 400]

    def raised(self, exc_type: type) -> bool:
        """Did the bot raise ``exc_type`` (directly or wrapped in CommandInvokeError) while handling this?"""
        for e in self.errors:
            seen = e
            while seen is not None:
                if isinstance(seen, exc_type):
                    return True
                seen = getattr(seen, "original", None) or seen.__cause__
        return False


# ---------------------------------------------------------------------------- route patching


@contextlib.contextmanager
def patched_discord_base(api_base: str) -> Iterator[None]:
    """Point discord.py's REST (HTTPClient) and webhook adapter Routes at ``api_base``."""
    classes = {discord.http.Route, discord.webhook.async_.Route}
    saved = [(cls, cls.__dict__.get("BASE")) for cls in classes]
    try:
        for cls in classes:
            cls.BASE = api_base
        yield
    finally:
        for cls, value in saved:
            if value is None:
                with contextlib.suppress(AttributeError):
                    del cls.BASE
            else:
                cls.BASE = value


class _ErrorCapture(logging.Handler):
    def __init__(self, sink: Callable[[BaseException], None]) -> None:
        super().__init__(level=logging.ERROR)
        self._sink = sink

    def emit(self, record: logging.LogRecord) -> None:
        if record.exc_info and record.exc_info[1] is not None:
            self._sink(record.exc_info[1])


# ---------------------------------------------------------------------------- harness


class DiscordHarness:
    """Connects a ``commands.Bot`` to a :class:`FakeDiscord` and acts as users.

    :param ack_deadline: if set (e.g. ``3.0``), a callback arriving later than this many seconds
        after dispatch gets Discord's 404 "Unknown interaction" and a ``late_ack`` violation.
        Off by default; ``Result.response_time`` is always measured.
    :param strict: on ``close()`` (or leaving ``async with``) raise if the fake recorded
        violations that the test did not take with :meth:`take_violations`.
    """

    def __init__(
        self,
        bot: discord.Client,
        *,
        token: str | None = None,
        timeout: float = 10.0,
        ack_deadline: float | None = None,
        strict: bool = True,
        bot_name: str = "HarnessBot",
    ) -> None:
        self.bot = bot
        self.token = token or f"fake-token-{secrets.token_hex(8)}"
        self.timeout = timeout
        self.strict = strict
        self.fake = FakeDiscord(ack_deadline=ack_deadline, bot_name=bot_name)
        self._patch: contextlib.ExitStack | None = None
        self._errors: list[BaseException] = []
        self._log_handler = _ErrorCapture(self._record_error)
        self._started = False
        self._closed = False
        self.guilds: list[Guild] = []

    # -- lifecycle -------------------------------------------------------------

    @property
    def state(self) -> Any:
        return self.bot._connection  # discord.py's ConnectionState

    async def start(self) -> DiscordHarness:
        await self.fake.start()
        self._patch = contextlib.ExitStack()
        self._patch.enter_context(patched_discord_base(self.fake.api_base))
        logging.getLogger("discord").addHandler(self._log_handler)
        try:
            await self.bot.login(self.token)  # GET /users/@me, GET /oauth2/applications/@me, setup_hook()
        except BaseException:
            await self.close()
            raise
        if self.state.application_id is None:
            self.state.application_id = self.fake.application_id
        self._wrap_tree_on_error()
        self._started = True
        return self

    def _wrap_tree_on_error(self) -> None:
        tree = getattr(self.bot, "tree", None)
        if tree is None:
            return
        original = tree.on_error

        async def on_error(interaction: discord.Interaction, error: app_commands.AppCommandError, /) -> None:
            self._record_error(error)
            await original(interaction, error)

        tree.on_error = on_error  # type: ignore[method-assign]

    def _record_error(self, error: BaseException) -> None:
        if not any(e is error for e in self._errors):
            self._errors.append(error)

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        try:
            with contextlib.suppress(Exception):
                for view in list(self._all_views()):
                    view.stop()
            await self.bot.close()
        finally:
            logging.getLogger("discord").removeHandler(self._log_handler)
            if self._patch is not None:
                self._patch.close()
            await self.fake.close()

    async def restart(self, bot: discord.Client) -> discord.Client:
        """Replace the bot by ``bot``, as a new process after a crash: the old one gets no more interactions and
        is not closed (it is returned, for the test to close at its end); the new one logs in, and every guild,
        channel and member is fed to it again. Messages the old one sent stay on screen, buttons included."""
        old, self.bot = self.bot, bot
        await bot.login(self.token)
        if self.state.application_id is None:
            self.state.application_id = self.fake.application_id
        self._wrap_tree_on_error()
        for guild in self.guilds:
            create = dict(self.fake.guilds[guild.id])
            create.pop("unavailable", None)
            self.state.parse_guild_create(create)
            for (guild_id, _), member in self.fake.members.items():
                if guild_id == guild.id:
                    self.state.parse_guild_member_add({**member, "guild_id": str(guild_id)})
        return old

    def _all_views(self) -> Iterator[Any]:
        store = self.state._view_store
        seen = set()
        for items in list(store._views.values()):
            for item in list(items.values()):
                v = item.view
                if v is not None and id(v) not in seen:
                    seen.add(id(v))
                    yield v

    async def __aenter__(self) -> DiscordHarness:
        return await self.start()

    async def __aexit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        await self.close()
        if exc_type is None and self.strict and self.fake.violations:
            raise HarnessError(
                "FakeDiscord recorded violations the test did not take (h.take_violations()):\n  "
                + "\n  ".join(str(v) for v in self.fake.violations)
            )

    def take_violations(self) -> list[Violation]:
        return self.fake.take_violations()

    async def sync(self, guild: Guild | None = None) -> list[app_commands.AppCommand]:
        """Convenience: ``bot.tree.sync()`` (globally or to one guild) against the fake."""
        return await self.bot.tree.sync(guild=discord.Object(id=guild.id) if guild else None)  # type: ignore[attr-defined]

    # -- world building ------------------------------------------------------------

    def user(self, name: str, *, global_name: str | None = None, bot: bool = False) -> User:
        u = User(id=self.fake.snowflake(), name=name, global_name=global_name, bot=bot)
        self.fake.add_user(u.payload())
        return u

    def guild(
        self,
        name: str,
        roles: Sequence[str | tuple[str, int] | dict[str, Any]] = (),
        *,
        owner: User | None = None,
        everyone_permissions: int = DEFAULT_EVERYONE_PERMS,
        id: int | None = None,
    ) -> Guild:
        """Create a guild (with roles, by name or ``(name, permissions)``) and GUILD_CREATE it to the bot.
        ``id``: a given guild id (the same server seen by two bot processes)."""
        owner = owner or self.user(f"{name}-owner")
        gid = id if id is not None else self.fake.snowflake()
        g = Guild(id=gid, name=name, owner_id=owner.id)
        g.roles["@everyone"] = Role(id=gid, name="@everyone", guild=g, permissions=everyone_permissions)
        for pos, spec in enumerate(roles, start=1):
            rname, perms = self._role_spec(spec)
            g.roles[rname] = Role(id=self.fake.snowflake(), name=rname, guild=g, permissions=perms, position=pos)
        bot_member = {
            "user": self.fake.bot_user_payload(),
            "roles": [],
            "nick": None,
            "joined_at": "2024-01-01T00:00:00+00:00",
            "deaf": False,
            "mute": False,
            "flags": 0,
        }
        payload = {
            "id": str(gid),
            "name": name,
            "icon": None,
            "owner_id": str(owner.id),
            "afk_channel_id": None,
            "afk_timeout": 300,
            "verification_level": 0,
            "default_message_notifications": 0,
            "explicit_content_filter": 0,
            "features": [],
            "mfa_level": 0,
            "system_channel_id": None,
            "system_channel_flags": 0,
            "rules_channel_id": None,
            "vanity_url_code": None,
            "banner": None,
            "premium_tier": 0,
            "preferred_locale": "en-US",
            "public_updates_channel_id": None,
            "nsfw_level": 0,
            "premium_progress_bar_enabled": False,
            "roles": [r.payload() for r in g.roles.values()],
            "emojis": [],
            "stickers": [],
            "channels": [],
            "threads": [],
            "members": [bot_member],
            "voice_states": [],
            "presences": [],
            "stage_instances": [],
            "guild_scheduled_events": [],
            "soundboard_sounds": [],
            "member_count": 1,
            "large": False,
            "joined_at": "2024-01-01T00:00:00+00:00",
            "unavailable": False,
        }
        self.fake.add_guild(payload)
        self.guilds.append(g)
        create = dict(payload)
        create.pop("unavailable")  # a fresh join (GUILD_CREATE -> on_guild_join), not a re-availability
        self.state.parse_guild_create(create)
        return g

    @staticmethod
    def _role_spec(spec: str | tuple[str, int] | dict[str, Any]) -> tuple[str, int]:
        if isinstance(spec, str):
            return spec, 0
        if isinstance(spec, dict):
            perms = spec.get("permissions", 0)
            return spec["name"], int(getattr(perms, "value", perms))
        name, perms = spec
        return name, int(getattr(perms, "value", perms))

    def role(self, guild: Guild, name: str, permissions: int | discord.Permissions = 0) -> Role:
        r = Role(
            id=self.fake.snowflake(),
            name=name,
            guild=guild,
            permissions=int(getattr(permissions, "value", permissions)),
            position=len(guild.roles),
        )
        guild.roles[name] = r
        self.fake.guilds[guild.id]["roles"].append(r.payload())
        self.state.parse_guild_role_create({"guild_id": str(guild.id), "role": r.payload()})
        return r

    def member(
        self,
        guild: Guild,
        name_or_user: str | User,
        roles: Sequence[str | Role] = (),
        *,
        nick: str | None = None,
        permissions: int | None = None,
    ) -> Member:
        """Add a member (new user by name, or an existing :class:`User` -> same person in another guild)."""
        user = name_or_user if isinstance(name_or_user, User) else self.user(name_or_user)
        role_objs = [r if isinstance(r, Role) else guild.role(r) for r in roles]
        m = Member(user=user, guild=guild, roles=role_objs, nick=nick, permissions_override=permissions)
        guild.members.append(m)
        self.fake.add_member(guild.id, m.payload())
        self.fake.guilds[guild.id]["member_count"] += 1
        self.state.parse_guild_member_add({**m.payload(), "guild_id": str(guild.id)})
        return m

    def channel(self, guild: Guild, name: str, *, type: int = 0) -> Channel:
        ch = Channel(id=self.fake.snowflake(), name=name, guild=guild, type=type, position=len(guild.channels))
        guild.channels.append(ch)
        self.fake.add_channel(ch.payload())
        self.fake.guilds[guild.id]["channels"].append(ch.payload())
        self.state.parse_channel_create(ch.payload())
        return ch

    def dm(self, user: User | Member) -> Channel:
        """The DM channel between ``user`` and the bot (no guild)."""
        u = user.user if isinstance(user, Member) else user
        cid = self.fake.dm_channels.get(u.id)
        if cid is None:
            cid = self.fake.snowflake()
            self.fake.dm_channels[u.id] = cid
        ch = Channel(id=cid, name=f"dm-{u.name}", guild=None, type=1, recipient=u)
        self.fake.add_channel(ch.payload())
        return ch

    # -- command schema ------------------------------------------------------------

    def synced_command(self, name: str, guild: Guild | None = None) -> dict[str, Any]:
        """The command payload as synced to the fake (guild commands first, then global)."""
        candidates: list[dict[str, Any]] = []
        if guild is not None:
            candidates += [
                c for c in self.fake.guild_commands.get(guild.id, []) if c["name"] == name and c.get("type", 1) == 1
            ]
        candidates += [c for c in (self.fake.global_commands or []) if c["name"] == name and c.get("type", 1) == 1]
        if not candidates:
            synced_global = [c["name"] for c in self.fake.global_commands or []]
            synced_guild = [c["name"] for c in self.fake.guild_commands.get(guild.id, [])] if guild else []
            local = self._local_command(name, guild)
            hint = (
                "the bot has it in its tree but never synced it (call bot.tree.sync() / h.sync())"
                if local is not None
                else "the bot has no such command"
            )
            raise HarnessError(
                f"/{name} is not a synced slash command, so Discord would not offer it: {hint}. "
                f"Synced global: {synced_global or 'nothing'}; synced in this guild: {synced_guild or 'nothing'}"
            )
        return candidates[0]

    def _local_command(self, name: str, guild: Guild | None) -> Any:
        tree = getattr(self.bot, "tree", None)
        if tree is None:
            return None
        cmd = None
        if guild is not None:
            cmd = tree.get_command(name, guild=discord.Object(id=guild.id))
        return cmd or tree.get_command(name)

    @staticmethod
    def _shape(node: dict[str, Any]) -> Any:
        return (
            node.get("name"),
            node.get("type", 1),
            bool(node.get("required", False)),
            bool(node.get("autocomplete", False)),
            tuple((c["name"], c["value"]) for c in node.get("choices") or []),
            tuple(DiscordHarness._shape(o) for o in node.get("options") or []),
        )

    def _check_fresh(self, synced: dict[str, Any], guild: Guild | None) -> None:
        local = self._local_command(synced["name"], guild if synced.get("guild_id") else None)
        if local is None:
            return  # Discord still offers it; the bot's tree will answer CommandNotFound
        local_payload = local.to_dict(self.bot.tree)  # type: ignore[attr-defined]
        if self._shape(local_payload) != self._shape({**synced, "type": synced.get("type", 1)}):
            raise HarnessError(
                f"/{synced['name']}: the synced schema differs from the bot's command tree (stale sync?).\n"
                f"  synced: {self._shape(synced)}\n  tree:   {self._shape(local_payload)}"
            )

    def _check_available(self, synced: dict[str, Any], who: Who, channel: Channel) -> None:
        name = synced["name"]
        if channel.guild is None:
            contexts = synced.get("contexts")
            if synced.get("dm_permission") is False or (contexts is not None and 1 not in contexts):
                raise CommandNotAvailable(f"/{name} is not available in DMs (guild-only command)")
            return
        if synced.get("guild_id") and int(synced["guild_id"]) != channel.guild.id:
            raise CommandNotAvailable(f"/{name} is synced to another guild")
        contexts = synced.get("contexts")
        if contexts is not None and 0 not in contexts:
            raise CommandNotAvailable(f"/{name} is not available in guilds")
        required = synced.get("default_member_permissions")
        if required is not None and isinstance(who, Member):
            have = who.permissions
            if int(required) & ~have and not have & discord.Permissions(administrator=True).value:
                raise CommandNotAvailable(
                    f"/{name} requires default_member_permissions={required}; {who.name} has {have}, "
                    "so Discord would not show them the command"
                )

    # -- option building -------------------------------------------------------------

    def _convert(self, path: str, schema: dict[str, Any], value: Any, ctx: _PayloadCtx) -> Any:
        t = schema["type"]
        oname = schema["name"]
        tname = OPTION_TYPE_NAMES.get(t, str(t))

        def bad(expected: str) -> HarnessError:
            return HarnessError(f"/{path}: option {oname!r} is {tname}; expected {expected}, got {value!r}")

        if t == 3:
            if not isinstance(value, str):
                raise bad("a str")
            if schema.get("min_length") is not None and len(value) < schema["min_length"]:
                raise HarnessError(f"/{path}: {oname!r} shorter than min_length={schema['min_length']}")
            if schema.get("max_length") is not None and len(value) > schema["max_length"]:
                raise HarnessError(f"/{path}: {oname!r} longer than max_length={schema['max_length']}")
        elif t == 4:
            if not isinstance(value, int) or isinstance(value, bool):
                raise bad("an int")
        elif t == 10:
            if not isinstance(value, (int, float)) or isinstance(value, bool):
                raise bad("a number")
        elif t == 5:
            if not isinstance(value, bool):
                raise bad("a bool")
        if t in (4, 10):
            if schema.get("min_value") is not None and value < schema["min_value"]:
                raise HarnessError(f"/{path}: {oname!r}={value} below min_value={schema['min_value']}")
            if schema.get("max_value") is not None and value > schema["max_value"]:
                raise HarnessError(f"/{path}: {oname!r}={value} above max_value={schema['max_value']}")
        if t in (3, 4, 10) and schema.get("choices"):
            allowed = [c["value"] for c in schema["choices"]]
            if value not in allowed:
                raise HarnessError(f"/{path}: {oname!r}={value!r} is not one of its choices {allowed}")
            return value
        if t in (3, 4, 5, 10):
            return value
        if t == 6:
            if not isinstance(value, (User, Member)):
                raise bad("a harness User or Member")
            ctx.add_user(value)
            return str(value.id)
        if t == 7:
            if not isinstance(value, Channel):
                raise bad("a harness Channel")
            types = schema.get("channel_types")
            if types and value.type not in types:
                raise HarnessError(f"/{path}: {oname!r} accepts channel types {types}, got {value.type}")
            ctx.add_channel(value)
            return str(value.id)
        if t == 8:
            if not isinstance(value, Role):
                raise bad("a harness Role")
            ctx.add_role(value)
            return str(value.id)
        if t == 9:
            if isinstance(value, Role):
                ctx.add_role(value)
            elif isinstance(value, (User, Member)):
                ctx.add_user(value)
            else:
                raise bad("a User, Member or Role")
            return str(value.id)
        if t == 11:
            if not (
                isinstance(value, tuple)
                and len(value) in (2, 3)
                and isinstance(value[0], str)
                and isinstance(value[1], (bytes, bytearray))
            ):
                raise bad("a (filename, bytes[, content_type]) tuple")
            return ctx.add_attachment(*value)
        raise HarnessError(f"/{path}: option type {t} not supported by the harness")

    def _build_data(
        self,
        synced: dict[str, Any],
        path: str,
        kwargs: dict[str, Any],
        ctx: _PayloadCtx,
        focused: tuple[str, str] | None = None,
    ) -> dict[str, Any]:
        parts = path.split()
        root: list[dict[str, Any]] = []
        container = root
        node = synced
        for part in parts[1:]:
            subs = [o for o in node.get("options") or [] if o.get("type") in (1, 2)]
            match = next((o for o in subs if o["name"] == part), None)
            if match is None:
                raise HarnessError(
                    f"/{path}: {part!r} is not a synced subcommand of /{node['name']} "
                    f"(synced subcommands: {[o['name'] for o in subs] or 'none'})"
                )
            opt: dict[str, Any] = {"type": match["type"], "name": part, "options": []}
            container.append(opt)
            container = opt["options"]
            node = match
        schema_opts = node.get("options") or []
        if any(o.get("type") in (1, 2) for o in schema_opts):
            raise HarnessError(
                f"/{path} is a group; Discord needs a subcommand: {[o['name'] for o in schema_opts if o.get('type') in (1, 2)]}"
            )
        by_name = {o["name"]: o for o in schema_opts}
        given = dict(kwargs)
        if focused is not None:
            fname = focused[0]
            schema = by_name.get(fname)
            if schema is None:
                raise HarnessError(f"/{path} has no option {fname!r} (synced options: {self._describe(schema_opts)})")
            if not schema.get("autocomplete"):
                raise HarnessError(f"/{path}: option {fname!r} was not synced with autocomplete=True")
        for key in given:
            if key not in by_name:
                raise HarnessError(f"/{path} has no option {key!r} (synced options: {self._describe(schema_opts)})")
        for schema in schema_opts:
            name = schema["name"]
            if focused is not None and name == focused[0]:
                container.append({"type": schema["type"], "name": name, "value": focused[1], "focused": True})
                continue
            if name in given:
                container.append(
                    {"type": schema["type"], "name": name, "value": self._convert(path, schema, given[name], ctx)}
                )
            elif schema.get("required") and focused is None:
                raise HarnessError(
                    f"/{path}: required option {name!r} missing (synced options: {self._describe(schema_opts)})"
                )
        data: dict[str, Any] = {"id": synced["id"], "name": synced["name"], "type": 1}
        if root:
            data["options"] = root
        if synced.get("guild_id"):
            data["guild_id"] = synced["guild_id"]
        if ctx.resolved:
            data["resolved"] = ctx.resolved
        return data

    @staticmethod
    def _describe(opts: list[dict[str, Any]]) -> str:
        return (
            ", ".join(
                f"{o['name']}:{OPTION_TYPE_NAMES.get(o.get('type'), o.get('type'))}{'*' if o.get('required') else ''}"
                for o in opts
            )
            or "none"
        )

    # -- interaction payloads -----------------------------------------------------

    def _base_payload(self, itype: int, who: Who, channel: Channel, interaction_id: int, token: str) -> dict[str, Any]:
        payload: dict[str, Any] = {
            "id": str(interaction_id),
            "application_id": str(self.state.application_id),
            "type": itype,
            "token": token,
            "version": 1,
            "locale": "en-US",
            "entitlements": [],
            "entitlement_skus": [],
            "attachment_size_limit": 10 * 1024 * 1024,
            "app_permissions": str(discord.Permissions.all().value & ~discord.Permissions(administrator=True).value),
            "channel_id": str(channel.id),
        }
        if channel.guild is not None:
            if not isinstance(who, Member):
                raise HarnessError(f"{who!r} must be a Member of {channel.guild.name!r} to interact in #{channel.name}")
            if who.guild is not channel.guild:
                raise HarnessError(f"{who.name} is a member of {who.guild.name!r}, not of {channel.guild.name!r}")
            payload["guild_id"] = str(channel.guild.id)
            payload["guild"] = {"id": str(channel.guild.id), "features": [], "locale": "en-US"}
            payload["guild_locale"] = "en-US"
            payload["member"] = who.payload(with_permissions=True)
            payload["channel"] = {**channel.payload(), "permissions": str(who.permissions)}
            payload["context"] = 0
            payload["authorizing_integration_owners"] = {"0": str(channel.guild.id)}
        else:
            user = who.user if isinstance(who, Member) else who
            if channel.recipient is not None and channel.recipient.id != user.id:
                raise HarnessError(f"{user.name} is not the recipient of this DM channel")
            payload["user"] = user.payload()
            payload["channel"] = channel.payload()
            payload["context"] = 1
            payload["authorizing_integration_owners"] = {"0": str(user.id)}
        return payload

    def _user_id(self, who: Who) -> int:
        return who.id

    async def _dispatch(
        self,
        payload: dict[str, Any],
        *,
        label: str,
        who: Who,
        channel: Channel,
        message_id: int | None = None,
        expire: str | None = None,
        timeout: float | None = None,
    ) -> Result:
        if not self._started or self._closed:
            raise HarnessError('DiscordHarness is not running (use "async with DiscordHarness(bot) as h")')
        if expire not in (None, "now", "after_ack"):
            raise ValueError("expire must be None, 'now' or 'after_ack'")
        rec = self.fake.register_interaction(
            interaction_id=int(payload["id"]),
            token=payload["token"],
            type=payload["type"],
            channel_id=channel.id,
            guild_id=channel.guild.id if channel.guild else None,
            user_id=who.id,
            message_id=message_id,
            expired=expire == "now",
            expire_after_ack=expire == "after_ack",
        )
        result = Result(self, rec, payload, len(self.fake.requests))
        errors_before = len(self._errors)
        loop = asyncio.get_running_loop()
        before = set(asyncio.all_tasks())
        rec.dispatched_at = loop.time()
        self.state.parse_interaction_create(payload)
        await self._drain(before, timeout if timeout is not None else self.timeout, label, rec)
        await asyncio.sleep(0)
        result.errors = self._errors[errors_before:]
        return result

    async def _drain(self, before: set, timeout: float, label: str, rec: InteractionRecord) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        me = asyncio.current_task()
        while True:
            pending = [
                t
                for t in asyncio.all_tasks()
                if t not in before and t is not me and not t.done() and t.get_name().startswith(TRACKED_TASK_PREFIXES)
            ]
            if not pending:
                return
            remaining = deadline - loop.time()
            if remaining <= 0:
                for t in pending:
                    t.cancel()
                raise HarnessError(
                    f"{label}: the bot did not finish within {timeout}s "
                    f"(still running: {[t.get_name() for t in pending]}; "
                    f"callbacks so far: {[c['type'] for c in rec.callbacks]})"
                )
            await asyncio.wait(pending, timeout=remaining)

    # -- acting as users -------------------------------------------------------------

    def _new_ids(self) -> tuple[int, str]:
        return self.fake.snowflake(), f"aW50ZXJhY3Rpb24{secrets.token_urlsafe(48)}"

    async def slash(
        self,
        who: Who,
        channel: Channel,
        command: str,
        *,
        expire: str | None = None,
        timeout: float | None = None,
        opts: dict[str, Any] | None = None,
        **options: Any,
    ) -> Result:
        """Invoke ``/command`` (``"group sub"`` for subcommands) as ``who`` in ``channel``.

        ``opts``: options whose names are this method's own parameters (an option called ``channel``).

        ``expire='now'``: the token is already expired (callback 404 10062, webhooks 401 50027);
        ``expire='after_ack'``: the token expires right after the initial callback (follow-ups/edits 401).
        """
        parts = command.strip().lstrip("/").split()
        if not parts:
            raise HarnessError("empty command")
        path = " ".join(parts)
        synced = self.synced_command(parts[0], channel.guild)
        self._check_available(synced, who, channel)
        self._check_fresh(synced, channel.guild)
        iid, token = self._new_ids()
        ctx = _PayloadCtx(self, channel)
        data = self._build_data(synced, path, {**options, **(opts or {})}, ctx)
        payload = self._base_payload(2, who, channel, iid, token)
        payload["data"] = data
        return await self._dispatch(payload, label=f"/{path}", who=who, channel=channel, expire=expire, timeout=timeout)

    async def autocomplete(
        self,
        who: Who,
        channel: Channel,
        command: str,
        option: str,
        typed: str,
        *,
        timeout: float | None = None,
        **other_filled: Any,
    ) -> list[dict[str, Any]]:
        """Type ``typed`` into ``option`` of ``/command``; returns the choices the bot answered."""
        parts = command.strip().lstrip("/").split()
        path = " ".join(parts)
        synced = self.synced_command(parts[0], channel.guild)
        self._check_available(synced, who, channel)
        self._check_fresh(synced, channel.guild)
        iid, token = self._new_ids()
        ctx = _PayloadCtx(self, channel)
        data = self._build_data(synced, path, other_filled, ctx, focused=(option, typed))
        payload = self._base_payload(4, who, channel, iid, token)
        payload["data"] = data
        r = await self._dispatch(
            payload, label=f"/{path} autocomplete {option}", who=who, channel=channel, timeout=timeout
        )
        if r.choices is None:
            raise HarnessError(
                f"/{path}: the bot did not answer autocomplete for {option!r} "
                f"(callbacks: {[c['type'] for c in r.record.callbacks]}, http errors: "
                f"{[(x.route, x.status, x.response) for x in r.http_errors]}, errors: {r.errors})"
            )
        return r.choices

    def _resolve_message(self, message: SentMessage | Result | int) -> MessageRecord:
        if isinstance(message, Result):
            if message.response is None:
                raise HarnessError(f"{message!r} has no response message to click on")
            message = message.response
        mid = message.id if isinstance(message, SentMessage) else int(message)
        mrec = self.fake.messages.get(mid)
        if mrec is None:
            raise HarnessError(f"message {mid} was never sent to the fake")
        if mrec.deleted:
            raise HarnessError(f"message {mid} was deleted; it cannot be clicked")
        return mrec

    def _channel_by_id(self, channel_id: int) -> Channel:
        for g in self.guilds:
            for ch in g.channels:
                if ch.id == channel_id:
                    return ch
        for uid, cid in self.fake.dm_channels.items():
            if cid == channel_id:
                u = self.fake.users[uid]
                return Channel(
                    id=cid, name=f"dm-{u['username']}", guild=None, type=1, recipient=User(id=uid, name=u["username"])
                )
        raise HarnessError(f"unknown channel {channel_id}")

    async def click(
        self,
        who: Who,
        message: SentMessage | Result | int,
        *,
        label: str | None = None,
        custom_id: str | None = None,
        values: list[str] | None = None,
        expire: str | None = None,
        timeout: float | None = None,
    ) -> Result:
        """Click a button (by ``label`` or ``custom_id``) — or pick ``values`` in a select — on a message the bot sent."""
        if label is None and custom_id is None:
            raise HarnessError("click() needs label= or custom_id=")
        mrec = self._resolve_message(message)
        sent = SentMessage(mrec)
        comp = sent.component(label=label, custom_id=custom_id)
        if comp.get("disabled"):
            raise HarnessError(
                f"component {label or custom_id!r} on message {mrec.id} is disabled; Discord would not let {who.name} click it"
            )
        if comp.get("type") == 2 and comp.get("style") == 5:
            raise HarnessError(
                f"{label or custom_id!r} is a link button; it opens {comp.get('url')} and sends no interaction"
            )
        channel = self._channel_by_id(mrec.channel_id)
        if sent.ephemeral:
            irec = self.fake.interactions.get(mrec.interaction_id or 0)
            if irec is not None and irec.user_id != who.id:
                raise HarnessError(f"message {mrec.id} is ephemeral; only its recipient can see and click it")
        await self._until_listening(mrec.id, comp["type"], comp["custom_id"])
        iid, token = self._new_ids()
        payload = self._base_payload(3, who, channel, iid, token)
        data: dict[str, Any] = {"custom_id": comp["custom_id"], "component_type": comp["type"]}
        if comp["type"] != 2:
            data["values"] = list(values or [])
        payload["data"] = data
        payload["message"] = mrec.payload
        return await self._dispatch(
            payload,
            label=f"click {label or custom_id!r}",
            who=who,
            channel=channel,
            message_id=mrec.id,
            expire=expire,
            timeout=timeout,
        )

    async def submit_modal(
        self,
        who: Who,
        shown: Result,
        values: dict[str, str],
        *,
        expire: str | None = None,
        timeout: float | None = None,
    ) -> Result:
        """Fill the modal the bot answered ``shown`` with and submit it. ``values`` by each text input's label
        or custom_id; an input left out is submitted empty (Discord refuses an empty required one: HarnessError)."""
        modal = shown.modal
        if modal is None:
            raise HarnessError(f"{shown!r} did not answer with a modal")
        if shown.record.user_id != who.id:
            raise HarnessError(f"the modal was shown to another user, not to {who.name}")
        wanted = dict(values)

        def filled(item: dict[str, Any]) -> dict[str, Any]:
            if item.get("type") != 4:
                raise HarnessError(f"modal component type {item.get('type')} is not a text input")
            label = item.get("label")
            key = label if label in wanted else item["custom_id"]
            value = wanted.pop(key, item.get("value") or "")
            if item.get("required", True) and not value:
                raise HarnessError(
                    f"the modal's {label or item['custom_id']!r} is required; Discord won't submit it empty"
                )
            if len(value) > int(item.get("max_length") or 4000) or len(value) < int(item.get("min_length") or 0):
                raise HarnessError(f"{label or item['custom_id']!r}: {len(value)} characters is out of its bounds")
            return {"type": 4, "custom_id": item["custom_id"], "value": value}

        rows: list[dict[str, Any]] = []
        for row in modal.get("components") or []:
            if row.get("type") == 18:  # a label wrapping one component
                rows.append({"type": 18, "id": row.get("id"), "component": filled(row["component"])})
            else:
                rows.append({"type": 1, "components": [filled(item) for item in row.get("components") or []]})
        if wanted:
            raise HarnessError(f"the modal has no input named {sorted(wanted)}")
        channel = self._channel_by_id(shown.record.channel_id)
        iid, token = self._new_ids()
        payload = self._base_payload(5, who, channel, iid, token)
        payload["data"] = {"custom_id": modal["custom_id"], "components": rows}
        return await self._dispatch(
            payload, label=f"modal {modal.get('title')!r}", who=who, channel=channel, expire=expire, timeout=timeout
        )

    async def _until_listening(self, message_id: int, component_type: int, custom_id: str) -> None:
        """A person sees a button only once Discord shows the message; discord.py starts listening for it a
        moment after Discord stored it (when the send returns). A test clicking in that gap would race the
        bot, which no person can: wait (briefly) until the bot listens, then click either way."""
        store = self.bot._connection._view_store
        key = (component_type, custom_id)

        def listening() -> bool:
            return any(key in (store._views.get(entity) or {}) for entity in (message_id, None))

        for _ in range(200):
            if listening():
                return
            await asyncio.sleep(0.01)

    # -- time / expiry -------------------------------------------------------------------

    def expire_interactions(self, result: Result | int | None = None) -> None:
        """Expire one interaction's token (a Result or interaction id) or all so far, like after 15 minutes."""
        if result is None:
            self.fake.expire()
        else:
            self.fake.expire(result.interaction_id if isinstance(result, Result) else int(result))

    # -- observation ----------------------------------------------------------------------

    def messages_in(self, channel: Channel | int) -> list[SentMessage]:
        """Plain channel messages the bot sent (POST /channels/{id}/messages), not deleted."""
        cid = channel.id if isinstance(channel, Channel) else int(channel)
        return [
            SentMessage(self.fake.messages[m])
            for m in self.fake.channel_messages.get(cid, [])
            if self.fake.messages[m].source == "channel" and not self.fake.messages[m].deleted
        ]

    async def wait_for(
        self, predicate: Callable[[], Any], timeout: float | None = None, *, what: str = "condition"
    ) -> Any:
        """Poll ``predicate`` (for work the bot does in its own background tasks) until truthy."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + (timeout if timeout is not None else self.timeout)
        while True:
            value = predicate()
            if value:
                return value
            if loop.time() >= deadline:
                raise HarnessError(f"timed out waiting for {what}")
            await asyncio.sleep(0.01)

    @property
    def requests(self) -> list[RecordedRequest]:
        return self.fake.requests

    @property
    def errors(self) -> list[BaseException]:
        """Every exception the bot raised/logged (discord loggers, tree.on_error) since start."""
        return list(self._errors)


class _PayloadCtx:
    """Collects ``data.resolved`` for one interaction."""

    def __init__(self, harness: DiscordHarness, channel: Channel) -> None:
        self.h = harness
        self.channel = channel
        self.resolved: dict[str, dict[str, Any]] = {}

    def _bucket(self, key: str) -> dict[str, Any]:
        return self.resolved.setdefault(key, {})

    def add_user(self, who: Who) -> None:
        user = who.user if isinstance(who, Member) else who
        self._bucket("users")[str(user.id)] = user.payload()
        if isinstance(who, Member):
            self._bucket("members")[str(user.id)] = who.payload(with_user=False, with_permissions=True)

    def add_role(self, role: Role) -> None:
        self._bucket("roles")[str(role.id)] = role.payload()

    def add_channel(self, ch: Channel) -> None:
        data = ch.payload()
        data["permissions"] = str(discord.Permissions.all().value)
        self._bucket("channels")[str(ch.id)] = data

    def add_attachment(self, filename: str, data: bytes, content_type: str | None = None) -> str:
        att = self.h.fake.add_cdn_file(filename, bytes(data), channel_id=self.channel.id, content_type=content_type)
        att["ephemeral"] = True
        self._bucket("attachments")[att["id"]] = att
        return att["id"]
