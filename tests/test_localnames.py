"""Names this host answers itself (probe/localnames.py, the local answers of
probe/probers/dns.py, finding hosts-file-pin): RFC 6761's localhost and
.invalid, and the hosts file. Pure logic, plus a resolver under test control
that fails the test if a local name reaches it; no packet leaves."""

from __future__ import annotations

import asyncio
import dataclasses
import os
from datetime import UTC, datetime
from pathlib import Path

import dns.message
import pytest

from probe.config import parse
from probe.diagnosis import diagnose, dns_disagreement, hosts_file_pin
from probe.errors import InputError
from probe.exporters import table
from probe.localnames import (
    HOSTS,
    is_localhost,
    parse_hosts,
    pinned,
    read_hosts,
    special_answer,
)
from probe.probers.dns import DnsProber, local_result
from probe.resolvers import HOSTS_RESOLVER, Resolver
from probe.results import DnsResult, DnsStatus, HostInfo, RoundResult, Severity
from probe.round import plan
from tests.helpers.rounds import CUSTOM, fail, ok, only

DNS = Resolver("198.18.2.54", 53, "198.18.2.54")
APIM = "contoso.azure-api.net"

HOSTS_TEXT = """\
# a jump box's hosts file, as people leave them
127.0.0.1\tlocalhost
::1     localhost ip6-localhost ip6-loopback
198.18.9.9  Contoso.Azure-Api.NET  contoso.management.azure-api.net # pinned by hand
not-an-address  broken.example
198.18.9.10 contoso.azure-api.net
fe80::1%eth0 linklocal.example
198.18.9.11
2001:db8::5 six.example
"""


# ---- the hosts file ---------------------------------------------------------


def test_hosts_file_is_read_as_glibc_reads_it() -> None:
    hosts = parse_hosts(HOSTS_TEXT)
    # case-insensitive, every line's address in file order, comments dropped
    assert hosts[APIM] == ("198.18.9.9", "198.18.9.10")
    assert hosts["contoso.management.azure-api.net"] == ("198.18.9.9",)
    assert hosts["localhost"] == ("127.0.0.1", "::1")
    assert hosts["linklocal.example"] == ("fe80::1",)  # the scope is not the address
    # a line whose first field is no address, or with no name, hides nothing else
    assert "broken.example" not in hosts and "not-an-address" not in hosts
    assert "198.18.9.11" not in hosts and "#" not in "".join(hosts)


@pytest.mark.parametrize("text", ["", "\n\n", "# only comments\n", "garbage garbage\n",
                                  "\x00\x01\x02\n", "198.18.0.1\n"])
def test_a_hosts_file_without_entries_pins_nothing(text: str) -> None:
    assert dict(parse_hosts(text)) == {}


def test_reading_the_hosts_file_is_bounded_and_says_why(tmp_path: Path) -> None:
    path = tmp_path / "hosts"
    path.write_bytes(b"198.18.9.9 caf\xe9.example apim.example\n")
    assert read_hosts(path)["apim.example"] == ("198.18.9.9",)  # a Latin-1 byte hides nothing
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    with pytest.raises(InputError, match="FIFO"):
        read_hosts(fifo)
    big = tmp_path / "big"
    big.write_bytes(b"#" * (2 << 20))
    with pytest.raises(InputError, match="over the limit"):
        read_hosts(big)
    with pytest.raises(InputError, match="No such file"):
        read_hosts(tmp_path / "absent")


def test_pinned_names_of_a_round_leave_localhost_out() -> None:
    hosts = parse_hosts(HOSTS_TEXT)
    assert pinned(["localhost", APIM.upper() + ".", "blob.example", APIM], hosts) == (
        (APIM.upper() + ".", ("198.18.9.9", "198.18.9.10")),
        (APIM, ("198.18.9.9", "198.18.9.10")))


# ---- RFC 6761 ------------------------------------------------------------------


@pytest.mark.parametrize(("name", "addresses"), [
    ("localhost", ("127.0.0.1",)), ("LOCALHOST.", ("127.0.0.1",)),
    ("api.localhost", ("127.0.0.1",)), ("invalid", ()), ("apim.contoso.invalid", ()),
    ("INVALID.", ()),
])
def test_special_names_are_answered_locally(name: str, addresses: tuple[str, ...]) -> None:
    answer = special_answer(name)
    assert answer is not None and answer.addresses == addresses
    assert "RFC 6761" in answer.detail
    assert is_localhost(name) == bool(addresses)


@pytest.mark.parametrize("name", ["test", "apim.test", "example", "contoso.example",
                                  "localhost.contoso.com", "notlocalhost", "invalid.example",
                                  APIM])
def test_other_names_go_to_dns(name: str) -> None:
    # .test and .example are ordinary names to resolvers (RFC 6761 6.2, 6.5)
    assert special_answer(name) is None and not is_localhost(name)


def test_localhost_with_aaaa_is_both_loopbacks() -> None:
    answer = special_answer("localhost", aaaa=True)
    assert answer is not None and answer.addresses == ("127.0.0.1", "::1")


@pytest.mark.parametrize("resolver", [DNS, HOSTS_RESOLVER])
def test_special_names_are_the_same_on_every_resolver(resolver: Resolver) -> None:
    local = local_result("LocalHost.", resolver, aaaa=False, hosts={})
    assert local is not None and local.name == "localhost" and local.resolver == resolver.label
    assert (local.status, local.addresses) == (DnsStatus.OK, ("127.0.0.1",))
    gone = local_result("apim.invalid", resolver, aaaa=False, hosts={})
    assert gone is not None and gone.status is DnsStatus.NXDOMAIN and gone.rcode == "NXDOMAIN"


def test_the_hosts_resolver_answers_from_the_file() -> None:
    hosts = parse_hosts(HOSTS_TEXT)
    found = local_result(APIM, HOSTS_RESOLVER, aaaa=False, hosts=hosts)
    assert found is not None and found.resolver == HOSTS
    assert (found.status, found.addresses) == (DnsStatus.OK, ("198.18.9.9", "198.18.9.10"))
    missing = local_result("blob.example", HOSTS_RESOLVER, aaaa=False, hosts=hosts)
    assert missing is not None and missing.status is DnsStatus.NXDOMAIN
    assert "not in the hosts file" in missing.detail
    v6 = local_result("six.example", HOSTS_RESOLVER, aaaa=False, hosts=hosts)
    assert v6 is not None and v6.status is DnsStatus.NODATA and "aaaa = false" in v6.detail
    v6 = local_result("six.example", HOSTS_RESOLVER, aaaa=True, hosts=hosts)
    assert v6 is not None and v6.addresses == ("2001:db8::5",)
    unreadable = local_result(APIM, HOSTS_RESOLVER, aaaa=False, hosts="/x: cannot read: gone")
    assert unreadable is not None and unreadable.status is DnsStatus.ERROR
    assert unreadable.detail == "/x: cannot read: gone"
    # a DNS server is asked about every other name
    assert local_result(APIM, DNS, aaaa=False, hosts=hosts) is None


def test_local_names_never_reach_a_dns_server(tmp_path: Path) -> None:
    asked: list[str] = []

    async def exchange(query: dns.message.Message, resolver: Resolver,
                       timeout: float) -> dns.message.Message:
        asked.append(query.question[0].name.to_text())
        raise TimeoutError

    hosts = tmp_path / "hosts"
    hosts.write_text(HOSTS_TEXT)
    prober = DnsProber(exchange=exchange, hosts_file=hosts)
    results = asyncio.run(prober.resolve_all(
        ["localhost", "a.invalid", APIM], [DNS, HOSTS_RESOLVER], 0.5))
    assert asked == [f"{APIM}."]  # only the ordinary name, only of the DNS server
    by = {(r.name, r.resolver): r for r in results}
    assert by["localhost", DNS.label].addresses == ("127.0.0.1",)
    assert by["a.invalid", HOSTS].status is DnsStatus.NXDOMAIN
    assert by[APIM, HOSTS].addresses == ("198.18.9.9", "198.18.9.10")
    assert by[APIM, DNS.label].status is DnsStatus.TIMEOUT


def test_an_unreadable_hosts_file_is_that_resolvers_error(tmp_path: Path) -> None:
    async def exchange(*_: object) -> dns.message.Message:
        raise AssertionError("no DNS server is asked here")

    prober = DnsProber(exchange=exchange, hosts_file=tmp_path / "absent")
    [result] = asyncio.run(prober.resolve_all([APIM], [HOSTS_RESOLVER], 0.5))
    assert result.status is DnsStatus.ERROR and "No such file" in result.detail


# ---- config and plan --------------------------------------------------------------


def test_resolvers_may_name_the_hosts_file() -> None:
    config = parse("[dns]\nresolvers = ['hosts', '198.18.2.54']\nhosts_file = '/srv/hosts'\n"
                   "[[target]]\nname = 'a'\nhost = 'contoso.example'\nport = 443\n")
    assert [r.label for r in config.dns.resolvers] == ["hosts", "198.18.2.54"]
    assert config.dns.hosts_file == "/srv/hosts"


def test_a_localhost_target_is_probed_on_loopback() -> None:
    config = parse("[[target]]\nname = 'agent'\nhost = 'localhost'\nport = 9839\n"
                   "[[target]]\nname = 'gw'\nhost = 'contoso.example'\nport = 443\n"
                   "[dns]\nresolvers = ['198.18.2.54']\n")
    rows = plan(config.targets, [ok("localhost", CUSTOM, "127.0.0.1"),
                                 ok("contoso.example", CUSTOM, "127.0.0.1")])
    # localhost is loopback by definition; any other name answered with loopback is not
    assert [(r.target.name, r.unusable) for r in rows] == [("agent", None), ("gw", "loopback")]


# ---- finding hosts-file-pin ----------------------------------------------------


def _round(*answers: DnsResult, pins: tuple[tuple[str, tuple[str, ...]], ...],
           resolvers: tuple[str, ...] = (CUSTOM, "198.18.2.53")) -> RoundResult:
    return RoundResult(datetime(2026, 12, 4, tzinfo=UTC), 0.5, resolvers, answers, (),
                       host=HostInfo(pinned=pins))


def test_a_pin_that_differs_from_dns_is_a_warning_naming_both() -> None:
    r = _round(ok(APIM, CUSTOM, "198.18.2.10"), pins=((APIM, ("198.18.9.9",)),))
    f = only(list(hosts_file_pin(r)))
    assert (f.id, f.severity, f.subject) == ("hosts-file-pin", Severity.WARNING, APIM)
    assert "198.18.9.9" in f.summary and "198.18.2.10" in f.summary and CUSTOM in f.summary
    assert f.evidence[0] == f"hosts file: {APIM} -> 198.18.9.9"
    assert "APIM never reads this host's hosts file" in f.remedy


def test_a_pin_where_dns_fails_is_the_jump_box_story() -> None:
    r = _round(fail(APIM, CUSTOM, DnsStatus.NXDOMAIN, "NXDOMAIN"),
               pins=((APIM, ("198.18.9.9",)),))
    f = only(list(hosts_file_pin(r)))
    assert "nxdomain" in f.summary and "works from the jump box, not from APIM" in f.remedy


@pytest.mark.parametrize(("dns_addresses", "pins"), [
    (("198.18.2.10",), ("198.18.2.10",)),               # DNS agrees
    (("198.18.2.10", "198.18.2.11"), ("198.18.2.11", "198.18.2.10")),  # in another order
    (("198.18.2.10",), ("198.18.2.10", "2001:db8::1")),  # AAAA not asked: IPv4 compared
    (("198.18.2.10",), ("2001:db8::1",)),                # nothing comparable
])
def test_a_pin_dns_agrees_with_says_nothing(dns_addresses: tuple[str, ...],
                                            pins: tuple[str, ...]) -> None:
    r = _round(ok(APIM, CUSTOM, *dns_addresses), pins=((APIM, pins),))
    assert list(hosts_file_pin(r)) == []


def test_pins_compare_with_the_first_dns_server_not_the_hosts_resolver() -> None:
    answers = (ok(APIM, HOSTS, "198.18.9.9"), ok(APIM, CUSTOM, "198.18.2.10"))
    pins = ((APIM, ("198.18.9.9",)),)
    f = only(list(hosts_file_pin(_round(*answers, pins=pins, resolvers=(HOSTS, CUSTOM)))))
    assert CUSTOM in f.summary
    # only the hosts file asked: the user chose the pins, nothing to compare
    alone = _round(ok(APIM, HOSTS, "198.18.9.9"), pins=pins, resolvers=(HOSTS,))
    assert list(hosts_file_pin(alone)) == []
    # no host context (its stage failed), no pins: nothing to say
    bare = dataclasses.replace(_round(ok(APIM, CUSTOM, "198.18.2.10"), pins=pins), host=None)
    assert list(hosts_file_pin(bare)) == []


def test_the_hosts_resolver_not_listing_a_name_is_no_resolver_failing() -> None:
    r = _round(fail(APIM, HOSTS, DnsStatus.NXDOMAIN, "NXDOMAIN"),
               ok(APIM, CUSTOM, "198.18.2.10"), ok(APIM, "198.18.2.53", "198.18.2.10"),
               pins=(), resolvers=(CUSTOM, "198.18.2.53", HOSTS))
    assert list(dns_disagreement(r)) == []
    assert [f.id for f in diagnose(r)] == []



def test_the_table_does_not_call_the_hosts_file_a_disagreeing_resolver() -> None:
    r = _round(fail(APIM, HOSTS, DnsStatus.NXDOMAIN, "NXDOMAIN"), ok(APIM, CUSTOM, "198.18.2.10"),
               ok("b.example", HOSTS, "198.18.9.9"), ok("b.example", CUSTOM, "198.18.2.11"),
               ok("b.example", "198.18.2.53", "198.18.2.12"),
               pins=(), resolvers=(CUSTOM, "198.18.2.53", HOSTS))
    lines = {line.split()[0]: line for line in table.render(r).splitlines() if line.strip()}
    assert "disagree" not in lines[APIM]
    assert "<- resolvers disagree" in lines["b.example"]  # two DNS servers do disagree
