"""Each server's own settings (hosted mode's /setup): each one overrides the .env default for that server only.

One row per server and setting, with who set it and when. The world a server uses is not here: it is the
world choice (storage/worlds.py), which /world and /setup world both write. Secrets are not here either:
they are sealed in storage/secrets.py.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass, field

from core.textsafe import valid_unicode
from storage.base import Database

# Each setting and the Python type of its value.
FIELDS: dict[str, type] = {
    "relay_url": str,
    "gm_role_id": int,
    "maintainer_role_id": int,
    "foundry_player": str,  # the Foundry user (name or id) whose view members without a link get
    "announce_channel_id": int,
}


@dataclass(frozen=True)
class SetBy:
    member_id: int | None
    at: float


@dataclass(frozen=True)
class GuildSettings:
    """A server's settings; None where it set nothing (the .env default applies)."""

    guild_id: int
    relay_url: str | None = None
    gm_role_id: int | None = None
    maintainer_role_id: int | None = None
    foundry_player: str | None = None
    announce_channel_id: int | None = None
    set_by: dict[str, SetBy] = field(default_factory=dict)  # setting -> who set it and when

    @property
    def empty(self) -> bool:
        return not self.set_by


def _checked(name: str, value: object) -> str | None:
    """The stored text of one setting's value; None clears it."""
    if name not in FIELDS:
        raise ValueError(f"no server setting is called {name!r}")
    if value is None:
        return None
    kind = FIELDS[name]
    if kind is int:
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise ValueError(f"{name} must be a Discord id (a whole number)")
        return str(value)
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"{name} must be non-empty text")
    return valid_unicode(value.strip())


class GuildSettingsStore:
    def __init__(self, db: Database):
        self.db = db

    async def get(self, guild_id: int) -> GuildSettings:
        rows = await self.db.fetchall(
            "SELECT name, value, set_by, set_at FROM guild_settings WHERE guild_id = ?", (guild_id,)
        )
        values: dict[str, object] = {}
        set_by: dict[str, SetBy] = {}
        for name, value, member, at in rows:
            if name in FIELDS:  # a setting a later version dropped is ignored, not fatal
                values[name] = FIELDS[name](value)
                set_by[name] = SetBy(member, at)
        return GuildSettings(guild_id=guild_id, set_by=set_by, **values)

    async def update(self, guild_id: int, changes: Mapping[str, object], *, set_by: int | None) -> None:
        """Set (or, with None, clear) several settings in one transaction: all are saved or none.
        Raises ValueError for an unknown setting or a value of the wrong type, before anything is written."""
        stored = {name: _checked(name, value) for name, value in changes.items()}
        now = time.time()
        async with self.db.transaction() as tx:
            for name, value in stored.items():
                if value is None:
                    await tx.execute("DELETE FROM guild_settings WHERE guild_id = ? AND name = ?", (guild_id, name))
                else:
                    await tx.execute(
                        "INSERT INTO guild_settings (guild_id, name, value, set_by, set_at) VALUES (?, ?, ?, ?, ?) "
                        "ON CONFLICT (guild_id, name) DO UPDATE SET value = excluded.value, "
                        "set_by = excluded.set_by, set_at = excluded.set_at",
                        (guild_id, name, value, set_by, now),
                    )

    async def clear(self, guild_id: int) -> int:
        """Forget every setting of the server (/setup clear); returns how many there were."""
        async with self.db.transaction() as tx:
            return await tx.execute("DELETE FROM guild_settings WHERE guild_id = ?", (guild_id,))

    async def guild_ids(self) -> list[int]:
        """Every server that has set something."""
        rows = await self.db.fetchall("SELECT DISTINCT guild_id FROM guild_settings ORDER BY guild_id")
        return [r[0] for r in rows]
