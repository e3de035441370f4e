"""Who sees as whom: a member with GM_ROLE sees as the GM; a member the GM linked to their own Foundry
user sees as that user; everyone else sees as FOUNDRY_PLAYER, or gets no entry content at all.

Player views are Foundry user ids, resolved from the world's /players list (FOUNDRY_PLAYER may be a
name). A Foundry user that is a GM (ASSISTANT or GAMEMASTER) never serves as a player view: that would
show players everything, so such a setting or link is refused (fail closed).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum

from core.errors import UserFacingError
from core.settings import Settings
from core.textsafe import echo
from relay import FoundryUser, RelayClient, background_requests
from storage.player_links import PlayerLinkStore

log = logging.getLogger(__name__)

# Seconds the world's user list is trusted before /players is asked again.
USERS_TTL = 300.0


class ViewerKind(Enum):
    GM = "gm"
    PLAYER = "player"
    NOBODY = "nobody"  # FOUNDRY_PLAYER unset and not linked: no entry content at all


@dataclass(frozen=True)
class Viewer:
    kind: ViewerKind
    user_id: str | None = None  # the Foundry user id a player view answers as
    source: str = ""  # for logs and /status: "GM role", "linked", "FOUNDRY_PLAYER"

    @property
    def is_gm(self) -> bool:
        return self.kind is ViewerKind.GM


GM_VIEWER = Viewer(ViewerKind.GM, source="GM role")
NOBODY = Viewer(ViewerKind.NOBODY, source="no player view")


class NoPlayerLookups(UserFacingError):
    def __init__(self):
        super().__init__(
            "The GM has not set up player lookups yet (no player view is set for this server, and you are not linked "
            "to a Foundry user)."
        )


class FoundryPlayerProblem(UserFacingError):
    pass


@dataclass(frozen=True)
class PlayerSetting:
    """What FOUNDRY_PLAYER means in one world, for /status and the refresh report."""

    user: FoundryUser | None
    problem: str | None  # why it serves no view (unset, unknown, a GM user)

    def describe(self) -> str:
        if self.user is not None:
            return f"{echo(self.user.name, 60)} (`{self.user.id}`): players without a link see what this user sees"
        return self.problem or "not set"


class Viewers:
    def __init__(self, settings: Settings, relay: Callable[[], RelayClient], links: PlayerLinkStore):
        self.settings = settings
        self._relay = relay
        self.links = links
        self._users: dict[str, tuple[float, list[FoundryUser]]] = {}
        self._warming: dict[str, asyncio.Task] = {}

    async def users(self, world: str, *, fresh: bool = False, local: bool = False) -> list[FoundryUser]:
        """The world's Foundry users, asked with GM rights (cached a few minutes). ``local``: only what
        is already known, however old (an empty list when nothing is)."""
        known = self._users.get(world)
        if local:
            if known is None:
                self._warm(world)  # after a restart: the next keystroke can answer
            return known[1] if known is not None else []
        if not fresh and known is not None and time.monotonic() - known[0] < USERS_TTL:
            return known[1]
        users = await self._relay().list_players(client_id=world)
        self._users[world] = (time.monotonic(), users)
        return users

    def _warm(self, world: str) -> None:
        if world in self._warming:
            return

        async def warm() -> None:
            try:
                with background_requests():  # nobody waits for it: not sent while the relay's month is spent
                    await self.users(world)
            except UserFacingError as error:
                log.info("Could not read the Foundry users of %s: %s", world, error.message)
            finally:
                self._warming.pop(world, None)

        self._warming[world] = asyncio.get_running_loop().create_task(warm())

    async def find_user(self, world: str, wanted: str, *, local: bool = False) -> FoundryUser | None:
        """By id, then by name ignoring case: the module's own rule for ``userId``."""
        users = await self.users(world, local=local)
        by_id = next((u for u in users if u.id == wanted), None)
        return by_id or next((u for u in users if u.name.casefold() == wanted.casefold()), None)

    async def foundry_player(self, world: str, *, fresh: bool = False, local: bool = False) -> PlayerSetting:
        wanted = self.settings.foundry_player
        if not wanted:
            return PlayerSetting(None, "not set: members without a link get no entry content")
        if fresh:
            await self.users(world, fresh=True)
        user = await self.find_user(world, wanted, local=local)
        if user is None:
            return PlayerSetting(None, "names no user of this world: members without a link get no entry content")
        if user.is_gm:
            return PlayerSetting(None, "names a GM user, so it is ignored: make a plain player user for it")
        return PlayerSetting(user, None)

    async def public(self, world: str, *, local: bool = False) -> Viewer:
        """The view of 'the players' as a whole: what a GM's public /lookup may post.
        ``local``: answer from what is known without asking the relay (autocomplete cannot wait)."""
        setting = await self.foundry_player(world, local=local)
        if setting.user is None:
            return NOBODY
        return Viewer(ViewerKind.PLAYER, setting.user.id, "FOUNDRY_PLAYER")

    async def for_member(
        self, guild_id: int | None, world: str | None, member_id: int, *, is_gm: bool, local: bool = False
    ) -> Viewer:
        if is_gm:
            return GM_VIEWER
        if world is None:
            return NOBODY
        if guild_id is not None:
            link = await self.links.get(guild_id, world, member_id)
            if link is not None:
                return Viewer(ViewerKind.PLAYER, link.foundry_user_id, "linked")
        if not self.settings.foundry_player:
            return NOBODY
        return await self.public(world, local=local)

    async def audience(self, guild_id: int | None, world: str) -> tuple[str, ...]:
        """The Foundry users whose views the members of a server get: FOUNDRY_PLAYER's (first) and each linked
        user's there. A channel message holds only what all of them may see. Empty when FOUNDRY_PLAYER serves no
        one: members without a link then see nothing, so nothing may go to a channel. A link to a user who is no
        longer a player of the world (deleted, or made a GM who sees everything in Foundry) narrows nothing."""
        setting = await self.foundry_player(world)
        if setting.user is None:
            return ()
        users = [setting.user.id]
        if guild_id is not None:
            players = {u.id for u in await self.users(world) if not u.is_gm}
            linked = {link.foundry_user_id for link in await self.links.for_guild(guild_id, world)}
            users += sorted((linked & players) - {setting.user.id})
        return tuple(users)

    async def player_views(self, world: str) -> set[str]:
        """Every distinct player view of the world: FOUNDRY_PLAYER's user and each linked user. A linked
        user who has since become a GM in Foundry (or was deleted) serves no view: fail closed."""
        linked = await self.links.linked_users(world)
        if not linked and not self.settings.foundry_player:
            return set()  # no player view configured: not even a /players request
        setting = await self.foundry_player(world, fresh=True)
        players = {u.id for u in await self.users(world) if not u.is_gm}
        views = {user_id for user_id in linked if user_id in players}
        if setting.user is not None:
            views.add(setting.user.id)
        return views
