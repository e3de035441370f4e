"""Release bookkeeping: Foundry's per-package cooldown and a log of every dry run and release."""

from __future__ import annotations

import json
import time

from core.textsafe import valid_unicode
from storage.base import Database


class ReleaseStore:
    def __init__(self, db: Database):
        self.db = db

    async def cooldown_until(self, package_id: str, *, now: float | None = None) -> float | None:
        """The UNIX time before which Foundry will refuse another release of this package, if any."""
        row = await self.db.fetchone("SELECT until FROM release_cooldowns WHERE package_id = ?", (package_id,))
        now = time.time() if now is None else now
        return row[0] if row and row[0] > now else None

    async def set_cooldown(self, package_id: str, until: float) -> None:
        async with self.db.transaction() as tx:
            await tx.execute(
                "INSERT INTO release_cooldowns (package_id, until) VALUES (?, ?) "
                "ON CONFLICT (package_id) DO UPDATE SET until = excluded.until",
                (package_id, until),
            )

    async def active_cooldowns(self, *, now: float | None = None) -> dict[str, float]:
        now = time.time() if now is None else now
        rows = await self.db.fetchall("SELECT package_id, until FROM release_cooldowns WHERE until > ?", (now,))
        return {r[0]: r[1] for r in rows}

    async def log(
        self,
        *,
        actor: str,
        package_id: str,
        version: str | None,
        dry_run: bool,
        options: dict,
        status: str,
        http_status: int | None,
        answer: str | None,
    ) -> None:
        """Keep one attempt. `options` and `answer` must hold no token (callers pass the request, not headers)."""
        async with self.db.transaction() as tx:
            await tx.execute(
                "INSERT INTO release_log (at, actor, package_id, version, dry_run, options, status, http_status, answer) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                # Text from Foundry may hold lone surrogates, which neither database can store.
                (
                    time.time(),
                    valid_unicode(actor),
                    valid_unicode(package_id),
                    version and valid_unicode(version),
                    int(dry_run),
                    json.dumps(options, sort_keys=True),
                    status,
                    http_status,
                    answer and valid_unicode(answer),
                ),
            )

    async def history(self, package_id: str | None = None, limit: int = 50) -> list[dict]:
        sql = "SELECT at, actor, package_id, version, dry_run, options, status, http_status, answer FROM release_log"
        params: tuple = ()
        if package_id:
            sql += " WHERE package_id = ?"
            params = (package_id,)
        rows = await self.db.fetchall(sql + " ORDER BY id DESC LIMIT ?", (*params, limit))
        return [dict(row) for row in rows]
