"""Diagnosis: turn a round's raw answers into findings, in APIM terms.

Every rule is a pure function of the round and a small ``Context`` (what the
round alone cannot say: the instance's mode and address, the reference
resolvers, the hops traffic must not cross, path traces). No sockets, no
clock: each rule can be tested exhaustively with hand-built rounds.

Finding ids (severity):
    dns-custom-not-forwarding   critical when the primary resolver fails, else warning
    dns-resolver-fails          critical when the primary resolver fails, else warning
    dns-answers-differ          warning
    outbound-dropped            critical (required target) / warning
    outbound-rejected-path      critical / warning: ICMP from a device in the path
    outbound-rejected-host      critical / warning: ICMP from the target itself
    outbound-blocked-locally    critical / warning: this host's own firewall or routes
    outbound-refused            warning: an Azure dependency answered with a reset
    backend-refused             critical / warning: "transportErrorCode 111"
    management-unresolved       critical
    management-unreachable      critical
    apim-address-public         critical: an APIM name is public in internal mode
    apim-address-mismatch       critical: an APIM name is not the instance's address
    configuration-unreachable   critical: self-hosted gateway cut off from Azure
    path-forbidden-hop          critical / warning: traffic crosses a forbidden hop
    gateway-unhealthy           critical: GET /status-0123456789abcdef failed
    gateway-certificate-untrusted  warning: the gateway's certificate is not trusted here
    apim-view-*                 APIM's own networkstatus beside the round (probe.apim_view)
"""

from __future__ import annotations

import ipaddress
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from probe.apim import AZURE_DNS
from probe.apim_view import apim_view
from probe.probers.trace import describe_hop, in_prefixes
from probe.results import (
    ApimCheck,
    DnsResult,
    Finding,
    HttpResult,
    PortState,
    RoundResult,
    Severity,
    TcpResult,
    TraceResult,
)

if TYPE_CHECKING:
    from probe.config import Config


MODES = ("internal", "external")


@dataclass(frozen=True, slots=True)
class Context:
    """What the rules need beyond the round; the defaults suit a bare round.

    ``mode``: "internal", "external" or None (unknown: no mode-specific rule).
    ``instance_addresses``: the addresses APIM's own names must resolve to.
    ``reference_resolvers``: resolvers taken as Azure DNS (answers there and
    failure elsewhere means a custom DNS server does not forward).
    ``forbidden_hops``: addresses or CIDR prefixes traffic to Azure must not
    cross (a firewall, an on-premises gateway).
    ``traces``: path traces taken alongside the round.
    ``health``: gateway health checks (GET /status-0123456789abcdef) of the round.
    """

    mode: str | None = None
    instance: str | None = None
    instance_addresses: tuple[str, ...] = ()
    reference_resolvers: tuple[str, ...] = (AZURE_DNS,)
    forbidden_hops: tuple[str, ...] = ()
    traces: tuple[TraceResult, ...] = ()
    health: tuple[HttpResult, ...] = ()
    reports: tuple[ApimCheck, ...] = ()  # APIM's own networkstatus checks (probe.apim_view)


DEFAULT_CONTEXT = Context()

Rule = Callable[[RoundResult, Context], Iterable[Finding]]


# --------------------------------------------------------------------------
# evidence helpers


def describe_dns(result: DnsResult) -> str:
    """One line of evidence for a DNS answer."""
    timing = f"{result.duration_seconds * 1000:.1f} ms"
    if result.ok:
        return f"{result.resolver}: {', '.join(result.addresses)} ({timing})"
    rcode = f" ({result.rcode})" if result.rcode and result.rcode != "NOERROR" else ""
    detail = f": {result.detail}" if result.detail else ""
    return f"{result.resolver}: {result.status.value}{rcode}{detail} ({timing})"


def by_name(results: Sequence[DnsResult]) -> dict[str, list[DnsResult]]:
    grouped: dict[str, list[DnsResult]] = defaultdict(list)
    for result in results:
        grouped[result.name].append(result)
    return grouped


def _where(result: TcpResult) -> str:
    address = result.address or result.host
    host = f"[{address}]" if ":" in address else address
    return f"{host}:{result.port}"


def describe_tcp(result: TcpResult) -> str:
    """One line of evidence for a probed address: what, how, what answered, who."""
    name = f"{result.target} ({result.host} -> {_where(result)})" if result.address else \
        f"{result.target} ({_where(result)})"
    line = f"{name}: {result.state.value}/{result.reason} by {result.method}"
    if result.attempts:
        line += f", {result.received}/{result.sent} attempts answered"
    if result.responder:
        if result.address and result.responder != result.address:
            line += f", answered by {result.responder} (in the path, not the target)"
        else:
            line += f", answered by {result.responder} (the target itself)"
    return line


def _primary_dns(round_: RoundResult, host: str) -> DnsResult | None:
    primary = round_.resolvers[0] if round_.resolvers else None
    name = host.rstrip(".").lower()
    return next((d for d in round_.dns if d.name == name and d.resolver == primary), None)


def _dns_evidence(round_: RoundResult, host: str) -> tuple[str, ...]:
    name = host.rstrip(".").lower()
    return tuple(f"DNS {name} via {describe_dns(d)}" for d in round_.dns if d.name == name)


def _subject(result: TcpResult) -> str:
    return f"{result.target} {result.host}:{result.port}"


# --------------------------------------------------------------------------
# DNS


def _forwarding_remedy(failing: str) -> str:
    return (
        f"The VNet's DNS server {failing} does not resolve this Azure name while Azure DNS "
        f"does: it does not forward. Add a conditional forwarder for the zone (azure-api.net, "
        f"core.windows.net, database.windows.net, vault.azure.net, the privatelink zones) or a "
        f"default forwarder to Azure DNS {AZURE_DNS} (reachable only from inside Azure) or to "
        "an Azure DNS Private Resolver inbound endpoint. APIM resolves every dependency "
        "through the VNet's DNS, so a name it cannot resolve is a dependency it cannot reach."
    )


def dns_disagreement(round_: RoundResult, context: Context = DEFAULT_CONTEXT,
                     ) -> Iterable[Finding]:
    """Resolvers that fail where another answers, or answer differently.

    When the one that answers is a reference resolver (Azure DNS) and the one
    that fails is not, the story is a custom DNS server without a forwarder
    (dns-custom-not-forwarding); otherwise the generic dns-resolver-fails.
    """
    primary = round_.resolvers[0] if round_.resolvers else None
    references = set(context.reference_resolvers)
    for name, answers in by_name(round_.dns).items():
        if len(answers) < 2:
            continue
        good = [a for a in answers if a.ok]
        bad = [a for a in answers if not a.ok]
        evidence = tuple(describe_dns(a) for a in answers)
        if good and bad:
            primary_fails = any(a.resolver == primary for a in bad)
            severity = Severity.CRITICAL if primary_fails else Severity.WARNING
            failing = ", ".join(f"{a.resolver} ({a.status.value})" for a in bad)
            answering = ", ".join(a.resolver for a in good)
            custom = [a for a in bad if a.resolver not in references]
            if custom and any(a.resolver in references for a in good):
                yield Finding(
                    id="dns-custom-not-forwarding",
                    severity=severity,
                    subject=name,
                    summary=(f"{name} fails on custom DNS {failing} but Azure DNS "
                             f"({answering}) resolves it: no forwarder to Azure DNS"),
                    evidence=evidence,
                    remedy=_forwarding_remedy(", ".join(a.resolver for a in custom)),
                )
            else:
                yield Finding(
                    id="dns-resolver-fails",
                    severity=severity,
                    subject=name,
                    summary=f"{name} fails on {failing} but resolves on {answering}",
                    evidence=evidence,
                    remedy=(
                        "The failing DNS server does not resolve this name while another one "
                        "does. If it is the VNet's custom DNS server, add a conditional "
                        f"forwarder for the zone (or a default forwarder) to Azure DNS "
                        f"{AZURE_DNS} or an Azure DNS Private Resolver; APIM uses the VNet's DNS "
                        "for every dependency, so a name it cannot resolve is a dependency it "
                        "cannot reach."
                    ),
                )
        if len(good) > 1 and len({frozenset(a.addresses) for a in good}) > 1:
            yield Finding(
                id="dns-answers-differ",
                severity=Severity.WARNING,
                subject=name,
                summary=f"{name} resolves to different addresses on different resolvers",
                evidence=evidence,
                remedy=(
                    "Resolvers disagree on this name: a stale A record or a private DNS zone "
                    "linked to one resolver's network only. Traffic follows the primary "
                    "resolver's answer; make the records agree (in internal mode APIM names must "
                    "resolve to the instance's private address)."
                ),
            )


# --------------------------------------------------------------------------
# outbound dependencies: dropped, rejected, refused

# Dependency group -> (NSG destination service tag, documented ports).
SERVICE_TAGS: dict[str, tuple[str, str]] = {
    "storage": ("Storage", "443"),
    "sql": ("Sql", "1433"),
    "keyvault": ("AzureKeyVault", "443"),
    "monitor": ("AzureMonitor", "1886, 443"),
    "eventhub": ("EventHub", "5671, 5672, 443"),
    "entra": ("AzureActiveDirectory", "443"),
    "cache": ("VirtualNetwork", "6380, 6381-6383"),
    "dns": ("the DNS server's address", "53"),
}

# APIM's own endpoints and Azure's services: a reset from them is not a
# backend refusing, it is an Azure-side or in-path reject.
AZURE_DEPENDENCIES = frozenset({*SERVICE_TAGS, "management", "configuration", "gateway",
                                "portal", "scm"})

# Handled by their own rules (the message and the remedy differ).
_OWN_RULES = frozenset({"management", "configuration"})

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
    for result in round_.tcp:
        if result.dependency in _OWN_RULES or not _failed(result):
            continue
        if result.state is not PortState.FILTERED:
            continue
        evidence = (describe_tcp(result), *_dns_evidence(round_, result.host))
        advice = _tag_advice(result.dependency, result.port)
        if result.reason == "no-response":
            yield Finding(
                id="outbound-dropped",
                severity=_severity(result),
                subject=_subject(result),
                summary=(f"{result.dependency} {_where(result)} is silently dropped: no answer "
                         "to any probe (an NSG deny rule, a firewall, or a route to nowhere)"),
                evidence=evidence,
                remedy=(f"Add {advice} above any deny (DenyAllOutBound is 65500), and check that "
                        "no user-defined route sends this traffic to a virtual appliance that "
                        "drops it (Network Watcher 'connection troubleshoot': "
                        "NetworkSecurityRule / UserDefinedRoute)."),
            )
        elif result.reason in _ICMP_REJECTS:
            by_host = result.responder is None or result.responder == result.address
            if by_host:
                yield Finding(
                    id="outbound-rejected-host",
                    severity=_severity(result),
                    subject=_subject(result),
                    summary=(f"{result.dependency} {_where(result)} is rejected by the target "
                             f"host itself ({result.reason}): the path is open, the host "
                             "refuses this port"),
                    evidence=evidence,
                    remedy=("The packet reached the destination and its own firewall answered: "
                            "allow the APIM subnet on the destination (service firewall, "
                            "'Selected networks' / service endpoint for the subnet, the host's "
                            "firewall) or check the port is the documented one."),
                )
            else:
                yield Finding(
                    id="outbound-rejected-path",
                    severity=_severity(result),
                    subject=_subject(result),
                    summary=(f"{result.dependency} {_where(result)} is rejected by "
                             f"{result.responder}, a device in the path ({result.reason}), "
                             "before reaching the target"),
                    evidence=evidence,
                    remedy=(f"{result.responder} (a firewall, virtual appliance or router) "
                            f"rejects this traffic: allow it there, or add {advice} and a "
                            "route whose next hop is not that device (for Azure services: "
                            "service tag route with next hop Internet, or a service endpoint)."),
                )
        elif result.reason in _LOCAL_BLOCKS:
            yield Finding(
                id="outbound-blocked-locally",
                severity=_severity(result),
                subject=_subject(result),
                summary=(f"{result.dependency} {_where(result)} is blocked on the probing host "
                         f"itself ({result.reason}): its firewall or routing table refuses"),
                evidence=evidence,
                remedy=("No packet left this machine: check its local firewall (iptables/nft "
                        "OUTPUT) and routes; this says nothing yet about the VNet's NSG."),
            )


def refused(round_: RoundResult, context: Context = DEFAULT_CONTEXT) -> Iterable[Finding]:
    """A reset: a backend not listening (the gateway's transportErrorCode 111),
    or an Azure dependency answering with RST."""
    del context
    for result in round_.tcp:
        if result.dependency in _OWN_RULES or not _failed(result):
            continue
        if result.state is not PortState.CLOSED or result.reason not in _REFUSALS:
            continue
        evidence = (describe_tcp(result), *_dns_evidence(round_, result.host))
        in_path = result.responder is not None and result.responder != result.address
        who = f"{result.responder} (in the path)" if in_path else "the host"
        if result.dependency in AZURE_DEPENDENCIES:
            yield Finding(
                id="outbound-refused",
                severity=Severity.WARNING,
                subject=_subject(result),
                summary=(f"{result.dependency} {_where(result)} answers with a reset from "
                         f"{who}: the port is not served at this address"),
                evidence=evidence,
                remedy=("An Azure endpoint should accept this port: check that the name "
                        "resolves to the right address (a stale private endpoint record?) and "
                        "that no firewall in the path resets the connection."),
            )
            continue
        yield Finding(
            id="backend-refused",
            severity=_severity(result),
            subject=_subject(result),
            summary=(f"backend {_where(result)} refuses connections (reset from {who}): "
                     "APIM reports this as 'transportErrorCode 111' / connection refused"),
            evidence=evidence,
            remedy=("Nothing listens on this address and port (or a firewall resets): start "
                    "the service or fix the backend URL's port in APIM; the NSG is not the "
                    "cause, the packet got an answer."),
        )


# --------------------------------------------------------------------------
# management endpoint and APIM's own names

_APIM_OWN = frozenset({"management", "gateway", "portal", "scm"})


def _is_public(address: str) -> bool:
    return ipaddress.ip_address(address).is_global


def management(round_: RoundResult, context: Context = DEFAULT_CONTEXT) -> Iterable[Finding]:
    """Management endpoint (3443) unresolved or unreachable."""
    del context
    for result in round_.tcp:
        if result.dependency != "management" or result.ok:
            continue
        evidence = (describe_tcp(result), *_dns_evidence(round_, result.host))
        if result.state is PortState.UNRESOLVED:
            yield Finding(
                id="management-unresolved",
                severity=Severity.CRITICAL,
                subject=_subject(result),
                summary=(f"management endpoint {result.host} does not resolve on the primary "
                         f"resolver ({result.reason}): the portal shows 'APIs keep loading'"),
                evidence=evidence,
                remedy=("Create the record: in internal mode an A record for "
                        "<name>.management.azure-api.net pointing at the instance's private "
                        "address, in a private DNS zone linked to the VNet or on the custom DNS "
                        "server; in external mode forward azure-api.net to Azure DNS."),
            )
            continue
        if result.expected is not PortState.OPEN:
            continue
        yield Finding(
            id="management-unreachable",
            severity=Severity.CRITICAL,
            subject=_subject(result),
            summary=(f"management endpoint {_where(result)} is {result.state.value} "
                     f"({result.reason}): 'Failed to connect to Management endpoint', the APIs "
                     "blade keeps loading"),
            evidence=evidence,
            remedy=("Allow inbound TCP 3443 from service tag ApiManagement to VirtualNetwork "
                    "in the APIM subnet's NSG, and add a user-defined route for service tag "
                    "ApiManagement with next hop Internet when a 0.0.0.0/0 route sends traffic "
                    "to a firewall (its replies are otherwise dropped: asymmetric routing)."),
        )


def apim_addresses(round_: RoundResult, context: Context = DEFAULT_CONTEXT,
                   ) -> Iterable[Finding]:
    """APIM's own names resolving to the wrong kind of address for the mode."""
    seen: set[str] = set()
    expected = set(context.instance_addresses)
    for result in round_.tcp:
        if result.dependency not in _APIM_OWN or result.host in seen:
            continue
        answer = _primary_dns(round_, result.host)
        if answer is None or not answer.ok:
            continue
        seen.add(result.host)
        evidence = (f"DNS {answer.name} via {describe_dns(answer)}",)
        public = [a for a in answer.addresses if _is_public(a)]
        if context.mode == "internal" and public:
            yield Finding(
                id="apim-address-public",
                severity=Severity.CRITICAL,
                subject=answer.name,
                summary=(f"{answer.name} ({result.dependency}) resolves to public "
                         f"{', '.join(public)} in internal mode: traffic leaves the VNet"),
                evidence=evidence,
                remedy=("In internal mode APIM's names must resolve to the instance's private "
                        "VIP: create a private DNS zone azure-api.net (A records for the "
                        "gateway, portal, management and scm names) linked to the VNet, or the "
                        "same records on the custom DNS server."),
            )
        elif expected and not set(answer.addresses) <= expected:
            wrong = sorted(set(answer.addresses) - expected)
            yield Finding(
                id="apim-address-mismatch",
                severity=Severity.CRITICAL,
                subject=answer.name,
                summary=(f"{answer.name} ({result.dependency}) resolves to {', '.join(wrong)}, "
                         f"not the instance's address {', '.join(sorted(expected))}"),
                evidence=evidence,
                remedy=("A stale or hand-written record: point the A record at the instance's "
                        "address (portal: the API Management instance's Overview, private or "
                        "public VIP) in the private DNS zone or on the custom DNS server."),
            )


# --------------------------------------------------------------------------
# self-hosted gateway


def configuration(round_: RoundResult, context: Context = DEFAULT_CONTEXT,
                  ) -> Iterable[Finding]:
    """A self-hosted gateway cut off from its configuration endpoint."""
    del context
    for result in round_.tcp:
        if result.dependency != "configuration" or result.ok:
            continue
        if result.state is not PortState.UNRESOLVED and result.expected is not PortState.OPEN:
            continue
        evidence = (describe_tcp(result), *_dns_evidence(round_, result.host))
        yield Finding(
            id="configuration-unreachable",
            severity=Severity.CRITICAL,
            subject=_subject(result),
            summary=(f"self-hosted gateway configuration endpoint {_where(result)} is "
                     f"{result.state.value} ({result.reason}): the gateway runs on its last "
                     "cached configuration and stops receiving changes"),
            evidence=evidence,
            remedy=("Allow outbound HTTPS 443 from the gateway to "
                    "<name>.configuration.azure-api.net (and <name>.management.azure-api.net "
                    "for v1 tokens) through the firewall or proxy, make the name resolvable, "
                    "and check the gateway token has not expired."),
        )


# --------------------------------------------------------------------------
# forced tunnelling / asymmetric routing


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
        # The destination itself is not a hop "passed through".
        crossed = [(h, p) for h in trace.hops if h.address and h.address != trace.address
                   for p in [in_prefixes(h.address, context.forbidden_hops)] if p]
        if not crossed:
            continue
        hop, prefix = crossed[0]
        reported.add((trace.address, trace.port))
        control = trace.dependency in AZURE_DEPENDENCIES
        yield Finding(
            id="path-forbidden-hop",
            severity=Severity.CRITICAL if control else Severity.WARNING,
            subject=f"{trace.target} {trace.address}:{trace.port}",
            summary=(f"traffic to {trace.dependency} {trace.address}:{trace.port} passes "
                     f"{hop.address} (hop {hop.ttl}, forbidden: {prefix}): forced tunnelling "
                     "through a virtual appliance or gateway"),
            evidence=tuple(f"trace {describe_hop(h)}" for h in trace.hops),
            remedy=_tunnel_remedy(),
        )
    for result in round_.tcp:
        if not result.responder or result.responder == result.address:
            continue
        if (result.address or "", result.port) in reported:
            continue  # the trace already tells this story, hop by hop
        held = in_prefixes(result.responder, context.forbidden_hops)
        if held is None:
            continue
        yield Finding(
            id="path-forbidden-hop",
            severity=Severity.CRITICAL if result.dependency in AZURE_DEPENDENCIES
            else Severity.WARNING,
            subject=_subject(result),
            summary=(f"{result.responder} (forbidden: {held}) answered for "
                     f"{result.dependency} {_where(result)}: it sits in the path"),
            evidence=(describe_tcp(result),),
            remedy=_tunnel_remedy(),
        )


def _tunnel_remedy() -> str:
    return ("A 0.0.0.0/0 route (yours, BGP from an on-premises gateway, or from a peered VNet) "
            "sends APIM's traffic to a virtual appliance or gateway, and a stateful firewall "
            "drops the replies of management traffic that arrived directly. In the APIM "
            "subnet's route table add a route for service tag ApiManagement with next hop "
            "Internet, service tag routes or service endpoints for Storage, Sql, AzureKeyVault "
            "and AzureMonitor, or allow this traffic on the appliance.")


# --------------------------------------------------------------------------
# gateway health endpoint


def gateway_health(round_: RoundResult, context: Context = DEFAULT_CONTEXT,
                   ) -> Iterable[Finding]:
    """The gateway's own health check: TCP 443 open is not the gateway serving."""
    del round_
    for check in context.health:
        if check.ok:
            continue
        via = f" via {check.address}" if check.address else ""
        evidence = (f"GET {check.url}{via}: {check.reason} after "
                    f"{check.duration_seconds * 1000:.0f} ms"
                    + (f" ({check.tls})" if check.tls else ""),)
        if check.reason.startswith("certificate:"):
            yield Finding(
                id="gateway-certificate-untrusted",
                severity=Severity.WARNING,
                subject=check.url,
                summary=(f"the gateway's certificate is not trusted from here{via} "
                         f"({check.reason.removeprefix('certificate: ')})"),
                evidence=evidence,
                remedy=("Clients in the VNet will refuse it too: give the custom domain a "
                        "certificate with its full chain (Key Vault certificate), install the "
                        "private CA on the clients, or set [apim] verify_tls = false if this "
                        "host is not meant to trust it."),
            )
            continue
        yield Finding(
            id="gateway-unhealthy",
            severity=Severity.CRITICAL,
            subject=check.url,
            summary=f"gateway health check failed{via}: {check.reason}",
            evidence=evidence,
            remedy=("The gateway does not serve /status-0123456789abcdef: if TCP 443 is open, "
                    "the instance is unhealthy (check the Azure portal's Network status and "
                    "Resource health, Storage and SQL reachability); if it is not, see the TCP "
                    "findings for the gateway."),
        )


RULES: tuple[Rule, ...] = (dns_disagreement, outbound_blocked, refused, management,
                           apim_addresses, configuration, forbidden_path, gateway_health,
                           apim_view)

_SEVERITY_ORDER = {Severity.CRITICAL: 0, Severity.WARNING: 1, Severity.INFO: 2}


def diagnose(round_: RoundResult, context: Context | None = None,
             rules: Sequence[Rule] = RULES) -> tuple[Finding, ...]:
    """Every rule's findings, most severe first; no context means a bare round."""
    ctx = context if context is not None else DEFAULT_CONTEXT
    findings = [f for rule in rules for f in rule(round_, ctx)]
    return tuple(sorted(findings, key=lambda f: (_SEVERITY_ORDER[f.severity], f.id, f.subject)))


def context_from(config: Config, traces: Sequence[TraceResult] = (),
                 health: Sequence[HttpResult] = ()) -> Context:
    """The context a config implies (mode, addresses, references, forbidden hops),
    with the traces and health checks taken alongside the round."""
    apim = config.apim
    if apim is None:
        return Context(traces=tuple(traces), health=tuple(health))
    return Context(mode=apim.mode, instance=apim.name,
                   instance_addresses=apim.instance_addresses,
                   reference_resolvers=apim.azure_dns, forbidden_hops=apim.forbidden_hops,
                   traces=tuple(traces), health=tuple(health), reports=apim.reports)
