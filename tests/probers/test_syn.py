"""SynProber's checks before any socket, and its place behind the TcpProber protocol.

The engine against real targets: ``test_syn_lab.py``; a batch's matching and
pacing without sockets: ``test_synbatch.py``.
"""

from __future__ import annotations

import asyncio

import pytest

from probe.errors import UnsupportedAddress
from probe.probers import syn
from probe.probers.syn import SynProber
from probe.results import TcpJob

TARGET = "198.19.2.10"


def test_ipv6_and_bad_jobs_are_refused_before_any_socket() -> None:
    prober = SynProber()
    with pytest.raises(UnsupportedAddress, match="IPv4 only"):
        prober.probe_sync([TcpJob("2001:db8::1", 443, 1)], 1.0)
    with pytest.raises(ValueError):
        prober.probe_sync([TcpJob(TARGET, 0, 1)], 1.0)
    with pytest.raises(ValueError):
        prober.probe_sync([TcpJob(TARGET, 443, 1)], 0)
    with pytest.raises(ValueError):
        asyncio.run(prober.probe([TcpJob("db.example", 443, 1)], 1.0))
    assert prober.source_ports == ()
    assert not SynProber.supports("::1")
    assert SynProber.supports("198.18.2.10")
    with pytest.raises(UnsupportedAddress):
        SynProber(source="::1")
    with pytest.raises(ValueError):
        SynProber(rate=0)


def test_empty_batch_and_raw_capable() -> None:
    assert asyncio.run(SynProber().probe([], 1.0)) == []
    assert isinstance(syn.raw_capable(), bool)
    assert SynProber.method == "syn"


def test_one_method_for_every_address_and_close_before_open() -> None:
    prober = SynProber()
    assert prober.method_for("198.18.2.10") == "syn"
    prober.close()  # nothing opened yet: nothing to release, no error
    assert prober.source_ports == ()
