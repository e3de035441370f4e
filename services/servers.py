"""Each Discord server's settings and clients, from one place: ``Servers.get(guild_id)``.

Self-hosted (HOSTED unset): every server listed in DISCORD_GUILD_ID is served by the one ``Server`` built from
``.env``, exactly as before; the command line uses it too.

Hosted (HOSTED=true): a server that has set anything with /setup, or stored a release token, gets a ``Server`` of
its own. Its settings are the bot's defaults overridden by what it set (a server listed in DISCORD_GUILD_ID
defaults to ``.env``'s server settings too; any other server never sees them: not the relay key, the worlds,
the release tokens or the channels). It has a relay client with its own key and its own pacing (the relay's
300 requests a minute are per key, so one server's big refresh never slows another's lookups), its own name
maps, player views, links, world choice and release bookkeeping in the database (storage/scoped.py: no query of
one server's ever reads another's rows), its own release tokens and its own background refresh. Only the
memory for name maps (MAP_MEMORY_MB), the worker process and the HTTP sessions are shared. A listed server that
set nothing keeps the ``.env`` server; any other that set nothing has no ``Server``: it is told how to set up.

Several processes (Discord's shards split with SHARD_COUNT/SHARD_IDS) share one PostgreSQL database: each loads
the servers of its own shards, paces each relay key through a bucket in the database, and follows the others'
changes to name maps and player views (LISTEN/NOTIFY) so its memory matches the database.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

import aiohttp
from pydantic import SecretStr

from core.outcomes import Writes
from core.settings import Settings
from relay import RelayClient
from relay.guard import AddressPolicy, RefusedAddress
from relay.pacing import SAFE_CAPACITY, SAFE_REFILL, Pacer
from release import Fetcher, ReleaseClient
from services.entries.images import ImageCache, ImageService
from services.gm.service import GMService
from services.maintainers.service import ReleaseService
from services.maps.background import BackgroundRefresher
from services.maps.memory import MapMemory
from services.maps.world_maps import NameMaps
from services.offload import Offloader
from services.players.viewers import Viewers
from services.players.visibility import Visibility
from services.relay_budget import RelayBudget
from storage import Database, NameMapStore, Notice, WorldChoiceStore
from storage.guild_settings import GuildSettings, GuildSettingsStore
from storage.pacing import SharedBucket, SharedPacing, bucket_name
from storage.relay_usage import RelayUsageStore
from storage.scoped import (
    Scope,
    ScopedNameMapStore,
    ScopedPlayerLinkStore,
    ScopedRelayUsageStore,
    ScopedReleaseStore,
    ScopedVisibilityStore,
    ServerWorldChoices,
    scope_of,
)
from storage.secrets import RELAY_KEY, RELEASE_TOKEN, SecretInfo, SecretStore, SecretUnreadable
from storage.visibility import VisibilityStore

log = logging.getLogger(__name__)

# The settings a hosted server that is not listed in DISCORD_GUILD_ID never takes from .env: they name the
# operator's own relay key, worlds, Foundry users, tokens and channels.
OPERATOR_ONLY = (
    "relay_api_key",
    "relay_client_id",
    "foundry_player",
    "foundry_public_url",
    "release_tokens",
    "foundry_release_token",
    "announce_channel_id",
    "relay_monthly_limit",  # the operator's relay account's; a server's own account is its own
)
# A hosted server's image cache (the .env server keeps ImageCache's default): many servers, each its own.
HOSTED_IMAGE_CACHE = 8 * 1024 * 1024


class ServerSettings(Settings):
    """A hosted server's settings: what is missing is set up from Discord, so that is what its messages say."""

    def _relay_missing(self) -> str | None:
        if self.relay_configured:
            return None
        return "This server's relay is not set up: a member with Manage Server runs /setup relay."

    def release_token_hint(self) -> str:
        return "a maintainer stores it with /release token set"


class RelayPacing:
    """One pacer per relay key, whichever servers use it. On PostgreSQL the key's bucket is a row every process
    takes its tokens from (storage/pacing.py); on SQLite (one process) it is in memory."""

    def __init__(self, db: Database):
        shared = db.dialect == "postgresql"
        self._shared = SharedPacing(db, capacity=SAFE_CAPACITY, per_second=SAFE_REFILL) if shared else None
        self._pacers: dict[str, Pacer | SharedBucket] = {}

    def for_key(self, key: SecretStr) -> Pacer | SharedBucket:
        name = bucket_name("relay", key)
        pacer = self._pacers.get(name)
        if pacer is None:
            pacer = self._pacers[name] = SharedBucket(self._shared, name) if self._shared else Pacer()
        return pacer


@dataclass
class Shared:
    """What every server's clients share."""

    settings: Settings  # the .env settings
    db: Database
    session: aiohttp.ClientSession  # the operator's relay, Foundry's release API
    guarded_session: aiohttp.ClientSession  # relays typed in /setup relay (relay/guard.py)
    policy: AddressPolicy
    offload: Offloader
    memory: MapMemory
    pacing: RelayPacing
    release_client: ReleaseClient
    fetcher: Fetcher  # the maintainers' URLs (manifests, package zips, changelogs): guarded
    writes: Writes  # the writes past their point of no return: a stop waits for them
    clock: Callable[[], float] = field(default=time.time)  # wall-clock seconds (tests inject one)


@dataclass
class Server:
    """One server's settings and clients (``guild_id`` None: the .env server)."""

    guild_id: int | None
    settings: Settings
    relay: RelayClient | None
    gm: GMService
    images: ImageService
    releases: ReleaseService
    refresher: BackgroundRefresher
    budget: RelayBudget  # its relay key's requests this month
    world_choices: WorldChoiceStore

    def start(self) -> None:
        self.refresher.start()
        self.budget.start()

    async def close(self) -> None:
        await self.refresher.stop()
        await self.budget.close()
        self.gm.maps.close()


def build_server(settings: Settings, shared: Shared, *, guild_id: int | None = None, guarded: bool = False) -> Server:
    """Wire one server's clients. ``guarded``: its relay URL was typed in Discord (public addresses only)."""
    db = shared.db
    scope = Scope(guild_id)
    relay = None
    if settings.relay_configured:
        relay = RelayClient(
            shared.guarded_session if guarded else shared.session,
            settings.relay_url,
            settings.relay_api_key,
            timeout=settings.relay_timeout,
            pacer=shared.pacing.for_key(settings.relay_api_key),
            clock=shared.clock,
        )
    usage = RelayUsageStore(db) if guild_id is None else ScopedRelayUsageStore(db, scope)
    budget = RelayBudget(relay.quota if relay else None, usage, settings.monthly_limit, clock=shared.clock)
    maps = NameMaps(ScopedNameMapStore(db, scope), shared.offload, shared.memory)
    world_choices = WorldChoiceStore(db) if guild_id is None else ServerWorldChoices(db, guild_id)

    def relay_now() -> RelayClient:  # GMService.relay names the missing settings when there is none
        return gm.relay

    viewers = Viewers(settings, relay_now, ScopedPlayerLinkStore(db, scope))
    gm = GMService(
        settings=settings,
        relay=relay,
        maps=maps,
        world_choices=world_choices,
        viewers=viewers,
        visibility=Visibility(relay_now, ScopedVisibilityStore(db, scope), viewers, maps),
        writes=shared.writes,
    )
    images = ImageService(relay, cache=ImageCache(max_bytes=HOSTED_IMAGE_CACHE) if guild_id is not None else None)
    return Server(
        guild_id=guild_id,
        settings=settings,
        relay=relay,
        gm=gm,
        images=images,
        releases=ReleaseService(
            settings=settings,
            client=shared.release_client,
            fetcher=shared.fetcher,
            store=ScopedReleaseStore(db, scope),
            writes=shared.writes,
        ),
        refresher=BackgroundRefresher(gm, settings.refresh_interval, clock=shared.clock, budget=budget),
        budget=budget,
        world_choices=world_choices,
    )


def shard_of(guild_id: int, shard_count: int) -> int:
    """Discord's rule: a server's shard is (id >> 22) % SHARD_COUNT."""
    return (guild_id >> 22) % shard_count


class Servers:
    """The resolver: guild id -> that server's ``Server`` (None: a hosted server that has not set up)."""

    def __init__(self, shared: Shared, default: Server):
        self.shared = shared
        self.settings = shared.settings
        self.default = default
        self.store = GuildSettingsStore(shared.db)
        self.secrets = SecretStore(shared.db, self.settings.sealing_key)
        self._own: dict[int, Server] = {}
        self._not_set_up: set[int] = set()
        self._loading: dict[int, asyncio.Task] = {}
        self._running = False
        self._followers: list[asyncio.Task] = []

    @property
    def hosted(self) -> bool:
        return self.settings.hosted

    def loaded(self) -> list[Server]:
        return [self.default, *self._own.values()]

    def serves_shard_of(self, guild_id: int) -> bool:
        count = self.settings.shard_count
        if not count or not self.settings.shard_ids:
            return True
        return shard_of(guild_id, count) in self.settings.shard_ids

    async def get(self, guild_id: int | None) -> Server | None:
        if not self.hosted or guild_id is None:
            return self.default
        server = self._own.get(guild_id)
        if server is not None:
            return server
        if guild_id in self._not_set_up:
            return self.default if guild_id in self.settings.guild_ids else None
        task = self._loading.get(guild_id)
        if task is None:  # concurrent first uses build the server once
            task = self._loading[guild_id] = asyncio.ensure_future(self._load(guild_id))
            task.add_done_callback(lambda _: self._loading.pop(guild_id, None))
        return await asyncio.shield(task)

    async def reload(self, guild_id: int) -> Server | None:
        """The server's settings changed (/setup, /release token): its clients are built again from what is
        stored. Work already running on the old ones finishes there."""
        old = self._own.pop(guild_id, None)
        self._not_set_up.discard(guild_id)
        if old is not None:
            await old.close()
        return await self.get(guild_id)

    async def _load(self, guild_id: int) -> Server | None:
        saved = await self.store.get(guild_id)
        secrets = await self.secrets.list(guild_id)
        if saved.empty and not secrets:
            self._not_set_up.add(guild_id)
            return self.default if guild_id in self.settings.guild_ids else None
        settings = await self._settings_for(guild_id, saved, secrets)
        guarded = saved.relay_url is not None and not self.shared.policy.allow_private
        if guarded and settings.relay_configured:
            try:
                self.shared.policy.check_url(settings.relay_url)
            except RefusedAddress:
                log.warning("Server %s: its relay URL has no public address; its relay is off", guild_id)
                settings.relay_api_key = None
        server = build_server(settings, self.shared, guild_id=guild_id, guarded=guarded)
        await server.budget.load()
        self._own[guild_id] = server
        if self._running:
            server.start()
        return server

    async def _settings_for(self, guild_id: int, saved: GuildSettings, secrets: list[SecretInfo]) -> ServerSettings:
        env = self.settings
        values = dict(env)  # validated already: copied as they are
        if guild_id not in env.guild_ids:
            values.update(
                {
                    name: ServerSettings.model_fields[name].get_default(call_default_factory=True)
                    for name in OPERATOR_ONLY
                }
            )
        values["discord_guild_id"] = (guild_id,)
        if saved.relay_url is not None:
            values["relay_url"] = saved.relay_url
        if saved.foundry_player is not None:
            values["foundry_player"] = saved.foundry_player
        if saved.announce_channel_id is not None:
            values["announce_channel_id"] = saved.announce_channel_id
        if saved.gm_role_id is not None:
            values["gm_role"] = str(saved.gm_role_id)
        roles = dict(values["maintainer_role"])
        if saved.maintainer_role_id is not None:
            roles = {"*": str(saved.maintainer_role_id)}
        tokens = dict(values["release_tokens"])
        for info in secrets:
            try:
                secret = await self.secrets.get(guild_id, info.kind, info.name)
            except SecretUnreadable:
                log.warning("Server %s: a stored %s does not open; it is left out until set again", guild_id, info.kind)
                continue
            if secret is None:
                continue
            if info.kind == RELAY_KEY:
                values["relay_api_key"] = secret
            elif info.kind == RELEASE_TOKEN:
                tokens[info.name] = secret
                if info.role_id is not None:  # bound to the maintainer role of when it was stored
                    roles[info.name] = str(info.role_id)
        values["maintainer_role"] = roles
        values["release_tokens"] = tokens
        return ServerSettings.model_construct(**values)

    # --- the bot's lifetime ---------------------------------------------------------------------

    async def start(self) -> None:
        """Hosted: load every set-up server of this process's shards (their background refreshes start; the .env
        server's is the App's to start); with PostgreSQL: follow the other processes' changes."""
        self._running = True
        if self.hosted:
            guilds = {*await self.store.guild_ids(), *await self._guilds_with_secrets()}
            for guild_id in sorted(guilds):
                if self.serves_shard_of(guild_id):
                    server = await self.get(guild_id)
                    if server is not None and server is not self.default:
                        server.start()
        if self.shared.db.dialect == "postgresql":
            db = self.shared.db
            self._follow(NameMapStore(db).changes, self._map_changed)
            self._follow(VisibilityStore(db).changes, self._views_changed)

    async def _guilds_with_secrets(self) -> list[int]:
        rows = await self.shared.db.fetchall("SELECT DISTINCT guild_id FROM guild_secrets")
        return [r[0] for r in rows]

    def _follow(self, subscribe: Callable[[], Awaitable], apply: Callable[[str | None], Awaitable[None]]) -> None:
        async def follow() -> None:
            subscription = await subscribe()
            try:
                async for notice in subscription:
                    await self._apply(notice, apply)
            finally:
                await subscription.close()

        self._followers.append(asyncio.create_task(follow(), name="follow-other-processes"))

    @staticmethod
    async def _apply(notice: Notice, apply: Callable[[str | None], Awaitable[None]]) -> None:
        if notice.from_here:
            return  # this process's own change is in its memory already
        try:
            await apply(notice.payload)
        except Exception:  # one bad reload must not stop the following
            log.exception("Applying another process's change failed")

    def _holder(self, key: str) -> tuple[Server | None, str]:
        guild_id, world = scope_of(key)
        return (self.default if guild_id is None else self._own.get(guild_id)), world

    async def _map_changed(self, key: str | None) -> None:
        if key is None:  # notifications were missed: every map in memory is read again
            for server in self.loaded():
                for world in server.gm.maps.held():
                    await server.gm.maps.reload(world)
            return
        server, world = self._holder(key)
        if server is not None:
            await server.gm.maps.reload(world)

    async def _views_changed(self, key: str | None) -> None:
        if key is None:
            for server in self.loaded():
                server.gm.visibility.forget_all()
            return
        server, world = self._holder(key)
        if server is not None:
            server.gm.visibility.forget_world(world)

    async def close(self) -> None:
        self._running = False
        for task in self._followers:
            task.cancel()
        await asyncio.gather(*self._followers, return_exceptions=True)
        self._followers.clear()
        for server in self._own.values():
            await server.close()
        self._own.clear()
        self.default.gm.maps.close()  # the App stops the .env server's refresh and request count
