"""The round's decisions: which names, which addresses, what the attempts
add up to, and the exit status. Pure: results are built by hand."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import UTC, datetime

import pytest

from probe.config import Config, DnsConfig, Target
from probe.resolvers import Resolver
from probe.results import (
    Attempt,
    DnsResult,
    DnsStatus,
    PortState,
    RoundResult,
    TcpJob,
    TcpResult,
)
from probe.round import Planned, exit_status, hostnames, judge, plan, run_round

OPEN, CLOSED, FILTERED, UNRESOLVED = (PortState.OPEN, PortState.CLOSED, PortState.FILTERED,
                                      PortState.UNRESOLVED)
SYN_ACK = Attempt(OPEN, "syn-ack", 0.010, "10.0.0.5")
RESET = Attempt(CLOSED, "reset", 0.001, "10.0.0.5")
SILENT = Attempt(FILTERED, "no-response")
ADMIN = Attempt(FILTERED, "admin-prohibited", 0.002, "10.0.1.1", 63)


def dns_ok(name: str, *addresses: str) -> DnsResult:
    return DnsResult(name, "10.0.0.4", DnsStatus.OK, "NOERROR", addresses, (), 0.01)


def dns_fail(name: str, status: DnsStatus, rcode: str | None = None) -> DnsResult:
    return DnsResult(name, "10.0.0.4", status, rcode, (), (), 0.01)


GW = Target("gateway", "contoso.azure-api.net", 443, "gateway")
MGMT = Target("management", "contoso.management.azure-api.net", 3443, "management")


# --------------------------------------------------------------------------
# hostnames

def test_hostnames_distinct_in_target_order_without_ip_literals() -> None:
    targets = [
        Target("gw", "Contoso.Azure-Api.NET.", 443),
        Target("a", "10.0.0.9", 443),
        Target("mgmt", "contoso.management.azure-api.net", 3443),
        Target("gw-3443", "contoso.azure-api.net", 3443),
        Target("v6", "2001:db8::5", 443),
    ]
    assert hostnames(targets) == ["contoso.azure-api.net", "contoso.management.azure-api.net"]


def test_no_names_no_questions() -> None:
    assert hostnames([Target("a", "10.0.0.9", 443)]) == []
    assert hostnames([]) == []


# --------------------------------------------------------------------------
# plan

def test_every_address_on_the_primary_is_probed() -> None:
    rows = plan([GW, MGMT], [dns_ok("contoso.azure-api.net", "10.0.0.5", "10.0.0.6"),
                             dns_ok("contoso.management.azure-api.net", "10.0.0.7")])
    assert [(r.target.name, r.address, r.unresolved) for r in rows] == [
        ("gateway", "10.0.0.5", None),
        ("gateway", "10.0.0.6", None),
        ("management", "10.0.0.7", None),
    ]


def test_two_targets_on_one_name_share_its_answer() -> None:
    gw_mgmt = Target("gateway-3443", "contoso.azure-api.net", 3443)
    rows = plan([GW, gw_mgmt], [dns_ok("contoso.azure-api.net", "10.0.0.5")])
    assert [(r.target.name, r.address) for r in rows] == [
        ("gateway", "10.0.0.5"), ("gateway-3443", "10.0.0.5")]


def test_name_matching_ignores_case_and_final_dot() -> None:
    target = Target("gw", "CONTOSO.azure-api.net.", 443)
    rows = plan([target], [dns_ok("contoso.azure-api.net", "10.0.0.5")])
    assert [r.address for r in rows] == ["10.0.0.5"]


@pytest.mark.parametrize("status", [DnsStatus.NXDOMAIN, DnsStatus.SERVFAIL, DnsStatus.REFUSED,
                                    DnsStatus.TIMEOUT, DnsStatus.ERROR, DnsStatus.NODATA])
def test_unresolved_row_carries_the_dns_answer(status: DnsStatus) -> None:
    failure = dns_fail("contoso.azure-api.net", status)
    rows = plan([GW, MGMT], [failure, dns_ok("contoso.management.azure-api.net", "10.0.0.7")])
    assert rows == [Planned(GW, None, failure), Planned(MGMT, "10.0.0.7")]


def test_name_missing_from_the_answers_is_one_unresolved_row() -> None:
    assert plan([GW], []) == [Planned(GW, None, None)]


@pytest.mark.parametrize(("host", "address"), [
    ("10.0.0.9", "10.0.0.9"),
    ("2001:db8::9", "2001:db8::9"),
    ("2001:DB8:0:0::9", "2001:db8::9"),  # canonical form, as the prober and report show it
])
def test_ip_literal_needs_no_dns(host: str, address: str) -> None:
    target = Target("literal", host, 443)
    # the primary failed on everything: an address needs no answer
    assert plan([target], [dns_fail("contoso.azure-api.net", DnsStatus.TIMEOUT)]) == [
        Planned(target, address)]


def test_ipv6_answers_are_skipped_unless_aaaa() -> None:
    answers = [dns_ok("contoso.azure-api.net", "10.0.0.5", "2001:db8::5")]
    assert [r.address for r in plan([GW], answers)] == ["10.0.0.5"]
    assert [r.address for r in plan([GW], answers, ipv6=True)] == ["10.0.0.5", "2001:db8::5"]


def test_name_with_only_ipv6_addresses_is_unresolved_without_aaaa() -> None:
    answer = dns_ok("contoso.azure-api.net", "2001:db8::5")
    (row,) = plan([GW], [answer])
    assert (row.address, row.unresolved) == (None, answer)
    assert judge(row, (), "connect").reason == "no-ipv4-address"


# --------------------------------------------------------------------------
# judge: unresolved rows

@pytest.mark.parametrize(("unresolved", "reason"), [
    (dns_fail("contoso.azure-api.net", DnsStatus.NXDOMAIN, "NXDOMAIN"), "nxdomain"),
    (dns_fail("contoso.azure-api.net", DnsStatus.SERVFAIL, "SERVFAIL"), "servfail"),
    (dns_fail("contoso.azure-api.net", DnsStatus.TIMEOUT), "timeout"),
    (dns_fail("contoso.azure-api.net", DnsStatus.NODATA, "NOERROR"), "nodata"),
    (None, "no-address"),
])
def test_unresolved_reason_is_the_dns_status(unresolved: DnsResult | None, reason: str) -> None:
    result = judge(Planned(GW, None, unresolved), (), "syn")
    assert (result.state, result.reason) == (UNRESOLVED, reason)
    assert result.address is None
    assert result.ok is False
    assert (result.sent, result.received, result.loss_ratio) == (0, 0, None)
    assert (result.target, result.host, result.port, result.dependency) == (
        "gateway", "contoso.azure-api.net", 443, "gateway")
    assert result.method == "syn"


@pytest.mark.parametrize("expect", [OPEN, CLOSED, FILTERED])
def test_unresolved_never_meets_an_expectation(expect: PortState) -> None:
    target = Target("x", "nope.contoso.internal", 443, expect=expect)
    row = Planned(target, None, dns_fail("nope.contoso.internal", DnsStatus.NXDOMAIN))
    assert judge(row, (), "connect").ok is False


# --------------------------------------------------------------------------
# judge: probed rows

@pytest.mark.parametrize(("expect", "attempts", "state", "reason", "ok"), [
    (OPEN, [SYN_ACK, SYN_ACK, SYN_ACK], OPEN, "syn-ack", True),
    # a dropped attempt is not a failure when a later one answers
    (OPEN, [SILENT, SYN_ACK, SILENT], OPEN, "syn-ack", True),
    (OPEN, [SILENT, SILENT, SYN_ACK], OPEN, "syn-ack", True),
    (OPEN, [SILENT, SILENT, SILENT], FILTERED, "no-response", False),
    (OPEN, [RESET, RESET, RESET], CLOSED, "reset", False),
    (OPEN, [ADMIN, SILENT, ADMIN], FILTERED, "admin-prohibited", False),
    # expecting a blocked port: blocked is success, open is failure
    (FILTERED, [SILENT, SILENT, SILENT], FILTERED, "no-response", True),
    (FILTERED, [ADMIN, ADMIN, ADMIN], FILTERED, "admin-prohibited", True),
    (FILTERED, [SILENT, SYN_ACK, SILENT], OPEN, "syn-ack", False),
    (CLOSED, [RESET, SILENT, RESET], CLOSED, "reset", True),
    (CLOSED, [SILENT, SILENT, SILENT], FILTERED, "no-response", False),
])
def test_expectation(expect: PortState, attempts: list[Attempt], state: PortState, reason: str,
                     ok: bool) -> None:
    target = Target("gateway", "contoso.azure-api.net", 443, expect=expect)
    result = judge(Planned(target, "10.0.0.5"), attempts, "syn")
    assert (result.state, result.reason, result.ok) == (state, reason, ok)
    assert result.expected is expect


@pytest.mark.parametrize(("attempts", "sent", "received", "loss"), [
    ([SYN_ACK, SYN_ACK, SYN_ACK], 3, 3, 0.0),
    ([SILENT, SYN_ACK, SILENT], 3, 1, 2 / 3),
    ([SILENT, SILENT, SILENT], 3, 0, 1.0),
    ([SYN_ACK], 1, 1, 0.0),
    ([RESET, SILENT], 2, 1, 0.5),
])
def test_loss(attempts: list[Attempt], sent: int, received: int, loss: float) -> None:
    result = judge(Planned(GW, "10.0.0.5"), attempts, "syn")
    assert (result.sent, result.received) == (sent, received)
    assert result.loss_ratio == pytest.approx(loss)
    assert result.attempts == tuple(attempts)


def test_rtts_are_those_of_answered_attempts() -> None:
    attempts = [Attempt(OPEN, "syn-ack", 0.010), SILENT, Attempt(OPEN, "syn-ack", 0.030)]
    assert judge(Planned(GW, "10.0.0.5"), attempts, "syn").rtt_seconds == (0.010, 0.030)


def test_the_responder_of_the_verdict_is_reported() -> None:
    result = judge(Planned(GW, "10.0.0.5"), [SILENT, ADMIN, SILENT], "syn")
    assert (result.responder, result.reply_ttl) == ("10.0.1.1", 63)
    assert result.address == "10.0.0.5"


def test_required_and_method_pass_through() -> None:
    optional = Target("sql", "10.0.0.9", 1433, "sql", required=False)
    result = judge(Planned(optional, "10.0.0.9"), [SILENT], "connect")
    assert (result.required, result.method, result.dependency) == (False, "connect", "sql")


# --------------------------------------------------------------------------
# exit status

def tcp(ok: bool, required: bool = True, name: str = "t") -> TcpResult:
    state = OPEN if ok else FILTERED
    return TcpResult(name, "other", "h", "10.0.0.5", 443, state, "x", OPEN, ok, required, "syn")


def round_of(*rows: TcpResult) -> RoundResult:
    return RoundResult(datetime(2026, 1, 1, tzinfo=UTC), 0.1, ("10.0.0.4",), (), rows)


@pytest.mark.parametrize(("rows", "status"), [
    ([tcp(True), tcp(True)], 0),
    ([tcp(True), tcp(False)], 1),
    ([tcp(False)], 1),
    # optional targets report, but do not fail the run
    ([tcp(True), tcp(False, required=False)], 0),
    ([tcp(False, required=False)], 0),
    ([tcp(False, required=False), tcp(False, required=True)], 1),
    ([], 0),
])
def test_exit_status(rows: list[TcpResult], status: int) -> None:
    assert exit_status(round_of(*rows)) == status


def test_one_bad_address_of_a_name_fails_the_run() -> None:
    rows = plan([GW], [dns_ok("contoso.azure-api.net", "10.0.0.5", "10.0.0.6")])
    results = [judge(rows[0], [SYN_ACK], "syn"), judge(rows[1], [SILENT, SILENT], "syn")]
    assert exit_status(round_of(*results)) == 1


def test_required_name_that_does_not_resolve_fails_the_run() -> None:
    (row,) = plan([GW], [dns_fail("contoso.azure-api.net", DnsStatus.NXDOMAIN, "NXDOMAIN")])
    assert exit_status(round_of(judge(row, (), "syn"))) == 1
    optional = Target("gw", "contoso.azure-api.net", 443, required=False)
    (row,) = plan([optional], [dns_fail("contoso.azure-api.net", DnsStatus.NXDOMAIN)])
    assert exit_status(round_of(judge(row, (), "syn"))) == 0


# --------------------------------------------------------------------------
# run_round sequencing, with DNS and the prober replaced (no sockets)


class FakeProber:
    method = "fake"

    def __init__(self, answers: dict[str, Attempt]) -> None:
        self.answers = answers
        self.jobs: list[TcpJob] = []

    async def probe(self, jobs: Sequence[TcpJob], timeout: float) -> list[tuple[Attempt, ...]]:
        self.jobs.extend(jobs)
        return [tuple(self.answers[j.address] for _ in range(j.count)) for j in jobs]

    def method_for(self, address: str) -> str:
        return self.method

    def close(self) -> None:
        pass


class TableResolver:
    """A NameResolver answering from a table: (name, resolver label) -> addresses."""

    def __init__(self, table: dict[tuple[str, str], tuple[str, ...]]) -> None:
        self.table = table

    async def resolve_all(self, names: Sequence[str], resolvers: Sequence[Resolver],
                          timeout: float, *, aaaa: bool = False,
                          limit: asyncio.Semaphore | None = None) -> list[DnsResult]:
        out = []
        for name in names:
            for r in resolvers:
                addresses = self.table[(name, r.label)]
                status = DnsStatus.OK if addresses else DnsStatus.NXDOMAIN
                out.append(DnsResult(name, r.label, status, "NOERROR", addresses, (), 0.01))
        return out


def test_run_round_probes_the_primary_answers_and_compares_the_others() -> None:
    primary, other = Resolver("10.0.0.4"), Resolver("168.63.129.16")
    # the primary (custom DNS) sends the gateway to its private address; Azure DNS disagrees
    table = {
        ("contoso.azure-api.net", "10.0.0.4"): ("10.0.0.5",),
        ("contoso.azure-api.net", "168.63.129.16"): ("20.1.2.3",),
        ("contoso.management.azure-api.net", "10.0.0.4"): (),
        ("contoso.management.azure-api.net", "168.63.129.16"): ("20.1.2.3",),
    }

    prober = FakeProber({"10.0.0.5": SYN_ACK, "10.0.0.9": RESET})
    literal = Target("literal", "10.0.0.9", 8080, count=2)
    config = Config(dns=DnsConfig(resolvers=(primary, other)), targets=(GW, MGMT, literal))

    result = asyncio.run(run_round(config, prober, TableResolver(table)))

    assert prober.jobs == [TcpJob("10.0.0.5", 443, 3), TcpJob("10.0.0.9", 8080, 2)]
    assert [(t.target, t.address, t.state, t.reason, t.method) for t in result.tcp] == [
        ("gateway", "10.0.0.5", OPEN, "syn-ack", "fake"),
        ("management", None, UNRESOLVED, "nxdomain", "fake"),
        ("literal", "10.0.0.9", CLOSED, "reset", "fake"),
    ]
    assert [(d.name, d.resolver) for d in result.dns] == [
        ("contoso.azure-api.net", "10.0.0.4"),
        ("contoso.azure-api.net", "168.63.129.16"),
        ("contoso.management.azure-api.net", "10.0.0.4"),
        ("contoso.management.azure-api.net", "168.63.129.16"),
    ]
    assert result.resolvers == ("10.0.0.4", "168.63.129.16")
    assert result.started.tzinfo is not None
    assert exit_status(result) == 1
