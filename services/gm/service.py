"""What /refresh, /lookup, /push and /world do, without Discord."""

from __future__ import annotations

import asyncio
import time
from collections import defaultdict
from dataclasses import dataclass

from core.errors import ConfigurationError, UserFacingError
from core.replies import Confirm, Decision, Reply, Tone
from core.settings import Settings
from core.textsafe import echo
from relay import EntryNotFound, JournalEntry, NoWorldConnected, RelayClient, SeveralWorlds, World
from services.codex import codex_diff, describe_changes, parse_push_file, validate_against_type
from services.gm.enumerate import Progress
from services.gm.maps import NameMaps, WorldMap
from services.gm.names import NameEntry, choice_label
from services.gm.rebuild import MapRebuilder
from services.gm.views import render_views
from storage import WorldChoiceStore

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
    player: Reply
    # The GM's view (secrets, notes) when a GM asked and it shows more than players may see.
    gm: Reply | None


class GMService:
    def __init__(
        self, *, settings: Settings, relay: RelayClient | None, maps: NameMaps, world_choices: WorldChoiceStore
    ):
        self.settings = settings
        self._relay = relay
        self.maps = maps
        self.world_choices = world_choices
        # /refresh and the background refresh rebuild a map through this one object (one at a time per world).
        self.rebuilder = MapRebuilder(lambda: self.relay, maps)
        # One push per entry at a time, from preview to write: a second push previews against the first's result.
        self._entry_locks: dict[str, asyncio.Lock] = defaultdict(asyncio.Lock)
        self._public_urls: dict[str, tuple[float, str | None]] = {}
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

    async def refresh(self, world: ResolvedWorld, progress: Progress | None = None) -> Reply:
        running = self.rebuilder.running(world.client_id)
        if running == "foreground":
            raise RefreshRunning("A refresh of this world is already running; its result will be posted when it ends.")
        if running == "background" and progress is not None:
            await progress("The background refresh of this world is running; starting right after it…")
        done = await self.rebuilder.rebuild(world.client_id, progress)
        found, counts, took = done.found, done.counts, done.seconds
        reply = Reply(
            title=f"Name map refreshed — {echo(world.label)}",
            tone=Tone.SUCCESS if found.complete else Tone.INFO,  # an unproven part is a note, not an alarm
            description=found.note or "Every journal entry of the world is in the map.",
            footer=f"{found.requests} relay request(s)",
            data={"complete": found.complete, "seconds": round(took, 3), "requests": found.requests},
        )
        reply.add_field("Entries", str(counts.total), inline=True)
        reply.add_field("Added", str(counts.added), inline=True)
        reply.add_field("Removed", str(counts.removed), inline=True)
        reply.add_field("Renamed", str(counts.renamed), inline=True)
        reply.add_field("Took", f"{took:.2f} s", inline=True)
        reply.data.update(total=counts.total, added=counts.added, removed=counts.removed, renamed=counts.renamed)
        return reply

    # --- names --------------------------------------------------------------------------------

    async def suggestions(self, world_id: str, typed: str) -> list[tuple[str, str]]:
        """Autocomplete choices (label, value) from the local map; the value is the uuid."""
        world_map = await self.maps.get(world_id)
        found = world_map.index.suggest(typed, limit=MAX_CHOICES)
        shared = {e.name.casefold() for e in found if len(world_map.index.find_exact(e.name)) > 1}
        return [(choice_label(e, e.name.casefold() in shared), e.uuid) for e in found]

    async def _find(self, world_id: str, name: str) -> NameEntry | None:
        world_map = await self.maps.get(world_id)
        if name in world_map.by_uuid:  # chosen from autocomplete
            return world_map.by_uuid[name]
        exact = world_map.index.find_exact(name)
        if len(exact) > 1:
            raise NoSuchEntry(
                f"{len(exact)} entries are named “{echo(name)}”: pick one from the suggestions as you type.",
                details=[choice_label(e, True) for e in exact[:10]],
            )
        return exact[0] if exact else None

    def _not_found(self, world_map: WorldMap, name: str) -> NoSuchEntry:
        if len(world_map.index) == 0:
            return NoSuchEntry("The name map for this world is empty: run /refresh first.")
        close = world_map.index.close_matches(name, limit=5)
        return NoSuchEntry(
            f"No entry named “{echo(name)}”." + (" Did you mean:" if close else " Run /refresh if it is new."),
            details=[choice_label(e, True) for e in close],
        )

    async def _live(self, world: ResolvedWorld, entry: NameEntry) -> JournalEntry:
        try:
            return await self.relay.get_entry(entry.uuid, client_id=world.client_id)
        except EntryNotFound:
            raise StaleMap(
                f"“{echo(entry.name)}” is in the name map but no longer exists in Foundry: the map is stale, run /refresh."
            ) from None

    # --- lookup -------------------------------------------------------------------------------

    async def lookup(self, world: ResolvedWorld, name: str, *, gm: bool = False) -> Lookup:
        world_map = await self.maps.get(world.client_id)
        entry = await self._find(world.client_id, name)
        if entry is None:
            raise self._not_found(world_map, name)
        live = await self._live(world, entry)
        base = await self.image_base(world)
        # Players never need the GM's view: it is rendered only for a GM. Big entries render off the loop.
        player, full = await render_views(
            live.name, live.flags, live.pages, gm=gm, names=world_map.name_of, image_base=base
        )
        if full is None:
            return Lookup(player=player, gm=None)
        return Lookup(player=player, gm=full if full.as_text() != player.as_text() else None)

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
        if entry is None:
            return await self._create(world, rename or name, pushed, confirm)
        async with self._entry_locks[entry.uuid]:
            live = await self._live(world, entry)
            live_codex = live.codex_flags
            validate_against_type(pushed, live_codex.get("type"))
            diff = codex_diff(live_codex, pushed)
            lines = describe_changes(live_codex, diff)
            if rename and rename != live.name:
                diff = {"name": rename, **diff}
                lines.insert(0, f"name: {echo(live.name, 60)} → {echo(rename, 60)}")
            if not diff:
                return Reply(
                    title=f"Nothing to change — {echo(live.name)}",
                    description="The entry already holds exactly this data; nothing was sent.",
                    tone=Tone.INFO,
                    data={"changes": {}},
                )
            preview = Reply(
                title=f"Push to {echo(live.name)}?",
                description=_bullets(lines),
                footer=f"{len(diff)} change(s) to {live.uuid}",
                tone=Tone.INFO,
                data={"changes": diff, "uuid": live.uuid},
            )
            decision = await confirm(preview)
            if decision is not Decision.CONFIRMED:
                return _not_sent(decision)
            updated = await self.relay.update_entry(live.uuid, diff, client_id=world.client_id)
            if "name" in diff:
                await self.maps.put(
                    world.client_id, NameEntry(uuid=updated.uuid, name=updated.name, folder=entry.folder)
                )
        return Reply(
            title=f"Pushed to {echo(updated.name)}",
            description=_bullets(lines),
            footer=f"{len(diff)} change(s) written to {updated.uuid}",
            tone=Tone.SUCCESS,
            data={"changes": diff, "uuid": updated.uuid},
        )

    async def _create(self, world: ResolvedWorld, name: str, pushed: dict, confirm: Confirm) -> Reply:
        validate_against_type(pushed, pushed.get("type"))
        name = " ".join(name.split())
        if not name or len(name) > 255:
            raise UserFacingError("A new entry needs a name of 1 to 255 characters; nothing was sent.")
        keys = ", ".join(sorted(pushed)) or "none"
        preview = Reply(
            title=f"Create “{echo(name)}”?",
            description=(
                f"No journal entry is named “{echo(name)}” in {echo(world.label)}. "
                f"Create it with these Campaign Codex flags ({keys})?"
            ),
            tone=Tone.INFO,
            data={"create": name},
        )
        decision = await confirm(preview)
        if decision is not Decision.CONFIRMED:
            return _not_sent(decision)
        created = await self.relay.create_entry(name, {"flags": {"campaign-codex": pushed}}, client_id=world.client_id)
        await self.maps.put(world.client_id, NameEntry(uuid=created.uuid, name=created.name, folder=created.folder))
        return Reply(
            title=f"Created {echo(created.name)}",
            description=f"New journal entry {created.uuid} with Campaign Codex flags ({keys}); it is in the name map.",
            tone=Tone.SUCCESS,
            data={"uuid": created.uuid},
        )


def _bullets(lines: list[str], limit: int = 3900) -> str:
    text = "\n".join(f"• {line}" for line in lines)
    return text if len(text) <= limit else text[:limit].rsplit("\n", 1)[0] + "\n…"


def _not_sent(decision: Decision) -> Reply:
    text = {
        Decision.EXPIRED: "The confirmation expired; nothing was sent.",
        Decision.PREVIEWED: "Preview only; nothing was sent.",
    }.get(decision, "Cancelled; nothing was sent.")
    return Reply(description=text, tone=Tone.WARNING if decision is Decision.EXPIRED else Tone.INFO)
