"""One complete round, as `probe --once` and the daemon both run it.

    run_round       DNS side by side, TCP per address          (probe.round)
    trace           TCP traceroute of what failed or asked for it (raw sockets only)
    health          HTTPS GET of the gateway's status path, per gateway address
    diagnose        findings from all of the above               (probe.diagnosis)

Tracing is bounded: at most ``MAX_TRACES`` addresses a round, so a VNet where
everything is cut off costs one timeout more, not one per target.
"""

from __future__ import annotations

import asyncio
from dataclasses import replace

from probe.config import Config
from probe.diagnosis import context_from, diagnose
from probe.probers import TcpProber
from probe.probers.dns import DnsProber, NameResolver
from probe.probers.trace import trace_all, worth_tracing
from probe.results import HttpResult, RoundResult, TcpResult, TraceResult
from probe.round import run_round
from probe.targets import health_url

MAX_TRACES = 8


def to_trace(config: Config, results: tuple[TcpResult, ...]) -> list[TcpResult]:
    """Pure: what failed in a way a path explains, then what asked for a trace."""
    asked = {t.name for t in config.targets if t.trace}
    chosen = {(r.address, r.port): r for r in worth_tracing(results)}
    for result in results:
        if result.target in asked and result.address is not None:
            chosen.setdefault((result.address, result.port), result)
    return list(chosen.values())[:MAX_TRACES]


def gateway_addresses(results: tuple[TcpResult, ...]) -> list[str]:
    """Pure: the addresses the round found for the gateway, for the health check."""
    return list(dict.fromkeys(r.address for r in results
                              if r.dependency == "gateway" and r.address is not None))


async def _traces(config: Config, result: RoundResult, can_trace: bool,
                  ) -> tuple[TraceResult, ...]:
    chosen = to_trace(config, result.tcp) if can_trace else []
    if not chosen:
        return ()
    try:
        return await trace_all(chosen, timeout=config.agent.timeout)
    except PermissionError:
        return ()


async def _health(config: Config, result: RoundResult) -> tuple[HttpResult, ...]:
    url = health_url(config)
    addresses = gateway_addresses(result.tcp)
    # No address on the primary resolver: the gateway row already says
    # unresolved. Resolving the name through libc instead would ask another
    # DNS path than the one the round reports on.
    if url is None or config.apim is None or not addresses:
        return ()
    from probe.probers.http import check_all

    return await check_all(url, addresses, timeout=config.agent.timeout,
                           verify=config.apim.verify_tls, cafile=config.apim.ca_file)


async def complete_round(config: Config, prober: TcpProber, *, can_trace: bool,
                         resolver: NameResolver | None = None) -> RoundResult:
    """Probe, then trace and health-check side by side, then diagnose.

    DNS goes through ``resolver``, by default the real one (``DnsProber``).
    """
    resolver = resolver or DnsProber(max_addresses=config.dns.max_addresses)
    result = await run_round(config, prober, resolver)
    traces, health = await asyncio.gather(_traces(config, result, can_trace),
                                          _health(config, result))
    result = replace(result, traces=traces, health=health)
    return replace(result, findings=diagnose(result, context_from(config, traces, health)))
