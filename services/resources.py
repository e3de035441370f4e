"""The resources the bot and its command-line twin share, opened once and closed once.

Built outside discord.py (as in discord.py's advanced_startup example) so the CLI runs the very same
services without a gateway connection, and tests inject their own settings.
"""

from __future__ import annotations

import asyncio

import aiohttp

from core.settings import Settings
from relay.guard import AddressPolicy, guarded_session
from release import ReleaseClient
from services.maps.memory import MapMemory
from services.offload import Offloader
from services.servers import RelayPacing, Servers, Shared, build_server
from services.setup import ServerSetup
from storage import Database, open_database
from storage.secrets import SecretStore

USER_AGENT = "foundry-campaign-bot/1.0 (aiohttp)"


class App:
    """The shared resources, the .env server's clients (``gm``, ``relay``, ``images``, ``releases``,
    ``refresher``: what the command line and a self-hosted bot use) and ``servers``, the resolver every
    command asks for its own server's settings and clients (services/servers.py)."""

    def __init__(
        self,
        settings: Settings,
        session: aiohttp.ClientSession,
        db: Database,
        offload: Offloader | None = None,
        *,
        policy: AddressPolicy | None = None,
    ):
        self.settings = settings
        self.session = session
        self.db = db
        # The worker process for big parses, index builds and renders (started by open()).
        self.offload = offload or Offloader()
        policy = policy or AddressPolicy(allow_private=settings.allow_private_relay_hosts)
        self.shared = Shared(
            settings=settings,
            db=db,
            session=session,
            guarded_session=guarded_session(policy, user_agent=USER_AGENT),
            policy=policy,
            offload=self.offload,
            memory=MapMemory.from_megabytes(settings.map_memory_mb),
            pacing=RelayPacing(db),
            release_client=ReleaseClient(session, settings.release_api_url),
        )
        default = build_server(settings, self.shared)
        self.relay = default.relay
        self.gm = default.gm
        self.images = default.images
        # Started by the bot (not the command-line twin); stopped by close().
        self.refresher = default.refresher
        self.releases = default.releases
        self.servers = Servers(self.shared, default)
        # /setup and /release token (hosted mode).
        self.setup = ServerSetup(self.servers)

    @classmethod
    async def open(cls, settings: Settings) -> App:
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
        return cls(settings, session, db, offload)

    async def start(self) -> None:
        """The background work of a running bot: the .env server's refresh, every hosted server's."""
        self.refresher.start()
        await self.servers.start()

    async def close(self) -> None:
        await self.refresher.stop()
        await self.servers.close()
        await self.offload.close()
        await self.shared.guarded_session.close()
        await self.session.close()
        await self.db.close()

    async def __aenter__(self) -> App:
        return self

    async def __aexit__(self, *exc) -> None:
        await self.close()
