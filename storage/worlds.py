"""Which Foundry world (relay clientId) each guild uses."""

from __future__ import annotations

import time
from dataclasses import dataclass

from core.textsafe import valid_unicode
from storage.base import Database


@dataclass(frozen=True)
class WorldChoice:
    client_id: str
    label: str | None


class WorldChoiceStore:
    def __init__(self, db: Database):
        self.db = db

    async def get(self, guild_id: int) -> WorldChoice | None:
        row = await self.db.fetchone("SELECT client_id, label FROM guild_worlds WHERE guild_id = ?", (guild_id,))
        return WorldChoice(row[0], row[1]) if row else None

    async def by_guild(self) -> dict[int, WorldChoice]:
        """Every guild's choice."""
        rows = await self.db.fetchall("SELECT guild_id, client_id, label FROM guild_worlds ORDER BY guild_id")
        return {r[0]: WorldChoice(r[1], r[2]) for r in rows}

    async def client_ids(self) -> list[str]:
        """Every world some guild has chosen."""
        return [r[0] for r in await self.db.fetchall("SELECT DISTINCT client_id FROM guild_worlds ORDER BY client_id")]

    async def set(self, guild_id: int, client_id: str, label: str | None, chosen_by: int | None) -> None:
        async with self.db.transaction() as tx:
            await tx.execute(
                "INSERT INTO guild_worlds (guild_id, client_id, label, chosen_by, chosen_at) VALUES (?, ?, ?, ?, ?) "
                "ON CONFLICT (guild_id) DO UPDATE SET client_id = excluded.client_id, label = excluded.label, "
                "chosen_by = excluded.chosen_by, chosen_at = excluded.chosen_at",
                (guild_id, valid_unicode(client_id), label and valid_unicode(label), chosen_by, time.time()),
            )
