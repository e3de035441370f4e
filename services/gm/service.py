"""What /refresh, /lookup, /push and /world do, without Discord."""

from __future__ import annotations

import asyncio
import time
from collections import defaultdict
from dataclasses import dataclass

from core.errors import ConfigurationError, UserFacingError
from core.replies import Confirm, Reply, Tone
from core.settings import Settings
from core.textsafe import echo
from relay import EntryNotFound, JournalEntry, NotPermitted, NoWorldConnected, RelayClient, SeveralWorlds, World
from services.codex import parse_push_file
from services.entries.images import plan_image
from services.entries.views import render_view
from services.maps.enumerate import Progress
from services.maps.names import choice_label, normalise
from services.maps.rebuild import MapRebuilder
from services.maps.world_maps import EMPTY_MAP, NameMaps, WorldMap
from services.players.player_view import (
    LIMITED,
    OBSERVER,
    entry_level,
    limited_reply,
    visible_pages,
    without_hidden_links,
)
from services.players.viewers import GM_VIEWER, NoPlayerLookups, Viewer, ViewerKind, Viewers
from services.players.visibility import Visibility, VisibilityReport
from services.writes.push import Pusher
from storage import NameEntry, WorldChoiceStore

# Discord shows at most 25 autocomplete choices.
MAX_CHOICES = 25
# Seconds a world's publicUrl is trusted before /clients is asked again.
PUBLIC_URL_TTL = 600.0


class RefreshRunning(UserFacingError):
    temporary = True


class NoSuchEntry(UserFacingError):
    pass


class StaleMap(UserFacingError):
    pass


@dataclass(frozen=True)
class ResolvedWorld:
    client_id: str
    label: str
    public_url: str | None = None


@dataclass(frozen=True)
class Lookup:
    # What players may see (None: nothing: the entry is hidden from them, or no player view is set up).
    player: Reply | None
    # The GM's view (secrets, notes) when a GM asked and it shows more than players may see.
    gm: Reply | None


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
        # /refresh and the background refresh rebuild a map through this one object (one at a time per world);
        # after every rebuild each player view is learnt again (ownership changes never show in the GM's tree).
        self.rebuilder = MapRebuilder(lambda: self.relay, maps)
        self.rebuilder.after_rebuild.append(self._learn_player_views)
        self._views_learnt: dict[str, VisibilityReport] = {}
        # One push per entry at a time, from preview to write: a second push previews against the first's result.
        self._entry_locks: dict[str, asyncio.Lock] = defaultdict(asyncio.Lock)
        self._public_urls: dict[str, tuple[float, str | None]] = {}
        self._pusher = Pusher(self)
        # The world each guild last used, so autocomplete can answer from local data alone.
        self._last_world: dict[int | None, str] = {}

    @property
    def relay(self) -> RelayClient:
        if self._relay is None:
            self.settings.require_relay()
            raise ConfigurationError("The relay is not configured.")
        return self._relay

    # --- worlds -------------------------------------------------------------------------------

    async def online_worlds(self) -> list[World]:
        return [w for w in await self.relay.list_worlds() if w.online]

    async def resolve_world(self, guild_id: int | None, override: str | None = None) -> ResolvedWorld:
        """The world a command acts on: --world, then the guild's /world choice, then RELAY_CLIENT_ID,
        then the only online world."""
        world = await self._resolve_world(guild_id, override)
        self._last_world[guild_id] = world.client_id
        return world

    async def _resolve_world(self, guild_id: int | None, override: str | None) -> ResolvedWorld:
        chosen = await self.world_choices.get(guild_id) if guild_id is not None else None
        client_id = override or (chosen.client_id if chosen else None) or self.settings.relay_client_id
        if client_id:
            label = chosen.label if chosen and chosen.client_id == client_id and chosen.label else client_id
            return ResolvedWorld(client_id, label)
        online = await self.online_worlds()
        if not online:
            raise NoWorldConnected()
        if len(online) > 1:
            raise SeveralWorlds([{"customName": echo(w.label, 80), "clientId": w.client_id} for w in online])
        return ResolvedWorld(online[0].client_id, online[0].label, online[0].public_url)

    async def local_world_id(self, guild_id: int | None) -> str | None:
        """The world to autocomplete from, without asking the relay (autocomplete cannot wait)."""
        if guild_id in self._last_world:
            return self._last_world[guild_id]
        chosen = await self.world_choices.get(guild_id) if guild_id is not None else None
        if chosen or self.settings.relay_client_id:
            return chosen.client_id if chosen else self.settings.relay_client_id
        mapped = await self.maps.store.worlds()
        return mapped[0] if len(mapped) == 1 else None

    async def choose_world(self, guild_id: int, world: World, chosen_by: int | None) -> Reply:
        await self.world_choices.set(guild_id, world.client_id, world.label, chosen_by)
        self._last_world[guild_id] = world.client_id
        return Reply(
            title="World chosen",
            description=f"This server now uses **{echo(world.label)}** ({echo(world.client_id)}).",
            tone=Tone.SUCCESS,
        )

    def worlds_reply(self, worlds: list[World], current: str | None) -> Reply:
        online = [w for w in worlds if w.online]
        if not online:
            return Reply(
                title="No world online",
                description="Foundry is not connected to the relay: open the world in Foundry with the REST API module enabled.",
                tone=Tone.WARNING,
            )
        lines = [
            f"{'▶ ' if w.client_id == current else ''}**{echo(w.label)}** — {echo(w.system_title or '?', 40)}, "
            f"Foundry {echo(w.foundry_version or '?', 20)} (`{echo(w.client_id, 60)}`)"
            for w in online
        ]
        offline = len(worlds) - len(online)
        return Reply(
            title="Online worlds",
            description="\n".join(lines)[:4000],
            footer=f"{offline} offline world(s) not shown" if offline else None,
            data={"worlds": [w.client_id for w in online], "current": current},
        )

    async def image_base(self, world: ResolvedWorld) -> str | None:
        """Where Foundry serves images: FOUNDRY_PUBLIC_URL, else the world's publicUrl from /clients
        (remembered for a while: every /lookup asking /clients again would spend the rate limit)."""
        if self.settings.foundry_public_url:
            return self.settings.foundry_public_url
        if world.public_url:
            return world.public_url
        known = self._public_urls.get(world.client_id)
        if known is not None and time.monotonic() - known[0] < PUBLIC_URL_TTL:
            return known[1]
        found = next((w.public_url for w in await self.relay.list_worlds() if w.client_id == world.client_id), None)
        self._public_urls[world.client_id] = (time.monotonic(), found)
        return found

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

    # --- names --------------------------------------------------------------------------------

    async def map_for(self, world_id: str, viewer: Viewer) -> WorldMap:
        """The names a viewer may know: the whole map for a GM, the visible entries for a player."""
        if viewer.is_gm:
            return await self.maps.get(world_id)
        if viewer.kind is ViewerKind.PLAYER and viewer.user_id:
            return await self.visibility.map_for(world_id, viewer.user_id)
        return EMPTY_MAP

    async def suggestions(self, world_id: str, typed: str, viewer: Viewer = GM_VIEWER) -> list[tuple[str, str]]:
        """Autocomplete choices (label, value) from the local map; the value is the uuid."""
        if viewer.kind is ViewerKind.PLAYER and viewer.user_id:  # never waits for a player's map to be built
            world_map = await self.visibility.map_now(world_id, viewer.user_id)
        else:
            world_map = await self.map_for(world_id, viewer)
        found = world_map.index.suggest(typed, limit=MAX_CHOICES)
        shared = {e.name.casefold() for e in found if len(world_map.index.find_exact(e.name)) > 1}
        return [(choice_label(e, e.name.casefold() in shared), e.uuid) for e in found]

    async def _find(self, world_id: str, name: str, world_map: WorldMap | None = None) -> NameEntry | None:
        world_map = world_map or await self.maps.get(world_id)
        if name in world_map.by_uuid:  # chosen from autocomplete
            return world_map.by_uuid[name]
        exact = world_map.index.find_exact(name)
        if len(exact) > 1:
            raise NoSuchEntry(
                f"{len(exact)} entries are named “{echo(name)}”: pick one from the suggestions as you type.",
                details=[choice_label(e, True) for e in exact[:10]],
            )
        return exact[0] if exact else None

    def _not_found(self, world_map: WorldMap, name: str, *, map_empty: bool | None = None) -> NoSuchEntry:
        """``world_map``: the names the asker may know (did-you-mean comes only from them); ``map_empty``:
        whether the world's whole map is empty (for a player's view, whose emptiness says nothing)."""
        players = map_empty is not None  # a player can't run /refresh: tell them what they can expect
        if map_empty is None:
            map_empty = len(world_map.index) == 0
        if map_empty:
            return NoSuchEntry(
                "The bot doesn't know this world's entries yet: ask the GM to run /refresh."
                if players
                else "The name map for this world is empty: run /refresh first."
            )
        close = world_map.index.close_matches(name, limit=5)
        hint = (
            " If the GM added it just now, it shows after the next refresh."
            if players
            else " Run /refresh if it is new."
        )
        return NoSuchEntry(
            f"No entry named “{echo(name)}”." + (" Did you mean:" if close else hint),
            details=[choice_label(e, True) for e in close],
        )

    async def _live(self, world: ResolvedWorld, entry: NameEntry, user_id: str | None = None) -> JournalEntry:
        try:
            return await self.relay.get_entry(entry.uuid, client_id=world.client_id, user_id=user_id)
        except EntryNotFound:
            raise StaleMap(
                f"“{echo(entry.name)}” is in the name map but no longer exists in Foundry: the map is stale, run /refresh."
            ) from None

    # --- lookup -------------------------------------------------------------------------------

    async def lookup(
        self, world: ResolvedWorld, name: str, *, gm: bool = False, viewer: Viewer | None = None
    ) -> Lookup:
        """A GM gets their full view plus what the players (FOUNDRY_PLAYER) may see of it; a player gets
        what their Foundry user may see, and "no entry named X" for an entry hidden from them."""
        viewer = viewer or (GM_VIEWER if gm else await self.viewers.public(world.client_id))
        if viewer.kind is ViewerKind.NOBODY:
            raise NoPlayerLookups()
        if not viewer.is_gm:
            return Lookup(player=await self._player_lookup(world, name, viewer.user_id), gm=None)
        world_map = await self.maps.get(world.client_id)
        entry = await self._find(world.client_id, name, world_map)
        if entry is None:
            raise self._not_found(world_map, name)
        live = await self._live(world, entry)
        base = await self.image_base(world)
        full = await render_view(live.name, live.flags, live.pages, gm=True, names=world_map.name_of, image_base=base)
        plan_image(full, live.flags, image_base=base, gm=True)
        public = await self.viewers.public(world.client_id)
        player = await self._players_share(world, live, public.user_id, base) if public.user_id else None
        # The GM view goes too when it shows more: secrets, notes, or a picture hidden from players.
        shows_more = player is None or full.as_text() != player.as_text() or full.image != player.image
        return Lookup(player=player, gm=full if shows_more else None)

    async def _player_lookup(self, world: ResolvedWorld, name: str, user_id: str) -> Reply:
        view_map = await self.visibility.map_for(world.client_id, user_id)
        entry = await self._find(world.client_id, name, view_map)
        if entry is None:
            full = await self.maps.get(world.client_id)
            raise self._not_found(view_map, name, map_empty=len(full.index) == 0)
        try:
            live = await self._live(world, entry, user_id)
        except NotPermitted:  # shared once, hidden since the last /refresh: never say that it exists
            raise NoSuchEntry(f"No entry named “{echo(name)}”.") from None
        base = await self.image_base(world)
        if live.limited:
            return limited_reply(live.name, live.img, base)
        return await self._render_for(live, user_id, view_map, base, live.flags)

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
        return await self._render_for(live, user_id, view_map, base, live.flags)

    @staticmethod
    async def _render_for(live: JournalEntry, user_id: str, view_map: WorldMap, base: str | None, flags: dict) -> Reply:
        flags = without_hidden_links(flags, lambda uuid: uuid in view_map.by_uuid)
        pages = visible_pages(live.pages, live.ownership, user_id)
        reply = await render_view(live.name, flags, pages, gm=False, names=view_map.name_of, image_base=base)
        plan_image(reply, flags, image_base=base, gm=False)  # from the view this reader gets, never another
        return reply

    # --- push ---------------------------------------------------------------------------------

    async def push(
        self, world: ResolvedWorld, name: str, raw: bytes, *, rename: str | None = None, confirm: Confirm
    ) -> Reply:
        pushed = parse_push_file(raw)
        if rename is not None:
            rename = " ".join(rename.split())
            if not rename or len(rename) > 255:
                raise UserFacingError("The new name must be 1 to 255 characters long; nothing was sent.")
        entry = await self._find(world.client_id, name)
        note = ""
        if entry is None:
            # The map may be stale: an entry of this exact name in the live world is offered instead.
            found = await self.live_named(world, rename or name)
            if len(found) > 1:
                raise NoSuchEntry(
                    f"{len(found)} entries in the world are named “{echo(rename or name)}”: run /refresh, then pick one "
                    "from the suggestions. Nothing was sent.",
                )
            if not found:
                return await self._pusher.create(world, rename or name, pushed, confirm)
            entry = found[0]
            await self.maps.put(world.client_id, entry)
            note = f"“{echo(entry.name)}” is in the world but was not in the bot's name map: this updates it."
        return await self._pusher.push(world, entry, pushed, rename, confirm, note=note)

    async def live_named(self, world: ResolvedWorld, name: str) -> list[NameEntry]:
        """Journal entries of the live world named ``name`` (ignoring case and extra spaces), by /search."""
        result = await self.relay.search_journal_entries(client_id=world.client_id, query=name)
        wanted = normalise(name)
        return [NameEntry(uuid=h.uuid, name=h.name) for h in result.hits if normalise(h.name) == wanted]
