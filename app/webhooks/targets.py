"""Where a webhook may point. Unless private targets are allowed (development and tests), a
URL must be https, and every address its host resolves to must be global unicast: no loopback,
private, link-local (cloud metadata), shared, multicast or reserved address, and no IPv6
address that carries an IPv4 one (see EMBEDS_IPV4). Delivery resolves again and connects to
the address it checked, so a DNS answer that changes after the check (rebinding) cannot
redirect a request inside the network."""

import asyncio
import ipaddress
import socket
from dataclasses import dataclass
from urllib.parse import urlsplit

MAX_URL_LENGTH = 2048
# IPv6 ranges whose addresses carry an IPv4 address that a host, a gateway or a tunnel may
# turn into an IPv4 connection: [::7f00:1] can reach 127.0.0.1 and [::a9fe:a9fe] the cloud
# metadata service. `ipaddress.is_global` calls several of them global (it follows the IANA
# registry, not what a stack does with them), and which embedded IPv4 a gateway uses is
# its own business, so they are refused outright, whatever address they carry. A real
# receiver has a native IPv6 or an IPv4 address.
EMBEDS_IPV4 = tuple(
    ipaddress.IPv6Network(network)
    for network in (
        "::/96",  # IPv4-compatible (deprecated, RFC 4291 2.5.5.1)
        "::ffff:0:0/96",  # IPv4-mapped (RFC 4291 2.5.5.2)
        "::ffff:0:0:0/96",  # IPv4-translated (SIIT, RFC 2765)
        "64:ff9b::/96",  # NAT64 well-known prefix (RFC 6052)
        "64:ff9b:1::/48",  # NAT64 local-use prefix (RFC 8215)
        "2002::/16",  # 6to4 (RFC 3056)
        "2001::/32",  # Teredo (RFC 4380)
    )
)


class UnsafeTarget(Exception):
    """The URL may not be called; the message says why, in words an admin can act on."""


@dataclass(frozen=True)
class Target:
    url: str  # what to connect to (the checked address in place of the host name)
    host_header: str | None  # the original host, when `url` holds an address instead
    sni_hostname: str | None


def check_shape(url: str, *, allow_private: bool) -> None:
    if len(url) > MAX_URL_LENGTH:
        raise UnsafeTarget(f"the URL is longer than {MAX_URL_LENGTH} characters")
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises on a malformed port
    except ValueError as exc:
        raise UnsafeTarget("the URL is not valid") from exc
    schemes = ("https", "http") if allow_private else ("https",)
    if parts.scheme not in schemes:
        raise UnsafeTarget("the URL must use https")
    if not parts.hostname:
        raise UnsafeTarget("the URL has no host")
    if parts.username is not None or parts.password is not None:
        raise UnsafeTarget("the URL must not carry credentials; the signature authenticates us")
    if parts.fragment:
        raise UnsafeTarget("the URL must not have a #fragment")
    if any(ch.isspace() or ord(ch) < 32 for ch in url):
        raise UnsafeTarget("the URL must not contain spaces or control characters")
    ascii_host(parts.hostname)


def ascii_host(host: str) -> str:
    """The host as it goes on the wire (IDNA for an internationalised name)."""
    try:
        return host.encode("idna").decode("ascii")
    except UnicodeError as exc:
        raise UnsafeTarget("the URL's host name is not valid") from exc


def is_public(address: str) -> bool:
    """Global unicast, and for IPv6 in none of the ranges that carry an IPv4 address."""
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and any(ip in net for net in EMBEDS_IPV4):
        return False
    return ip.is_global and not ip.is_multicast


async def resolve_public(host: str, port: int) -> list[str]:
    try:
        infos = await asyncio.get_running_loop().getaddrinfo(
            host, port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP
        )
    except (OSError, UnicodeError) as exc:
        raise UnsafeTarget(f"the host {host!r} could not be resolved") from exc
    addresses = list(dict.fromkeys(str(info[4][0]) for info in infos))
    if not addresses:
        raise UnsafeTarget(f"the host {host!r} could not be resolved")
    if not all(is_public(a) for a in addresses):
        raise UnsafeTarget(f"the host {host!r} resolves to a private, loopback or reserved address")
    return addresses


async def checked_target(url: str, *, allow_private: bool) -> Target:
    """The URL to connect to, after every check; raises UnsafeTarget."""
    check_shape(url, allow_private=allow_private)
    if allow_private:
        return Target(url=url, host_header=None, sni_hostname=None)
    parts = urlsplit(url)
    host = ascii_host(parts.hostname or "")
    port = parts.port or 443
    address = (await resolve_public(host, port))[0]
    if address == host:  # an address literal: nothing was looked up, nothing to pin
        return Target(url=url, host_header=None, sni_hostname=None)
    literal = f"[{address}]" if ":" in address else address
    netloc = literal if parts.port is None else f"{literal}:{parts.port}"
    pinned = parts._replace(netloc=netloc).geturl()
    host_header = host if parts.port is None else f"{host}:{parts.port}"
    return Target(url=pinned, host_header=host_header, sni_hostname=host)
