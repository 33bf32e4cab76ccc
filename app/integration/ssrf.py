"""The SSRF guard for URLs the service calls on someone else's say-so (webhook targets, attachment URLs).

A URL is refused unless it is http(s) and every address its host resolves to is globally routable: private
(10/8, 172.16/12, 192.168/16, fc00::/7), loopback (127/8, ::1), link-local (169.254/16 — cloud metadata at
169.254.169.254 — and fe80::/10), unspecified (0.0.0.0, ::), carrier-grade NAT, multicast and reserved ranges
are all "not global" to `ipaddress`. An IPv6 address that carries an IPv4 address a packet to it may reach is
also judged by that IPv4 address: IPv4-mapped (::ffff:127.0.0.1), IPv4-compatible (::127.0.0.1), 6to4
(2002:7f00:1::), Teredo (2001::/32: server and client), NAT64's well-known prefix (64:ff9b::127.0.0.1),
IPv4-translated (SIIT, ::ffff:0:127.0.0.1). The local-use NAT64 prefix 64:ff9b:1::/48 is refused whole: where
the IPv4 address sits in it is the operator's choice (RFC 6052 allows several prefix lengths), and it is not
globally reachable by definition (RFC 8215).

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


NAT64_WELL_KNOWN = ipaddress.IPv6Network("64:ff9b::/96")  # RFC 6052: the IPv4 address is the last 32 bits
NAT64_LOCAL_USE = ipaddress.IPv6Network("64:ff9b:1::/48")  # RFC 8215
IPV4_COMPATIBLE = ipaddress.IPv6Network("::/96")  # RFC 4291 (deprecated): the IPv4 address is the last 32 bits
IPV4_TRANSLATED = ipaddress.IPv6Network("::ffff:0:0:0/96")  # RFC 2765 (SIIT): the last 32 bits too


def embedded_ipv4(address: ipaddress.IPv6Address) -> list[ipaddress.IPv4Address]:
    """The IPv4 addresses inside an IPv6 address that a translator or tunnel would send its packets to."""
    if address.ipv4_mapped is not None:
        return [address.ipv4_mapped]
    if address.sixtofour is not None:
        return [address.sixtofour]
    if address.teredo is not None:
        return list(address.teredo)  # (server, client); `ipaddress` has already undone the client's obfuscation
    if address in NAT64_WELL_KNOWN or address in IPV4_TRANSLATED or (address in IPV4_COMPATIBLE and int(address) > 1):
        return [ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)]
    return []


def _is_public_v4(address: ipaddress.IPv4Address) -> bool:
    return address.is_global and not address.is_multicast


def is_public_address(address: IPAddress) -> bool:
    if isinstance(address, ipaddress.IPv4Address):
        return _is_public_v4(address)
    if address.ipv4_mapped is not None:  # newer Pythons call all of ::ffff:0:0/96 not global: judge the inside only
        return _is_public_v4(address.ipv4_mapped)
    if address in NAT64_LOCAL_USE:
        return False
    if not all(_is_public_v4(inside) for inside in embedded_ipv4(address)):
        return False
    return address.is_global and not address.is_multicast


def _describe(address: IPAddress) -> str:
    inside = embedded_ipv4(address) if isinstance(address, ipaddress.IPv6Address) else []
    return f"{address} (carrying {', '.join(map(str, inside))})" if inside else str(address)


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
    if port == 0:  # read as the default port by the check below, then no delivery could connect
        raise UnsafeUrl("the port must be 1 to 65535")
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
    refused = [_describe(a) for a in addresses if not is_public_address(a)]
    if refused:
        raise UnsafeUrl(f"the host resolves to a private, loopback or link-local address ({', '.join(refused)})")
