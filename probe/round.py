"""One round: resolve every name through every resolver, probe every address.

The decisions (which addresses to probe, what the attempts add up to,
whether an expectation is met, the exit status) are pure functions; the
``run_round`` coroutine only sequences the I/O. TCP probing starts as soon
as the primary resolver has answered: the other resolvers are compared, not
waited for.

The DNS and TCP stages fail alone: an exception from the resolver makes its
answers ``error`` (so its names' targets ``unresolved``), one from the prober
makes the batch's rows ``error/stage-failed``; either is a ``StageFailure``
on the result and the round goes on.
"""

from __future__ import annotations

import asyncio
import ipaddress
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from probe.addresses import NO_LOCAL, LocalAddresses, in_prefixes, unusable
from probe.config import Config, Target
from probe.errors import describe_error
from probe.hostinfo import local_addresses
from probe.localnames import is_localhost
from probe.probers import TcpProber
from probe.probers.classify import aggregate
from probe.probers.dns import NameResolver
from probe.resolvers import Resolver
from probe.results import (
    Attempt,
    DnsResult,
    DnsStatus,
    PortState,
    RoundResult,
    StageFailure,
    TcpJob,
    TcpResult,
)

STAGE_FAILED = "stage-failed"  # the reason of a row whose TCP stage failed


@dataclass(frozen=True, slots=True)
class Planned:
    """One row of the round: a target and one of its addresses (or why none)."""

    target: Target
    address: str | None
    unresolved: DnsResult | None = None
    unusable: str | None = None  # why the answer cannot be the dependency (not probed)


def hostnames(targets: Sequence[Target]) -> list[str]:
    """Distinct names to resolve, in target order (IP literals need none)."""
    seen: dict[str, None] = {}
    for target in targets:
        if not target.is_address:
            seen.setdefault(target.host.rstrip(".").lower(), None)
    return list(seen)


def plan(targets: Sequence[Target], primary: Sequence[DnsResult], *,
         ipv6: bool = False, local: LocalAddresses = NO_LOCAL,
         allow: Sequence[str] = ()) -> list[Planned]:
    """Fan every target out to every address its name has on the primary resolver.

    An answer that cannot be the dependency (``probe.addresses.unusable``:
    0.0.0.0, loopback, this host, multicast, broadcast, link-local) is planned
    as ``unusable`` and never probed. An address typed in the config is the
    user's word, and is probed as typed; so are a ``localhost`` name's loopback
    addresses and an answer within ``allow`` (``[dns] allow_answers``)."""

    def why(address: str) -> str | None:
        kind = unusable(address, local)
        return None if kind is None or (allow and in_prefixes(address, allow)) else kind

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
        # localhost names are loopback by definition (RFC 6761): the user's word
        word = is_localhost(target.host)
        rows.extend(Planned(target, address, unusable=None if word else why(address))
                    for address in addresses)
    return rows


def failed_dns(names: Sequence[str], resolvers: Sequence[Resolver], error: str,
               ) -> list[DnsResult]:
    """Every (name, resolver) answer of a DNS stage that failed: status error."""
    return [DnsResult(name, r.label, DnsStatus.ERROR, None, (), (), 0.0,
                      f"the DNS stage failed: {error}") for name in names for r in resolvers]


def judge(row: Planned, attempts: Sequence[Attempt] | None, method: str) -> TcpResult:
    """What the attempts to one address add up to, against its expectation.

    ``attempts`` is None when the TCP stage failed: the row says so
    (``error/stage-failed``) instead of guessing a state.
    """
    target = row.target
    if row.address is not None and row.unusable is not None:
        return TcpResult(target.name, target.dependency, target.host, row.address, target.port,
                         PortState.UNUSABLE, row.unusable, target.expect, False,
                         target.required, method)
    if row.address is not None and attempts is None:
        return TcpResult(target.name, target.dependency, target.host, row.address, target.port,
                         PortState.ERROR, STAGE_FAILED, target.expect, False, target.required,
                         method)
    if row.address is None:
        reason = row.unresolved.status.value if row.unresolved else "no-address"
        if row.unresolved is not None and row.unresolved.ok:
            reason = "no-ipv4-address"
        return TcpResult(target.name, target.dependency, target.host, None, target.port,
                         PortState.UNRESOLVED, reason, target.expect, False, target.required,
                         method)
    verdict = aggregate(attempts or ())
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
        attempts=tuple(attempts or ()),
        responder=verdict.responder,
        reply_ttl=verdict.reply_ttl,
    )


def exit_status(result: RoundResult) -> int:
    """0 when every required target met its expectation (so its name resolved
    on the primary resolver), 1 otherwise."""
    return 0 if all(r.ok for r in result.tcp if r.required) else 1


def judge_all(rows: Sequence[Planned], probed: Sequence[Planned],
              answers: Sequence[tuple[Attempt, ...]] | None,
              prober: TcpProber) -> tuple[TcpResult, ...]:
    """Every row judged: ``answers`` (None: the TCP stage failed) are in the
    order of ``probed``."""
    attempts_of = dict(zip(map(id, probed), answers, strict=True)) if answers is not None else {}

    def method(row: Planned) -> str:
        # A composite prober (SYN for IPv4, connect() for IPv6) says which one probed what.
        return prober.method_for(row.address) if row.address and row.unusable is None \
            else prober.method

    return tuple(judge(row, attempts_of.get(id(row), ()) if answers is not None else None,
                       method(row)) for row in rows)


async def run_round(config: Config, prober: TcpProber, resolver: NameResolver,
                    local: LocalAddresses | None = None) -> RoundResult:
    """Resolve through ``resolver``, probe with ``prober``; both are parameters
    so that a test hands in its own, and the callers wire the real ones.
    ``local``: this host's addresses (default: asked of the kernel now)."""
    started = datetime.now(UTC)
    clock = time.perf_counter()
    timeout = config.agent.timeout
    gate = asyncio.Semaphore(config.agent.concurrency)
    names = hostnames(config.targets)
    resolvers = config.dns.resolvers
    primary, others = resolvers[:1], resolvers[1:]
    failures: dict[str, StageFailure] = {}

    async def resolve(asked: Sequence[Resolver]) -> list[DnsResult]:
        try:
            return await resolver.resolve_all(names, asked, timeout, aaaa=config.dns.aaaa,
                                              limit=gate)
        except Exception as exc:  # noqa: BLE001 -- the DNS stage fails alone
            error = describe_error(exc)
            failures.setdefault("dns", StageFailure("dns", error))
            return failed_dns(names, asked, error)

    async def probe(jobs: Sequence[TcpJob]) -> list[tuple[Attempt, ...]] | None:
        try:
            return await prober.probe(jobs, timeout) if jobs else []
        except Exception as exc:  # noqa: BLE001 -- the TCP stage fails alone
            failures["tcp"] = StageFailure("tcp", describe_error(exc))
            return None

    comparison = asyncio.ensure_future(resolve(others))
    try:
        first = await resolve(primary)
        rows = plan(config.targets, first, ipv6=config.dns.aaaa,
                    local=local_addresses() if local is None else local,
                    allow=config.dns.allow_answers)
        probed = [row for row in rows if row.address is not None and row.unusable is None]
        jobs = [TcpJob(row.address, row.target.port, row.target.count)
                for row in probed if row.address is not None]
        answers = await probe(jobs)
        rest = await comparison
    finally:
        comparison.cancel()

    tcp = judge_all(rows, probed, answers, prober)
    order = {r.label: i for i, r in enumerate(resolvers)}
    position = {name: i for i, name in enumerate(names)}
    dns_results = sorted([*first, *rest], key=lambda d: (position[d.name], order[d.resolver]))
    return RoundResult(
        started=started,
        duration_seconds=time.perf_counter() - clock,
        resolvers=tuple(r.label for r in resolvers),
        dns=tuple(dns_results),
        tcp=tcp,
        method=prober.method,
        stage_failures=tuple(failures[s] for s in ("dns", "tcp") if s in failures),
    )
