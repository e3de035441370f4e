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
from relay import RelayClient
from release import AddressPolicy, Fetcher, ReleaseClient, guarded_session
from services.entries.images import ImageService
from services.gm.service import GMService
from services.maintainers.service import ReleaseService
from services.maps.background import BackgroundRefresher
from services.maps.world_maps import NameMaps
from services.offload import Offloader
from services.players.viewers import Viewers
from services.players.visibility import Visibility
from services.relay_budget import RelayBudget
from storage import Database, NameMapStore, ReleaseStore, WorldChoiceStore, open_database
from storage.player_links import PlayerLinkStore
from storage.relay_usage import RelayUsageStore
from storage.secrets import SecretStore
from storage.visibility import VisibilityStore

USER_AGENT = "foundry-campaign-bot/1.0 (aiohttp)"
# Seconds close() waits for writes past their point of no return that are still running.
WRITE_GRACE = 8.0


class App:
    def __init__(
        self,
        settings: Settings,
        session: aiohttp.ClientSession,
        db: Database,
        offload: Offloader | None = None,
        *,
        clock: Callable[[], float] = time.time,
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
        self.relay = (
            RelayClient(
                session, settings.relay_url, settings.relay_api_key, timeout=settings.relay_timeout, clock=clock
            )
            if settings.relay_configured
            else None
        )
        # The bot's own count of its relay requests this month, against RELAY_MONTHLY_LIMIT.
        self.budget = RelayBudget(
            self.relay.quota if self.relay else None, RelayUsageStore(db), settings.monthly_limit, clock=clock
        )
        maps = NameMaps(NameMapStore(db), self.offload)
        # The writes past their point of no return (the GM's and releases): a stop waits for them (bot.close).
        self.writes = Writes()

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
            writes=self.writes,
        )
        self.images = ImageService(self.relay)
        # Started by the bot (not the command-line twin); stopped by close().
        self.refresher = BackgroundRefresher(self.gm, settings.refresh_interval, clock=clock, budget=self.budget)
        self.releases = ReleaseService(
            settings=settings,
            client=ReleaseClient(session, settings.release_api_url),
            fetcher=Fetcher(self.fetch_session, policy),
            store=ReleaseStore(db),
            writes=self.writes,
        )

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
        if settings.relay_configured:
            await asyncio.to_thread(offload.start)  # start the worker process off the loop, once
        app = cls(settings, session, db, offload, clock=clock)
        await app.budget.load()
        return app

    def start(self) -> None:
        """The bot's background work (the command-line twin runs none)."""
        self.refresher.start()
        self.budget.start()

    async def close(self) -> None:
        await self.writes.drain(WRITE_GRACE)  # the command line's Ctrl-C; the bot has drained them already
        await self.refresher.stop()
        await self.budget.close()  # the last batch of the request count
        await self.offload.close()
        await self.fetch_session.close()
        await self.session.close()
        await self.db.close()

    async def __aenter__(self) -> App:
        return self

    async def __aexit__(self, *exc) -> None:
        await self.close()
