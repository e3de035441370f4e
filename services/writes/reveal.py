"""/reveal and /hide: share an entry with the players or hide it, as Campaign Codex's eye button does
(``ownership.default`` 2 OBSERVER or 0 NONE; per-user levels are left alone)."""

from __future__ import annotations

from dataclasses import dataclass

from core.errors import UserFacingError
from core.replies import Confirm, Decision, Reply, Tone
from core.textsafe import echo
from relay import JournalEntry
from services.codex.sheets import HIDDEN, VISIBLE
from services.entries.lookup import Lookups
from services.entries.reader import EntryReader
from services.maps.world_maps import NameMaps
from services.players.viewers import Viewers
from services.players.visibility import Visibility as PlayerVisibility
from services.worlds import ResolvedWorld
from services.writes.writer import EntryWriter, not_sent

__all__ = ["Revealer", "VisibilityChange"]


@dataclass(frozen=True)
class VisibilityChange:
    reply: Reply
    # What players now see (only after a reveal was written): for the channel, "The GM revealed …".
    players_view: Reply | None = None


class Revealer:
    def __init__(
        self,
        reader: EntryReader,
        writer: EntryWriter,
        maps: NameMaps,
        lookups: Lookups,
        viewers: Viewers,
        visibility: PlayerVisibility,
    ):
        self.reader = reader
        self.writer = writer
        self.maps = maps
        self.lookups = lookups
        self.viewers = viewers
        self.visibility = visibility

    async def set_visibility(
        self, world: ResolvedWorld, name: str, *, visible: bool, confirm: Confirm, guild_id: int | None = None
    ) -> VisibilityChange:
        """``guild_id``: the server whose channel a reveal posts to (what all its players now see)."""
        world_map = await self.maps.get(world.client_id)
        entry = await self.reader.find(world.client_id, name)
        if entry is None:
            raise self.reader.not_found(world_map, name)
        target = VISIBLE if visible else HIDDEN
        async with self.writer.entry_lock(entry.uuid):
            live = await self.reader.live(world, entry)
            level = (live.raw.get("ownership") or {}).get("default", HIDDEN)
            if (level >= VISIBLE) if visible else (level == HIDDEN):
                state = "already visible to players" if visible else "already hidden from players"
                return VisibilityChange(
                    Reply(
                        title=f"Nothing to change — {echo(live.name)}",
                        description=f"“{echo(live.name)}” is {state}; nothing was sent.",
                        tone=Tone.INFO,
                        data={"uuid": live.uuid, "ownership_default": level},
                    )
                )
            verb = "Reveal" if visible else "Hide"
            preview = Reply(
                title=f"{verb} {echo(live.name)}?",
                description=(
                    f"Players will see “{echo(live.name)}” (secrets and GM notes stay hidden)."
                    if visible
                    else f"Players will no longer see “{echo(live.name)}”."
                ),
                footer=f"ownership.default: {level} → {target}",
                tone=Tone.INFO,
                data={"uuid": live.uuid, "changes": {"ownership.default": target}},
            )
            decision = await confirm(preview)
            if decision is not Decision.CONFIRMED:
                return VisibilityChange(not_sent(decision))
            updated = await self.writer.update(world.client_id, live.uuid, {"ownership.default": target})
        reply = Reply(
            title=f"{'Revealed' if visible else 'Hidden'}: {echo(updated.name)}",
            description="Players can now see this entry." if visible else "Players can no longer see this entry.",
            tone=Tone.SUCCESS,
            data={"uuid": updated.uuid, "ownership_default": target},
        )
        # Foundry now answers differently for players: their names (autocomplete, "did you mean") follow at once.
        await self.visibility.recompute(world.client_id)
        if not visible:
            return VisibilityChange(reply)
        return VisibilityChange(reply, await self._players_view(world, updated, reply, guild_id))

    async def _players_view(
        self, world: ResolvedWorld, updated: JournalEntry, reply: Reply, guild_id: int | None
    ) -> Reply | None:
        """What every player of the server now sees of the entry (the channel rule, from the written copy)."""
        public = await self.viewers.public(world.client_id)
        if public.user_id is None:
            reply.footer = (
                "Not posted in the channel: FOUNDRY_PLAYER is not set, so the bot can't tell what players see."
            )
            return None
        try:
            view = await self.lookups.channel_view(world, updated, guild_id)
        except UserFacingError as error:
            reply.footer = f"Not posted in the channel: {error.message}"
            return None
        if view is None:  # e.g. a per-user "None" for a player of this server: not everyone here may see it
            reply.footer = "Not posted in the channel: not every player here may see this entry."
            return None
        view.title = f"The GM revealed {view.title or ''}"
        return view
