"""The resources the bot and its command-line twin share, opened once and closed once.

Built outside discord.py (as in discord.py's advanced_startup example) so the CLI runs the very same
services without a gateway connection, and tests inject their own settings.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

import aiohttp

from core.outcomes import Writes
from core.settings import Settings
from relay.guard import AddressPolicy as RelayAddressPolicy
from relay.guard import guarded_session as guarded_relay_session
from release import AddressPolicy, Fetcher, ReleaseClient, guarded_session
from services.maps.memory import MapMemory
from services.offload import Offloader
from services.servers import RelayPacing, Servers, Shared, build_server
from services.setup import ServerSetup
from storage import Database, open_database
from storage.secrets import SecretStore

USER_AGENT = "foundry-campaign-bot/1.0 (aiohttp)"
# Seconds close() waits for writes past their point of no return that are still running.
WRITE_GRACE = 8.0


class App:
    """The shared resources, the .env server's clients (``gm``, ``relay``, ``images``, ``releases``, ``refresher``,
    ``budget``: what the command line and a self-hosted bot use) and ``servers``, the resolver every command asks
    for its own server's settings and clients (services/servers.py)."""

    def __init__(
        self,
        settings: Settings,
        session: aiohttp.ClientSession,
        db: Database,
        offload: Offloader | None = None,
        *,
        clock: Callable[[], float] = time.time,
        relay_policy: RelayAddressPolicy | None = None,
    ):
        """``clock``: wall-clock seconds for everything dated by the calendar (the relay's month, the background
        refresh); tests inject one."""
        self.settings = settings
        self.session = session
        self.db = db
        # The worker process for big parses, index builds and renders (started by open()).
        self.offload = offload or Offloader()
        # The writes past their point of no return: a stop waits for them (bot.py close()).
        self.writes = Writes()
        # User-given URLs (manifests, package zips, changelogs) go through their own guarded session.
        policy = AddressPolicy(allow_private=settings.allow_private_manifest_hosts)
        self.fetch_session = guarded_session(policy, user_agent=USER_AGENT)
        # Relays typed in /setup relay (hosted mode) are reached on public addresses only.
        relay_policy = relay_policy or RelayAddressPolicy(allow_private=settings.allow_private_relay_hosts)
        self.shared = Shared(
            settings=settings,
            db=db,
            session=session,
            guarded_session=guarded_relay_session(relay_policy, user_agent=USER_AGENT),
            policy=relay_policy,
            offload=self.offload,
            memory=MapMemory.from_megabytes(settings.map_memory_mb),
            pacing=RelayPacing(db),
            release_client=ReleaseClient(session, settings.release_api_url),
            fetcher=Fetcher(self.fetch_session, policy),
            writes=self.writes,
            clock=clock,
        )
        default = build_server(settings, self.shared)
        self.relay = default.relay
        # The bot's own count of its relay requests this month, against RELAY_MONTHLY_LIMIT.
        self.budget = default.budget
        self.gm = default.gm
        self.images = default.images
        # Started by the bot (not the command-line twin); stopped by close().
        self.refresher = default.refresher
        self.releases = default.releases
        self.servers = Servers(self.shared, default)
        # /setup and /release token (hosted mode).
        self.setup = ServerSetup(self.servers)

    @classmethod
    async def open(cls, settings: Settings, *, clock: Callable[[], float] = time.time) -> App:
        db = await open_database(settings.database_location)
        try:
            # A wrong or missing SECRETS_KEY stops start-up here, before any command needs a secret.
            await SecretStore(db, settings.sealing_key).check_key()
        except BaseException:
            await db.close()
            raise
        session = aiohttp.ClientSession(headers={"User-Agent": USER_AGENT})
        offload = Offloader()
        if settings.relay_configured or settings.hosted:
            await asyncio.to_thread(offload.start)  # start the worker process off the loop, once
        app = cls(settings, session, db, offload, clock=clock)
        await app.budget.load()
        return app

    async def start(self) -> None:
        """The bot's background work (the command-line twin runs none): the .env server's refresh and request
        count, every hosted server's."""
        self.refresher.start()
        self.budget.start()
        await self.servers.start()

    async def close(self) -> None:
        await self.writes.drain(WRITE_GRACE)  # the command line's Ctrl-C; the bot has drained them already
        await self.refresher.stop()
        await self.budget.close()  # the last batch of the request count
        await self.servers.close()
        await self.offload.close()
        await self.fetch_session.close()
        await self.shared.guarded_session.close()
        await self.session.close()
        await self.db.close()

    async def __aenter__(self) -> App:
        return self

    async def __aexit__(self, *exc) -> None:
        await self.close()
