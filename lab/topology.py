"""The lab's address plan and the behaviours measured on it.

Everything here is plain data so that tests can import it without root and
without the lab being up.  ``lab.netlab`` builds the lab from these constants;
the ``*_EXPECTED`` tables were measured from inside ``apl-client`` with
``nmap -sS -Pn --reason``, ``hping3``, ``connect()`` and ``dnspython``
(``dns.query.udp``/``dns.query.tcp``) on Debian 12 (dnsmasq 2.90,
nftables 1.0.6, kernel 6.x) and are what ``python -m lab check`` verifies.

Every address is inside 198.18.0.0/15 (RFC 2544 benchmarking space); no lab
namespace has a default route or a link to the host namespace.
"""

from __future__ import annotations

import errno
from dataclasses import dataclass
from typing import Final, Literal

# --------------------------------------------------------------------------
# Namespaces and links
# --------------------------------------------------------------------------

NS_PREFIX: Final = "apl-"
CLIENT_NS: Final = "apl-client"  # the jump box in the VNet where the probe runs
ROUTER_NS: Final = "apl-router"  # NSG / Azure Firewall stand-in
SVC_NS: Final = "apl-svc"  # the Azure side: service addresses, backends, DNS
NAMESPACES: Final[tuple[str, ...]] = (CLIENT_NS, ROUTER_NS, SVC_NS)

LAB_NET: Final = "198.18.0.0/15"
CLIENT_NET: Final = "198.18.1.0/24"
SVC_NET: Final = "198.18.2.0/24"

CLIENT_ADDR: Final = "198.18.1.10"
ROUTER_CLIENT_ADDR: Final = "198.18.1.1"  # router's address facing the client
ROUTER_SVC_ADDR: Final = "198.18.2.1"  # router's address facing the services
SVC_ADDR: Final = "198.18.2.2"  # apl-svc's primary address on its veth

# Interface names inside each namespace (veth pairs created directly in the
# namespaces; nothing is ever created in the host namespace).
CLIENT_IF: Final = "eth0"
ROUTER_CLIENT_IF: Final = "to-client"
ROUTER_SVC_IF: Final = "to-svc"
SVC_IF: Final = "eth0"

# --------------------------------------------------------------------------
# Service addresses (all live on apl-svc's veth as /32s)
# --------------------------------------------------------------------------

GATEWAY_ADDR: Final = "198.18.2.10"  # apimlab.azure-api.test (gateway, management, portal)
STORAGE_ADDR: Final = "198.18.2.11"  # apimlabst.blob.core.windows.test, first A record
SQL_ADDR: Final = "198.18.2.12"  # apimlab-sql privatelink address (router drops 1433)
KEYVAULT_ADDR: Final = "198.18.2.13"  # apimlab-kv.vault.azure.test (router rejects 443)
BACKEND_ADDR: Final = "198.18.2.14"  # orders.backend.test (8080 not listening)
MONITOR_ADDR: Final = "198.18.2.15"  # gcs.monitoring.core.windows.test (host rejects 1886)
ZOO_ADDR: Final = "198.18.2.20"  # zoo.lab.test: the ICMP "reason zoo" on 7000..7006
STORAGE2_ADDR: Final = "198.18.2.31"  # second blob A record (router drops all TCP)
STALE_PORTAL_ADDR: Final = "198.18.2.40"  # stale developer-portal record on the custom DNS
REFERENCE_DNS: Final = "198.18.2.53"  # healthy resolver; stands in for Azure DNS 168.63.129.16
CUSTOM_DNS: Final = "198.18.2.54"  # the VNet's custom DNS, does not forward Azure zones
DEAD_DNS: Final = "198.18.2.55"  # dead resolver: every query is dropped

SVC_HOST_ADDRS: Final[tuple[str, ...]] = (
    GATEWAY_ADDR,
    STORAGE_ADDR,
    SQL_ADDR,
    KEYVAULT_ADDR,
    BACKEND_ADDR,
    MONITOR_ADDR,
    ZOO_ADDR,
    STORAGE2_ADDR,
    STALE_PORTAL_ADDR,
    REFERENCE_DNS,
    CUSTOM_DNS,
    DEAD_DNS,
)

# Networks routed specially by the router.
UNREACH_NET: Final = "198.18.4.0/24"  # `ip route add unreachable`
PROHIBIT_NET: Final = "198.18.5.0/24"  # `ip route add prohibit`
BLACKHOLE_NET: Final = "198.18.6.0/24"  # `ip route add blackhole`
UNREACH_ADDR: Final = "198.18.4.10"
PROHIBIT_ADDR: Final = "198.18.5.10"
BLACKHOLE_ADDR: Final = "198.18.6.10"

# The kernel rate-limits the ICMP errors that *routes* (unreachable/prohibit)
# generate with a per-source token bucket driven by the host-global sysctls
# net.ipv4.route.error_burst / error_cost (not per-namespace): with the
# defaults, 5 errors in a burst, then 1 per second per source address.
# Errors from nft `reject` are not limited (icmp_ratelimit=0, icmp_ratemask=0
# in every lab namespace).  Start the lab with deterministic_route_errors=True
# (or APL_DETERMINISTIC_ROUTE_ERRORS=1) to have nft reject those networks
# with the same ICMP type/code/source instead, without any rate limit.
ROUTE_ERROR_BURST: Final = 5
ROUTE_ERROR_INTERVAL_S: Final = 1.0

# --------------------------------------------------------------------------
# Listeners in apl-svc (lab/listener.py; one process)
# --------------------------------------------------------------------------

ListenerKind = Literal["tcp", "http", "https"]

STATUS_PATH: Final = "/status-0123456789abcdef"  # APIM gateway health path


@dataclass(frozen=True)
class Listener:
    address: str
    port: int
    kind: ListenerKind  # "tcp": accept and close; "http": answers GET STATUS_PATH
    role: str


LISTENERS: Final[tuple[Listener, ...]] = (
    # TLS with lab/tls/gateway.crt (self-signed, SAN apimlab.azure-api.test and
    # 198.18.2.10): GET STATUS_PATH -> 200, anything else 404.
    Listener(GATEWAY_ADDR, 443, "https", "gateway"),
    Listener(GATEWAY_ADDR, 3443, "tcp", "management endpoint"),
    Listener(STORAGE_ADDR, 443, "tcp", "storage"),
    Listener(SQL_ADDR, 1433, "tcp", "sql (router drops it)"),
    Listener(KEYVAULT_ADDR, 443, "tcp", "key vault (router rejects it)"),
    Listener(BACKEND_ADDR, 443, "tcp", "backend https"),
    Listener(MONITOR_ADDR, 443, "tcp", "monitor"),
    Listener(STORAGE2_ADDR, 443, "tcp", "storage, second address (router drops it)"),
)

# A tiny DNS responder (same listener process) that answers SERVFAIL to every
# query, over UDP and TCP; dnsmasq on CUSTOM_DNS forwards
# database.windows.test to it (dnsmasq cannot make a SERVFAIL by itself: a
# silent or ICMP-refusing upstream gives a timeout, not SERVFAIL).
SERVFAIL_UPSTREAM: Final[tuple[str, int]] = (CUSTOM_DNS, 5300)

# --------------------------------------------------------------------------
# nftables and routes (rendered by lab.netlab)
# --------------------------------------------------------------------------

# Router forward chain, table `inet apl`.
ROUTER_DROPS: Final[tuple[tuple[str, int | None], ...]] = (
    (SQL_ADDR, 1433),  # NSG drops SQL
    (STORAGE2_ADDR, None),  # all TCP to the second storage address
)
ROUTER_REJECTS: Final[tuple[tuple[str, int, str], ...]] = (
    (KEYVAULT_ADDR, 443, "admin-prohibited"),
)
# The "reason zoo": port -> (nft icmp code name, ICMP code, nmap reason, connect() errno)
ZOO_PORTS: Final[dict[int, tuple[str, int, str, int]]] = {
    7000: ("net-unreachable", 0, "net-unreach", errno.ENETUNREACH),
    7001: ("host-unreachable", 1, "host-unreach", errno.EHOSTUNREACH),
    7002: ("prot-unreachable", 2, "proto-unreach", errno.ENOPROTOOPT),
    7003: ("port-unreachable", 3, "port-unreach", errno.ECONNREFUSED),
    7004: ("net-prohibited", 9, "net-prohibited", errno.ENETUNREACH),
    7005: ("host-prohibited", 10, "host-prohibited", errno.EHOSTUNREACH),
    7006: ("admin-prohibited", 13, "admin-prohibited", errno.EHOSTUNREACH),
}
# apl-svc input chain: the host itself rejects / drops.
SVC_REJECTS: Final[tuple[tuple[str, int, str], ...]] = (
    (MONITOR_ADDR, 1886, "port-unreachable"),
)
SVC_DROPS: Final[tuple[tuple[str, str, int], ...]] = (
    (DEAD_DNS, "udp", 53),
    (DEAD_DNS, "tcp", 53),
)

# --------------------------------------------------------------------------
# DNS data
# --------------------------------------------------------------------------

# Authoritative data on the reference resolver (198.18.2.53): name -> A records.
REFERENCE_A: Final[dict[str, tuple[str, ...]]] = {
    "apimlab.azure-api.test": (GATEWAY_ADDR,),
    "apimlab.management.azure-api.test": (GATEWAY_ADDR,),
    "apimlab.developer.azure-api.test": (GATEWAY_ADDR,),
    "apimlabst.blob.core.windows.test": (STORAGE_ADDR, STORAGE2_ADDR),
    "apimlab-sql.privatelink.database.windows.test": (SQL_ADDR,),
    "apimlab-kv.vault.azure.test": (KEYVAULT_ADDR,),
    "orders.backend.test": (BACKEND_ADDR,),
    "gcs.monitoring.core.windows.test": (MONITOR_ADDR,),
    "zoo.lab.test": (ZOO_ADDR,),
    "unreach.lab.test": (UNREACH_ADDR,),
    "prohibit.lab.test": (PROHIBIT_ADDR,),
    "blackhole.lab.test": (BLACKHOLE_ADDR,),
}
REFERENCE_CNAME: Final[dict[str, str]] = {
    "apimlab-sql.database.windows.test": "apimlab-sql.privatelink.database.windows.test",
}
# Names that exist with no A record (a TXT record only): A query -> NOERROR, empty answer.
NODATA_NAMES: Final[tuple[str, ...]] = ("nodata.lab.test",)
NODATA_TXT: Final = "exists without an A record"

# The custom DNS (198.18.2.54) is authoritative for these zones, with the same
# data as the reference except for the stale developer-portal record.
CUSTOM_LOCAL_ZONES: Final[tuple[str, ...]] = ("azure-api.test", "backend.test", "lab.test")
CUSTOM_OVERRIDES: Final[dict[str, tuple[str, ...]]] = {
    "apimlab.developer.azure-api.test": (STALE_PORTAL_ADDR,),
}
DnsOutcome = Literal["NOERROR", "NXDOMAIN", "REFUSED", "SERVFAIL", "TIMEOUT"]
# How the custom DNS fails the Azure zones it does not forward.
CUSTOM_ZONE_FAILURES: Final[dict[str, DnsOutcome]] = {
    "blob.core.windows.test": "REFUSED",  # no upstream for it (dnsmasq: REFUSED)
    "database.windows.test": "SERVFAIL",  # forwarded to SERVFAIL_UPSTREAM
    "vault.azure.test": "NXDOMAIN",  # address=/vault.azure.test/
    "monitoring.core.windows.test": "TIMEOUT",  # forwarded to DEAD_DNS: no answer
}

RESOLVERS: Final[tuple[str, ...]] = (REFERENCE_DNS, CUSTOM_DNS, DEAD_DNS)
CLIENT_RESOLV_CONF: Final = f"nameserver {CUSTOM_DNS}\n"
CLIENT_HOSTS: Final = "127.0.0.1\tlocalhost\n"

# Every name the lab knows about, plus one that exists nowhere.
NAMES: Final[tuple[str, ...]] = (
    "apimlab.azure-api.test",
    "apimlab.management.azure-api.test",
    "apimlab.developer.azure-api.test",
    "apimlabst.blob.core.windows.test",
    "apimlab-sql.database.windows.test",
    "apimlab-kv.vault.azure.test",
    "orders.backend.test",
    "gcs.monitoring.core.windows.test",
    "zoo.lab.test",
    "unreach.lab.test",
    "prohibit.lab.test",
    "blackhole.lab.test",
    "nodata.lab.test",
    "missing.lab.test",
)


@dataclass(frozen=True)
class DnsExpectation:
    """What an A query for a name gets from one resolver (measured).

    ``rcode`` is the DNS rcode, or "TIMEOUT" when no answer ever comes.
    ``addresses`` are the A records at the end of the answer (empty for
    NODATA and errors); ``cnames`` the CNAME targets in the answer, in order.
    """

    rcode: DnsOutcome
    addresses: tuple[str, ...] = ()
    cnames: tuple[str, ...] = ()

    @property
    def nodata(self) -> bool:
        return self.rcode == "NOERROR" and not self.addresses


_OK: DnsOutcome = "NOERROR"
_SQL_CHAIN = ("apimlab-sql.privatelink.database.windows.test",)

# resolver -> name -> expectation, measured over UDP with dns.query.udp
# (timeout 2 s) from apl-client.  TCP gives the same, except that on the
# custom DNS a forwarded zone whose upstream is dead ends in the server
# closing the TCP connection after ~7 s (dnspython: EOFError) instead of a
# UDP timeout.
DNS_EXPECTED: Final[dict[str, dict[str, DnsExpectation]]] = {
    REFERENCE_DNS: {
        "apimlab.azure-api.test": DnsExpectation(_OK, (GATEWAY_ADDR,)),
        "apimlab.management.azure-api.test": DnsExpectation(_OK, (GATEWAY_ADDR,)),
        "apimlab.developer.azure-api.test": DnsExpectation(_OK, (GATEWAY_ADDR,)),
        "apimlabst.blob.core.windows.test": DnsExpectation(_OK, (STORAGE_ADDR, STORAGE2_ADDR)),
        "apimlab-sql.database.windows.test": DnsExpectation(_OK, (SQL_ADDR,), _SQL_CHAIN),
        "apimlab-kv.vault.azure.test": DnsExpectation(_OK, (KEYVAULT_ADDR,)),
        "orders.backend.test": DnsExpectation(_OK, (BACKEND_ADDR,)),
        "gcs.monitoring.core.windows.test": DnsExpectation(_OK, (MONITOR_ADDR,)),
        "zoo.lab.test": DnsExpectation(_OK, (ZOO_ADDR,)),
        "unreach.lab.test": DnsExpectation(_OK, (UNREACH_ADDR,)),
        "prohibit.lab.test": DnsExpectation(_OK, (PROHIBIT_ADDR,)),
        "blackhole.lab.test": DnsExpectation(_OK, (BLACKHOLE_ADDR,)),
        "nodata.lab.test": DnsExpectation(_OK),
        "missing.lab.test": DnsExpectation("NXDOMAIN"),
    },
    CUSTOM_DNS: {
        "apimlab.azure-api.test": DnsExpectation(_OK, (GATEWAY_ADDR,)),
        "apimlab.management.azure-api.test": DnsExpectation(_OK, (GATEWAY_ADDR,)),
        "apimlab.developer.azure-api.test": DnsExpectation(_OK, (STALE_PORTAL_ADDR,)),
        "apimlabst.blob.core.windows.test": DnsExpectation("REFUSED"),
        "apimlab-sql.database.windows.test": DnsExpectation("SERVFAIL"),
        "apimlab-kv.vault.azure.test": DnsExpectation("NXDOMAIN"),
        "orders.backend.test": DnsExpectation(_OK, (BACKEND_ADDR,)),
        "gcs.monitoring.core.windows.test": DnsExpectation("TIMEOUT"),
        "zoo.lab.test": DnsExpectation(_OK, (ZOO_ADDR,)),
        "unreach.lab.test": DnsExpectation(_OK, (UNREACH_ADDR,)),
        "prohibit.lab.test": DnsExpectation(_OK, (PROHIBIT_ADDR,)),
        "blackhole.lab.test": DnsExpectation(_OK, (BLACKHOLE_ADDR,)),
        "nodata.lab.test": DnsExpectation(_OK),
        "missing.lab.test": DnsExpectation("NXDOMAIN"),
    },
    DEAD_DNS: {name: DnsExpectation("TIMEOUT") for name in NAMES},
}
# Names outside every lab zone: NXDOMAIN on the reference, REFUSED on the custom DNS.
OUTSIDE_NAME: Final = "example.invalid"
OUTSIDE_EXPECTED: Final[dict[str, DnsExpectation]] = {
    REFERENCE_DNS: DnsExpectation("NXDOMAIN"),
    CUSTOM_DNS: DnsExpectation("REFUSED"),
    DEAD_DNS: DnsExpectation("TIMEOUT"),
}

# name -> A records per resolver, for names that resolve (NOERROR with addresses).
RECORDS: Final[dict[str, dict[str, tuple[str, ...]]]] = {
    resolver: {name: exp.addresses for name, exp in table.items() if exp.addresses}
    for resolver, table in DNS_EXPECTED.items()
}

# --------------------------------------------------------------------------
# TCP behaviours (measured)
# --------------------------------------------------------------------------

TcpState = Literal["open", "closed", "filtered"]


@dataclass(frozen=True)
class TcpExpectation:
    """What a SYN from apl-client to address:port gets (measured).

    ``state``/``reason`` use nmap's ``--reason`` vocabulary.  ``responder`` is
    the source address of the answer (None for silence); ``icmp`` the
    (type, code) of an ICMP answer; ``ttl`` the TTL seen by the client;
    ``errno`` what a plain ``connect()`` fails with (0: it succeeds; None: it
    times out).
    """

    address: str
    port: int
    state: TcpState
    reason: str
    responder: str | None
    icmp: tuple[int, int] | None
    ttl: int | None
    errno: int | None
    note: str
    route_error: bool = False  # answered by an unreachable/prohibit route (rate-limited)


def _open(addr: str, port: int, note: str) -> TcpExpectation:
    return TcpExpectation(addr, port, "open", "syn-ack", addr, None, 63, 0, note)


def _reset(addr: str, port: int, note: str) -> TcpExpectation:
    return TcpExpectation(addr, port, "closed", "reset", addr, None, 63, errno.ECONNREFUSED, note)


def _silent(addr: str, port: int, note: str) -> TcpExpectation:
    return TcpExpectation(addr, port, "filtered", "no-response", None, None, None, None, note)


TCP_EXPECTED: Final[tuple[TcpExpectation, ...]] = (
    _open(GATEWAY_ADDR, 443, "gateway (plain HTTP status path)"),
    _open(GATEWAY_ADDR, 3443, "management endpoint"),
    _open(STORAGE_ADDR, 443, "storage"),
    _silent(STORAGE2_ADDR, 443, "storage 2nd address: router drops all TCP"),
    _silent(SQL_ADDR, 1433, "sql: router (NSG) drops"),
    TcpExpectation(KEYVAULT_ADDR, 443, "filtered", "admin-prohibited", ROUTER_CLIENT_ADDR,
                   (3, 13), 64, errno.EHOSTUNREACH, "key vault: router rejects"),
    _open(BACKEND_ADDR, 443, "backend https"),
    _reset(BACKEND_ADDR, 8080, "backend not listening (transportErrorCode 111)"),
    _open(MONITOR_ADDR, 443, "monitor"),
    TcpExpectation(MONITOR_ADDR, 1886, "filtered", "port-unreach", MONITOR_ADDR,
                   (3, 3), 63, errno.ECONNREFUSED, "monitor 1886: the host itself rejects"),
    *(
        TcpExpectation(ZOO_ADDR, port, "filtered", reason, ROUTER_CLIENT_ADDR, (3, code), 64,
                       err, f"zoo: router rejects with icmp {nft_name}")
        for port, (nft_name, code, reason, err) in ZOO_PORTS.items()
    ),
    _reset(ZOO_ADDR, 7007, "zoo control: no rule, no listener"),
    _reset(STALE_PORTAL_ADDR, 443, "stale developer-portal address: nothing listens"),
    TcpExpectation(REFERENCE_DNS, 53, "open", "syn-ack", REFERENCE_DNS, None, 63, 0,
                   "reference DNS over TCP"),
    _silent(DEAD_DNS, 53, "dead DNS: dropped by apl-svc"),
    TcpExpectation(UNREACH_ADDR, 443, "filtered", "host-unreach", ROUTER_CLIENT_ADDR, (3, 1), 64,
                   errno.EHOSTUNREACH, "unreachable route", route_error=True),
    TcpExpectation(PROHIBIT_ADDR, 443, "filtered", "admin-prohibited", ROUTER_CLIENT_ADDR, (3, 13),
                   64, errno.EHOSTUNREACH, "prohibit route", route_error=True),
    _silent(BLACKHOLE_ADDR, 443, "blackhole route: silent"),
)


def tcp_expected(address: str, port: int) -> TcpExpectation:
    """The expectation for address:port (KeyError if the lab has none)."""
    for row in TCP_EXPECTED:
        if row.address == address and row.port == port:
            return row
    raise KeyError(f"{address}:{port}")
