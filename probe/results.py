"""Result types shared by the probers, the round, the diagnosis and the exporters.

Every prober returns data, never a bare boolean: the reason for a failure is
the product (blackbox_exporter's probes return true/false and the why goes to
a log nobody scrapes).

    DnsResult   one (name, resolver) question and its answer
    Attempt     one TCP probe packet (or connect()) and what came back
    TcpJob      what a TCP prober is asked to do: count attempts to address:port
    TcpResult   the attempts to one target address, aggregated
    TraceResult the hops of a TCP traceroute towards one address:port
    HttpResult  one HTTP(S) health check (the gateway's status path)
    Finding     a diagnosis: what is wrong, the evidence and the remedy
    HostInfo    where the probes leave from (routes, interfaces, connections)
    StageFailure one stage of a round that failed (the rest of the round stands)
    RoundResult everything one round produced
    ApimCheck   one check APIM ran itself, read from a saved networkstatus
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime


class DnsStatus(enum.StrEnum):
    OK = "ok"
    NXDOMAIN = "nxdomain"
    NODATA = "nodata"
    SERVFAIL = "servfail"
    REFUSED = "refused"
    TIMEOUT = "timeout"
    ERROR = "error"


class PortState(enum.StrEnum):
    OPEN = "open"
    CLOSED = "closed"
    FILTERED = "filtered"
    UNRESOLVED = "unresolved"
    ERROR = "error"  # the TCP stage of the round failed: nothing is known about the port
    # DNS answered an address that cannot be the dependency (0.0.0.0, loopback,
    # this host, multicast, broadcast, link-local): not probed; the reason says which
    UNUSABLE = "unusable"


class Severity(enum.StrEnum):
    """Most severe first: the order findings are listed in."""

    CRITICAL = "critical"
    WARNING = "warning"
    INFO = "info"

    @property
    def rank(self) -> int:
        """0 for the most severe."""
        return tuple(Severity).index(self)


NO_RESPONSE = "no-response"
# This host refused to send (no route, its own firewall): nothing came back
# because nothing left, so such an attempt is not an answer.
LOCAL_REASONS = frozenset({"no-route", "local-prohibited"})


@dataclass(frozen=True, slots=True)
class DnsResult:
    name: str
    resolver: str
    status: DnsStatus
    rcode: str | None
    addresses: tuple[str, ...]
    cname_chain: tuple[str, ...]
    duration_seconds: float
    detail: str = ""
    addresses_dropped: int = 0  # beyond [dns] max_addresses: in the answer, not probed

    @property
    def ok(self) -> bool:
        return self.status is DnsStatus.OK


@dataclass(frozen=True, slots=True)
class Attempt:
    """One probe of one address:port.

    ``reason`` uses nmap's ``--reason`` vocabulary (syn-ack, reset,
    no-response, port-unreach, admin-prohibited, ...). ``responder`` is the
    address that sent the answer: the target itself, or a router or firewall
    in the path when it differs.
    """

    state: PortState
    reason: str
    rtt_seconds: float | None = None
    responder: str | None = None
    reply_ttl: int | None = None

    @property
    def answered(self) -> bool:
        return self.reason != NO_RESPONSE and self.reason not in LOCAL_REASONS


@dataclass(frozen=True, slots=True)
class TcpJob:
    address: str
    port: int
    count: int


@dataclass(frozen=True, slots=True)
class TcpResult:
    target: str
    dependency: str
    host: str
    address: str | None
    port: int
    state: PortState
    reason: str
    expected: PortState
    ok: bool
    required: bool
    method: str
    attempts: tuple[Attempt, ...] = ()
    responder: str | None = None
    reply_ttl: int | None = None

    @property
    def probed(self) -> bool:
        """An address was probed (or was to be: the stage may have failed);
        not for an unresolved name or an unusable answer."""
        return self.address is not None and self.state is not PortState.UNUSABLE

    @property
    def sent(self) -> int:
        return len(self.attempts)

    @property
    def received(self) -> int:
        return sum(1 for a in self.attempts if a.answered)

    @property
    def loss_ratio(self) -> float | None:
        return None if not self.attempts else 1.0 - self.received / self.sent

    @property
    def rtt_seconds(self) -> tuple[float, ...]:
        return tuple(a.rtt_seconds for a in self.attempts if a.rtt_seconds is not None)


@dataclass(frozen=True, slots=True)
class Hop:
    """What came back for one TTL: the answering address (None: silence)."""

    ttl: int
    address: str | None
    rtt_seconds: float | None
    reason: str  # time-exceeded, syn-ack, reset, an ICMP unreachable reason, no-response

    @property
    def answered(self) -> bool:
        return self.address is not None and self.reason != NO_RESPONSE


def describe_hop(hop: Hop) -> str:
    """One line of a trace: ``ttl 2: 198.18.1.1 time-exceeded 1.2 ms``."""
    rtt = "-" if hop.rtt_seconds is None else f"{hop.rtt_seconds * 1000:.1f} ms"
    return f"ttl {hop.ttl}: {hop.address or '*'} {hop.reason} {rtt}"


@dataclass(frozen=True, slots=True)
class TraceResult:
    """The hops towards one address:port of one target, in TTL order."""

    target: str
    dependency: str
    address: str
    port: int
    hops: tuple[Hop, ...]

    @property
    def reached(self) -> bool:
        """True when the destination itself answered (SYN-ACK or RST)."""
        return any(h.reason in ("syn-ack", "reset") and h.address == self.address
                   for h in self.hops)

    @property
    def last_answering(self) -> Hop | None:
        answered = [h for h in self.hops if h.answered]
        return answered[-1] if answered else None

    @property
    def stopped_after(self) -> Hop | None:
        """The last hop that answered when the trace never reached the target:
        the device after it is where packets vanish."""
        return None if self.reached else self.last_answering


@dataclass(frozen=True, slots=True)
class HttpResult:
    url: str
    address: str | None
    status: int | None  # the HTTP status, None when no response came
    ok: bool
    reason: str  # "200 OK", "certificate: ...", "tls-error: ...", "conn-refused", ...
    duration_seconds: float
    tls: str | None = None  # "TLSv1.3" etc. when the connection was TLS


@dataclass(frozen=True, slots=True)
class Finding:
    id: str
    severity: Severity
    subject: str
    summary: str
    evidence: tuple[str, ...]
    remedy: str

    @property
    def sort_key(self) -> tuple[int, str, str]:
        """Most severe first, then by id and subject: how reports list findings."""
        return (self.severity.rank, self.id, self.subject)


@dataclass(frozen=True, slots=True)
class Route:
    """The kernel's choice for one target address: source address and interface."""

    address: str
    source: str | None
    interface: str | None
    error: str = ""


@dataclass(frozen=True, slots=True)
class Interface:
    name: str
    up: bool
    mtu: int
    speed_bits_per_second: int | None  # None when the driver does not say
    errors_in: int
    errors_out: int
    drops_in: int
    drops_out: int


@dataclass(frozen=True, slots=True)
class Connections:
    """ESTABLISHED TCP connections from this host to one target address:port."""

    target: str
    address: str
    port: int
    established: int | None  # None when the kernel would not tell us


@dataclass(frozen=True, slots=True)
class HostInfo:
    """The host context of a round (probe.hostinfo gathers it)."""

    routes: tuple[Route, ...] = ()
    interfaces: tuple[Interface, ...] = ()
    connections: tuple[Connections, ...] = ()
    # names of the round this host's hosts file lists, with its addresses
    # (probe.localnames): what curl or ping here would use instead of DNS
    pinned: tuple[tuple[str, tuple[str, ...]], ...] = ()

    def route_of(self, address: str) -> Route | None:
        return next((r for r in self.routes if r.address == address), None)


# The stages of a round, in the order they run. Each fails alone: an exception
# in one becomes a StageFailure on the result (and that stage's part of it says
# so: DNS answers with status error, TCP rows with state error, no traces, no
# health checks, no host context, no findings); the rest of the round stands.
# ``export`` is the report or the exposition made from the result.
STAGES = ("dns", "tcp", "trace", "health", "host", "diagnosis", "export")


@dataclass(frozen=True, slots=True)
class StageFailure:
    stage: str  # one of STAGES
    error: str  # "RuntimeError: what it said"


@dataclass(frozen=True, slots=True)
class AzureReadError:
    """One ARM (or IMDS) read that failed: ``call`` (service, networkstatus, vnet...),
    ``code`` (the HTTP status, or token, connection, timeout, shape, config), and
    for a refusal (403) the RBAC ``action`` to grant and the ``scope`` to grant it on."""

    call: str
    code: str
    message: str
    action: str = ""
    scope: str = ""


@dataclass(frozen=True, slots=True)
class AzureContext:
    """What Azure said about where the agent runs and what it guards, as the
    round used it (probe.azure reads it off the event loop, per refresh).

    ``agent``: IMDS's labels (region, subscription, resource_group, vm, vmss, zone,
    subnet, aks). ``apim``: the APIM resource ID read live ("" without [azure] apim).
    ``read_at``: the last good ARM read (ISO 8601 UTC, "" when none yet);
    ``age_seconds``: how old it was at the round (None: none yet).
    ``errors``: the reads of the last refresh that failed; ``error_counts``: every
    failure since start, as (call, code, count). ``requests``: ARM requests the
    last refresh sent (retries and polls included). ``status_updated``: the
    newest ``lastUpdated`` of APIM's networkstatus (ISO, "" when not read).
    ``nsg``/``route_table``: the APIM subnet's, by name ("" when none or not read).
    """

    agent: tuple[tuple[str, str], ...] = ()
    apim: str = ""
    read_at: str = ""
    age_seconds: float | None = None
    errors: tuple[AzureReadError, ...] = ()
    error_counts: tuple[tuple[str, str, int], ...] = ()
    requests: int = 0
    status_updated: str = ""
    nsg: str = ""
    route_table: str = ""


@dataclass(frozen=True, slots=True)
class RoundResult:
    started: datetime
    duration_seconds: float
    resolvers: tuple[str, ...]
    dns: tuple[DnsResult, ...]
    tcp: tuple[TcpResult, ...]
    findings: tuple[Finding, ...] = field(default=())
    traces: tuple[TraceResult, ...] = field(default=())
    health: tuple[HttpResult, ...] = field(default=())
    # The TCP method of the round: the prober's ("syn": raw SYN, IPv6 rows by
    # connect(); "connect"), as the round's prober said after probing.
    method: str = "-"
    host: HostInfo | None = None
    stage_failures: tuple[StageFailure, ...] = field(default=())
    # Where the agent runs and what Azure said (None: no [azure] section)
    azure: AzureContext | None = None
    # APIM's own view (networkstatus checks, live or imported) beside the round
    apim_view: tuple[ApimCheck, ...] = field(default=())


@dataclass(frozen=True, slots=True)
class ApimCheck:
    """One ``connectivityStatus`` entry of a saved APIM ``networkstatus``: APIM's
    own view of one dependency, kept beside the agent's (probe.apim_reports).

    ``host``/``port`` are where the agent probes the same endpoint, or None
    for APIM's internal checks (``LocalGatewayRedis``, ``Scm``: not names).
    ``direction`` is "outbound", "inbound" (Azure's control plane calling the
    instance, not a dependency) or "internal". ``status`` is Azure's own word
    (initializing, success, failure); the timestamps are Azure's, verbatim.
    """

    name: str
    status: str
    error: str
    resource_type: str
    is_optional: bool
    last_updated: str
    last_status_change: str
    location: str
    source: str
    dependency: str
    direction: str
    host: str | None = None
    port: int | None = None
    dns_servers: tuple[str, ...] = ()


def by_name(results: Sequence[DnsResult]) -> dict[str, list[DnsResult]]:
    """DNS answers grouped by name, in round order (the diagnosis and the table)."""
    grouped: dict[str, list[DnsResult]] = {}
    for result in results:
        grouped.setdefault(result.name, []).append(result)
    return grouped
