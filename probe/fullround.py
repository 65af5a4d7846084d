"""One complete round, as `probe --once` and the daemon both run it.

    run_round       DNS side by side, TCP per address          (probe.round)
    trace           TCP traceroute of what failed or asked for it (raw sockets only)
    health          HTTPS GET of the gateway's status path, per gateway address
    host            where the probes leave from (probe.hostinfo)
    diagnose        findings from all of the above               (probe.diagnosis)

Each stage fails alone (issue 16): an exception in one becomes a
``StageFailure`` on the result and leaves that stage's part empty (no
traces, no health checks, no host context, no findings of the rule that
failed); the rest of the round is reported as usual. DNS and TCP are isolated
inside ``run_round``; the report or exposition made from the result (the
``export`` stage) is isolated by its callers.

Tracing is bounded: at most ``MAX_TRACES`` addresses a round, so a VNet where
everything is cut off costs one timeout more, not one per target.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Awaitable, Callable
from dataclasses import replace
from typing import TypeVar

from probe import hostinfo
from probe.azure.facts import Facts
from probe.config import Config
from probe.diagnosis import Rule, context_from, diagnose
from probe.errors import InputError, describe_error
from probe.localnames import pinned, read_hosts
from probe.probers import TcpProber
from probe.probers.dns import DnsProber, NameResolver
from probe.probers.trace import trace_all, worth_tracing
from probe.results import (
    STAGES,
    AzureContext,
    HostInfo,
    HttpResult,
    RoundResult,
    StageFailure,
    TcpResult,
    TraceResult,
)
from probe.round import run_round
from probe.targets import health_url

MAX_TRACES = 8
T = TypeVar("T")


def to_trace(config: Config, results: tuple[TcpResult, ...]) -> list[TcpResult]:
    """Pure: what failed in a way a path explains, then what asked for a trace."""
    asked = {t.name for t in config.targets if t.trace}
    chosen = {(r.address, r.port): r for r in worth_tracing(results)}
    for result in results:
        if result.target in asked and result.address is not None and result.probed:
            chosen.setdefault((result.address, result.port), result)
    return list(chosen.values())[:MAX_TRACES]


def gateway_addresses(results: tuple[TcpResult, ...]) -> list[str]:
    """Pure: the addresses the round found for the gateway, for the health check."""
    return list(dict.fromkeys(r.address for r in results
                              if r.dependency == "gateway" and r.address is not None
                              and r.probed))


async def _traces(config: Config, result: RoundResult, can_trace: bool,
                  ) -> tuple[TraceResult, ...]:
    chosen = to_trace(config, result.tcp) if can_trace else []
    if not chosen:
        return ()
    return await trace_all(chosen, timeout=config.agent.timeout)


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


def _gather(result: RoundResult, hosts_file: str) -> HostInfo:
    """The host context, and the round's names this host's hosts file pins
    (none when it cannot be read: the pins are context, not a probe)."""
    info = hostinfo.gather(result.tcp)
    try:
        hosts = read_hosts(hosts_file)
    except InputError:
        return info
    return replace(info, pinned=pinned([d.name for d in result.dns], hosts))


async def _host(result: RoundResult, hosts_file: str) -> HostInfo:
    return await asyncio.to_thread(_gather, result, hosts_file)


class _Stages:
    """The failures of one round's stages, the first one of each stage."""

    def __init__(self, first: tuple[StageFailure, ...]) -> None:
        self.failures = {f.stage: f for f in first}

    def failed(self, stage: str, exc: BaseException) -> None:
        self.failures.setdefault(stage, StageFailure(stage, describe_error(exc)))

    async def run(self, stage: str, work: Awaitable[T], empty: T) -> T:
        try:
            return await work
        except Exception as exc:  # noqa: BLE001 -- a stage fails alone (issue 16)
            self.failed(stage, exc)
            return empty

    def rule_failed(self, rule: Rule, exc: Exception) -> None:
        name = getattr(rule, "__name__", repr(rule))
        self.failures.setdefault("diagnosis", StageFailure(
            "diagnosis", f"rule {name}: {describe_error(exc)}"))


async def complete_round(config: Config, prober: TcpProber, *, can_trace: bool,
                         resolver: NameResolver | None = None,
                         host: Callable[[RoundResult], Awaitable[HostInfo]] | None = None,
                         azure: tuple[Facts | None, AzureContext] | None = None,
                         ) -> RoundResult:
    """Probe, then trace and health-check side by side, then the host context
    (after them: their own connections must not count), then diagnose.

    DNS goes through ``resolver``, by default the real one (``DnsProber``);
    ``host`` gathers the host context (a test passes its own; by default
    psutil's view and the hosts file of ``[dns] hosts_file``). ``azure``: the
    live facts and the summary of the Azure context (probe.azure.apply), carried
    on the result with APIM's own view (``apim_view``).
    """
    host = host or functools.partial(_host, hosts_file=config.dns.hosts_file)
    resolver = resolver or DnsProber(max_addresses=config.dns.max_addresses,
                                     hosts_file=config.dns.hosts_file)
    result = await run_round(config, prober, resolver)
    stages = _Stages(result.stage_failures)
    traces, health = await asyncio.gather(
        stages.run("trace", _traces(config, result, can_trace), ()),
        stages.run("health", _health(config, result), ()))
    result = replace(result, traces=traces, health=health)
    result = replace(result, host=await stages.run("host", host(result), None))
    facts, summary = azure if azure is not None else (None, None)
    result = replace(result, azure=summary,
                     apim_view=config.apim.reports if config.apim is not None else ())
    context = context_from(config, traces, health, facts,
                           summary.age_seconds if summary is not None else None)
    findings = diagnose(result, context, on_error=stages.rule_failed)
    failures = tuple(stages.failures[s] for s in STAGES if s in stages.failures)
    return replace(result, findings=findings, stage_failures=failures)

