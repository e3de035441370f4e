"""A request budget that holds across processes: one token bucket per key, kept in the database.

The relay allows 300 requests a minute per API key as a token bucket (capacity 300, refilled at 5 a
second). Processes that share a key share its bucket: each request reserves a token from the key's one row
here (row-locked, so two processes never take the same token) and learns when it may be sent. A token not
yet refilled is reserved all the same, by letting the bucket go below zero: the requests queue in the
order they asked, across processes, and none is refused.

Buckets are named by the caller; for a relay key, ``bucket_name`` gives a name that does not reveal it.
Times are the database's clock (``Database.clock``), which every process agrees on.
"""

from __future__ import annotations

import asyncio
import hashlib

from pydantic import SecretStr

from storage.base import Database


def bucket_name(kind: str, secret: SecretStr) -> str:
    """A stable bucket name for a secret's budget ("relay:" + a digest): the secret itself is never stored."""
    return f"{kind}:{hashlib.sha256(secret.get_secret_value().encode('utf-8')).hexdigest()[:24]}"


class SharedPacing:
    def __init__(self, db: Database, *, capacity: int, per_second: float):
        if capacity < 1 or per_second <= 0:
            raise ValueError("a bucket needs a capacity of at least 1 and a positive refill rate")
        self.db = db
        self.capacity = float(capacity)
        self.per_second = float(per_second)

    async def reserve(self, bucket: str, *, now: float | None = None, drained: bool = False) -> float:
        """Take one token from ``bucket``; returns the time (database clock) from which the request may be
        sent: ``now`` when a token was there. ``drained``: the far end answered "too many requests", so the
        bucket is emptied first (someone else spent the key)."""
        now = self.db.clock() if now is None else now
        async with self.db.transaction() as tx:
            # Touching the row first takes its lock (PostgreSQL), so the read below is this process's alone.
            await tx.execute(
                "INSERT INTO pacing_buckets (bucket, tokens, stamp) VALUES (?, ?, ?) "
                "ON CONFLICT (bucket) DO UPDATE SET tokens = pacing_buckets.tokens",
                (bucket, self.capacity, now),
            )
            tokens, stamp = await tx.fetchone("SELECT tokens, stamp FROM pacing_buckets WHERE bucket = ?", (bucket,))
            at = max(now, stamp)
            tokens = min(self.capacity, tokens + (at - stamp) * self.per_second)
            if drained:
                tokens = min(tokens, 0.0)
            tokens -= 1
            await tx.execute("UPDATE pacing_buckets SET tokens = ?, stamp = ? WHERE bucket = ?", (tokens, at, bucket))
        return at + max(0.0, -tokens) / self.per_second


class SharedBucket:
    """One key's shared bucket, shaped like relay.pacing.Pacer (``take()``, ``drain()``, ``granted``,
    ``waited``), so a relay client can pace through it instead of its own."""

    def __init__(self, pacing: SharedPacing, bucket: str):
        self._pacing = pacing
        self.bucket = bucket
        self._drained = False
        self.granted = 0
        self.waited = 0.0

    def drain(self) -> None:
        # Applied by the next take(), in the same transaction as its reservation.
        self._drained = True

    async def take(self) -> None:
        drained, self._drained = self._drained, False
        ready = await self._pacing.reserve(self.bucket, drained=drained)
        delay = ready - self._pacing.db.clock()
        if delay > 0:
            self.waited += delay
            await asyncio.sleep(delay)
        self.granted += 1
