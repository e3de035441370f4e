"""/lookup: an entry as its reader may see it — the GM's full view, or what a player's Foundry user may see.

A GM gets their full view plus what the players (FOUNDRY_PLAYER) may see of it; a player gets what their
Foundry user may see, and "no entry named X" for an entry hidden from them.
"""

from __future__ import annotations

from dataclasses import dataclass

from core.replies import Reply
from core.textsafe import echo
from relay import JournalEntry, NotPermitted
from services.entries.images import plan_image
from services.entries.reader import EntryReader, NoSuchEntry
from services.entries.views import render_view
from services.maps.world_maps import NameMaps, WorldMap
from services.offload import Offloader
from services.players.player_view import (
    LIMITED,
    OBSERVER,
    entry_level,
    limited_reply,
    visible_pages,
    without_hidden_links,
)
from services.players.viewers import GM_VIEWER, NoPlayerLookups, Viewer, ViewerKind, Viewers
from services.players.visibility import Visibility
from services.worlds import ResolvedWorld, WorldResolver


@dataclass(frozen=True)
class Lookup:
    # What players may see (None: nothing: the entry is hidden from them, or no player view is set up).
    player: Reply | None
    # The GM's view (secrets, notes) when a GM asked and it shows more than players may see.
    gm: Reply | None


class Lookups:
    def __init__(
        self, reader: EntryReader, maps: NameMaps, worlds: WorldResolver, viewers: Viewers, visibility: Visibility
    ):
        self.reader = reader
        self.maps = maps
        self.worlds = worlds
        self.viewers = viewers
        self.visibility = visibility

    async def lookup(
        self, world: ResolvedWorld, name: str, *, gm: bool = False, viewer: Viewer | None = None
    ) -> Lookup:
        viewer = viewer or (GM_VIEWER if gm else await self.viewers.public(world.client_id))
        if viewer.kind is ViewerKind.NOBODY:
            raise NoPlayerLookups()
        if not viewer.is_gm:
            return Lookup(player=await self._player_lookup(world, name, viewer.user_id), gm=None)
        world_map = await self.maps.get(world.client_id)
        entry = await self.reader.find(world.client_id, name, world_map)
        if entry is None:
            raise self.reader.not_found(world_map, name)
        live = await self.reader.live(world, entry)
        base = await self.worlds.image_base(world)
        full = await render_view(
            live.name,
            live.flags,
            live.pages,
            gm=True,
            names=world_map.name_of,
            image_base=base,
            offload=self.maps.offload,
        )
        plan_image(full, live.flags, image_base=base, gm=True)
        public = await self.viewers.public(world.client_id)
        player = await self._players_share(world, live, public.user_id, base) if public.user_id else None
        # The GM view goes too when it shows more: secrets, notes, or a picture hidden from players.
        shows_more = player is None or full.as_text() != player.as_text() or full.image != player.image
        return Lookup(player=player, gm=full if shows_more else None)

    async def _player_lookup(self, world: ResolvedWorld, name: str, user_id: str) -> Reply:
        view_map = await self.visibility.map_for(world.client_id, user_id)
        entry = await self.reader.find(world.client_id, name, view_map)
        if entry is None:
            full = await self.maps.get(world.client_id)
            raise self.reader.not_found(view_map, name, map_empty=len(full.index) == 0)
        try:
            live = await self.reader.live(world, entry, user_id)
        except NotPermitted:  # shared once, hidden since the last /refresh: never say that it exists
            raise NoSuchEntry(f"No entry named “{echo(name)}”.") from None
        base = await self.worlds.image_base(world)
        if live.limited:
            return limited_reply(live.name, live.img, base)
        return await _render_for(live, user_id, view_map, base, self.maps.offload)

    async def _players_share(
        self, world: ResolvedWorld, live: JournalEntry, user_id: str, base: str | None
    ) -> Reply | None:
        """What the players' view may see of an entry the GM read: nothing unless /refresh proved it
        visible to them and its ownership still says so (fail closed)."""
        visible = await self.visibility.visible(world.client_id, user_id)
        level = entry_level(live.ownership, user_id)
        if live.uuid not in visible or level < LIMITED:
            return None
        if level < OBSERVER or visible[live.uuid]:
            return limited_reply(live.name, live.img, base)
        view_map = await self.visibility.map_for(world.client_id, user_id)
        return await _render_for(live, user_id, view_map, base, self.maps.offload)


async def _render_for(
    live: JournalEntry, user_id: str, view_map: WorldMap, base: str | None, offload: Offloader
) -> Reply:
    flags = without_hidden_links(live.flags, lambda uuid: uuid in view_map.by_uuid)
    pages = visible_pages(live.pages, live.ownership, user_id)
    reply = await render_view(
        live.name, flags, pages, gm=False, names=view_map.name_of, image_base=base, offload=offload
    )
    plan_image(reply, flags, image_base=base, gm=False)  # from the view this reader gets, never another
    return reply
