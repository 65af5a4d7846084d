"""Answers that cannot be the dependency (pure logic, no sockets): which
addresses they are, how a round plans and reports them, and the finding that
explains them. The lab test (tests/test_unusable_lab.py) asks a real dnsmasq
and counts the packets."""

from __future__ import annotations

import asyncio
import socket
from collections import namedtuple
from pathlib import Path

import pytest

from probe.addresses import NO_LOCAL, LocalAddresses, in_prefixes, unusable
from probe.cli import main
from probe.config import Config, DnsConfig, Target
from probe.diagnosis import Context, diagnose
from probe.exporters import jsonreport, table
from probe.exporters.prometheus import one_round
from probe.hostinfo import local_from
from probe.resolvers import Resolver
from probe.results import DnsResult, DnsStatus, PortState, Severity
from probe.round import plan, run_round
from tests.helpers.recording import RecordingProber
from tests.test_round import TableResolver

LOCAL = LocalAddresses(own=frozenset({"198.18.7.2", "2001:db8::7"}),
                       broadcasts=frozenset({"198.18.7.255"}))


@pytest.mark.parametrize(("address", "kind"), [
    ("0.0.0.0", "sinkhole"), ("0.1.2.3", "sinkhole"), ("::", "sinkhole"),
    ("::ffff:0.0.0.0", "sinkhole"),
    ("127.0.0.1", "loopback"), ("127.255.255.254", "loopback"), ("::1", "loopback"),
    ("::ffff:127.0.0.1", "loopback"),
    ("198.18.7.2", "own-address"), ("2001:db8::7", "own-address"),
    ("224.0.0.1", "multicast"), ("239.255.255.250", "multicast"), ("ff02::1", "multicast"),
    ("255.255.255.255", "broadcast"), ("198.18.7.255", "broadcast"),
    ("169.254.169.254", "link-local"), ("169.254.0.1", "link-local"), ("fe80::1", "link-local"),
    # probed as usual: the lab, Azure's private and public ranges (data only), Azure DNS
    ("198.18.0.5", None), ("198.19.255.255", None), ("198.18.7.1", None),
    ("10.0.0.5", None), ("172.16.0.4", None), ("20.38.1.2", None), ("168.63.129.16", None),
    ("2001:db8::53", None), ("fd00::1", None),
])
def test_what_cannot_be_a_dependency(address: str, kind: str | None) -> None:
    assert unusable(address, LOCAL) == kind


def test_own_and_broadcast_need_the_hosts_addresses() -> None:
    assert unusable("198.18.7.2", NO_LOCAL) is None
    assert unusable("198.18.7.255", NO_LOCAL) is None


Addr = namedtuple("Addr", "family address netmask broadcast ptp")


def test_local_addresses_from_the_kernels_view() -> None:
    held = {
        "lo": [Addr(socket.AF_INET, "127.0.0.1", "255.0.0.0", None, None),
               Addr(socket.AF_INET6, "::1", "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", None,
                    None)],
        "eth0": [Addr(socket.AF_INET, "198.18.7.2", "255.255.255.0", "198.18.7.255", None),
                 Addr(socket.AF_INET6, "fe80::1%eth0", "ffff:ffff:ffff:ffff::", None, None),
                 Addr(getattr(socket, "AF_PACKET", 17), "02:00:00:00:00:01", None,
                      "ff:ff:ff:ff:ff:ff", None)],
        "p2p": [Addr(socket.AF_INET, "198.19.0.1", "255.255.255.255", None, "198.19.0.2")],
        "sub": [Addr(socket.AF_INET, "198.18.9.9", "255.255.255.240", None, None)],
    }
    local = local_from(held)
    assert local.own == {"127.0.0.1", "::1", "198.18.7.2", "fe80::1", "198.19.0.1",
                         "198.18.9.9"}
    assert local.broadcasts == {"127.255.255.255", "198.18.7.255", "198.18.9.15"}


@pytest.mark.parametrize(("address", "prefixes", "inside"), [
    ("127.0.0.1", ["127.0.0.0/8"], True), ("127.0.0.1", ["::1"], False),
    ("::1", ["::1"], True), ("169.254.169.254", ["169.254.169.254"], True),
    ("0.0.0.0", [], False), ("10.1.2.3", ["10.1.2.0/24", "127.0.0.0/8"], True),
])
def test_in_prefixes(address: str, prefixes: list[str], inside: bool) -> None:
    assert in_prefixes(address, prefixes) is inside


STORAGE = Target("storage", "apimst.blob.core.windows.net", 443, "storage")
MONITOR = Target("monitor", "gcs.prod.monitoring.core.windows.net", 1886, "monitor",
                 required=False)
TYPED = Target("loop", "127.0.0.1", 9839)


def _answer(name: str, *addresses: str) -> DnsResult:
    return DnsResult(name, "198.18.2.54", DnsStatus.OK, "NOERROR", addresses, (), 0.001)


def test_plan_marks_unusable_answers_but_probes_typed_addresses() -> None:
    rows = plan([STORAGE, TYPED], [_answer(STORAGE.host, "0.0.0.0", "198.18.0.5")],
                local=LOCAL)
    assert [(r.target.name, r.address, r.unusable) for r in rows] == [
        ("storage", "0.0.0.0", "sinkhole"), ("storage", "198.18.0.5", None),
        ("loop", "127.0.0.1", None)]


def test_allowed_prefixes_are_probed() -> None:
    rows = plan([STORAGE], [_answer(STORAGE.host, "127.0.0.1", "0.0.0.0")], local=LOCAL,
                allow=["127.0.0.0/8"])
    assert [(r.address, r.unusable) for r in rows] == [("127.0.0.1", None),
                                                        ("0.0.0.0", "sinkhole")]


def _round(*answers: tuple[str, tuple[str, ...]]) -> tuple[RecordingProber, object]:
    primary, azure = Resolver("198.18.2.54"), Resolver("198.18.2.53")
    tableau = {}
    for name, addresses in answers:
        tableau[(name, primary.label)] = addresses
        tableau[(name, azure.label)] = ("198.18.0.5",)
    prober = RecordingProber()
    config = Config(dns=DnsConfig(resolvers=(primary, azure)), targets=(STORAGE, MONITOR))
    result = asyncio.run(run_round(config, prober, TableResolver(tableau), local=LOCAL))
    return prober, result


def test_a_sinkholed_required_dependency_is_critical_and_nothing_is_probed() -> None:
    prober, result = _round((STORAGE.host, ("0.0.0.0",)), (MONITOR.host, ("224.0.0.1",)))
    assert prober.jobs == []
    rows = [(r.target, r.address, r.state, r.reason, r.ok, r.probed)
            for r in result.tcp]  # type: ignore[attr-defined]
    assert rows == [("storage", "0.0.0.0", PortState.UNUSABLE, "sinkhole", False, False),
                    ("monitor", "224.0.0.1", PortState.UNUSABLE, "multicast", False, False)]
    findings = diagnose(result, Context(reference_resolvers=("198.18.2.53",)))  # type: ignore
    unusable_findings = [f for f in findings if f.id == "dns-answer-unusable"]
    assert [(f.subject, f.severity) for f in unusable_findings] == [
        (STORAGE.host, Severity.CRITICAL), (MONITOR.host, Severity.WARNING)]
    sink, mcast = unusable_findings
    assert sink.summary == (f"{STORAGE.host} resolves to 0.0.0.0 on 198.18.2.54 (sinkhole), "
                            "which cannot be storage; not probed")
    assert "DNS sinkhole or a blocking policy" in sink.remedy
    assert "multicast group" in mcast.remedy
    # Azure DNS's real answer is the evidence that the custom DNS blocks the name
    assert sink.evidence[1].startswith("198.18.2.53: 198.18.0.5")
    # no other finding blames the network for what DNS did
    assert {f.id for f in findings} & {"outbound-dropped", "outbound-rejected"} == set()


@pytest.mark.parametrize(("address", "kind", "words"), [
    ("127.0.0.1", "loopback", "override"), ("198.18.7.2", "own-address", "own address"),
    ("255.255.255.255", "broadcast", "broadcast address"),
    ("169.254.169.254", "link-local", "instance metadata service")])
def test_each_kind_explains_itself(address: str, kind: str, words: str) -> None:
    _, result = _round((STORAGE.host, (address,)), (MONITOR.host, ("198.18.0.5",)))
    (f,) = [f for f in diagnose(result) if f.id == "dns-answer-unusable"]  # type: ignore
    assert f"({kind})" in f.summary and words in f.remedy


def test_every_output_shows_the_state_and_its_kind() -> None:
    _, result = _round((STORAGE.host, ("0.0.0.0",)), (MONITOR.host, ("198.18.0.5",)))
    text = table.render(result)  # type: ignore[arg-type]
    line = next(x for x in text.splitlines() if x.startswith("storage"))
    assert "0.0.0.0:443" in line and "unusable" in line and "sinkhole" in line
    report = jsonreport.to_dict(result)  # type: ignore[arg-type]
    assert (report["tcp"][0]["state"], report["tcp"][0]["reason"]) == ("unusable", "sinkhole")
    body, _ = one_round(result)  # type: ignore[arg-type]
    assert 'state="unusable",reason="sinkhole"' in body.decode()


@pytest.mark.parametrize(("host", "what"), [
    ("0.0.0.0", "0.0.0.0 is unspecified"), ("::", ":: is unspecified"),
    ("224.0.0.1", "224.0.0.1 is multicast"), ("ff02::1", "ff02::1 is multicast"),
    ("255.255.255.255", "255.255.255.255 is broadcast")])
def test_a_typed_address_no_tcp_service_can_have_is_a_config_error(
        tmp_path: Path, host: str, what: str, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "probe.toml"
    path.write_text(f'[[target]]\nname = "t"\nhost = "{host}"\nport = 443\n', encoding="utf-8")
    assert main(["--check-config", "-c", str(path)]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"probe: error: {path}:3: target[0].host") and what in err
    spec = f"t=[{host}]:443" if ":" in host else f"t={host}:443"
    assert main(["--check-config", "--target", spec]) == 2
    assert what in capsys.readouterr().err


@pytest.mark.parametrize("host", ["127.0.0.1", "169.254.169.254", "::1", "198.18.0.5"])
def test_typed_loopback_and_link_local_stay_the_users_word(
        tmp_path: Path, host: str, capsys: pytest.CaptureFixture[str]) -> None:
    spec = f"t=[{host}]:80" if ":" in host else f"t={host}:80"
    assert main(["--check-config", "--target", spec]) == 0, capsys.readouterr().err
