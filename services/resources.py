"""The resources the bot and its command-line twin share, opened once and closed once.

Built outside discord.py (as in discord.py's advanced_startup example) so the CLI runs the very same
services without a gateway connection, and tests inject their own settings.
"""

from __future__ import annotations

import asyncio

import aiohttp

from core.settings import Settings
from relay import RelayClient
from release import ReleaseClient
from services.entries.images import ImageService
from services.gm.service import GMService
from services.maintainers.service import ReleaseService
from services.maps.background import BackgroundRefresher
from services.maps.world_maps import NameMaps
from services.offload import Offloader
from services.players.viewers import Viewers
from services.players.visibility import Visibility
from storage import Database, NameMapStore, ReleaseStore, WorldChoiceStore, open_database
from storage.player_links import PlayerLinkStore
from storage.secrets import SecretStore
from storage.visibility import VisibilityStore

USER_AGENT = "foundry-campaign-bot/1.0 (aiohttp)"


class App:
    def __init__(
        self, settings: Settings, session: aiohttp.ClientSession, db: Database, offload: Offloader | None = None
    ):
        self.settings = settings
        self.session = session
        self.db = db
        # The worker process for big parses, index builds and renders (started by open()).
        self.offload = offload or Offloader()
        self.relay = (
            RelayClient(session, settings.relay_url, settings.relay_api_key, timeout=settings.relay_timeout)
            if settings.relay_configured
            else None
        )
        maps = NameMaps(NameMapStore(db), self.offload)

        def relay() -> RelayClient:  # GMService.relay names the missing settings when there is none
            return self.gm.relay

        # Who sees as whom, and what each player view may see.
        viewers = Viewers(settings, relay, PlayerLinkStore(db))
        self.gm = GMService(
            settings=settings,
            relay=self.relay,
            maps=maps,
            world_choices=WorldChoiceStore(db),
            viewers=viewers,
            visibility=Visibility(relay, VisibilityStore(db), viewers, maps),
        )
        self.images = ImageService(self.relay)
        # Started by the bot (not the command-line twin); stopped by close().
        self.refresher = BackgroundRefresher(self.gm, settings.refresh_interval)
        self.releases = ReleaseService(
            settings=settings,
            client=ReleaseClient(session, settings.release_api_url),
            session=session,
            store=ReleaseStore(db),
        )

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
        if settings.relay_configured:
            await asyncio.to_thread(offload.start)  # start the worker process off the loop, once
        return cls(settings, session, db, offload)

    async def close(self) -> None:
        await self.refresher.stop()
        await self.offload.close()
        await self.session.close()
        await self.db.close()

    async def __aenter__(self) -> App:
        return self

    async def __aexit__(self, *exc) -> None:
        await self.close()
