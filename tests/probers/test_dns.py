"""DNS answers read from dnspython messages built in memory: no network."""

from __future__ import annotations

import asyncio
import struct

import dns.exception
import dns.message
import dns.rcode
import dns.rdatatype
import dns.rrset
import pytest

from probe.probers import dns as dnsprobe
from probe.probers.dns import (
    MAX_CNAME_CHAIN,
    REFERRAL,
    DnsProber,
    cap,
    read_response,
    status_of,
    translate,
)
from probe.resolvers import Resolver
from probe.results import DnsResult, DnsStatus

A, AAAA = dns.rdatatype.A, dns.rdatatype.AAAA


def response(name: str, rdtype: int = A, *, rcode: int = dns.rcode.NOERROR,
             answers: list[tuple[str, str, list[str]]] = ()) -> dns.message.Message:
    """A response to a query for (name, rdtype) with (owner, type, values) RRsets."""
    query = dns.message.make_query(name, rdtype)
    reply = dns.message.make_response(query)
    reply.set_rcode(rcode)
    for owner, kind, values in answers:
        reply.answer.append(dns.rrset.from_text_list(owner, 300, "IN", kind, values))
    # through the wire and back, as every real answer reaches the prober
    return dns.message.from_wire(reply.to_wire())


# --------------------------------------------------------------------------
# status_of

@pytest.mark.parametrize(("rcode", "addresses", "status"), [
    (dns.rcode.NOERROR, ["10.0.0.5"], DnsStatus.OK),
    (dns.rcode.NOERROR, [], DnsStatus.NODATA),
    (dns.rcode.NXDOMAIN, [], DnsStatus.NXDOMAIN),
    (dns.rcode.SERVFAIL, [], DnsStatus.SERVFAIL),
    (dns.rcode.REFUSED, [], DnsStatus.REFUSED),
    (dns.rcode.FORMERR, [], DnsStatus.ERROR),
    (dns.rcode.NOTIMP, [], DnsStatus.ERROR),
    (dns.rcode.NOTAUTH, [], DnsStatus.ERROR),
    # an address next to a failure rcode does not make the name resolvable
    (dns.rcode.SERVFAIL, ["10.0.0.5"], DnsStatus.SERVFAIL),
    (int(dns.rcode.NXDOMAIN), [], DnsStatus.NXDOMAIN),  # plain int as well as the enum
])
def test_status_of(rcode: int, addresses: list[str], status: DnsStatus) -> None:
    assert status_of(rcode, addresses) is status


# --------------------------------------------------------------------------
# read_response


def read(reply: dns.message.Message, rdtype: int) -> tuple[list[str], list[str]]:
    """(addresses, chain) of a response that has nothing wrong with it."""
    reading = read_response(reply, rdtype)
    assert reading.problem is None
    return list(reading.addresses), list(reading.chain)


def test_plain_a_answer() -> None:
    reply = response("contoso.azure-api.net", answers=[
        ("contoso.azure-api.net.", "A", ["10.0.0.5", "10.0.0.6"])])
    addresses, chain = read(reply, A)
    assert sorted(addresses) == ["10.0.0.5", "10.0.0.6"]  # an RRset has no order
    assert chain == []


def test_cname_chain_is_followed_in_order() -> None:
    reply = response("contoso.azure-api.net", answers=[
        ("contoso.azure-api.net.", "CNAME", ["apimgmttm.trafficmanager.net."]),
        ("apimgmttm.trafficmanager.net.", "CNAME", ["apimgmths.cloudapp.net."]),
        ("apimgmths.cloudapp.net.", "A", ["20.1.2.3"]),
    ])
    addresses, chain = read(reply, A)
    assert addresses == ["20.1.2.3"]
    assert chain == ["apimgmttm.trafficmanager.net", "apimgmths.cloudapp.net"]


def test_cname_chain_order_does_not_depend_on_section_order() -> None:
    reply = response("contoso.blob.core.windows.net", answers=[
        ("blob.ams.store.core.windows.net.", "A", ["20.60.1.1"]),
        ("contoso.privatelink.blob.core.windows.net.", "CNAME",
         ["blob.ams.store.core.windows.net."]),
        ("contoso.blob.core.windows.net.", "CNAME",
         ["contoso.privatelink.blob.core.windows.net."]),
    ])
    addresses, chain = read(reply, A)
    assert addresses == ["20.60.1.1"]
    assert chain == ["contoso.privatelink.blob.core.windows.net",
                     "blob.ams.store.core.windows.net"]


def test_cname_names_are_lower_case_without_final_dot() -> None:
    reply = response("contoso.vault.azure.net", answers=[
        ("contoso.vault.azure.net.", "CNAME", ["Contoso.PrivateLink.Vaultcore.Azure.NET."]),
        ("Contoso.PrivateLink.Vaultcore.Azure.NET.", "A", ["10.0.2.4"]),
    ])
    assert read(reply, A) == (["10.0.2.4"], ["contoso.privatelink.vaultcore.azure.net"])


def test_cname_to_nowhere_keeps_the_chain_and_no_address() -> None:
    reply = response("contoso.database.windows.net", rcode=dns.rcode.NXDOMAIN, answers=[
        ("contoso.database.windows.net.", "CNAME", ["contoso.privatelink.database.windows.net."]),
    ])
    addresses, chain = read(reply, A)
    assert addresses == []
    assert chain == ["contoso.privatelink.database.windows.net"]
    assert status_of(reply.rcode(), addresses) is DnsStatus.NXDOMAIN


def test_records_of_other_names_are_not_addresses_of_this_one() -> None:
    reply = response("contoso.azure-api.net", answers=[
        ("unrelated.example.", "A", ["192.0.2.66"])])
    assert read(reply, A) == ([], [])


def test_aaaa_answer_to_an_aaaa_question() -> None:
    reply = response("contoso.azure-api.net", AAAA, answers=[
        ("contoso.azure-api.net.", "AAAA", ["2001:db8::5"])])
    assert read(reply, AAAA) == (["2001:db8::5"], [])


def test_answer_of_the_wrong_type_is_not_taken() -> None:
    reply = response("contoso.azure-api.net", AAAA, answers=[
        ("contoso.azure-api.net.", "AAAA", ["2001:db8::5"])])
    assert read(reply, A) == ([], [])


@pytest.mark.parametrize("rcode", [dns.rcode.NXDOMAIN, dns.rcode.SERVFAIL, dns.rcode.REFUSED])
def test_failure_without_records(rcode: int) -> None:
    assert read(response("nope.contoso.internal", rcode=rcode), A) == ([], [])


def test_nodata() -> None:
    reply = response("contoso.azure-api.net")
    addresses, chain = read(reply, A)
    assert (addresses, chain) == ([], [])
    assert status_of(reply.rcode(), addresses) is DnsStatus.NODATA


def test_message_that_is_not_a_query_response_reads_as_empty() -> None:
    assert read(dns.message.Message(), A) == ([], [])


def test_response_without_question_reads_as_empty() -> None:
    query = dns.message.make_query("contoso.azure-api.net", A)
    reply = dns.message.make_response(query)
    reply.question = []
    reply.answer.append(dns.rrset.from_text("contoso.azure-api.net.", 300, "IN", "A", "10.0.0.5"))
    assert read(dns.message.from_wire(reply.to_wire()), A) == ([], [])


# --------------------------------------------------------------------------
# resolve() with the exchange replaced: how A and AAAA outcomes combine

RESOLVER = Resolver("192.0.2.53", 53)


def run(outcomes: dict[int, object], name: str = "Contoso.Azure-Api.NET.", *,
        aaaa: bool = False, resolver: Resolver = RESOLVER,
        prober: DnsProber | None = None) -> DnsResult:
    """resolve() with an exchange that hands back the given reply or exception."""
    async def fake(query: dns.message.Message, res: Resolver,
                   timeout: float) -> dns.message.Message:
        assert res is resolver
        outcome = outcomes[query.question[0].rdtype]
        if isinstance(outcome, BaseException):
            raise outcome
        assert isinstance(outcome, dns.message.Message)
        return outcome

    prober = DnsProber(exchange=fake, max_addresses=prober.max_addresses if prober else 16)
    return asyncio.run(prober.resolve(name, resolver, 2.0, aaaa=aaaa))


def test_resolve_ok() -> None:
    result = run({A: response("contoso.azure-api.net", answers=[
        ("contoso.azure-api.net.", "CNAME", ["gw.cloudapp.net."]),
        ("gw.cloudapp.net.", "A", ["20.1.2.3"])])})
    assert result.name == "contoso.azure-api.net"
    assert result.resolver == "192.0.2.53"
    assert (result.status, result.rcode) == (DnsStatus.OK, "NOERROR")
    assert result.addresses == ("20.1.2.3",)
    assert result.cname_chain == ("gw.cloudapp.net",)
    assert result.ok


def test_resolve_nxdomain() -> None:
    result = run({A: response("contoso.azure-api.net", rcode=dns.rcode.NXDOMAIN)})
    assert (result.status, result.rcode, result.addresses) == (DnsStatus.NXDOMAIN, "NXDOMAIN", ())
    assert not result.ok


@pytest.mark.parametrize(("exc", "status", "detail"), [
    (dns.exception.Timeout(), DnsStatus.TIMEOUT, "no answer within 2 s"),
    (dnsprobe._NoAnswer(), DnsStatus.TIMEOUT, "no answer within 2 s"),
    (ConnectionRefusedError(111, "Connection refused"), DnsStatus.ERROR,
     "ICMP port unreachable"),
    (OSError(101, "Network is unreachable"), DnsStatus.ERROR, "Network is unreachable"),
    (dns.exception.FormError("bad label"), DnsStatus.ERROR, "bad response"),
    # TCP after TC: the resolver closed the connection mid-answer or before a byte
    (EOFError(), DnsStatus.ERROR, "closed the TCP connection before a whole answer"),
    (ConnectionResetError(104, "Connection reset by peer"), DnsStatus.ERROR,
     "closed the TCP connection"),
    # whatever else a malformed answer makes a library raise is still a result
    (ValueError("bad"), DnsStatus.ERROR, "bad response: ValueError: bad"),
    (struct.error("unpack requires a buffer of 4 bytes"), DnsStatus.ERROR,
     "bad response: error: unpack requires"),
    (UnicodeDecodeError("utf-8", b"\xff", 0, 1, "invalid start byte"), DnsStatus.ERROR,
     "bad response: UnicodeDecodeError"),
])
def test_resolve_failure_is_data(exc: BaseException, status: DnsStatus, detail: str) -> None:
    result = run({A: exc}, resolver=Resolver("192.0.2.53", 5353))
    assert result.status is status
    assert result.rcode is None
    assert result.addresses == ()
    assert detail in result.detail
    assert result.resolver == "192.0.2.53:5353"


def test_resolve_a_and_aaaa_merge() -> None:
    result = run({
        A: response("contoso.azure-api.net", answers=[
            ("contoso.azure-api.net.", "CNAME", ["gw.cloudapp.net."]),
            ("gw.cloudapp.net.", "A", ["20.1.2.3"])]),
        AAAA: response("contoso.azure-api.net", AAAA, answers=[
            ("contoso.azure-api.net.", "CNAME", ["gw.cloudapp.net."]),
            ("gw.cloudapp.net.", "AAAA", ["2001:db8::5"])]),
    }, aaaa=True)
    assert result.addresses == ("20.1.2.3", "2001:db8::5")
    assert result.cname_chain == ("gw.cloudapp.net",)  # the same chain, once
    assert result.status is DnsStatus.OK


def test_resolve_a_rcode_is_the_one_reported() -> None:
    result = run({
        A: response("contoso.azure-api.net", rcode=dns.rcode.SERVFAIL),
        AAAA: response("contoso.azure-api.net", AAAA),
    }, aaaa=True)
    assert (result.status, result.rcode) == (DnsStatus.SERVFAIL, "SERVFAIL")


def test_resolve_a_timeout_is_not_hidden_by_an_empty_aaaa_answer() -> None:
    # the A question went unanswered and there is no AAAA record: "nodata" would send the
    # user looking for a missing A record that may well exist
    result = run({A: dns.exception.Timeout(),
                               AAAA: response("contoso.azure-api.net", AAAA)}, aaaa=True)
    assert (result.status, result.rcode, result.addresses) == (DnsStatus.TIMEOUT, None, ())
    assert result.detail == "no answer within 2 s"


def test_resolve_nxdomain_on_aaaa_holds_for_the_name() -> None:
    # NXDOMAIN says the name has no records of any type: true whatever happened to A
    result = run({
        A: dns.exception.Timeout(),
        AAAA: response("contoso.azure-api.net", AAAA, rcode=dns.rcode.NXDOMAIN)}, aaaa=True)
    assert (result.status, result.rcode) == (DnsStatus.NXDOMAIN, "NXDOMAIN")


def test_resolve_aaaa_addresses_count_when_the_a_question_times_out() -> None:
    result = run({
        A: dns.exception.Timeout(),
        AAAA: response("contoso.azure-api.net", AAAA, answers=[
            ("contoso.azure-api.net.", "AAAA", ["2001:db8::5"])]),
    }, aaaa=True)
    assert (result.status, result.addresses) == (DnsStatus.OK, ("2001:db8::5",))


def test_resolve_aaaa_failure_does_not_spoil_the_a_answer() -> None:
    result = run({
        A: response("contoso.azure-api.net", answers=[
            ("contoso.azure-api.net.", "A", ["10.0.0.5"])]),
        AAAA: dns.exception.Timeout(),
    }, aaaa=True)
    assert (result.status, result.rcode, result.addresses) == (
        DnsStatus.OK, "NOERROR", ("10.0.0.5",))


def test_cancellation_is_not_a_dns_status() -> None:
    with pytest.raises(asyncio.CancelledError):
        translate(asyncio.CancelledError(), 2.0)
    with pytest.raises(KeyboardInterrupt):
        translate(KeyboardInterrupt(), 2.0)


# --------------------------------------------------------------------------
# CNAME chains: how long, loops


def chained(length: int, *, last: str | None = None) -> dns.message.Message:
    """n.test -> c1.n.test -> ... -> c<length>.n.test (or ``last``), A 198.18.9.16."""
    links = [f"c{i}.n.test." for i in range(1, length + 1)]
    if last is not None:
        links[-1] = last
    owners = ["n.test.", *links]
    rrsets = [(o, "CNAME", [t]) for o, t in zip(owners, links, strict=False)]
    return response("n.test", answers=[*rrsets, (owners[-1], "A", ["198.18.9.16"])])


@pytest.mark.parametrize("length", [0, 1, 15, MAX_CNAME_CHAIN])
def test_chains_up_to_the_limit_resolve(length: int) -> None:
    reading = read_response(chained(length), A)
    assert (reading.addresses, reading.problem) == (("198.18.9.16",), None)
    assert len(reading.chain) == length


@pytest.mark.parametrize("length", [MAX_CNAME_CHAIN + 1, 40])
def test_longer_chains_are_a_problem_with_the_chain_so_far(length: int) -> None:
    reading = read_response(chained(length), A)
    assert reading.addresses == ()
    assert reading.problem == "CNAME chain longer than 16"
    assert reading.chain == tuple(f"c{i}.n.test" for i in range(1, MAX_CNAME_CHAIN + 2))


@pytest.mark.parametrize(("reply", "chain", "where"), [
    (response("n.test", answers=[("n.test.", "CNAME", ["n.test."])]), ("n.test",), "n.test"),
    (response("n.test", answers=[("n.test.", "CNAME", ["b.test."]),
                                 ("b.test.", "CNAME", ["n.test."])]),
     ("b.test", "n.test"), "n.test"),
    (response("n.test", answers=[("n.test.", "CNAME", ["b.test."]),
                                 ("b.test.", "CNAME", ["c.test."]),
                                 ("c.test.", "CNAME", ["b.test."])]),
     ("b.test", "c.test", "b.test"), "b.test"),
])
def test_loops_are_a_problem_naming_the_name_met_twice(
        reply: dns.message.Message, chain: tuple[str, ...], where: str) -> None:
    reading = read_response(reply, A)
    assert (reading.addresses, reading.chain) == ((), chain)
    assert reading.problem == f"CNAME loop at {where}"


def test_a_referral_is_a_note_not_a_problem() -> None:
    query = dns.message.make_query("n.test", A)
    reply = dns.message.make_response(query)
    reply.authority.append(dns.rrset.from_text("test.", 300, "IN", "NS", "ns1.elsewhere."))
    reading = read_response(dns.message.from_wire(reply.to_wire()), A)
    assert (reading.addresses, reading.problem) == ((), REFERRAL)


def test_a_broken_chain_is_an_error_with_the_chain_kept() -> None:
    result = run({A: chained(40)})
    assert (result.status, result.rcode) == (DnsStatus.ERROR, "NOERROR")
    assert result.detail == "CNAME chain longer than 16"
    assert len(result.cname_chain) == 17 and result.addresses == ()


def test_a_referral_is_nodata_with_a_detail() -> None:
    query = dns.message.make_query("contoso.azure-api.net", A)
    reply = dns.message.make_response(query)
    reply.authority.append(dns.rrset.from_text("net.", 300, "IN", "NS", "a.gtld-servers.net."))
    result = run({A: dns.message.from_wire(reply.to_wire())})
    assert (result.status, result.detail) == (DnsStatus.NODATA, REFERRAL)


def test_addresses_beside_nxdomain_are_not_kept() -> None:
    result = run({A: response("contoso.azure-api.net", rcode=dns.rcode.NXDOMAIN, answers=[
        ("contoso.azure-api.net.", "A", ["10.0.0.5"])])})
    assert (result.status, result.addresses) == (DnsStatus.NXDOMAIN, ())


# --------------------------------------------------------------------------
# the cap on addresses per name


def test_cap_keeps_the_lowest_addresses_in_address_order() -> None:
    many = tuple(f"10.0.{i % 3}.{i}" for i in range(30, 0, -1))
    result = DnsResult("n.test", "r", DnsStatus.OK, "NOERROR", many, (), 0.1)
    capped = cap(result, 4)
    assert capped.addresses == ("10.0.0.3", "10.0.0.6", "10.0.0.9", "10.0.0.12")
    assert capped.addresses_dropped == 26
    assert capped.detail == ("the answer holds 30 addresses; probing the first 4 in address "
                             "order ([dns] max_addresses)")
    assert cap(capped, 4) == capped
    assert cap(result, 30) is result


def test_cap_orders_numerically_within_a_family() -> None:
    result = DnsResult("n.test", "r", DnsStatus.OK, "NOERROR",
                       ("10.0.0.100", "10.0.0.10", "10.0.0.9"), (), 0.1)
    assert cap(result, 2).addresses == ("10.0.0.9", "10.0.0.10")


def test_cap_keeps_both_families_when_the_answer_has_both() -> None:
    """More IPv4 addresses than the cap must not hide the IPv6 side (aaaa = true)."""
    v4 = tuple(f"198.18.0.{i}" for i in range(40, 0, -1))
    v6 = ("2001:db8::3", "2001:db8::1", "2001:db8::2")
    result = DnsResult("n.test", "r", DnsStatus.OK, "NOERROR", v6 + v4, (), 0.1)
    capped = cap(result, 4)
    assert capped.addresses == ("198.18.0.1", "198.18.0.2", "2001:db8::1", "2001:db8::2")
    assert capped.addresses_dropped == 39
    assert "the lowest of IPv4 and IPv6 in turn" in capped.detail
    # Fewer of one family than its turns: the other fills the cap.
    assert cap(result, 8).addresses == (*(f"198.18.0.{i}" for i in range(1, 6)), *sorted(v6))


def test_the_prober_caps_what_it_returns() -> None:
    many = [f"198.18.0.{i}" for i in range(1, 41)]
    result = run({A: response("contoso.azure-api.net", answers=[
        ("contoso.azure-api.net.", "A", many)])}, prober=DnsProber(max_addresses=16))
    assert result.addresses == tuple(f"198.18.0.{i}" for i in range(1, 17))
    assert result.addresses_dropped == 24 and result.status is DnsStatus.OK
    with pytest.raises(ValueError):
        DnsProber(max_addresses=0)


def test_aaaa_addresses_beside_a_failing_a_question_are_not_kept() -> None:
    result = run({
        A: response("contoso.azure-api.net", rcode=dns.rcode.SERVFAIL),
        AAAA: response("contoso.azure-api.net", AAAA, answers=[
            ("contoso.azure-api.net.", "AAAA", ["2001:db8::5"])]),
    }, aaaa=True)
    assert (result.status, result.addresses) == (DnsStatus.SERVFAIL, ())
