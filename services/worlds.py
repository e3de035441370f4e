"""Which Foundry world a command acts on, and where that world serves its images.

A world belongs to one server, and a server's roles count only for its own world (a "GM" role in a package
community is nobody's GM). A server's world: its /world choice; else, for the first server listed in
DISCORD_GUILD_ID (the campaign's), ``RELAY_CLIENT_ID``, or the only online world when no other server is listed.
Any other server that never chose a world has none: it serves releases only. A world another server uses can't
be chosen. The command line (no server) takes ``--world``, then ``RELAY_CLIENT_ID``, then the only online world.
Autocomplete cannot ask the relay (Discord gives it 3 s), so the world each server used last is remembered here.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from core.errors import UserFacingError
from core.replies import Reply, Tone
from core.settings import Settings
from core.textsafe import echo
from relay import NoWorldConnected, RelayClient, SeveralWorlds, World
from storage import NameMapStore, WorldChoiceStore

# Seconds a world's publicUrl is trusted before /clients is asked again.
PUBLIC_URL_TTL = 600.0


class NoWorldHere(UserFacingError):
    def __init__(self):
        super().__init__(
            "This server has no Foundry world: it serves releases only. A GM here can give it a world no other "
            "server uses with /world."
        )


class WorldTaken(UserFacingError):
    pass


@dataclass(frozen=True)
class ServerWorld:
    """What one listed server serves, for /status."""

    guild_id: int
    world: str | None  # a label (and client id), or None: releases only


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
        """The world a command acts on (see the module's docstring)."""
        world = await self._resolve(guild_id, override)
        self._last_world[guild_id] = world.client_id
        return world

    def _campaign(self, guild_id: int | None) -> bool:
        return guild_id is not None and guild_id == self.settings.campaign_guild_id

    def _single_server(self) -> bool:
        return len(self.settings.guild_ids) <= 1

    async def _resolve(self, guild_id: int | None, override: str | None) -> ResolvedWorld:
        if guild_id is not None:
            chosen = await self.world_choices.get(guild_id)
            if chosen is not None:
                return ResolvedWorld(chosen.client_id, chosen.label or chosen.client_id)
            if not self._campaign(guild_id):
                raise NoWorldHere()
        client_id = override or self.settings.relay_client_id
        if client_id:
            return ResolvedWorld(client_id, client_id)
        if guild_id is not None and not self._single_server():
            raise NoWorldHere()  # several servers: the campaign's world is named, never guessed
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
        """The world to autocomplete from, without asking the relay (autocomplete cannot wait): the same rule
        as commands, from what is stored."""
        if guild_id in self._last_world:
            return self._last_world[guild_id]
        if guild_id is not None:
            chosen = await self.world_choices.get(guild_id)
            if chosen is not None:
                return chosen.client_id
            if not self._campaign(guild_id):
                return None
        if self.settings.relay_client_id:
            return self.settings.relay_client_id
        if guild_id is not None and not self._single_server():
            return None
        mapped = await self._mapped.worlds()
        return mapped[0] if len(mapped) == 1 else None

    async def taken_by_another(self, guild_id: int, client_id: str) -> bool:
        """Whether ``client_id`` is another listed server's world (its choice, or the campaign's RELAY_CLIENT_ID)."""
        choices = await self.world_choices.by_guild()
        if any(g != guild_id and c.client_id == client_id for g, c in choices.items()):
            return True
        campaign = self.settings.campaign_guild_id
        return client_id == self.settings.relay_client_id and guild_id != campaign and campaign not in choices

    async def choosable(self, guild_id: int, worlds: list[World]) -> list[World]:
        """The worlds this server may choose: none another server uses."""
        return [w for w in worlds if not await self.taken_by_another(guild_id, w.client_id)]

    async def choose(self, guild_id: int, world: World, chosen_by: int | None) -> Reply:
        if await self.taken_by_another(guild_id, world.client_id):
            raise WorldTaken(
                f"“{echo(world.label)}” is another server's world: a world belongs to one server (its roles count "
                "there only). Nothing changed."
            )
        await self.world_choices.set(guild_id, world.client_id, world.label, chosen_by)
        self._last_world[guild_id] = world.client_id
        return Reply(
            title="World chosen",
            description=f"This server now uses **{echo(world.label)}** ({echo(world.client_id)}).",
            tone=Tone.SUCCESS,
        )

    async def servers(self) -> list[ServerWorld]:
        """Each listed server and the world it serves (None: releases only), in DISCORD_GUILD_ID's order."""
        choices = await self.world_choices.by_guild()
        listed = self.settings.discord_guild_id
        listed = (listed,) if isinstance(listed, int) else tuple(listed or ())
        found: list[ServerWorld] = []
        for guild_id in listed:
            chosen = choices.get(guild_id)
            if chosen is not None:
                found.append(
                    ServerWorld(guild_id, f"{echo(chosen.label or chosen.client_id)} (`{echo(chosen.client_id, 60)}`)")
                )
            elif self._campaign(guild_id) and self.settings.relay_client_id:
                found.append(ServerWorld(guild_id, f"`{echo(self.settings.relay_client_id, 60)}` (RELAY_CLIENT_ID)"))
            elif self._campaign(guild_id) and self._single_server():
                found.append(ServerWorld(guild_id, "the only online world"))
            else:
                found.append(ServerWorld(guild_id, None))
        return found

    async def menu(self, guild_id: int) -> tuple[Reply, list[World], str | None]:
        """/world: the online worlds this server may choose (none another server uses), and its current one."""
        worlds = await self._relay().list_worlds()
        chosen = await self.world_choices.get(guild_id)
        current = chosen.client_id if chosen else self.settings.relay_client_id if self._campaign(guild_id) else None
        mine = await self.choosable(guild_id, worlds)
        reply = self.worlds_reply(mine, current)
        others = sum(1 for w in worlds if w.online) - sum(1 for w in mine if w.online)
        if others and not any(w.online for w in mine):
            reply = Reply(
                title="No world to choose",
                description="Every online world is another server's: a world belongs to one server.",
                tone=Tone.WARNING,
            )
        elif others:
            note = f"{others} world(s) other servers use not shown"
            reply.footer = f"{reply.footer} · {note}" if reply.footer else note
        return reply, [w for w in mine if w.online], current

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
