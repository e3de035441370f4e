"""/players: the world's Foundry users, and which member sees as which of them."""

from __future__ import annotations

from core.errors import UserFacingError
from core.replies import Reply, Tone
from core.textsafe import echo
from relay import FoundryUser
from services.players.viewers import Viewer, ViewerKind, Viewers
from services.players.visibility import Visibility

ROLES = {0: "none", 1: "player", 2: "trusted", 3: "assistant GM", 4: "GM"}


class LinkRefused(UserFacingError):
    pass


class PlayersService:
    def __init__(self, viewers: Viewers, visibility: Visibility):
        self.viewers = viewers
        self.visibility = visibility

    async def overview(self, guild_id: int, world: str, world_label: str) -> Reply:
        users = await self.viewers.users(world, fresh=True)
        links = await self.viewers.links.for_guild(guild_id, world)
        setting = await self.viewers.foundry_player(world)
        by_user: dict[str, list[int]] = {}
        for link in links:
            by_user.setdefault(link.foundry_user_id, []).append(link.member_id)
        lines = []
        for user in users:
            members = ", ".join(f"<@{m}>" for m in by_user.get(user.id, []))
            lines.append(
                f"**{echo(user.name, 60)}** — {ROLES.get(user.role, str(user.role))} (`{echo(user.id, 40)}`)"
                + (f" ← {members}" if members else "")
            )
        stale = [link for link in links if link.foundry_user_id not in {u.id for u in users}]
        lines += [
            f"<@{link.member_id}> → {echo(link.foundry_user_name, 60)} (no longer in the world)" for link in stale
        ]
        reply = Reply(
            title=f"Foundry users — {echo(world_label)}",
            description="\n".join(lines)[:4000] or "The world has no users.",
            tone=Tone.INFO,
            data={"users": [u.id for u in users], "links": {str(lk.member_id): lk.foundry_user_id for lk in links}},
        )
        reply.add_field("FOUNDRY_PLAYER", setting.describe()[:1000])
        reply.footer = "/players link member user gives a member their own Foundry user's view"
        return reply

    async def _user(self, world: str, wanted: str) -> FoundryUser:
        await self.viewers.users(world, fresh=True)
        user = await self.viewers.find_user(world, wanted)
        if user is None:
            raise LinkRefused(f"The world has no Foundry user “{echo(wanted, 60)}”; /players list shows them.")
        if user.is_gm:
            raise LinkRefused(
                f"“{echo(user.name, 60)}” is a GM user in Foundry: linking a member to it would show them "
                "everything. Link players to their own player users."
            )
        return user

    async def viewer_for(self, world: str, wanted: str) -> Viewer:
        """A player view for any (non-GM) Foundry user (its visible entries are read when its lookup needs them)."""
        user = await self._user(world, wanted)
        return Viewer(ViewerKind.PLAYER, user.id, f"as {user.name}")

    async def link(self, guild_id: int, world: str, member_id: int, wanted: str, linked_by: int) -> Reply:
        if member_id == linked_by:
            raise LinkRefused("You can't link yourself: another GM links your Discord account to your Foundry user.")
        user = await self._user(world, wanted)
        await self.viewers.links.link(guild_id, world, member_id, user.id, user.name, linked_by)
        seen = await self.visibility.recompute(world)  # the new view is usable at once
        reply = Reply(
            title="Player linked",
            description=f"<@{member_id}> now sees what the Foundry user **{echo(user.name, 60)}** may see.",
            tone=Tone.SUCCESS if not seen.failed else Tone.WARNING,
            data={"member": member_id, "user": user.id},
        )
        if seen.note():
            reply.add_field("Visibility", seen.note()[:1000])
        return reply

    async def unlink(self, guild_id: int, world: str, member_id: int) -> Reply:
        if not await self.viewers.links.unlink(guild_id, world, member_id):
            return Reply(description=f"<@{member_id}> was not linked; nothing changed.", tone=Tone.INFO)
        return Reply(
            title="Player unlinked",
            description=f"<@{member_id}> now sees as FOUNDRY_PLAYER (or gets no entry content if it is unset).",
            tone=Tone.SUCCESS,
            data={"member": member_id},
        )
