"""Fuzz: the DNS prober and the round against seeded hostile answers (loopback only).

Two hostile servers (tests/helpers/hostile_dns.py, 127.0.0.1 on free ports)
answer every name with a behaviour drawn from a seed: silence, garbage,
truncation then a TCP answer cut anywhere, random rcodes, records for other
names, CNAME chains and loops, thousands of TTLs and bytes flipped at random.
The oracle, for every name x resolver:

* a result comes back, with a status from the documented set, and nothing raises;
* it comes back within the timeout plus a margin (a hang guard, not a speed goal);
* the addresses the round hands to the TCP phase are only ones the server put
  in an answer for that name, at most ``max_addresses`` of them, IPv4 unless
  AAAA was asked for.

``DNS_FUZZ_SEED`` picks another run; a failure names the seed and the name.
"""

from __future__ import annotations

import asyncio
import gc
import ipaddress
import logging
import os
import random

import pytest

from probe.addresses import unusable
from probe.config import AgentConfig, Config, DnsConfig, Target
from probe.probers.dns import DnsProber
from probe.resolvers import Resolver
from probe.results import DnsStatus
from probe.round import run_round
from tests.helpers.hostile_dns import HostileDns, fuzzed
from tests.helpers.recording import RecordingProber

SEED = int(os.environ.get("DNS_FUZZ_SEED", "20261130"))
NAMES = 150  # per run; two runs (A only, A and AAAA) x two resolvers
# Generous: on a busy shared machine the servers (threads of this process) can stall for
# most of a second; then every question times out and the run proves nothing.
TIMEOUT = 2.0
MARGIN = 10.0  # generous: the machine is shared; a hang is minutes, not seconds
CAP = 4


@pytest.mark.parametrize("aaaa", [False, True])
def test_hostile_answers_never_break_a_round(aaaa: bool, caplog: pytest.LogCaptureFixture,
                                             ) -> None:
    caplog.set_level(logging.ERROR, logger="asyncio")
    rng = random.Random(SEED + aaaa)
    names = [f"f{i}.fuzz{int(aaaa)}.hostile.test" for i in range(NAMES)]
    first = {n: fuzzed(rng.getrandbits(32)) for n in names}
    second = {n: fuzzed(rng.getrandbits(32)) for n in names}
    with HostileDns(first) as one, HostileDns(second) as two:
        resolvers = (Resolver("127.0.0.1", one.port), Resolver("127.0.0.1", two.port))
        targets = tuple(Target(f"t{i}", n, 443, count=1) for i, n in enumerate(names))
        config = Config(agent=AgentConfig(timeout=TIMEOUT),
                        dns=DnsConfig(resolvers=resolvers, aaaa=aaaa, max_addresses=CAP),
                        targets=targets)
        prober = RecordingProber()

        async def bounded() -> object:
            return await asyncio.wait_for(
                run_round(config, prober, DnsProber(max_addresses=CAP)),
                # primary first, then the TCP phase: twice the timeout, plus the margin
                timeout=2 * TIMEOUT + MARGIN)

        result = asyncio.run(bounded())
        served = {**{n: set(s) for n, s in one.served.items()}}
        served_two = {n: set(s) for n, s in two.served.items()}

    where = f"(DNS_FUZZ_SEED={SEED}, aaaa={aaaa})"
    # nothing left for asyncio to log ("Task exception was never retrieved" + a traceback
    # on the agent's stderr): every attempt's outcome was read
    gc.collect()
    assert [r.getMessage() for r in caplog.records] == [], where
    dns_results = result.dns  # type: ignore[attr-defined]
    assert [(d.name, d.resolver) for d in dns_results] == [
        (n, r.label) for n in names for r in resolvers], where
    statuses: dict[DnsStatus, int] = {}
    for d in dns_results:
        assert d.status in set(DnsStatus), (where, d)
        statuses[d.status] = statuses.get(d.status, 0) + 1
        allowed = (served if d.resolver == resolvers[0].label else served_two).get(d.name, set())
        assert set(d.addresses) <= allowed, (where, d)
        assert len(d.addresses) <= CAP, (where, d)
        assert d.status is DnsStatus.OK or d.addresses == (), (where, d)

    # what went to the TCP phase: the rows of the round, one per probed address
    # (an answer that cannot be the dependency, a hostile 0.0.0.0 or multicast, is not probed)
    probed = [r for r in result.tcp if r.probed]  # type: ignore[attr-defined]
    assert sorted(job.address for job in prober.jobs) == sorted(r.address for r in probed)
    assert all(unusable(r.address) is None for r in probed), where
    per_target: dict[str, int] = {}
    for row in probed:
        assert row.address in served.get(row.host, set()), (where, row)  # the primary's answer
        assert aaaa or ipaddress.ip_address(row.address).version == 4, (where, row)
        per_target[row.target] = per_target.get(row.target, 0) + 1
    assert all(count <= CAP for count in per_target.values()), (where, per_target)
    # the generator reached the interesting cases, or the run proves little
    assert statuses.get(DnsStatus.OK, 0) >= 5, (where, statuses)
    assert statuses.get(DnsStatus.ERROR, 0) >= 5, (where, statuses)
    assert statuses.get(DnsStatus.TIMEOUT, 0) >= 1, (where, statuses)
