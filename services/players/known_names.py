"""The names a reader may know: the whole map for a GM, the entries Foundry shows a player view for a player.

Autocomplete and "did you mean" offer only these; autocomplete never waits for a player view's map to be built.
"""

from __future__ import annotations

from services.maps.world_maps import EMPTY_MAP, NameMaps, WorldMap
from services.players.viewers import GM_VIEWER, Viewer, ViewerKind
from services.players.visibility import Visibility

# Discord shows at most 25 autocomplete choices.
MAX_CHOICES = 25


class KnownNames:
    def __init__(self, maps: NameMaps, visibility: Visibility):
        self.maps = maps
        self.visibility = visibility

    async def map_for(self, world_id: str, viewer: Viewer) -> WorldMap:
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
        return [(world_map.index.choice_label(e), e.uuid) for e in found]
