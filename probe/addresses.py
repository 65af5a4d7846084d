"""Addresses and host:port text: small pure helpers every layer uses."""

from __future__ import annotations

import ipaddress
import re

from probe.boundary import ascii_int

__all__ = ["is_hostname", "is_ip", "is_prefix", "split_host_port"]

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
