"""Client-side pacing for the relay's per-key rate limit.

The relay allows 300 requests a minute per API key as a token bucket (capacity 300, 5 tokens a
second) and answers an empty bucket with a 429 that carries no Retry-After. ``Pacer`` keeps the same
bucket on our side, so a long job (a /refresh of a big world) waits for a token instead of drawing
a 429. A burst of a few requests never waits: the bucket starts full.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

RELAY_CAPACITY = 300  # the relay's bucket, per key
RELAY_REFILL = 5.0  # tokens a second
# What a RelayClient uses by default: a little under the relay's bucket, so network jitter (the relay
# counts a request when it arrives, we count it when it leaves) never empties the relay's bucket first.
SAFE_CAPACITY = RELAY_CAPACITY - 5
SAFE_REFILL = RELAY_REFILL * 0.96


class Pacer:
    """A token bucket shared by every request of one RelayClient; ``take()`` waits for a token.

    ``clock`` is monotonic seconds. ``granted`` counts the tokens handed out (one per HTTP request).
    """

    def __init__(
        self,
        capacity: int = SAFE_CAPACITY,
        per_second: float = SAFE_REFILL,
        *,
        clock: Callable[[], float] = time.monotonic,
    ):
        if capacity < 1 or per_second <= 0:
            raise ValueError("a pacer needs a capacity of at least 1 and a positive refill rate")
        self.capacity = capacity
        self.per_second = per_second
        self._clock = clock
        self._tokens = float(capacity)
        self._stamp = clock()
        self._lock = asyncio.Lock()  # first come, first served
        self.granted = 0
        self.waited = 0.0  # total seconds spent waiting for tokens

    def _refill(self) -> None:
        now = self._clock()
        self._tokens = min(float(self.capacity), self._tokens + (now - self._stamp) * self.per_second)
        self._stamp = now

    def drain(self) -> None:
        """The relay answered 429: its bucket is empty (other users of the key spent it), so ours is too."""
        self._refill()
        self._tokens = 0.0

    async def take(self) -> None:
        async with self._lock:
            self._refill()
            if self._tokens < 1:
                # A hair more than the exact wait, so the relay's own bucket (which saw our previous
                # request a little later than we counted it) has refilled too.
                delay = (1 - self._tokens) / self.per_second + 0.01
                self.waited += delay
                await asyncio.sleep(delay)
                self._refill()
            self._tokens = max(0.0, self._tokens - 1)
            self.granted += 1
