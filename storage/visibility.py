"""Which journal entries each player view may see, per world, as computed at /refresh.

A view is a Foundry user id. An entry absent from a view's rows is hidden from it (fail closed);
``limited`` rows may show their name only.
"""

from __future__ import annotations

import time
from collections.abc import Iterable

from storage.base import Database, Subscription

# Told (with the world) once a view's rows change, so every process sharing the database drops its copy.
VIEWS_CHANGED = "views_changed"


class VisibilityStore:
    def __init__(self, db: Database):
        self.db = db

    async def replace(self, world: str, viewer: str, visible: Iterable[tuple[str, bool]]) -> None:
        """Swap one view's rows in one transaction (uuid, limited)."""
        async with self.db.transaction() as tx:
            await tx.execute("DELETE FROM visible_entries WHERE world = ? AND viewer = ?", (world, viewer))
            await tx.executemany(
                "INSERT INTO visible_entries (world, viewer, uuid, limited) VALUES (?, ?, ?, ?) "
                "ON CONFLICT (world, viewer, uuid) DO UPDATE SET limited = excluded.limited",
                ((world, viewer, uuid, int(limited)) for uuid, limited in visible),
            )
            await tx.execute(
                "INSERT INTO visibility_views (world, viewer, computed_at) VALUES (?, ?, ?) "
                "ON CONFLICT (world, viewer) DO UPDATE SET computed_at = excluded.computed_at",
                (world, viewer, time.time()),
            )
            await tx.notify(VIEWS_CHANGED, world)

    async def forget(self, world: str, keep: set[str]) -> None:
        """Drop views no longer needed (an unlinked player, a changed FOUNDRY_PLAYER)."""
        async with self.db.transaction() as tx:
            rows = await tx.fetchall("SELECT viewer FROM visibility_views WHERE world = ?", (world,))
            for (viewer,) in rows:
                if viewer not in keep:
                    await tx.execute("DELETE FROM visible_entries WHERE world = ? AND viewer = ?", (world, viewer))
                    await tx.execute("DELETE FROM visibility_views WHERE world = ? AND viewer = ?", (world, viewer))
                    await tx.notify(VIEWS_CHANGED, world)

    async def computed_at(self, world: str, viewer: str) -> float | None:
        """When the view was last stored (proven), or None when never."""
        row = await self.db.fetchone(
            "SELECT computed_at FROM visibility_views WHERE world = ? AND viewer = ?", (world, viewer)
        )
        return row[0] if row else None

    async def load(self, world: str, viewer: str) -> dict[str, bool] | None:
        """uuid -> limited for the view, or None when it was never computed."""
        known = await self.db.fetchone("SELECT 1 FROM visibility_views WHERE world = ? AND viewer = ?", (world, viewer))
        if known is None:
            return None
        rows = await self.db.fetchall(
            "SELECT uuid, limited FROM visible_entries WHERE world = ? AND viewer = ?", (world, viewer)
        )
        return {r[0]: bool(r[1]) for r in rows}

    async def changes(self) -> Subscription:
        """The worlds whose player views changed, from any process (``notice.payload`` is the world; None: some
        were missed, so every view should be re-read)."""
        return await self.db.listen(VIEWS_CHANGED)
