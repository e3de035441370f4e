"""Which Foundry world a command acts on, and where that world serves its images.

A command's world: an explicit ``--world``, then the server's /world choice, then ``RELAY_CLIENT_ID``, then the
only online world. Autocomplete cannot ask the relay (Discord gives it 3 s), so the world each server used last
is remembered here.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from core.replies import Reply, Tone
from core.settings import Settings
from core.textsafe import echo
from relay import NoWorldConnected, RelayClient, SeveralWorlds, World
from storage import NameMapStore, WorldChoiceStore

# Seconds a world's publicUrl is trusted before /clients is asked again.
PUBLIC_URL_TTL = 600.0


@dataclass(frozen=True)
class ResolvedWorld:
    client_id: str
    label: str
    public_url: str | None = None


class WorldResolver:
    def __init__(
        self,
        settings: Settings,
        relay: Callable[[], RelayClient],
        world_choices: WorldChoiceStore,
        mapped: NameMapStore,
    ):
        self.settings = settings
        self._relay = relay  # a callable: the relay may be unconfigured until a command needs it
        self.world_choices = world_choices
        self._mapped = mapped
        self._public_urls: dict[str, tuple[float, str | None]] = {}
        # The world each guild last used, so autocomplete can answer from local data alone.
        self._last_world: dict[int | None, str] = {}

    async def online_worlds(self) -> list[World]:
        return [w for w in await self._relay().list_worlds() if w.online]

    async def resolve(self, guild_id: int | None, override: str | None = None) -> ResolvedWorld:
        """The world a command acts on: --world, then the guild's /world choice, then RELAY_CLIENT_ID,
        then the only online world."""
        world = await self._resolve(guild_id, override)
        self._last_world[guild_id] = world.client_id
        return world

    async def _resolve(self, guild_id: int | None, override: str | None) -> ResolvedWorld:
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

    def forget_last(self, guild_id: int | None) -> None:
        """Forget the world a guild used last (as a restart does)."""
        self._last_world.pop(guild_id, None)

    async def local_world_id(self, guild_id: int | None) -> str | None:
        """The world to autocomplete from, without asking the relay (autocomplete cannot wait)."""
        if guild_id in self._last_world:
            return self._last_world[guild_id]
        chosen = await self.world_choices.get(guild_id) if guild_id is not None else None
        if chosen or self.settings.relay_client_id:
            return chosen.client_id if chosen else self.settings.relay_client_id
        mapped = await self._mapped.worlds()
        return mapped[0] if len(mapped) == 1 else None

    async def choose(self, guild_id: int, world: World, chosen_by: int | None) -> Reply:
        await self.world_choices.set(guild_id, world.client_id, world.label, chosen_by)
        self._last_world[guild_id] = world.client_id
        return Reply(
            title="World chosen",
            description=f"This server now uses **{echo(world.label)}** ({echo(world.client_id)}).",
            tone=Tone.SUCCESS,
        )

    @staticmethod
    def worlds_reply(worlds: list[World], current: str | None) -> Reply:
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
        found = next((w.public_url for w in await self._relay().list_worlds() if w.client_id == world.client_id), None)
        self._public_urls[world.client_id] = (time.monotonic(), found)
        return found
