"""Forced tunnelling: traffic to a dependency crossing a hop it must not cross."""

from __future__ import annotations

from collections.abc import Iterable

from probe.addresses import matching_prefix
from probe.diagnosis.context import DEFAULT_CONTEXT, Context
from probe.diagnosis.evidence import describe_tcp, subject, where
from probe.diagnosis.outbound import AZURE_DEPENDENCIES
from probe.findings import finding
from probe.results import Finding, RoundResult, Severity, TraceResult, describe_hop


def _severity(dependency: str) -> Severity:
    # Azure's own traffic through an appliance breaks APIM; a backend's may be intended.
    return Severity.CRITICAL if dependency in AZURE_DEPENDENCIES else Severity.WARNING


def forbidden_path(round_: RoundResult, context: Context = DEFAULT_CONTEXT,
                   ) -> Iterable[Finding]:
    """Traffic to a dependency crossing an address it must not cross.

    Evidence is a path trace with a hop in ``forbidden_hops``, or an ICMP
    answer sent by such a device (it can only answer if it is in the path).
    """
    if not context.forbidden_hops:
        return
    reported: set[tuple[str, int]] = set()
    for trace in context.traces:
        found = _trace_finding(trace, context.forbidden_hops)
        if found is not None:
            reported.add((trace.address, trace.port))
            yield found
    for result in round_.tcp:
        if not result.responder or result.responder == result.address:
            continue
        if (result.address or "", result.port) in reported:
            continue  # the trace already tells this story, hop by hop
        held = matching_prefix(result.responder, context.forbidden_hops)
        if held is None:
            continue
        yield finding(
            id="path-forbidden-hop",
            severity=_severity(result.dependency),
            subject=subject(result),
            summary=(f"{result.responder} (forbidden: {held}) answered for "
                     f"{result.dependency} {where(result)}: it sits in the path"),
            evidence=(describe_tcp(result),),
        )


def _trace_finding(trace: TraceResult, forbidden: tuple[str, ...]) -> Finding | None:
    """The first forbidden hop of a trace, if it crosses one."""
    # The destination itself is not a hop "passed through".
    crossed = [(h, p) for h in trace.hops if h.address and h.address != trace.address
               for p in [matching_prefix(h.address, forbidden)] if p]
    if not crossed:
        return None
    hop, prefix = crossed[0]
    return finding(
        id="path-forbidden-hop",
        severity=_severity(trace.dependency),
        subject=f"{trace.target} {trace.address}:{trace.port}",
        summary=(f"traffic to {trace.dependency} {trace.address}:{trace.port} passes "
                 f"{hop.address} (hop {hop.ttl}, forbidden: {prefix}): forced tunnelling "
                 "through a virtual appliance or gateway"),
        evidence=tuple(f"trace {describe_hop(h)}" for h in trace.hops),
    )
