"""Connections to a relay someone typed in Discord (hosted mode's /setup relay) reach public addresses only.

A hosted bot runs inside its operator's network: a relay URL pointing at 127.0.0.1, 10.x or a cloud metadata
address would let any server's admin make the bot send requests (with their key) inside it. The resolver below
drops every loopback, private, link-local, multicast or otherwise non-global address before aiohttp connects,
so a name that resolves to an internal address later (DNS rebinding) is refused too; aiohttp connects to an IP
literal without resolving it, so ``AddressPolicy.check_url`` refuses those before a client is made. The relays
in ``.env`` are the operator's own and not guarded.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Iterable
from urllib.parse import urlsplit

import aiohttp
from aiohttp.abc import AbstractResolver, ResolveResult


class RefusedAddress(OSError):
    """Every address of the relay's host is internal."""

    def __init__(self, host: str):
        super().__init__(f"{host} has no public address")


class AddressPolicy:
    """Public addresses only, unless ``allow_private``. ``trusted``: networks treated as public anyway."""

    def __init__(self, *, allow_private: bool = False, trusted: Iterable[str] = ()):
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

    def check_url(self, url: str) -> None:
        """Raises RefusedAddress when ``url``'s host is an IP literal the policy refuses (names are checked as
        they resolve)."""
        host = urlsplit(url).hostname or ""
        try:
            ipaddress.ip_address(host.split("%", 1)[0])
        except ValueError:
            return  # a name: the resolver checks each address it resolves to
        if not self.allows(host):
            raise RefusedAddress(host)


class GuardedResolver(AbstractResolver):
    """aiohttp's resolver keeping only the addresses the policy allows."""

    def __init__(self, policy: AddressPolicy, inner: AbstractResolver | None = None):
        self.policy = policy
        self.inner = inner or aiohttp.ThreadedResolver()

    async def resolve(self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET):
        results: list[ResolveResult] = await self.inner.resolve(host, port, family)
        allowed = [r for r in results if self.policy.allows(r["host"])]
        if not allowed:
            raise RefusedAddress(host)
        return allowed

    async def close(self) -> None:
        await self.inner.close()


def guarded_session(policy: AddressPolicy, *, user_agent: str) -> aiohttp.ClientSession:
    """The session for relays set from Discord; ``trust_env`` off, so no proxy setting routes around the check."""
    connector = aiohttp.TCPConnector(resolver=GuardedResolver(policy))
    return aiohttp.ClientSession(connector=connector, headers={"User-Agent": user_agent}, trust_env=False)
