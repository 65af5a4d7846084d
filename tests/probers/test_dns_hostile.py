"""The DNS prober against a server that misbehaves on purpose (tests/helpers/hostile_dns.py).

Loopback only: the server binds 127.0.0.1 on a free non-53 port and the
prober asks it directly (``Resolver("127.0.0.1", port)``). Whatever the
server does, every name gets a result with a status from the documented set
and a detail a user can act on; nothing raises.
"""

from __future__ import annotations

import asyncio
import ipaddress
import json
import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from probe.config import AgentConfig, Config, DnsConfig, Target
from probe.probers.dns import DEFAULT_MAX_ADDRESSES, DnsProber
from probe.resolvers import Resolver
from probe.results import DnsResult, DnsStatus
from probe.round import run_round
from tests.helpers.hostile_dns import HostileDns, name_of
from tests.helpers.recording import RecordingProber

# Generous where an answer is expected (a busy shared machine can stall this process for
# most of a second), short where silence is the point.
TIMEOUT = 2.0
QUIET = 0.5
SLOW = 10.0  # a 64 KiB answer costs dnspython ~0.3 s to build and parse: more on a busy host


@pytest.fixture(scope="module")
def server() -> Iterator[HostileDns]:
    with HostileDns() as hostile:
        yield hostile


def resolver_of(server: HostileDns) -> Resolver:
    return Resolver("127.0.0.1", server.port)


def resolve(server: HostileDns, behaviour: str, *, aaaa: bool = False,
            prober: DnsProber | None = None, timeout: float | None = None) -> DnsResult:
    prober = prober or DnsProber()
    timeout = timeout or (SLOW if behaviour == "many-a" else TIMEOUT)
    return asyncio.run(prober.resolve(name_of(behaviour), resolver_of(server), timeout,
                                      aaaa=aaaa))


# --------------------------------------------------------------------------
# TCP after TC: every way a TCP answer can fail is an error with a detail


@pytest.mark.parametrize(("behaviour", "detail"), [
    ("tc-tcp-closed", "closed the TCP connection"),
    ("tc-tcp-half-prefix", "closed the TCP connection"),
    ("tc-tcp-cut-message", "closed the TCP connection"),
    ("tc-tcp-garbage", "bad response"),
    ("tc-tcp-wrong-question", "bad response"),
    ("tc-tcp-wrong-id", "bad response"),
])
def test_a_tcp_answer_cut_short_or_wrong_is_an_error_not_a_crash(
        server: HostileDns, behaviour: str, detail: str) -> None:
    result = resolve(server, behaviour)
    assert result.status is DnsStatus.ERROR
    assert detail in result.detail
    assert result.addresses == ()
    assert result.resolver == f"127.0.0.1:{server.port}"


@pytest.mark.parametrize("behaviour", ["garbage", "wrong-id", "wrong-question", "silence"])
def test_datagrams_that_answer_nothing_read_as_silence(server: HostileDns,
                                                       behaviour: str) -> None:
    result = resolve(server, behaviour, timeout=QUIET)
    assert (result.status, result.addresses) == (DnsStatus.TIMEOUT, ())
    assert result.detail == f"no answer within {QUIET:g} s"


# --------------------------------------------------------------------------
# CNAME chains and loops


@pytest.mark.parametrize("length", [15, 16])
def test_cname_chains_up_to_16_resolve(server: HostileDns, length: int) -> None:
    result = resolve(server, f"chain-{length}")
    assert (result.status, result.addresses) == (DnsStatus.OK, ("198.18.9.16",))
    assert len(result.cname_chain) == length
    assert result.cname_chain[-1] == f"c{length}.chain-{length}.hostile.test"


@pytest.mark.parametrize("length", [17, 40])
def test_longer_cname_chains_are_an_error_with_the_chain_as_evidence(
        server: HostileDns, length: int) -> None:
    result = resolve(server, f"chain-{length}")
    assert result.status is DnsStatus.ERROR
    assert result.rcode == "NOERROR"
    assert result.detail == "CNAME chain longer than 16"
    assert result.addresses == ()
    assert result.cname_chain[:2] == (f"c1.chain-{length}.hostile.test",
                                      f"c2.chain-{length}.hostile.test")
    assert len(result.cname_chain) == 17


@pytest.mark.parametrize(("behaviour", "chain"), [
    ("loop-self", ("loop-self.hostile.test",)),
    ("loop-two", ("b.loop-two.hostile.test", "loop-two.hostile.test")),
])
def test_cname_loops_are_an_error_naming_where_they_loop(
        server: HostileDns, behaviour: str, chain: tuple[str, ...]) -> None:
    result = resolve(server, behaviour)
    assert result.status is DnsStatus.ERROR
    assert result.detail == f"CNAME loop at {chain[-1]}"
    assert result.cname_chain == chain
    assert result.addresses == ()


# --------------------------------------------------------------------------
# thousands of addresses: a cap


def test_thousands_of_addresses_are_capped_and_the_cap_is_said(server: HostileDns) -> None:
    result = resolve(server, "many-a")
    assert result.status is DnsStatus.OK
    assert len(result.addresses) == DEFAULT_MAX_ADDRESSES == 16
    assert set(result.addresses) <= server.served[name_of("many-a")]
    # the lowest addresses, so every resolver and every round probe the same ones
    assert list(result.addresses) == sorted(result.addresses, key=ipaddress.ip_address)
    assert result.addresses_dropped == 4090 - 16
    assert result.detail == ("the answer holds 4090 addresses; probing the first 16 "
                             "in address order ([dns] max_addresses)")


def test_the_cap_is_configurable(server: HostileDns) -> None:
    result = resolve(server, "many-a", prober=DnsProber(max_addresses=3))
    assert result.addresses == ("127.1.0.0", "127.1.0.1", "127.1.0.2")
    assert result.addresses_dropped == 4087


def test_the_round_probes_no_more_than_the_cap(server: HostileDns) -> None:
    prober = RecordingProber()
    config = Config(agent=AgentConfig(timeout=SLOW),
                    dns=DnsConfig(resolvers=(resolver_of(server),), max_addresses=5,
                                  allow_answers=("127.0.0.0/8",)),
                    targets=(Target("many", name_of("many-a"), 443, count=1),))
    result = asyncio.run(run_round(config, prober,
                                   DnsProber(max_addresses=config.dns.max_addresses)))
    assert len(prober.jobs) == 5
    assert {job.address for job in prober.jobs} <= server.served[name_of("many-a")]
    assert len(result.tcp) == 5


# --------------------------------------------------------------------------
# odd but harmless answers


@pytest.mark.parametrize(("behaviour", "status", "addresses", "detail"), [
    ("nodata", DnsStatus.NODATA, (), ""),
    ("huge-ttl", DnsStatus.OK, ("198.18.9.5",), ""),
    ("other-name", DnsStatus.NODATA, (), ""),
    ("referral", DnsStatus.NODATA, (),
     "a referral (NS records only): the server does not resolve recursively"),
    ("soa-only", DnsStatus.NODATA, (), ""),
])
def test_odd_answers(server: HostileDns, behaviour: str, status: DnsStatus,
                     addresses: tuple[str, ...], detail: str) -> None:
    result = resolve(server, behaviour)
    assert (result.status, result.addresses, result.detail) == (status, addresses, detail)


def test_control_characters_in_names_are_shown_escaped(server: HostileDns) -> None:
    result = resolve(server, "weird-labels")
    assert (result.status, result.addresses) == (DnsStatus.OK, ("198.18.9.3",))
    (target,) = result.cname_chain
    assert target.isprintable() and target.isascii()
    assert target.startswith("bell\\007del\\127caf\\195\\169.")


def test_every_name_and_resolver_gets_a_result(server: HostileDns) -> None:
    """All behaviours at once, through the hostile server and a port nobody listens on."""
    from tests.helpers.hostile_dns import BEHAVIOURS

    names = [name_of(b) for b in BEHAVIOURS]
    with HostileDns() as second:
        resolvers = [resolver_of(server), resolver_of(second)]
        results = asyncio.run(DnsProber().resolve_all(names, resolvers, QUIET, aaaa=True))
    assert [(r.name, r.resolver) for r in results] == [
        (n, r.label) for n in names for r in resolvers]
    assert {r.status for r in results} <= set(DnsStatus)


# --------------------------------------------------------------------------
# the CLI end to end: never a traceback


# many-a answers loopback addresses (127.1.x.y), which a round reports as
# unusable and never probes, unless the config allows them as this one does.
ALLOW_LOOPBACK = Path(__file__).parent / "allow-loopback.toml"


def probe_once(server: HostileDns, behaviour: str, fmt: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "probe", "--once", "-c", str(ALLOW_LOOPBACK),
         "--format", fmt, "--method", "connect",
         "--count", "1", "--timeout", "10" if behaviour == "many-a" else "3",
         "--resolver", server.address,
         "--target", f"t={name_of(behaviour)}:9"],
        capture_output=True, text=True, timeout=60, check=False,
        env={**os.environ, "NO_COLOR": "1"})


@pytest.mark.parametrize(("behaviour", "reason"), [
    ("tc-tcp-closed", "error"), ("tc-tcp-garbage", "error"), ("chain-40", "error"),
    ("loop-two", "error")])
def test_probe_once_reports_a_hostile_answer_as_unresolved(
        server: HostileDns, behaviour: str, reason: str) -> None:
    proc = probe_once(server, behaviour, "json")
    assert "Traceback" not in proc.stderr, proc.stderr
    assert proc.returncode == 1, proc.stderr
    report = json.loads(proc.stdout)
    assert [(r["state"], r["reason"]) for r in report["tcp"]] == [("unresolved", reason)]
    assert report["dns"][0]["detail"]


def test_probe_once_probes_the_capped_addresses_and_says_so(server: HostileDns) -> None:
    # 16 loopback addresses (127.1.0.0-15), port 9 where nothing listens: resets
    proc = probe_once(server, "many-a", "json")
    assert "Traceback" not in proc.stderr, proc.stderr
    assert proc.returncode == 1, proc.stderr
    report = json.loads(proc.stdout)
    assert sorted(r["address"] for r in report["tcp"]) == sorted(
        f"127.1.0.{i}" for i in range(16))
    assert {r["state"] for r in report["tcp"]} == {"closed"}
    assert "holds 4090 addresses; probing the first 16" in report["dns"][0]["detail"]
    (finding,) = [f for f in report["findings"] if f["id"] == "dns-addresses-capped"]
    assert finding["summary"] == ("many-a.hostile.test answers with 4090 addresses on "
                                  f"{server.address}; 16 are probed")
    table = probe_once(server, "many-a", "table")
    assert "127.1.0.15 (+4074 not probed)" in table.stdout


def test_the_daemon_keeps_running_rounds_against_the_hostile_server(
        server: HostileDns, tmp_path: Path) -> None:
    """The daemon used to exit before its first round on a TCP answer cut short."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    config = tmp_path / "probe.toml"
    config.write_text(
        f'[agent]\ninterval = 1\ntimeout = 2\nmethod = "connect"\nlisten = "127.0.0.1:{port}"\n'
        f'[dns]\nresolvers = ["{server.address}"]\n'
        + "".join(f'[[target]]\nname = "{b}"\nhost = "{name_of(b)}"\nport = 9\ncount = 1\n'
                  for b in ("tc-tcp-closed", "tc-tcp-half-prefix", "loop-two", "many-a")),
        encoding="utf-8")
    proc = subprocess.Popen([sys.executable, "-m", "probe", "-c", str(config)],
                            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True)
    lines: list[str] = []
    try:
        assert proc.stderr is not None
        for line in proc.stderr:
            lines.append(line)
            if sum("event=round " in seen for seen in lines) >= 2:
                break
    finally:
        proc.terminate()
        proc.wait(10)
        lines += proc.stderr.readlines() if proc.stderr else []
    text = "".join(lines)
    assert sum("event=round " in line for line in lines) >= 2, text
    assert "Traceback" not in text and "round_failed" not in text, text
