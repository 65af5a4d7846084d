"""Outbound dependencies: dropped, rejected (by the path or the host), refused."""

from __future__ import annotations

from collections.abc import Iterable

from probe.apimmodel import SERVICE_TAGS
from probe.diagnosis.context import DEFAULT_CONTEXT, Context
from probe.diagnosis.evidence import DnsAnswers, subject, where
from probe.findings import finding
from probe.results import Finding, PortState, RoundResult, Severity, TcpResult

# APIM's own endpoints and Azure's services: a reset from them is not a
# backend refusing, it is an Azure-side or in-path reject.
AZURE_DEPENDENCIES = frozenset({*SERVICE_TAGS, "management", "configuration", "gateway",
                                "portal", "scm"})

# Handled by their own rules (the message and the remedy differ).
OWN_RULES = frozenset({"management", "configuration"})

# ICMP unreachable reasons (nmap vocabulary) that a router or the host sends.
_ICMP_REJECTS = frozenset({"admin-prohibited", "net-prohibited", "host-prohibited",
                           "host-unreach", "net-unreach", "port-unreach", "proto-unreach",
                           "dest-unreach", "time-exceeded"})
_LOCAL_BLOCKS = frozenset({"local-prohibited", "no-route"})
_REFUSALS = frozenset({"reset", "conn-refused"})


def _tag_advice(dependency: str, port: int) -> str:
    tag = SERVICE_TAGS.get(dependency)
    if dependency in ("gateway", "portal", "scm"):
        # APIM's own endpoints: the rule that matters is inbound on the APIM subnet.
        return (f"an inbound NSG rule on the APIM subnet allowing TCP {port} from this network "
                "(VirtualNetwork; Internet in external mode)")
    if tag is None:
        return f"an outbound NSG rule to this address on port {port}"
    return (f"an outbound NSG rule from VirtualNetwork to service tag {tag[0]} on port(s) "
            f"{tag[1]}")


def _severity(result: TcpResult) -> Severity:
    return Severity.CRITICAL if result.required else Severity.WARNING


def _failed(result: TcpResult) -> bool:
    """Expected to connect and did not (a probe that answered as expected is fine)."""
    return not result.ok and result.expected is PortState.OPEN and result.address is not None


def outbound_blocked(round_: RoundResult, context: Context = DEFAULT_CONTEXT,
                     ) -> Iterable[Finding]:
    """A dependency dropped (silence) or rejected (ICMP: by the host or the path)."""
    del context  # the same for every mode
    answers = DnsAnswers(round_)
    for result in round_.tcp:
        if result.dependency in OWN_RULES or not _failed(result):
            continue
        if result.state is not PortState.FILTERED:
            continue
        blocked = _blocked(result, answers.tcp_evidence(result))
        if blocked is not None:
            yield blocked


def _blocked(result: TcpResult, evidence: tuple[str, ...]) -> Finding | None:
    """The finding for a filtered address, by the reason it is filtered."""
    what = f"{result.dependency} {where(result)}"
    advice = _tag_advice(result.dependency, result.port)
    remedy: dict[str, str] = {}  # the remedy template's fields
    if result.reason == "no-response":
        kind, remedy = "outbound-dropped", {"advice": advice}
        summary = (f"{what} is silently dropped: no answer to any probe (an NSG deny rule, "
                   "a firewall, or a route to nowhere)")
    elif result.reason in _ICMP_REJECTS and result.responder in (None, result.address):
        kind = "outbound-rejected-host"
        summary = (f"{what} is rejected by the target host itself ({result.reason}): "
                   "the path is open, the host refuses this port")
    elif result.reason in _ICMP_REJECTS:
        kind, remedy = "outbound-rejected-path", {"advice": advice,
                                                  "responder": str(result.responder)}
        summary = (f"{what} is rejected by {result.responder}, a device in the path "
                   f"({result.reason}), before reaching the target")
    elif result.reason in _LOCAL_BLOCKS:
        kind = "outbound-blocked-locally"
        summary = (f"{what} is blocked on the probing host itself ({result.reason}): its "
                   "firewall or routing table refuses")
    else:
        return None
    return finding(id=kind, severity=_severity(result), subject=subject(result),
                   summary=summary, evidence=evidence, **remedy)


def refused(round_: RoundResult, context: Context = DEFAULT_CONTEXT) -> Iterable[Finding]:
    """A reset: a backend not listening (the gateway's transportErrorCode 111),
    or an Azure dependency answering with RST."""
    del context
    answers = DnsAnswers(round_)
    for result in round_.tcp:
        if result.dependency in OWN_RULES or not _failed(result):
            continue
        if result.state is not PortState.CLOSED or result.reason not in _REFUSALS:
            continue
        evidence = answers.tcp_evidence(result)
        in_path = result.responder is not None and result.responder != result.address
        who = f"{result.responder} (in the path)" if in_path else "the host"
        if result.dependency in AZURE_DEPENDENCIES:
            yield finding(
                id="outbound-refused",
                severity=Severity.WARNING,
                subject=subject(result),
                summary=(f"{result.dependency} {where(result)} answers with a reset from "
                         f"{who}: the port is not served at this address"),
                evidence=evidence,
            )
            continue
        yield finding(
            id="backend-refused",
            severity=_severity(result),
            subject=subject(result),
            summary=(f"backend {where(result)} refuses connections (reset from {who}): "
                     "APIM reports this as 'transportErrorCode 111' / connection refused"),
            evidence=evidence,
        )
