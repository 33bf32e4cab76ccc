"""The SSRF guard for URLs the service calls on someone else's say-so (webhook targets, attachment URLs).

A URL is refused unless it is http(s) and every address its host resolves to is globally routable: private
(10/8, 172.16/12, 192.168/16, fc00::/7), loopback (127/8, ::1), link-local (169.254/16 — cloud metadata at
169.254.169.254 — and fe80::/10), unspecified (0.0.0.0, ::), carrier-grade NAT, multicast and reserved ranges
are all "not global" to `ipaddress`. IPv4-mapped IPv6 addresses are judged by the IPv4 address inside.

The check runs when the URL is given (creation) and again right before each request, after DNS resolution,
because a name that resolved to a public address yesterday may point inside the network today. A rebinding
between this check and httpx's own lookup (milliseconds) is the remaining gap; closing it needs connecting to
the checked address itself, which httpx does not offer without giving up TLS name checks.

`DVC_WEBHOOK_ALLOW_PRIVATE=true` turns the guard off (development, tests against local receivers).
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Awaitable, Callable
from urllib.parse import urlsplit

from app.core.settings import get_settings

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
Resolver = Callable[[str, int], Awaitable[list[str]]]


class UnsafeUrl(ValueError):
    """The URL may not be called; the message says why (shown to the caller)."""


async def system_resolve(host: str, port: int) -> list[str]:
    """Every address the system resolver gives for `host`."""
    loop = asyncio.get_running_loop()
    infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return sorted({str(info[4][0]) for info in infos})


# Swapped in tests (no DNS there); read at call time.
resolve: Resolver = system_resolve


def is_public_address(address: IPAddress) -> bool:
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return address.is_global and not address.is_multicast


def _parse(url: str) -> tuple[str, int]:
    # httpx refuses control characters at every attempt (and PostgreSQL a NUL at creation): a URL with them
    # was accepted, then never delivered. A space has no place in a URL either (encode it as %20).
    if any(c <= " " or c == "\x7f" for c in url):
        raise UnsafeUrl("the URL contains spaces or control characters")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as error:
        raise UnsafeUrl("not a valid URL") from error
    if parts.scheme not in ("http", "https"):
        raise UnsafeUrl("only http and https URLs are allowed")
    if not parts.hostname:
        raise UnsafeUrl("the URL has no host")
    if parts.username or parts.password:
        raise UnsafeUrl("credentials in the URL are not allowed")
    return parts.hostname, port or (443 if parts.scheme == "https" else 80)


def check_syntax(url: str) -> None:
    """Scheme and host only (no DNS): for validating input where resolution comes later."""
    _parse(url)


async def check_url(url: str, *, allow_private: bool | None = None) -> None:
    """Raise `UnsafeUrl` unless the URL is http(s) and its host resolves only to public addresses."""
    host, port = _parse(url)
    if allow_private is None:
        allow_private = get_settings().webhook_allow_private
    if allow_private:
        return
    try:
        literal: IPAddress | None = ipaddress.ip_address(host)
    except ValueError:
        literal = None
    if literal is not None:
        addresses = [literal]
    else:
        if host.lower() == "localhost" or host.lower().endswith(".localhost"):
            raise UnsafeUrl("the host is this machine")
        try:
            addresses = [ipaddress.ip_address(a.split("%", 1)[0]) for a in await resolve(host, port)]
        except (OSError, ValueError) as error:
            raise UnsafeUrl(f"the host {host} does not resolve") from error
        if not addresses:
            raise UnsafeUrl(f"the host {host} does not resolve")
    refused = [str(a) for a in addresses if not is_public_address(a)]
    if refused:
        raise UnsafeUrl(f"the host resolves to a private, loopback or link-local address ({', '.join(refused)})")
