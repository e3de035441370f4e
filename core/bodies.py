"""Reading HTTP bodies without ever holding more than a cap: the one bounded reader every client uses.

Each caller sizes the cap to its route (relay/client.py's ``BODY_CAPS``, the release API's answer, a package
zip's parts) and words its own error; this module only counts bytes.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import aiohttp

CHUNK = 1 << 16


class BodyTooLarge(Exception):
    """The body is (or declares itself) longer than the cap; what was read of it is dropped."""

    def __init__(self, limit: int):
        super().__init__(f"body over {limit} bytes")
        self.limit = limit


async def chunks_within(response: aiohttp.ClientResponse, limit: int) -> AsyncIterator[bytes]:
    """The body's chunks as they arrive; BodyTooLarge as soon as it passes ``limit`` (or declares more)."""
    if (response.content_length or 0) > limit:
        raise BodyTooLarge(limit)
    size = 0
    async for chunk in response.content.iter_chunked(CHUNK):
        size += len(chunk)
        if size > limit:
            raise BodyTooLarge(limit)
        yield chunk


async def read_within(response: aiohttp.ClientResponse, limit: int) -> bytes:
    """The whole body, grown in one buffer (``response.read()`` keeps every chunk and then joins them: twice the
    memory of a multi-megabyte reply at its peak); BodyTooLarge past ``limit``."""
    body = bytearray()
    async for chunk in chunks_within(response, limit):
        body += chunk
    return bytes(body) if len(body) < 65_536 else body  # type: ignore[return-value]  # big: no extra copy


async def read_at_most(response: aiohttp.ClientResponse, limit: int) -> tuple[bytes, bool]:
    """Up to ``limit`` bytes of the body, and whether there was more (for answers shown in part)."""
    chunks: list[bytes] = []
    size = 0
    while size <= limit:
        chunk = await response.content.read(limit + 1 - size)  # read(n) returns what has arrived, at most n
        if not chunk:
            break
        chunks.append(chunk)
        size += len(chunk)
    body = b"".join(chunks)
    return body[:limit], len(body) > limit
