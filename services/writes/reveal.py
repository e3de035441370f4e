"""/reveal and /hide: share an entry with the players or hide it, as Campaign Codex's eye button does
(``ownership.default`` 2 OBSERVER or 0 NONE; per-user levels are left alone)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from core.errors import UserFacingError
from core.replies import Confirm, Decision, Reply, Tone
from core.textsafe import echo
from relay.errors import CrossedReply, RelayTimeout
from services.codex.sheets import HIDDEN, VISIBLE
from services.writes.push import _not_sent, read_back

if TYPE_CHECKING:
    from services.gm.service import GMService, ResolvedWorld

__all__ = ["Visibility", "set_visibility"]


@dataclass(frozen=True)
class Visibility:
    reply: Reply
    # What players now see (only after a reveal was written): for the channel, "The GM revealed …".
    players_view: Reply | None = None


async def set_visibility(
    service: GMService, world: ResolvedWorld, name: str, *, visible: bool, confirm: Confirm
) -> Visibility:
    world_map = await service.maps.get(world.client_id)
    entry = await service._find(world.client_id, name)
    if entry is None:
        raise service._not_found(world_map, name)
    target = VISIBLE if visible else HIDDEN
    async with service._entry_locks[entry.uuid]:
        live = await service._live(world, entry)
        level = (live.raw.get("ownership") or {}).get("default", HIDDEN)
        if (level >= VISIBLE) if visible else (level == HIDDEN):
            state = "already visible to players" if visible else "already hidden from players"
            return Visibility(
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
            return Visibility(_not_sent(decision))
        diff = {"ownership.default": target}
        try:
            updated = await service.relay.update_entry(live.uuid, diff, client_id=world.client_id)
        except (CrossedReply, RelayTimeout) as error:
            updated = await read_back(service.relay, world.client_id, live.uuid, diff, error)
    reply = Reply(
        title=f"{'Revealed' if visible else 'Hidden'}: {echo(updated.name)}",
        description="Players can now see this entry." if visible else "Players can no longer see this entry.",
        tone=Tone.SUCCESS,
        data={"uuid": updated.uuid, "ownership_default": target},
    )
    # Foundry now answers differently for players: their names (autocomplete, "did you mean") follow at once.
    await service.visibility.recompute(world.client_id)
    if not visible:
        return Visibility(reply)
    return Visibility(reply, await _players_view(service, world, updated.uuid, reply))


async def _players_view(service: GMService, world: ResolvedWorld, uuid: str, reply: Reply) -> Reply | None:
    """What the players (FOUNDRY_PLAYER) now see of the entry, read as they read it: their pages, their names."""
    public = await service.viewers.public(world.client_id)
    if public.user_id is None:
        reply.footer = "Not posted in the channel: FOUNDRY_PLAYER is not set, so the bot can't tell what players see."
        return None
    try:
        view = (await service.lookup(world, uuid, viewer=public)).player
    except UserFacingError:  # e.g. a per-user "None" for that Foundry user: nothing of it is theirs to see
        reply.footer = "Not posted in the channel: the players' Foundry user still can't see this entry."
        return None
    view.title = f"The GM revealed {view.title or ''}"
    return view
