"""Fetching URLs a maintainer gave (manifests, package zips, release notes) without reaching inside the bot's
network, and without reading more than a route needs.

- Every address connected to is checked: a host name is resolved by `GuardedResolver`, which drops loopback,
  private, link-local, multicast and other non-public addresses before aiohttp connects; an IP literal is
  checked before the request. Redirects are followed here, one hop at a time, so every hop is checked too.
- A refused address, a closed port, an unknown host all read the same ("could not be reached"): the answer
  must not tell a member which internal addresses and ports exist.
- Every body is read up to a cap given by the caller.

`ALLOW_PRIVATE_MANIFEST_HOSTS=true` (a maintainer whose packages live on their own network) turns the address
check off; the caps and the redirect limit stay.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from dataclasses import dataclass

import aiohttp
from aiohttp.abc import AbstractResolver, ResolveResult
from multidict import CIMultiDictProxy
from yarl import URL

from core.bodies import read_at_most

MAX_REDIRECTS = 5
REDIRECTS = (301, 302, 303, 307, 308)


class FetchFailed(Exception):
    """The URL gave no usable answer; `reason` completes "The manifest at URL …"."""

    def __init__(self, reason: str, *, temporary: bool = False):
        super().__init__(reason)
        self.reason = reason
        self.temporary = temporary


class RefusedAddress(OSError):
    """Raised by the resolver: every address of the host is internal."""


UNREACHABLE = "could not be reached"


def unreachable() -> FetchFailed:
    # The same words for a refused address, a closed port and an unknown host: no port-scan oracle.
    return FetchFailed(UNREACHABLE, temporary=True)


class AddressPolicy:
    """Which addresses a fetch may connect to: public ones, unless private ones are allowed.

    `trusted`: networks treated as public (tests stand in a "public" host on one loopback address)."""

    def __init__(self, *, allow_private: bool, trusted: Iterable[str] = ()):
        self.allow_private = allow_private
        self.trusted = tuple(ipaddress.ip_network(n) for n in trusted)

    def allows(self, address: str) -> bool:
        if self.allow_private:
            return True
        try:
            ip = ipaddress.ip_address(address.split("%", 1)[0])
        except ValueError:
            return False
        if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
            ip = ip.ipv4_mapped  # ::ffff:127.0.0.1 is 127.0.0.1
        if any(ip in network for network in self.trusted):
            return True
        return ip.is_global and not ip.is_multicast


class GuardedResolver(AbstractResolver):
    """aiohttp's resolver, keeping only the addresses the policy allows (those are what aiohttp connects to)."""

    def __init__(self, policy: AddressPolicy, inner: AbstractResolver | None = None):
        self.policy = policy
        self.inner = inner or aiohttp.DefaultResolver()

    async def resolve(self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET):
        results: list[ResolveResult] = await self.inner.resolve(host, port, family)
        allowed = [r for r in results if self.policy.allows(r["host"])]
        if not allowed:
            raise RefusedAddress(f"{host} has no public address")
        return allowed

    async def close(self) -> None:
        await self.inner.close()


def guarded_session(policy: AddressPolicy, *, user_agent: str) -> aiohttp.ClientSession:
    """A session for user-given URLs only (the relay and Foundry's API use the bot's ordinary session)."""
    connector = aiohttp.TCPConnector(resolver=GuardedResolver(policy), limit_per_host=4)
    return aiohttp.ClientSession(connector=connector, headers={"User-Agent": user_agent}, trust_env=False)


@dataclass(frozen=True)
class Answer:
    status: int
    url: str  # after redirects
    headers: CIMultiDictProxy[str]
    content_type: str
    body: bytes
    over_limit: bool  # the body is longer than the limit; `body` holds the first `limit` bytes


def _is_ip_literal(host: str) -> bool:
    try:
        ipaddress.ip_address(host.strip("[]").split("%", 1)[0])
    except ValueError:
        return False
    return True


class Fetcher:
    """GETs over a guarded session, following redirects itself so that every hop is checked."""

    def __init__(self, session: aiohttp.ClientSession, policy: AddressPolicy, *, max_redirects: int = MAX_REDIRECTS):
        self.session = session
        self.policy = policy
        self.max_redirects = max_redirects

    def _check(self, url: URL) -> None:
        if url.scheme not in ("http", "https") or not url.host:
            raise FetchFailed("is not an http:// or https:// URL")
        if _is_ip_literal(url.host) and not self.policy.allows(url.host):
            raise unreachable()

    @asynccontextmanager
    async def open(
        self, url: str, *, timeout: float, headers: dict[str, str] | None = None
    ) -> AsyncIterator[aiohttp.ClientResponse]:
        """The final response after redirects, its body unread. FetchFailed when there is none."""
        try:
            current = URL(url, encoded=False)
        except (ValueError, TypeError):
            raise FetchFailed("is not a valid URL") from None
        sent = dict(headers or {})
        for _ in range(self.max_redirects + 1):
            self._check(current)
            try:
                response = await self.session.get(
                    current,
                    headers=sent,
                    allow_redirects=False,
                    timeout=aiohttp.ClientTimeout(total=timeout),
                )
            except TimeoutError:
                raise FetchFailed(f"did not answer within {timeout:g} s", temporary=True) from None
            except (aiohttp.ClientConnectionError, aiohttp.InvalidURL, OSError):
                raise unreachable() from None
            except aiohttp.ClientError:
                raise FetchFailed("sent a broken answer", temporary=True) from None
            if response.status in REDIRECTS and "Location" in response.headers:
                try:
                    target = response.url.join(URL(response.headers["Location"]))
                except (ValueError, TypeError):
                    response.release()
                    raise FetchFailed(f"answered HTTP {response.status} with an unusable redirect") from None
                response.release()
                if target.origin() != current.origin():
                    # A credential meant for one host never follows a redirect to another.
                    sent.pop("Authorization", None)
                current = target
                continue
            try:
                yield response
            except TimeoutError:
                raise FetchFailed(f"did not answer within {timeout:g} s", temporary=True) from None
            except aiohttp.ClientError:
                raise FetchFailed("broke off its answer", temporary=True) from None
            finally:
                response.release()
            return
        raise FetchFailed(f"redirected more than {self.max_redirects} times")

    async def get(self, url: str, *, limit: int, timeout: float, headers: dict[str, str] | None = None) -> Answer:
        """The answer with at most `limit` bytes of its body read."""
        async with self.open(url, timeout=timeout, headers=headers) as response:
            body, over = await read_at_most(response, limit)
            return Answer(
                status=response.status,
                url=str(response.url),
                headers=response.headers,
                content_type=response.content_type or "no content type",
                body=body,
                over_limit=over,
            )
