"""Which entries each player view may see, learnt at /refresh, and the per-view name maps built from it.

One ``/structure?types=JournalEntry&recursive=true&userId=<id>`` per distinct player view: the module
omits NONE entries and trims LIMITED ones to ``{uuid, name, id, type, img}`` (OBSERVER+ come without
``img``), so one request tells every entry's visibility for that user. Fail closed: an entry not
proven visible to a view (not in its last successful reply, or the view never read) is hidden from
it. A failed read proves nothing: the view keeps what its last successful read proved, /status says
so, and only a successful read (or the view ceasing to be one) replaces it. Folder names are never filtered by Foundry, but only the folders of visible entries reach
a player (through their entries' labels).

``Visibility.recompute(world)`` is the one call /refresh (and a background refresher) makes after
the name map has been replaced.

Sharing changes in Foundry (an entry hidden again) never show in the GM's tree, so a view is also read again
whenever it is used and older than ``VIEW_MAX_AGE``: a player's /lookup reads a stale view first (one request),
autocomplete starts that read and waits for it briefly (names nobody proved visible now are not offered). No
reply names an entry whose sharing Foundry changed more than ``VIEW_MAX_AGE`` seconds before it, whatever
``REFRESH_INTERVAL`` is (0 included).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from core.errors import UserFacingError
from relay import RelayClient
from services.maps.enumerate import parse_structure
from services.maps.memory import map_bytes
from services.maps.world_maps import EMPTY_MAP, NameMaps, WorldMap, build_off_loop
from services.offload import Offloader, each_part, in_steps, pickled_parts
from services.players.viewers import Viewers
from storage.visibility import VisibilityStore

log = logging.getLogger(__name__)
# Seconds autocomplete waits for a view's first name map (Discord drops an answer later than 3 s).
AUTOCOMPLETE_WAIT = 1.5

# Deeper folders than this are not expanded: their entries stay hidden from players (fail closed).
VISIBILITY_DEPTH = 64
# Seconds a view is trusted: older, it is read again before a reply names anything from it.
VIEW_MAX_AGE = 60.0


@dataclass
class VisibilityReport:
    views: int = 0
    failed: list[str] = field(default_factory=list)  # one line per view that could not be computed
    requests: int = 0

    def note(self) -> str | None:
        if not self.failed:
            return None
        return (
            "Player views not updated: their players keep what was last proven visible to them (an entry never "
            "proven visible stays hidden) until a refresh reads them again: " + "; ".join(self.failed[:3])
        )


@dataclass(frozen=True)
class ViewHealth:
    """One player view for /status: when it was last proven, and its last read's failure while failing."""

    user_id: str
    proven_at: float | None  # wall-clock seconds; None: never proven (nothing of it is shown)
    failed: str | None = None
    failed_at: float | None = None


def visible_in_structure(data: dict) -> dict[str, bool]:
    """uuid -> limited for every world journal entry in a /structure reply asked as a user."""
    found: dict[str, bool] = {}
    for ref in _entity_refs(data):
        uuid = ref.get("uuid")
        if isinstance(uuid, str) and uuid.startswith("JournalEntry."):
            found[uuid] = "img" in ref  # LIMITED refs carry img; OBSERVER+ ones do not
    return found


def visible_parts(raw: bytes) -> list[bytes]:
    """In the worker: a /structure reply asked as a player, as parts of (uuid, limited) pairs."""
    return pickled_parts(list(visible_in_structure(parse_structure(raw)).items()))


def _entity_refs(node: dict) -> Iterator[dict]:
    # Entry lists sit under "entities" (folders; the root's "entities.journalentrys"). A subfolder may
    # itself be named "entities" (then it is a dict): walk every dict, read every list of refs.
    for key, value in node.items():
        if key == "compendiumPacks":
            continue  # compendium entries are not world entries
        if isinstance(value, list) and key in ("entities", "journalentrys"):
            yield from (ref for ref in value if isinstance(ref, dict))
        elif isinstance(value, dict):
            yield from _entity_refs(value)


def _quietly(task: asyncio.Task) -> None:
    # A background build nobody awaited (the bot closing, a failed read): the next use builds again.
    if not task.cancelled() and task.exception() is not None:
        log.debug("A player view's name map could not be built: %r", task.exception())


class Visibility:
    def __init__(
        self,
        relay: Callable[[], RelayClient],
        store: VisibilityStore,
        viewers: Viewers,
        maps: NameMaps,
        offload: Offloader | None = None,
        *,
        clock: Callable[[], float] = time.monotonic,
    ):
        self._relay = relay
        self.offload = offload or maps.offload
        self.store = store
        self.viewers = viewers
        self.maps = maps
        self.clock = clock
        self._learnt_at: dict[tuple[str, str], float] = {}  # when each view was last read from Foundry
        self._relearning: dict[tuple[str, str], asyncio.Task] = {}
        self._visible: dict[tuple[str, str], dict[str, bool] | None] = {}
        self._view_maps: dict[tuple[str, str], tuple[WorldMap, WorldMap]] = {}  # (full map it was cut from, cut)
        self._digests: dict[tuple[str, str], str] = {}  # digest of the reply each stored view was read from
        self._building: dict[tuple[str, str], asyncio.Task] = {}  # cuts being built, one per view
        self._generation: dict[tuple[str, str], int] = {}  # bumped whenever a view's entries change
        # Per view: when its read last succeeded, and (while its reads fail) the last failure. A failed read
        # proves nothing: the view keeps what was last proven; only a successful read replaces it.
        self._proven: dict[tuple[str, str], float] = {}
        self._failing: dict[tuple[str, str], tuple[float, str]] = {}
        # A cut counts in the maps' memory budget, and leaves memory with the map it was cut from.
        maps.dropped.append(self._drop_cuts)

    async def recompute(self, world: str) -> VisibilityReport:
        """Learn every player view's visible entries (one /structure each) and store them."""
        report = VisibilityReport()
        try:
            views = await self.viewers.player_views(world)
            report.requests += 1 if views or self.viewers.settings.foundry_player else 0  # the /players read
        except UserFacingError as error:
            report.failed.append(f"the world's users could not be read ({error.message})")
            return report
        for user_id in sorted(views):
            try:
                await self._learn(world, user_id)
                report.requests += 1
            except UserFacingError as error:
                report.failed.append(f"user {user_id}: {getattr(error, 'brief', '') or error.message}")
                continue
            report.views += 1
        await self.store.forget(world, views)
        gone = {*self._visible, *self._digests, *self._proven, *self._failing}
        for key in [k for k in gone if k[0] == world and k[1] not in views]:
            self._forget(*key)
            self._proven.pop(key, None)
            self._failing.pop(key, None)
        log.info("Player views of %s: %d computed, %d failed", world, report.views, len(report.failed))
        # Each view's name map is built now, in the background, so players' autocomplete finds it ready.
        full = await self.maps.get(world)
        for user_id in views:
            cached = self._view_maps.get((world, user_id))
            if cached is None or cached[0] is not full:  # an unchanged map and view keep their cut
                self._building_task(world, user_id, full)
        return report

    async def _learn(self, world: str, user_id: str) -> None:
        """One view: its /structure as that user, read in the worker process (megabytes of JSON would hold
        the event loop); an unchanged reply (same digest) leaves SQLite and the cached maps alone."""
        key = (world, user_id)
        asked_at = self.clock()
        try:
            reply = await self._relay().structure_reply(
                client_id=world, recursive_depth=VISIBILITY_DEPTH, user_id=user_id
            )
            if self._digests.get(key) != reply.digest:
                visible: dict[str, bool] = {}
                parts = await self.offload.run(visible_parts, reply.raw, what="reading a player view")
                async for pairs in each_part(parts):
                    visible.update(pairs)
                await self.store.replace(world, user_id, visible.items())
                self._forget(world, user_id)
                self._digests[key] = reply.digest
        except UserFacingError as error:
            # A transient failure (the relay, a busy database) proves nothing: the last proven view stays, in
            # SQLite and here, but no longer counts as fresh, so a player's next use reads it again first.
            self._failing[key] = (time.time(), getattr(error, "brief", "") or error.message)
            self._learnt_at.pop(key, None)
            raise
        self._learnt_at[key] = asked_at  # as old as the question, not the answer
        self._failing.pop(key, None)
        self._proven[key] = time.time()

    async def health(self, world: str) -> list[ViewHealth]:
        """The player views of ``world`` this process has read (or tried to), for /status."""
        keys = sorted(k for k in {*self._proven, *self._failing} if k[0] == world)
        out = []
        for key in keys:
            proven = self._proven.get(key) or await self.store.computed_at(*key)  # proven before a restart
            failed_at, failed = self._failing.get(key, (None, None))
            out.append(ViewHealth(key[1], proven, failed, failed_at))
        return out

    def is_fresh(self, world: str, user_id: str) -> bool:
        learnt = self._learnt_at.get((world, user_id))
        return learnt is not None and self.clock() - learnt <= VIEW_MAX_AGE

    async def fresh(self, world: str, user_id: str) -> None:
        """Read the view again when it is older than VIEW_MAX_AGE (or was never read by this process): at most one
        /structure, shared by everyone who needs the same view at the same time."""
        if self.is_fresh(world, user_id):
            return
        key = (world, user_id)
        task = self._relearning.get(key)
        if task is None or task.done():
            task = asyncio.create_task(self._relearn(world, user_id))
            task.add_done_callback(_quietly)
            self._relearning[key] = task
        await asyncio.shield(task)

    async def _relearn(self, world: str, user_id: str) -> None:
        """Read one view again, if it is still a player's: asked as a user who became a GM in Foundry, the module
        would answer with everything (fail closed: such a view holds nothing)."""
        users = await self.viewers.users(world)
        if not any(u.id == user_id and not u.is_gm for u in users):
            await self.store.replace(world, user_id, ())
            self._forget(world, user_id)
            return
        await self._learn(world, user_id)

    def _forget(self, world: str, user_id: str) -> None:
        self._generation[(world, user_id)] = self._generation.get((world, user_id), 0) + 1
        self._learnt_at.pop((world, user_id), None)
        self._digests.pop((world, user_id), None)
        self._visible.pop((world, user_id), None)
        self._drop_cut((world, user_id))

    def forget_world(self, world: str) -> None:
        """Another process changed the world's player views in the database: what this one knows of them goes."""
        for key in [k for k in {*self._visible, *self._digests, *self._view_maps} if k[0] == world]:
            self._forget(*key)

    def forget_all(self) -> None:
        for key in {*self._visible, *self._digests, *self._view_maps}:
            self._forget(*key)

    def _drop_cut(self, key: tuple[str, str]) -> None:
        if self._view_maps.pop(key, None) is not None:
            self.maps.memory.release(self, key)
        building = self._building.get(key)
        if building is not None and building.done():  # a finished build holds the full map it was cut from
            del self._building[key]

    def _drop_cuts(self, world: str) -> None:
        for key in [k for k in self._view_maps if k[0] == world]:
            self._drop_cut(key)

    async def visible(self, world: str, user_id: str) -> dict[str, bool]:
        """uuid -> limited for the view; empty when never computed (fail closed)."""
        key = (world, user_id)
        if key not in self._visible:
            self._visible[key] = await self.store.load(world, user_id)
        return self._visible[key] or {}

    async def map_for(self, world: str, user_id: str) -> WorldMap:
        """The world's name map cut down to the entries this view may see (built once per map and view)."""
        full = await self.maps.get(world)
        cached = self._view_maps.get((world, user_id))
        if cached is not None and cached[0] is full:
            self.maps.memory.touch(self, (world, user_id))
            return cached[1]
        return await asyncio.shield(self._building_task(world, user_id, full))

    async def map_now(self, world: str, user_id: str) -> WorldMap:
        """For autocomplete, which cannot wait (Discord gives it 3 s, and a 50,000-entry cut queues behind a
        refresh in the worker): the view's current map, else the one built before the last map change (the view
        itself is unchanged: a changed view drops its maps), else the new one if it is ready within
        ``AUTOCOMPLETE_WAIT``, else no names while it builds."""
        if not self.is_fresh(world, user_id):
            try:  # a stale view names nothing until it is read again; a small world's read takes milliseconds
                await asyncio.wait_for(self.fresh(world, user_id), AUTOCOMPLETE_WAIT)
            except (TimeoutError, UserFacingError):
                return EMPTY_MAP
        full = await self.maps.get(world)
        cached = self._view_maps.get((world, user_id))
        if cached is not None and cached[0] is full:
            self.maps.memory.touch(self, (world, user_id))
            return cached[1]
        task = self._building_task(world, user_id, full)
        if cached is not None:
            return cached[1]
        try:  # the first cut of this view: worth a short wait (a small world's takes milliseconds)
            return await asyncio.wait_for(asyncio.shield(task), AUTOCOMPLETE_WAIT)
        except TimeoutError:
            return EMPTY_MAP

    def _building_task(self, world: str, user_id: str, full: WorldMap) -> asyncio.Task:
        key = (world, user_id)
        task = self._building.get(key)
        if task is None or task.done() or task.full is not full:
            task = asyncio.create_task(self._build(world, user_id, full))
            task.full = full  # type: ignore[attr-defined]
            task.add_done_callback(_quietly)
            self._building[key] = task
        return task

    async def _build(self, world: str, user_id: str, full: WorldMap) -> WorldMap:
        key = (world, user_id)
        generation = self._generation.get(key, 0)
        visible = await self.visible(world, user_id)
        shown: list = []
        async for chunk in in_steps(full.index.entries):  # 50,000 entries filtered at once hold the loop
            shown.extend(e for e in chunk if e.uuid in visible)
        cut = await build_off_loop(shown, self.offload)
        if self._generation.get(key, 0) == generation:  # the view did not change meanwhile: keep the cut
            self._view_maps[key] = (full, cut)
            self.maps.memory.hold(self, key, map_bytes(len(cut.by_uuid)), self._drop_cut)
        return cut
