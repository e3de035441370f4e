"""/reveal and /hide: share an entry with the players or hide it, as Campaign Codex's eye button does
(``ownership.default`` 2 OBSERVER or 0 NONE; per-user levels are left alone)."""

from __future__ import annotations

from dataclasses import dataclass

from core.errors import UserFacingError
from core.outcomes import Writes, after_write
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
from services.writes.outcome import Steps, past_no_return, tell
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
        writes: Writes,
    ):
        self.writes = writes
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
            steps = Steps.of([live.name])
            doing = "revealing" if visible else "hiding"
            return await past_no_return(
                self.writes,
                f"/{'reveal' if visible else 'hide'} of {live.name}",
                steps,
                self._apply(world, live.uuid, target, visible, steps, guild_id),
                title=f"The bot stopped while {doing} {echo(live.name)}: it may have been written",
            )

    async def _apply(
        self, world: ResolvedWorld, uuid: str, target: int, visible: bool, steps: Steps, guild_id: int | None
    ) -> VisibilityChange:
        """Past Confirm: the write, then what players may see follows it and what they now see of it goes to
        the channel (bookkeeping: a failure there is a warning, never the answer)."""
        updated = await self.writer.update(world.client_id, uuid, {"ownership.default": target})
        steps.written(updated.name)
        reply = Reply(
            title=f"{'Revealed' if visible else 'Hidden'}: {echo(updated.name)}",
            description="Players can now see this entry." if visible else "Players can no longer see this entry.",
            tone=Tone.SUCCESS,
            data={"uuid": updated.uuid, "ownership_default": target},
        )
        # Foundry now answers differently for players: their names (autocomplete, "did you mean") follow at once.
        follow = "Run /refresh so that players' names follow."
        seen = await after_write(
            steps.outcome, "update what players may see", self.visibility.recompute(world.client_id), then=follow
        )
        if seen is not None and seen.failed:
            steps.outcome.warn(f"The bot could not update what players may see: {'; '.join(seen.failed[:3])}. {follow}")
        players_view = None
        if visible:
            players_view = await after_write(
                steps.outcome, "read what players now see of it", self._players_view(world, updated, reply, guild_id)
            )
        return VisibilityChange(tell(reply, steps.outcome), players_view)

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
            # Each view the channel's players get is read now if it is not fresh: one that can't be (the relay,
            # a busy database) is said as such, not as "not every player may see it".
            for user_id in await self.viewers.audience(guild_id, world.client_id):
                await self.visibility.fresh(world.client_id, user_id)
            view = await self.lookups.channel_view(world, updated, guild_id)
        except UserFacingError as error:
            cause = getattr(error, "brief", "") or error.message.rstrip(".")
            reply.footer = (
                f"Not posted in the channel: what its players see could not be read ({cause}). "
                "Post it with /lookup once that works again."
            )[:2000]
            return None
        if view is None:  # e.g. a per-user "None" for a player of this server: not everyone here may see it
            reply.footer = "Not posted in the channel: not every player here may see this entry."
            return None
        view.title = f"The GM revealed {view.title or ''}"
        return view
