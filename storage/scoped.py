"""The stores as one server sees them: in hosted mode each server's rows are its own.

Two servers may use worlds with the same client id (two relays, or one relay that lies), and a package id is
anyone's to type. So every row a hosted server writes is keyed by ``guild:<id>/`` + the world or package, and
the stores below read and write only keys of their own scope; what they return carries the plain id again.
The self-hosted stores (``Scope(None)``) keep the plain keys of every earlier version and never see a
hosted server's rows.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from contextlib import AbstractAsyncContextManager
from dataclasses import replace

from storage.base import Database
from storage.name_map import MapInfo, NameEntry, NameMapStore, RefreshCounts
from storage.player_links import PlayerLink, PlayerLinkStore
from storage.relay_usage import MonthUsage, RelayUsageStore
from storage.releases import ReleaseStore
from storage.visibility import VisibilityStore
from storage.worlds import WorldChoice, WorldChoiceStore

_PREFIX = "guild:"


class Scope:
    """Whose rows: one hosted server's (``guild_id``), or the self-hosted ones (None)."""

    def __init__(self, guild_id: int | None):
        self.guild_id = guild_id
        self.prefix = f"{_PREFIX}{guild_id}/" if guild_id is not None else ""

    def key(self, name: str) -> str:
        return self.prefix + name

    def owns(self, key: str) -> bool:
        return key.startswith(self.prefix) if self.prefix else not key.startswith(_PREFIX)

    def name(self, key: str) -> str:
        return key[len(self.prefix) :]


def scope_of(key: str) -> tuple[int | None, str]:
    """(the hosted server, the plain name) a stored key belongs to; (None, key) for a self-hosted one."""
    if key.startswith(_PREFIX):
        guild, _, name = key[len(_PREFIX) :].partition("/")
        if guild.isdigit():
            return int(guild), name
    return None, key


class ScopedNameMapStore(NameMapStore):
    def __init__(self, db: Database, scope: Scope):
        super().__init__(db)
        self.scope = scope

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
        return await super().apply(
            self.scope.key(world), changed, removed, complete=complete, note=note, old_names=old_names
        )

    async def put(self, world: str, entry: NameEntry) -> None:
        await super().put(self.scope.key(world), entry)

    async def entries(self, world: str) -> list[NameEntry]:
        return await super().entries(self.scope.key(world))

    async def worlds(self) -> list[str]:
        return [self.scope.name(key) for key in await super().worlds() if self.scope.owns(key)]

    async def info(self, world: str) -> MapInfo | None:
        found = await super().info(self.scope.key(world))
        return replace(found, world=world) if found is not None else None

    def refresh_turn(self, world: str) -> AbstractAsyncContextManager[bool]:
        return super().refresh_turn(self.scope.key(world))

    async def checked_at(self, world: str) -> float | None:
        return await super().checked_at(self.scope.key(world))

    async def mark_checked(self, world: str, at: float) -> None:
        await super().mark_checked(self.scope.key(world), at)


class ScopedVisibilityStore(VisibilityStore):
    def __init__(self, db: Database, scope: Scope):
        super().__init__(db)
        self.scope = scope

    async def replace(self, world: str, viewer: str, visible: Iterable[tuple[str, bool]]) -> None:
        await super().replace(self.scope.key(world), viewer, visible)

    async def forget(self, world: str, keep: set[str]) -> None:
        await super().forget(self.scope.key(world), keep)

    async def load(self, world: str, viewer: str) -> dict[str, bool] | None:
        return await super().load(self.scope.key(world), viewer)


class ScopedPlayerLinkStore(PlayerLinkStore):
    def __init__(self, db: Database, scope: Scope):
        super().__init__(db)
        self.scope = scope

    async def get(self, guild_id: int, world: str, member_id: int) -> PlayerLink | None:
        return await super().get(guild_id, self.scope.key(world), member_id)

    async def for_guild(self, guild_id: int, world: str) -> list[PlayerLink]:
        return await super().for_guild(guild_id, self.scope.key(world))

    async def linked_users(self, world: str) -> set[str]:
        return await super().linked_users(self.scope.key(world))

    async def link(
        self, guild_id: int, world: str, member_id: int, user_id: str, user_name: str, linked_by: int | None
    ) -> None:
        await super().link(guild_id, self.scope.key(world), member_id, user_id, user_name, linked_by)

    async def unlink(self, guild_id: int, world: str, member_id: int) -> bool:
        return await super().unlink(guild_id, self.scope.key(world), member_id)


class ServerWorldChoices(WorldChoiceStore):
    """One hosted server's world choice: the others' are not there for it (not even which worlds they use)."""

    def __init__(self, db: Database, guild_id: int):
        super().__init__(db)
        self.guild_id = guild_id

    async def get(self, guild_id: int) -> WorldChoice | None:
        return await super().get(guild_id) if guild_id == self.guild_id else None

    async def client_ids(self) -> list[str]:
        chosen = await super().get(self.guild_id)
        return [chosen.client_id] if chosen is not None else []

    async def by_guild(self) -> dict[int, WorldChoice]:
        chosen = await super().get(self.guild_id)
        return {self.guild_id: chosen} if chosen is not None else {}

    async def set(self, guild_id: int, client_id: str, label: str | None, chosen_by: int | None) -> None:
        if guild_id != self.guild_id:
            raise ValueError("a server chooses only its own world")
        await super().set(guild_id, client_id, label, chosen_by)

    async def clear(self) -> bool:
        """Forget the server's choice (/setup clear)."""
        async with self.db.transaction() as tx:
            return await tx.execute("DELETE FROM guild_worlds WHERE guild_id = ?", (self.guild_id,)) > 0


class ScopedRelayUsageStore(RelayUsageStore):
    """A hosted server's own count of its relay requests per month (its key's account, not the operator's)."""

    def __init__(self, db: Database, scope: Scope):
        super().__init__(db)
        self.scope = scope

    async def add(self, counts: dict[str, tuple[int, int]]) -> dict[str, MonthUsage]:
        totals = await super().add({self.scope.key(month): count for month, count in counts.items()})
        return {self.scope.name(key): replace(usage, month=self.scope.name(key)) for key, usage in totals.items()}

    async def month(self, month: str) -> MonthUsage:
        return replace(await super().month(self.scope.key(month)), month=month)


class ScopedReleaseStore(ReleaseStore):
    def __init__(self, db: Database, scope: Scope):
        super().__init__(db)
        self.scope = scope

    async def cooldown_until(self, package_id: str, *, now: float | None = None) -> float | None:
        return await super().cooldown_until(self.scope.key(package_id), now=now)

    async def set_cooldown(self, package_id: str, until: float) -> None:
        await super().set_cooldown(self.scope.key(package_id), until)

    async def active_cooldowns(self, *, now: float | None = None) -> dict[str, float]:
        found = await super().active_cooldowns(now=now)
        return {self.scope.name(key): until for key, until in found.items() if self.scope.owns(key)}

    async def log(self, *, package_id: str, **fields) -> None:
        await super().log(package_id=self.scope.key(package_id), **fields)

    async def history(self, package_id: str | None = None, limit: int = 50) -> list[dict]:
        if package_id is not None:
            rows = await super().history(self.scope.key(package_id), limit)
        elif self.scope.prefix:  # the prefix holds no LIKE wildcard (digits, "guild:" and "/")
            rows = await self.db.fetchall(
                "SELECT at, actor, package_id, version, dry_run, options, status, http_status, answer "
                "FROM release_log WHERE package_id LIKE ? ORDER BY id DESC LIMIT ?",
                (self.scope.prefix + "%", limit),
            )
        else:
            rows = await self.db.fetchall(
                "SELECT at, actor, package_id, version, dry_run, options, status, http_status, answer "
                "FROM release_log WHERE package_id NOT LIKE ? ORDER BY id DESC LIMIT ?",
                (_PREFIX + "%", limit),
            )
        return [{**dict(row), "package_id": self.scope.name(row["package_id"])} for row in rows]
