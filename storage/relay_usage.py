"""The bot's own relay requests per calendar month (UTC): the relay shows an account's counter only to its
dashboard, never to an API key, so the bot keeps its own. Written in batches (services/relay_budget.py)."""

from __future__ import annotations

from dataclasses import dataclass

from storage.base import Database


@dataclass(frozen=True)
class MonthUsage:
    month: str  # "2025-12"
    requests: int
    background: int  # of which the background refresh and other work nobody asked for


class RelayUsageStore:
    def __init__(self, db: Database):
        self.db = db

    async def add(self, counts: dict[str, tuple[int, int]]) -> dict[str, MonthUsage]:
        """Adds month -> (requests, background) in one transaction; returns those months' new totals
        (other processes sharing the database add theirs too)."""
        totals: dict[str, MonthUsage] = {}
        async with self.db.transaction() as tx:
            for month, (requests, background) in sorted(counts.items()):
                await tx.execute(
                    "INSERT INTO relay_requests (month, requests, background) VALUES (?, ?, ?) "
                    "ON CONFLICT (month) DO UPDATE SET requests = relay_requests.requests + excluded.requests, "
                    "background = relay_requests.background + excluded.background",
                    (month, requests, background),
                )
                row = await tx.fetchone("SELECT requests, background FROM relay_requests WHERE month = ?", (month,))
                if row is not None:
                    totals[month] = MonthUsage(month, int(row[0]), int(row[1]))
        return totals

    async def month(self, month: str) -> MonthUsage:
        row = await self.db.fetchone("SELECT requests, background FROM relay_requests WHERE month = ?", (month,))
        return MonthUsage(month, int(row[0]), int(row[1])) if row else MonthUsage(month, 0, 0)
