"""/lookup: an entry as its reader may see it, and what of it may go to a channel.

Two views come back. ``player`` is what every player of the server may see: the FOUNDRY_PLAYER view narrowed
by every linked user's ownership (entry, pages and links alike), computed from a complete copy of the entry;
it is the only part a cog may post where others read. ``own`` is the reader's view when it shows more: the
GM's full view (secrets, notes), or a linked player's own grants. Both go through Campaign Codex's own
player-hiding rules (services/codex/hiding.py) whenever a player reads them.

A player's entry is read with their ``userId`` (Foundry enforces it; the relay client proves the reply is
theirs), after their view's names are made fresh (services/players/visibility.py, ``VIEW_MAX_AGE``). A LIMITED
reply holds no flags: the GM's copy is then read (after theirs: the client never has two viewers' reads of one
entry in flight) only to narrow: whether Campaign Codex hides the picture, and what the channel may see.
"""

from __future__ import annotations

from dataclasses import dataclass

from core.errors import UserFacingError
from core.replies import Reply
from core.textsafe import echo
from relay import JournalEntry, NotPermitted
from services.codex.hiding import TabDefaults, for_players, image_hidden_from_players
from services.entries.images import plan_image
from services.entries.reader import EntryReader, NoSuchEntry
from services.entries.views import render_view
from services.maps.world_maps import NameMaps
from services.players.player_view import (
    LIMITED,
    OBSERVER,
    entry_level,
    level_for_all,
    limited_reply,
    pages_for_all,
    without_hidden_links,
)
from services.players.viewers import GM_VIEWER, NoPlayerLookups, Viewer, ViewerKind, Viewers
from services.players.visibility import Visibility
from services.worlds import ResolvedWorld, WorldResolver


@dataclass(frozen=True)
class Lookup:
    # What every player of the server may see: the only part that may be posted in a channel (None: nothing).
    player: Reply | None
    # The reader's own view when it shows more than ``player``: for the reader alone.
    own: Reply | None


def _differs(own: Reply, shared: Reply | None) -> bool:
    return (
        shared is None
        or own.as_text() != shared.as_text()
        or own.image != shared.image
        or own.image_url != shared.image_url
    )


class Lookups:
    def __init__(
        self,
        reader: EntryReader,
        maps: NameMaps,
        worlds: WorldResolver,
        viewers: Viewers,
        visibility: Visibility,
        tab_defaults: TabDefaults,
    ):
        self.reader = reader
        self.maps = maps
        self.worlds = worlds
        self.viewers = viewers
        self.visibility = visibility
        self.tab_defaults = tab_defaults

    async def lookup(
        self,
        world: ResolvedWorld,
        name: str,
        *,
        gm: bool = False,
        viewer: Viewer | None = None,
        guild_id: int | None = None,
    ) -> Lookup:
        """``guild_id``: the server whose players a channel post is for (None: FOUNDRY_PLAYER's view alone)."""
        viewer = viewer or (GM_VIEWER if gm else await self.viewers.public(world.client_id))
        if viewer.kind is ViewerKind.NOBODY:
            raise NoPlayerLookups()
        audience = await self.viewers.audience(guild_id, world.client_id)
        if not viewer.is_gm:
            return await self._player_lookup(world, name, viewer.user_id, audience)
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
        shared = await self.shared_view(world, live, audience, base)
        return Lookup(player=shared, own=full if _differs(full, shared) else None)

    async def channel_view(self, world: ResolvedWorld, doc: JournalEntry, guild_id: int | None) -> Reply | None:
        """What every player of ``guild_id`` may see of a complete copy of an entry (for /reveal's post)."""
        audience = await self.viewers.audience(guild_id, world.client_id)
        return await self.shared_view(world, doc, audience, await self.worlds.image_base(world))

    async def _player_lookup(self, world: ResolvedWorld, name: str, user_id: str, audience: tuple[str, ...]) -> Lookup:
        await self.visibility.fresh(world.client_id, user_id)
        view_map = await self.visibility.map_for(world.client_id, user_id)
        entry = await self.reader.find(world.client_id, name, view_map)
        if entry is None:
            full = await self.maps.get(world.client_id)
            raise self.reader.not_found(view_map, name, map_empty=len(full.index) == 0)
        try:
            live = await self.reader.live(world, entry, user_id)
        except NotPermitted:  # hidden since this view was read: never say that it exists
            raise NoSuchEntry(f"No entry named “{echo(name)}”.") from None
        base = await self.worlds.image_base(world)
        if live.limited:
            whole = await self.reader.live(world, entry)  # only to narrow: never shown
            if entry_level(whole.ownership, user_id) < LIMITED:
                raise NoSuchEntry(f"No entry named “{echo(name)}”.")  # the reply was another reader's
            own = _limited(live.name, live.img, whole.flags, base)
        else:
            whole = live  # the relay client proved it theirs: a whole entry read as a user grants them OBSERVER
            own = await self._view(world, live, (user_id,), base)
        shared = await self.shared_view(world, whole, audience, base)
        return Lookup(player=shared, own=own if _differs(own, shared) else None)

    async def shared_view(
        self, world: ResolvedWorld, doc: JournalEntry, audience: tuple[str, ...], base: str | None
    ) -> Reply | None:
        """What every user of ``audience`` may see of ``doc`` (a complete copy): nothing unless each of their
        views proved the entry visible and its ownership still grants it to all of them (fail closed)."""
        if not audience:
            return None
        visibles = []
        for user_id in audience:
            try:
                await self.visibility.fresh(world.client_id, user_id)
            except UserFacingError:
                return None  # a view that can't be read now proves nothing: the channel gets nothing
            visibles.append(await self.visibility.visible(world.client_id, user_id))
        level = level_for_all(doc.ownership, audience)
        if level < LIMITED or not all(doc.uuid in v for v in visibles):
            return None
        if level < OBSERVER or any(v[doc.uuid] for v in visibles):
            return _limited(doc.name, doc.img, doc.flags, base)
        return await self._view(world, doc, audience, base, visibles)

    async def _view(
        self,
        world: ResolvedWorld,
        doc: JournalEntry,
        users: tuple[str, ...],
        base: str | None,
        visibles: list[dict[str, bool]] | None = None,
    ) -> Reply:
        """The players' view of a whole entry for ``users`` together: Campaign Codex's hiding, their pages, and
        links (and link names) only to entries every one of them may see."""
        if visibles is None:
            visibles = [await self.visibility.visible(world.client_id, u) for u in users]
        full_map = await self.maps.get(world.client_id)

        def can_see(uuid: str) -> bool:
            return all(uuid in v for v in visibles)

        def name_of(uuid: str) -> str | None:
            return full_map.name_of(uuid) if can_see(uuid) else None

        flags = without_hidden_links(for_players(doc.flags, self.tab_defaults), can_see)
        pages = pages_for_all(doc.pages, doc.ownership, users)
        reply = await render_view(
            doc.name, flags, pages, gm=False, names=name_of, image_base=base, offload=self.maps.offload
        )
        plan_image(reply, flags, image_base=base, gm=False, user_ids=users)  # from this view, never another
        return reply


def _limited(name: str, img: str | None, flags: dict, base: str | None) -> Reply:
    """A LIMITED entry: its title, and its picture unless Campaign Codex hides the image area from players."""
    codex = flags.get("campaign-codex") if isinstance(flags, dict) else None
    hidden = isinstance(codex, dict) and image_hidden_from_players(codex)
    return limited_reply(name, None if hidden else img, base)
