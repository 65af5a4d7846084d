"""Host context: where the probes leave from and what this host already has open.

Next to a round's answers, a reader wants the ``ip route get`` and
``netstat -ant | grep`` of the field articles: the source address and
interface the kernel picks for each target address, that interface's state
and error counters, and how many connections from this host to each target
are ESTABLISHED right now (a self-hosted gateway that has lost Azure shows
zero).

``summarize`` is pure (it takes psutil's answers as plain data); ``gather``
is the thin I/O shell. Nothing here sends a packet: the route choice comes
from connecting a UDP socket, which only asks the kernel.
"""

from __future__ import annotations

import errno
import ipaddress
import socket
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from probe.addresses import LocalAddresses
from probe.results import Connections, HostInfo, Interface, Route, TcpResult

__all__ = ["Connections", "HostInfo", "Interface", "Route", "count_established", "gather",
           "interface_of", "probed", "source_of", "summarize"]


# --------------------------------------------------------------------------
# pure


def probed(tcp: Sequence[TcpResult]) -> list[tuple[str, str, int]]:
    """(target, address, port) of every probed row, in round order, once each."""
    seen: dict[tuple[str, str, int], None] = {}
    for row in tcp:
        if row.address is not None and row.probed:
            seen.setdefault((row.target, row.address, row.port), None)
    return list(seen)


def interface_of(source: str | None, addresses: Mapping[str, Iterable[str]]) -> str | None:
    """The interface holding ``source`` (``addresses``: name -> its addresses)."""
    if source is None:
        return None
    for name, held in addresses.items():
        if any(a.split("%", 1)[0] == source for a in held):
            return name
    return None


def count_established(wanted: Iterable[tuple[str, int]],
                      connections: Iterable[tuple[str, str, int]]) -> dict[tuple[str, int], int]:
    """Per (address, port): how many ``(status, remote ip, remote port)`` are ESTABLISHED."""
    counts = dict.fromkeys(wanted, 0)
    for status, ip, port in connections:
        key = (ip, port)
        if status == "ESTABLISHED" and key in counts:
            counts[key] += 1
    return counts


def summarize(tcp: Sequence[TcpResult], sources: Mapping[str, tuple[str | None, str]],
              addresses: Mapping[str, Iterable[str]], stats: Mapping[str, Any],
              io: Mapping[str, Any], connections: Iterable[tuple[str, str, int]] | None,
              ) -> HostInfo:
    """Put psutil's answers together for the rows of one round.

    ``sources``: address -> (source address or None, error); ``stats`` and
    ``io`` are ``psutil.net_if_stats()`` and ``net_io_counters(pernic=True)``;
    ``connections`` is None when the kernel would not list them. Only the
    interfaces the probes leave from are described (a host with hundreds of
    container veths must not grow the report or the label set).
    """
    rows = probed(tcp)
    routes: list[Route] = []
    for address in dict.fromkeys(a for _, a, _ in rows):
        source, error = sources.get(address, (None, "not looked up"))
        routes.append(Route(address, source, interface_of(source, addresses), error))
    interfaces: list[Interface] = []
    for name in dict.fromkeys(r.interface for r in routes if r.interface):
        stat, counters = stats.get(name), io.get(name)
        if stat is None:
            continue
        interfaces.append(Interface(
            name=name,
            up=bool(stat.isup),
            mtu=int(stat.mtu),
            speed_bits_per_second=int(stat.speed) * 1_000_000 if stat.speed else None,
            errors_in=int(counters.errin) if counters else 0,
            errors_out=int(counters.errout) if counters else 0,
            drops_in=int(counters.dropin) if counters else 0,
            drops_out=int(counters.dropout) if counters else 0,
        ))
    counts = (count_established(((a, p) for _, a, p in rows), connections)
              if connections is not None else None)
    return HostInfo(
        routes=tuple(routes),
        interfaces=tuple(interfaces),
        connections=tuple(Connections(t, a, p, counts[(a, p)] if counts is not None else None)
                          for t, a, p in rows),
    )


# --------------------------------------------------------------------------
# I/O


def source_of(address: str, port: int) -> tuple[str | None, str]:
    """The source address the kernel would use towards address:port, or why none.

    Connecting a UDP socket picks the route and source without sending anything.
    """
    family = socket.AF_INET6 if ":" in address else socket.AF_INET
    try:
        with socket.socket(family, socket.SOCK_DGRAM) as sock:
            sock.connect((address, port))
            return str(sock.getsockname()[0]), ""
    except OSError as exc:
        return None, errno.errorcode.get(exc.errno or 0, "") or str(exc)


def local_from(held: Mapping[str, Sequence[Any]]) -> LocalAddresses:
    """Pure: own addresses and subnet broadcasts from psutil.net_if_addrs()."""
    own: set[str] = set()
    broadcasts: set[str] = set()
    for addresses in held.values():
        for a in addresses:
            if a.family not in (socket.AF_INET, socket.AF_INET6):
                continue
            address = str(a.address).split("%", 1)[0]  # fe80::1%eth0
            try:
                own.add(str(ipaddress.ip_address(address)))
                if a.family == socket.AF_INET and a.netmask:
                    network = ipaddress.ip_interface(f"{address}/{a.netmask}").network
                    if network.prefixlen < 31:
                        broadcasts.add(str(network.broadcast_address))
                if a.family == socket.AF_INET and a.broadcast:
                    broadcasts.add(str(ipaddress.ip_address(a.broadcast)))
            except ValueError:
                continue
    return LocalAddresses(frozenset(own), frozenset(broadcasts))


def local_addresses() -> LocalAddresses:
    """This host's addresses and subnet broadcasts, now; empty when the kernel
    cannot say (a round is not failed for it: the rest still holds)."""
    import psutil

    try:
        return local_from(psutil.net_if_addrs())
    except (OSError, RuntimeError, ValueError):
        return LocalAddresses()


def gather(tcp: Sequence[TcpResult]) -> HostInfo:
    """Ask the kernel (through psutil) about the rows of one round."""
    import psutil

    rows = probed(tcp)
    sources = {a: source_of(a, p) for _, a, p in rows}
    addresses = {name: [a.address for a in held]
                 for name, held in psutil.net_if_addrs().items()}
    connections: list[tuple[str, str, int]] | None
    try:
        connections = [(c.status, c.raddr.ip, c.raddr.port)
                       for c in psutil.net_connections(kind="tcp") if c.raddr]
    except psutil.AccessDenied:
        connections = None
    return summarize(tcp, sources, addresses, psutil.net_if_stats(),
                     psutil.net_io_counters(pernic=True), connections)
