"""The GM's commands for the cogs and the command line: one façade over the rooms that do the work.

/world → services/worlds.py; /lookup → services/entries/; /push, /reveal, /hide → services/writes/;
/refresh → services/maps/ (and the player views, services/players/). This module only wires them together
and words the /refresh reply.
"""

from __future__ import annotations

from core.errors import ConfigurationError, UserFacingError
from core.replies import Confirm, Reply, Tone
from core.settings import Settings
from core.textsafe import echo
from relay import RelayClient, World
from services.entries.lookup import Lookup, Lookups
from services.entries.reader import EntryReader
from services.maps.enumerate import Progress
from services.maps.rebuild import MapRebuilder
from services.maps.world_maps import NameMaps, WorldMap
from services.players.known_names import KnownNames
from services.players.viewers import GM_VIEWER, Viewer, Viewers
from services.players.visibility import Visibility, VisibilityReport
from services.worlds import ResolvedWorld, WorldResolver
from services.writes.push import Pusher
from services.writes.reveal import Revealer, VisibilityChange
from services.writes.writer import EntryWriter
from storage import WorldChoiceStore

__all__ = ["GMService", "Lookup", "RefreshRunning", "ResolvedWorld"]


class RefreshRunning(UserFacingError):
    temporary = True


class GMService:
    def __init__(
        self,
        *,
        settings: Settings,
        relay: RelayClient | None,
        maps: NameMaps,
        world_choices: WorldChoiceStore,
        viewers: Viewers | None = None,
        visibility: Visibility | None = None,
    ):
        self.settings = settings
        self._relay = relay
        self.maps = maps
        self.world_choices = world_choices
        self.viewers = viewers
        self.visibility = visibility
        relay_now = self._relay_or_explain
        self.worlds = WorldResolver(settings, relay_now, world_choices, maps.store)
        reader = EntryReader(relay_now, maps)
        writer = EntryWriter(relay_now)
        self.names = KnownNames(maps, visibility)
        self.lookups = Lookups(reader, maps, self.worlds, viewers, visibility, settings.codex_hidden_tabs)
        self.pusher = Pusher(reader, writer, maps)
        self.revealer = Revealer(reader, writer, maps, self.lookups, viewers, visibility)
        # /refresh and the background refresh rebuild a map through this one object (one at a time per world);
        # after every rebuild each player view is learnt again (ownership changes never show in the GM's tree).
        self.rebuilder = MapRebuilder(relay_now, maps)
        self.rebuilder.after_rebuild.append(self._learn_player_views)
        self._views_learnt: dict[str, VisibilityReport] = {}

    def _relay_or_explain(self) -> RelayClient:
        if self._relay is None:
            self.settings.require_relay()
            raise ConfigurationError("The relay is not configured.")
        return self._relay

    @property
    def relay(self) -> RelayClient:
        return self._relay_or_explain()

    # --- worlds -------------------------------------------------------------------------------

    async def online_worlds(self) -> list[World]:
        return await self.worlds.online_worlds()

    async def resolve_world(self, guild_id: int | None, override: str | None = None) -> ResolvedWorld:
        return await self.worlds.resolve(guild_id, override)

    async def local_world_id(self, guild_id: int | None) -> str | None:
        return await self.worlds.local_world_id(guild_id)

    async def choose_world(self, guild_id: int, world: World, chosen_by: int | None) -> Reply:
        return await self.worlds.choose(guild_id, world, chosen_by)

    def worlds_reply(self, worlds: list[World], current: str | None) -> Reply:
        return self.worlds.worlds_reply(worlds, current)

    async def image_base(self, world: ResolvedWorld) -> str | None:
        return await self.worlds.image_base(world)

    # --- names and lookups --------------------------------------------------------------------

    async def map_for(self, world_id: str, viewer: Viewer) -> WorldMap:
        return await self.names.map_for(world_id, viewer)

    async def suggestions(self, world_id: str, typed: str, viewer: Viewer = GM_VIEWER) -> list[tuple[str, str]]:
        return await self.names.suggestions(world_id, typed, viewer)

    async def lookup(
        self,
        world: ResolvedWorld,
        name: str,
        *,
        gm: bool = False,
        viewer: Viewer | None = None,
        guild_id: int | None = None,
    ) -> Lookup:
        return await self.lookups.lookup(world, name, gm=gm, viewer=viewer, guild_id=guild_id)

    # --- writes -------------------------------------------------------------------------------

    async def push(
        self, world: ResolvedWorld, name: str, raw: bytes, *, rename: str | None = None, confirm: Confirm
    ) -> Reply:
        return await self.pusher.run(world, name, raw, rename=rename, confirm=confirm)

    async def set_visibility(
        self, world: ResolvedWorld, name: str, *, visible: bool, confirm: Confirm, guild_id: int | None = None
    ) -> VisibilityChange:
        return await self.revealer.set_visibility(world, name, visible=visible, confirm=confirm, guild_id=guild_id)

    # --- refresh ------------------------------------------------------------------------------

    async def _learn_player_views(self, client_id: str, found) -> None:
        """After every rebuild (foreground or background): what each player view may now see."""
        self._views_learnt[client_id] = await self.visibility.recompute(client_id)

    async def refresh(self, world: ResolvedWorld, progress: Progress | None = None) -> Reply:
        running = self.rebuilder.running(world.client_id)
        if running == "foreground":
            raise RefreshRunning("A refresh of this world is already running; its result will be posted when it ends.")
        if running == "background" and progress is not None:
            await progress("The background refresh of this world is running; starting right after it…")
        done = await self.rebuilder.rebuild(world.client_id, progress)
        found, counts, took = done.found, done.counts, done.seconds
        seen = self._views_learnt.pop(world.client_id, VisibilityReport())
        description = found.note or "Every journal entry of the world is in the map."
        if seen.note():
            description += "\n" + seen.note()
        reply = Reply(
            title=f"Name map refreshed — {echo(world.label)}",
            # An unproven part of the map is a note, not an alarm; a player view that could not be learnt is.
            tone=Tone.WARNING if seen.failed else Tone.SUCCESS if found.complete else Tone.INFO,
            description=description[:4000],
            footer=f"{found.requests + seen.requests} relay request(s)",
            data={"complete": found.complete, "seconds": round(took, 3), "requests": found.requests + seen.requests},
        )
        reply.add_field("Entries", str(counts.total), inline=True)
        reply.add_field("Added", str(counts.added), inline=True)
        reply.add_field("Removed", str(counts.removed), inline=True)
        reply.add_field("Renamed", str(counts.renamed), inline=True)
        reply.add_field("Player views", str(seen.views), inline=True)
        reply.add_field("Took", f"{took:.2f} s", inline=True)
        reply.data.update(total=counts.total, added=counts.added, removed=counts.removed, renamed=counts.renamed)
        return reply
