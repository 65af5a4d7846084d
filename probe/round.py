"""One round: resolve every name through every resolver, probe every address.

The decisions (which addresses to probe, what the attempts add up to,
whether an expectation is met, the exit status) are pure functions; the
``run_round`` coroutine only sequences the I/O. TCP probing starts as soon
as the primary resolver has answered: the other resolvers are compared, not
waited for.
"""

from __future__ import annotations

import asyncio
import ipaddress
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from probe.config import Config, Target
from probe.probers import TcpProber
from probe.probers.classify import aggregate
from probe.probers.dns import NameResolver
from probe.results import Attempt, DnsResult, PortState, RoundResult, TcpJob, TcpResult


@dataclass(frozen=True, slots=True)
class Planned:
    """One row of the round: a target and one of its addresses (or why none)."""

    target: Target
    address: str | None
    unresolved: DnsResult | None = None


def hostnames(targets: Sequence[Target]) -> list[str]:
    """Distinct names to resolve, in target order (IP literals need none)."""
    seen: dict[str, None] = {}
    for target in targets:
        if not target.is_address:
            seen.setdefault(target.host.rstrip(".").lower(), None)
    return list(seen)


def plan(targets: Sequence[Target], primary: Sequence[DnsResult], *,
         ipv6: bool = False) -> list[Planned]:
    """Fan every target out to every address its name has on the primary resolver."""
    by_name = {r.name: r for r in primary}
    rows: list[Planned] = []
    for target in targets:
        if target.is_address:
            rows.append(Planned(target, str(ipaddress.ip_address(target.host))))
            continue
        result = by_name.get(target.host.rstrip(".").lower())
        addresses = [a for a in (result.addresses if result else ())
                     if ipv6 or ipaddress.ip_address(a).version == 4]
        if result is None or not result.ok or not addresses:
            rows.append(Planned(target, None, result))
            continue
        rows.extend(Planned(target, address) for address in addresses)
    return rows


def judge(row: Planned, attempts: Sequence[Attempt], method: str) -> TcpResult:
    """What the attempts to one address add up to, against its expectation."""
    target = row.target
    if row.address is None:
        reason = row.unresolved.status.value if row.unresolved else "no-address"
        if row.unresolved is not None and row.unresolved.ok:
            reason = "no-ipv4-address"
        return TcpResult(target.name, target.dependency, target.host, None, target.port,
                         PortState.UNRESOLVED, reason, target.expect, False, target.required,
                         method)
    verdict = aggregate(attempts)
    return TcpResult(
        target=target.name,
        dependency=target.dependency,
        host=target.host,
        address=row.address,
        port=target.port,
        state=verdict.state,
        reason=verdict.reason,
        expected=target.expect,
        ok=verdict.state == target.expect,
        required=target.required,
        method=method,
        attempts=tuple(attempts),
        responder=verdict.responder,
        reply_ttl=verdict.reply_ttl,
    )


def exit_status(result: RoundResult) -> int:
    """0 when every required target met its expectation (so its name resolved
    on the primary resolver), 1 otherwise."""
    return 0 if all(r.ok for r in result.tcp if r.required) else 1


async def run_round(config: Config, prober: TcpProber, resolver: NameResolver) -> RoundResult:
    """Resolve through ``resolver``, probe with ``prober``; both are parameters
    so that a test hands in its own, and the callers wire the real ones."""
    started = datetime.now(UTC)
    clock = time.perf_counter()
    timeout = config.agent.timeout
    gate = asyncio.Semaphore(config.agent.concurrency)
    names = hostnames(config.targets)
    resolvers = config.dns.resolvers
    primary, others = resolvers[:1], resolvers[1:]

    aaaa = config.dns.aaaa
    comparison = asyncio.ensure_future(
        resolver.resolve_all(names, others, timeout, aaaa=aaaa, limit=gate))
    try:
        first = await resolver.resolve_all(names, primary, timeout, aaaa=aaaa, limit=gate)
        rows = plan(config.targets, first, ipv6=config.dns.aaaa)
        probed = [row for row in rows if row.address is not None]
        jobs = [TcpJob(row.address, row.target.port, row.target.count)
                for row in probed if row.address is not None]
        answers = await prober.probe(jobs, timeout) if jobs else []
        rest = await comparison
    finally:
        comparison.cancel()

    attempts_of = {id(row): a for row, a in zip(probed, answers, strict=True)}
    # A composite prober (SYN for IPv4, connect() for IPv6) says which one probed what.

    def method(row: Planned) -> str:
        return prober.method_for(row.address) if row.address else prober.method

    tcp = tuple(judge(row, attempts_of.get(id(row), ()), method(row)) for row in rows)
    order = {r.label: i for i, r in enumerate(resolvers)}
    position = {name: i for i, name in enumerate(names)}
    dns_results = sorted([*first, *rest], key=lambda d: (position[d.name], order[d.resolver]))
    return RoundResult(
        started=started,
        duration_seconds=time.perf_counter() - clock,
        resolvers=tuple(r.label for r in resolvers),
        dns=tuple(dns_results),
        tcp=tcp,
    )
