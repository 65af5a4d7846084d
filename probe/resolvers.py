"""A resolver the round asks: a DNS server queried directly, or this host's
hosts file (``HOSTS_RESOLVER``). ``probe.config`` reads them from the config
(``parse_resolver``); this module is only their shape."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from probe.localnames import HOSTS


@dataclass(frozen=True, slots=True)
class Resolver:
    """A DNS server queried directly. ``source`` is how it was named.

    ``HOSTS_RESOLVER`` (``resolvers = ["hosts"]``) is this host's hosts file
    instead of a server: its label is ``hosts``."""

    address: str
    port: int = 53
    source: str = ""

    @property
    def is_hosts_file(self) -> bool:
        return self.port == 0 and self.source == HOSTS

    @property
    def label(self) -> str:
        if self.is_hosts_file:
            return HOSTS
        if self.port == 53:
            return self.address
        host = f"[{self.address}]" if ":" in self.address else self.address
        return f"{host}:{self.port}"


HOSTS_RESOLVER = Resolver(HOSTS, 0, HOSTS)


def unique(resolvers: Sequence[Resolver]) -> tuple[Resolver, ...]:
    """In order, each (address, port) once."""
    seen: set[tuple[str, int]] = set()
    out: list[Resolver] = []
    for r in resolvers:
        if (r.address, r.port) not in seen:
            seen.add((r.address, r.port))
            out.append(r)
    return tuple(out)
