"""Finding an entry by name or uuid in a map, reading it live from Foundry, and saying so when it is not there.

The one reader that lookups and writes share: a name chosen from autocomplete arrives as its uuid; a typed
name must match exactly one entry; "did you mean" offers only names the asker may know.
"""

from __future__ import annotations

from collections.abc import Callable

from core.errors import UserFacingError
from core.textsafe import echo
from relay import EntryNotFound, JournalEntry, RelayClient, RelayMonthlyLimit
from services.maps.names import choice_label, normalise
from services.maps.world_maps import NameMaps, WorldMap
from services.worlds import ResolvedWorld
from storage import NameEntry


class NoSuchEntry(UserFacingError):
    pass


class StaleMap(UserFacingError):
    pass


class EntryReader:
    def __init__(self, relay: Callable[[], RelayClient], maps: NameMaps):
        self._relay = relay
        self.maps = maps

    async def find(self, world_id: str, name: str, world_map: WorldMap | None = None) -> NameEntry | None:
        """The entry ``name`` means in ``world_map`` (the world's whole map by default): a uuid chosen from
        autocomplete, or the one entry of that exact name. Several of that name: pick one."""
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

    @staticmethod
    def not_found(world_map: WorldMap, name: str, *, map_empty: bool | None = None) -> NoSuchEntry:
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

    async def live(self, world: ResolvedWorld, entry: NameEntry, user_id: str | None = None) -> JournalEntry:
        """The entry as Foundry holds it now (as ``user_id`` may read it, when given)."""
        try:
            return await self._relay().get_entry(entry.uuid, client_id=world.client_id, user_id=user_id)
        except RelayMonthlyLimit as error:  # the map still knows the name: say that it can't be read
            raise error.reading(echo(entry.name)) from None
        except EntryNotFound:
            raise StaleMap(
                f"“{echo(entry.name)}” is in the name map but no longer exists in Foundry: the map is stale, run /refresh."
            ) from None

    async def live_named(self, world: ResolvedWorld, name: str) -> list[NameEntry]:
        """Journal entries of the live world named ``name`` (ignoring case and extra spaces), by /search."""
        result = await self._relay().search_journal_entries(client_id=world.client_id, query=name)
        wanted = normalise(name)
        return [NameEntry(uuid=h.uuid, name=h.name) for h in result.hits if normalise(h.name) == wanted]
