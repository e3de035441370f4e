"""Links from a Discord member to their own Foundry user, per guild and world (/players link)."""

from __future__ import annotations

import time
from collections import OrderedDict
from dataclasses import dataclass

from core.textsafe import valid_unicode
from storage.base import Database

KNOWN_MAX = 4096


@dataclass(frozen=True)
class PlayerLink:
    member_id: int
    foundry_user_id: str
    foundry_user_name: str


class PlayerLinkStore:
    def __init__(self, db: Database):
        self.db = db
        # Answers of get(), kept in memory: autocomplete asks on every keystroke and must not queue behind
        # a refresh's long transaction on the shared connection. This store is the table's only writer.
        # At most KNOWN_MAX answers, the least recently asked dropped first (one per member who ever typed).
        self._known: OrderedDict[tuple[int, str, int], PlayerLink | None] = OrderedDict()

    async def get(self, guild_id: int, world: str, member_id: int) -> PlayerLink | None:
        key = (guild_id, world, member_id)
        if key in self._known:
            self._known.move_to_end(key)
        else:
            row = await self.db.fetchone(
                "SELECT member_id, foundry_user_id, foundry_user_name FROM player_links "
                "WHERE guild_id = ? AND world = ? AND member_id = ?",
                key,
            )
            self._known[key] = PlayerLink(row[0], row[1], row[2]) if row else None
            while len(self._known) > KNOWN_MAX:
                self._known.popitem(last=False)
        return self._known[key]

    async def for_guild(self, guild_id: int, world: str) -> list[PlayerLink]:
        rows = await self.db.fetchall(
            "SELECT member_id, foundry_user_id, foundry_user_name FROM player_links "
            "WHERE guild_id = ? AND world = ? ORDER BY foundry_user_name, member_id",
            (guild_id, world),
        )
        return [PlayerLink(r[0], r[1], r[2]) for r in rows]

    async def has_any(self, guild_id: int | None, member_id: int) -> bool:
        """Whether the member is linked in any world of this guild (checked before deferring)."""
        row = await self.db.fetchone(
            "SELECT 1 FROM player_links WHERE guild_id = ? AND member_id = ? LIMIT 1", (guild_id, member_id)
        )
        return row is not None

    async def linked_users(self, world: str) -> set[str]:
        """Every Foundry user any guild has linked in this world: the player views /refresh computes."""
        rows = await self.db.fetchall("SELECT DISTINCT foundry_user_id FROM player_links WHERE world = ?", (world,))
        return {r[0] for r in rows}

    async def link(
        self, guild_id: int, world: str, member_id: int, user_id: str, user_name: str, linked_by: int | None
    ) -> None:
        async with self.db.transaction() as tx:
            await tx.execute(
                "INSERT INTO player_links (guild_id, world, member_id, foundry_user_id, foundry_user_name, linked_by, "
                "linked_at) VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (guild_id, world, member_id) DO UPDATE SET "
                "foundry_user_id = excluded.foundry_user_id, foundry_user_name = excluded.foundry_user_name, "
                "linked_by = excluded.linked_by, linked_at = excluded.linked_at",
                (guild_id, world, member_id, user_id, valid_unicode(user_name), linked_by, time.time()),
            )
        self._known.pop((guild_id, world, member_id), None)

    async def unlink(self, guild_id: int, world: str, member_id: int) -> bool:
        async with self.db.transaction() as tx:
            removed = (
                await tx.execute(
                    "DELETE FROM player_links WHERE guild_id = ? AND world = ? AND member_id = ?",
                    (guild_id, world, member_id),
                )
                > 0
            )
        self._known.pop((guild_id, world, member_id), None)
        return removed
