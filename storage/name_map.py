"""The name -> uuid map per world, replaced whole by /refresh.

Every change is told on ``MAP_CHANGED`` (the world id) once committed, so each process sharing the database
can reload that world's map (``changes()``); ``refresh_turn(world)`` lets one process at a time refresh it.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass

from core.textsafe import valid_unicode
from storage.base import Database, Subscription, Transaction

MAP_CHANGED = "map_changed"


@dataclass(frozen=True, slots=True)
class NameEntry:
    uuid: str
    name: str
    folder: str | None = None  # folder path for display, e.g. "NPCs/Villains"

    def __post_init__(self) -> None:
        # Names come from Foundry's JSON, which may hold unpaired surrogates ("\\ud800"): SQLite cannot
        # store them (UnicodeEncodeError) and Discord cannot show them, so they become U+FFFD here.
        object.__setattr__(self, "name", valid_unicode(self.name) if isinstance(self.name, str) else self.name)
        if isinstance(self.folder, str):
            object.__setattr__(self, "folder", valid_unicode(self.folder))


@dataclass(frozen=True)
class RefreshCounts:
    total: int
    added: int
    removed: int
    renamed: int


@dataclass(frozen=True)
class MapInfo:
    world: str
    total: int
    refreshed_at: float
    complete: bool
    note: str | None


class NameMapStore:
    def __init__(self, db: Database):
        self.db = db

    async def apply(
        self,
        world: str,
        changed: list[NameEntry],
        removed: list[str],
        *,
        complete: bool,
        note: str | None,
        old_names: Callable[[str], str | None],
    ) -> RefreshCounts:
        """The world's map becomes the one the database holds plus ``changed`` minus ``removed`` (``old_names`` reads
        the map the database holds): only those rows are written, in one transaction; a failure leaves the old map
        whole."""
        added = sum(1 for e in changed if old_names(e.uuid) is None)
        renamed = sum(1 for e in changed if old_names(e.uuid) not in (None, e.name))
        async with self.db.transaction() as tx:
            if removed:
                await tx.executemany(
                    "DELETE FROM name_entries WHERE world = ? AND uuid = ?", ((world, uuid) for uuid in removed)
                )
            if changed:
                await tx.executemany(
                    "INSERT INTO name_entries (world, uuid, name, folder) VALUES (?, ?, ?, ?) "
                    "ON CONFLICT (world, uuid) DO UPDATE SET name = excluded.name, folder = excluded.folder",
                    [(world, e.uuid, e.name, e.folder) for e in changed],
                )
            await self._stamp(tx, world, complete, note)
            (total,) = await tx.fetchone("SELECT COUNT(*) FROM name_entries WHERE world = ?", (world,))
        return RefreshCounts(total=total, added=added, removed=len(removed), renamed=renamed)

    @staticmethod
    async def _stamp(tx: Transaction, world: str, complete: bool, note: str | None) -> None:
        await tx.execute(
            "INSERT INTO name_maps (world, refreshed_at, complete, note) VALUES (?, ?, ?, ?) "
            "ON CONFLICT (world) DO UPDATE SET refreshed_at = excluded.refreshed_at, "
            "complete = excluded.complete, note = excluded.note",
            (world, time.time(), int(complete), note),
        )
        await tx.notify(MAP_CHANGED, world)

    async def put(self, world: str, entry: NameEntry) -> None:
        """Add or rename one entry (after /push creates or renames it)."""
        async with self.db.transaction() as tx:
            await tx.execute(
                "INSERT INTO name_entries (world, uuid, name, folder) VALUES (?, ?, ?, ?) "
                "ON CONFLICT (world, uuid) DO UPDATE SET name = excluded.name, folder = excluded.folder",
                (world, entry.uuid, entry.name, entry.folder),
            )
            await tx.notify(MAP_CHANGED, world)

    async def entries(self, world: str) -> list[NameEntry]:
        rows = await self.db.fetchall(
            "SELECT uuid, name, folder FROM name_entries WHERE world = ? ORDER BY name COLLATE NOCASE", (world,)
        )
        return [NameEntry(uuid=r[0], name=r[1], folder=r[2]) for r in rows]

    async def worlds(self) -> list[str]:
        return [r[0] for r in await self.db.fetchall("SELECT world FROM name_maps ORDER BY world")]

    async def info(self, world: str) -> MapInfo | None:
        row = await self.db.fetchone(
            "SELECT m.refreshed_at, m.complete, m.note, "
            "(SELECT COUNT(*) FROM name_entries e WHERE e.world = m.world) "
            "FROM name_maps m WHERE m.world = ?",
            (world,),
        )
        if row is None:
            return None
        return MapInfo(world=world, refreshed_at=row[0], complete=bool(row[1]), note=row[2], total=row[3])

    async def checked_at(self, world: str) -> float | None:
        """When the world's map was last checked against Foundry (``mark_checked``), if ever."""
        row = await self.db.fetchone("SELECT checked_at FROM map_checks WHERE world = ?", (world,))
        return row[0] if row is not None else None

    async def mark_checked(self, world: str, at: float) -> None:
        async with self.db.transaction() as tx:
            await tx.execute(
                "INSERT INTO map_checks (world, checked_at) VALUES (?, ?) "
                "ON CONFLICT (world) DO UPDATE SET checked_at = excluded.checked_at",
                (world, at),
            )

    async def changes(self) -> Subscription:
        """The worlds whose map changed, from any process: ``async for notice in …`` (``notice.payload`` is the
        world; None means some changes were missed, so every map should be reloaded)."""
        return await self.db.listen(MAP_CHANGED)

    def refresh_turn(self, world: str) -> AbstractAsyncContextManager[bool]:
        """``async with store.refresh_turn(world) as mine:`` mine is True in the one process refreshing the
        world now; False elsewhere (skip: another process is at it)."""
        return self.db.try_lock(f"refresh:{world}")
