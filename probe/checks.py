"""Checks of single config values (``schema.key(check=...)``): None when the
value is fine, else what was expected. Pure but for ``readable_file``, which
tries to read the file it names."""

from __future__ import annotations

from typing import Any

from probe.addresses import is_hostname, is_ip, split_host_port, unusable
from probe.errors import InputError
from probe.files import CONFIG_LIMIT, read_regular_file

__all__ = ["host", "label", "listen", "path", "readable_file", "user"]


def listen(value: Any) -> str | None:
    try:
        host, port = split_host_port(value)
    except ValueError as exc:
        return f"expected HOST:PORT ({exc})"
    if port is None:
        return "expected HOST:PORT (the port is missing)"
    if host and not (is_ip(host) or is_hostname(host)):
        return "expected HOST:PORT with an IP address or hostname"
    return None


def readable_file(value: Any) -> str | None:
    if not value.strip():
        return "expected the path of a readable file"
    try:
        read_regular_file(value, CONFIG_LIMIT)
    except InputError as exc:
        return f"expected the path of a readable file ({exc.message.removeprefix('cannot read: ')})"
    return None


def path(value: Any) -> str | None:
    """A path that may be absent now (read when used, and said then)."""
    return None if value.strip() and "\0" not in value else "expected a non-empty path"


def user(value: Any) -> str | None:
    ok = value and ":" not in value and value.isprintable()
    return None if ok else "expected a non-empty user name without ':'"


def host(value: Any) -> str | None:
    if is_ip(value):
        # typed by the user: probed as typed (loopback, 169.254.169.254 included),
        # except what no TCP service can be
        kind = unusable(value)
        if kind in ("sinkhole", "multicast", "broadcast"):
            return (f"expected a hostname or an IP address a TCP service can have; {value} is "
                    f"{'unspecified' if kind == 'sinkhole' else kind}")
        return None
    if is_hostname(value):
        return None
    if not value.isascii():
        return ("expected a hostname or an IP address (write an internationalized name in "
                "its ASCII form, xn--...)")
    return "expected a hostname or an IP address"


def label(value: Any) -> str | None:
    return None if value.strip() else "expected a non-empty label"
