"""Addresses and host:port text: small pure helpers every layer uses."""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Sequence
from dataclasses import dataclass
from urllib.parse import urlsplit

from probe.boundary import ascii_int

__all__ = [
    "NO_LOCAL",
    "UNUSABLE_KINDS",
    "LocalAddresses",
    "in_prefixes",
    "is_hostname",
    "is_ip",
    "is_prefix",
    "split_host_port",
    "unusable",
]

# \Z, not $: '$' also matches before a final newline, and "host\n" is no hostname.
_HOSTNAME_RE = re.compile(
    r"\A(?=.{1,253}\.?\Z)([A-Za-z0-9_](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9])?)"
    r"(?:\.[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9])?)*\.?\Z"
)


def is_ip(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


def is_hostname(text: str) -> bool:
    return bool(_HOSTNAME_RE.match(text)) and not text.replace(".", "").isdigit()


def split_host_port(text: str) -> tuple[str, int | None]:
    """'host', 'host:53', '1.2.3.4:53', '[::1]:53', '::1' -> (host, port or None)."""
    if text.startswith("["):
        end = text.find("]")
        if end < 0:
            raise ValueError(f"unclosed '[' in {text!r}")
        host, rest = text[1:end], text[end + 1 :]
        if not rest:
            return host, None
        if not rest.startswith(":"):
            raise ValueError(f"expected ':PORT' after ']' in {text!r}")
        return host, _port(rest[1:], text)
    if text.count(":") == 1:
        host, port = text.split(":")
        return host, _port(port, text)
    return text, None


def _port(text: str, whole: str) -> int:
    port = ascii_int(text, 1, 65535) if text == text.strip() else None
    if port is None:
        raise ValueError(f"port must be a number from 1 to 65535 in {whole!r}")
    return port


def is_prefix(text: str) -> bool:
    """An IP address or CIDR prefix (host bits allowed, as Azure exports have them)."""
    try:
        ipaddress.ip_network(text, strict=False)
    except ValueError:
        return False
    return True


@dataclass(frozen=True, slots=True)
class LocalAddresses:
    """This host's own addresses and its interfaces' subnet broadcasts, as
    ``probe.hostinfo.local_addresses`` finds them (empty when unknown)."""

    own: frozenset[str] = frozenset()
    broadcasts: frozenset[str] = frozenset()


NO_LOCAL = LocalAddresses()

# What an answer that cannot be the dependency is, in the order it is judged.
UNUSABLE_KINDS = ("sinkhole", "loopback", "own-address", "multicast", "broadcast",
                  "link-local")
_THIS_NETWORK = ipaddress.ip_network("0.0.0.0/8")
_LIMITED_BROADCAST = ipaddress.ip_address("255.255.255.255")


def matching_prefix(address: str, prefixes: Sequence[str]) -> str | None:
    """Pure: the first of ``prefixes`` (addresses or CIDR prefixes) holding
    ``address``; None for none, and for text that is not an address or prefix."""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return None
    for prefix in prefixes:
        try:
            network = ipaddress.ip_network(prefix, strict=False)
        except ValueError:
            continue
        if ip.version == network.version and ip in network:
            return prefix
    return None


def in_prefixes(address: str, prefixes: Sequence[str]) -> bool:
    """Pure: ``address`` lies in one of ``prefixes`` (addresses or CIDR)."""
    return matching_prefix(address, prefixes) is not None


def unusable(address: str, local: LocalAddresses = NO_LOCAL) -> str | None:
    """Pure: why a DNS answer cannot be the dependency it names, or None.

    ``sinkhole``: 0.0.0.0 (and 0.0.0.0/8) or ``::``, what blocking resolvers
    answer; ``loopback``: 127.0.0.0/8, ``::1``; ``own-address``: this host;
    ``multicast``; ``broadcast``: 255.255.255.255 or a local subnet's
    broadcast; ``link-local``: 169.254.0.0/16 (169.254.169.254 is the
    instance metadata service), fe80::/10. Mapped IPv4 (``::ffff:a.b.c.d``)
    is judged as IPv4. Anything else, 198.18.0.0/15 included, is probed.
    """
    ip = ipaddress.ip_address(address)
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    if ip.is_unspecified or (ip.version == 4 and ip in _THIS_NETWORK):
        return "sinkhole"
    if ip.is_loopback:
        return "loopback"
    if str(ip) in local.own:
        return "own-address"
    if ip.is_multicast:
        return "multicast"
    if ip == _LIMITED_BROADCAST or str(ip) in local.broadcasts:
        return "broadcast"
    if ip.is_link_local:
        return "link-local"
    return None


def split_name(name: str, default_port: int) -> tuple[str, int]:
    """'host', 'host:port', 'https://host[:port]/path' -> (host, port).

    Raises ValueError when no hostname can be found.
    """
    text = name.strip()
    if "://" in text:
        parts = urlsplit(text)
        try:
            port = parts.port
        except ValueError:
            raise ValueError(f"bad port in URL {name!r}") from None
        host = parts.hostname or ""
        if port is None:
            port = {"http": 80, "https": 443}.get(parts.scheme.lower(), default_port)
    else:
        host, maybe = split_host_port(text.split("/", 1)[0])
        port = maybe if maybe is not None else default_port
    host = host.rstrip(".").lower()
    if not (is_hostname(host) or is_ip(host)):
        raise ValueError(f"{name!r} has no hostname")
    return host, port
