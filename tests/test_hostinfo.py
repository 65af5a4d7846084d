"""Host context: pure summarizing, then the real kernel on loopback."""

from __future__ import annotations

import socket
from collections import namedtuple

from probe import hostinfo
from probe.exporters import jsonreport, table
from probe.results import PortState
from tests.helpers.metrics_data import sample_round, tcp

Stats = namedtuple("Stats", "isup duplex speed mtu flags")
Io = namedtuple("Io", "bytes_sent bytes_recv packets_sent packets_recv errin errout dropin "
                      "dropout")


def test_interface_of_matches_scoped_and_plain_addresses() -> None:
    held = {"lo": ["127.0.0.1", "::1"], "eth0": ["198.18.1.10", "fe80::1%eth0"]}
    assert hostinfo.interface_of("198.18.1.10", held) == "eth0"
    assert hostinfo.interface_of("fe80::1", held) == "eth0"
    assert hostinfo.interface_of("127.0.0.1", held) == "lo"
    assert hostinfo.interface_of("10.9.9.9", held) is None
    assert hostinfo.interface_of(None, held) is None


def test_count_established_only_counts_established_to_wanted_pairs() -> None:
    conns = [("ESTABLISHED", "198.18.2.10", 3443), ("ESTABLISHED", "198.18.2.10", 3443),
             ("TIME_WAIT", "198.18.2.10", 3443), ("ESTABLISHED", "198.18.2.10", 443),
             ("ESTABLISHED", "198.18.2.99", 3443)]
    assert hostinfo.count_established([("198.18.2.10", 3443), ("198.18.2.12", 1433)],
                                      conns) == {("198.18.2.10", 3443): 2,
                                                 ("198.18.2.12", 1433): 0}


def test_summarize() -> None:
    round_ = sample_round()
    sources = {"198.18.3.10": ("198.18.1.10", ""), "198.18.3.14": ("198.18.1.10", ""),
               "198.18.3.20": (None, "ENETUNREACH")}
    addresses = {"eth0": ["198.18.1.10"], "lo": ["127.0.0.1"], "veth9": ["10.1.1.1"]}
    stats = {"eth0": Stats(True, 0, 10000, 1500, ""), "lo": Stats(True, 0, 0, 65536, ""),
             "veth9": Stats(False, 0, 0, 1500, "")}
    io = {"eth0": Io(0, 0, 0, 0, 1, 2, 3, 4)}
    conns = [("ESTABLISHED", "198.18.3.10", 3443)]
    host = hostinfo.summarize(round_.tcp, sources, addresses, stats, io, conns)
    assert [r.address for r in host.routes] == ["198.18.3.10", "198.18.3.14", "198.18.3.20"]
    assert host.route_of("198.18.3.20") == hostinfo.Route("198.18.3.20", None, None,
                                                          "ENETUNREACH")
    # only the interfaces the probes leave from
    assert host.interfaces == (hostinfo.Interface("eth0", True, 1500, 10_000_000_000,
                                                  1, 2, 3, 4),)
    by_target = {c.target: c.established for c in host.connections}
    assert by_target == {"management": 1, "sql": 0, "orders": 0}  # blob: unresolved, absent
    unknown = hostinfo.summarize(round_.tcp, sources, addresses, stats, io, None)
    assert {c.established for c in unknown.connections} == {None}
    assert jsonreport.host_dict(host)["connections"][0] == {
        "target": "management", "address": "198.18.3.10", "port": 3443, "established": 1}
    lines = table.host_lines(host)
    assert lines[0] == "  198.18.3.10: via eth0 from 198.18.1.10, 1 established"
    assert lines[2] == "  198.18.3.20: no route (ENETUNREACH), 0 established"
    assert lines[3].startswith("  eth0: up, mtu 1500, 10000 Mbit/s, errors 1 in / 2 out")


def test_source_of_loopback_sends_nothing_and_names_lo() -> None:
    assert hostinfo.source_of("127.0.0.1", 9) == ("127.0.0.1", "")


def test_gather_counts_a_real_established_connection() -> None:
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(4)
        port = server.getsockname()[1]
        row = tcp("local", "127.0.0.1", "127.0.0.1", port, PortState.OPEN, "syn-ack")
        before = hostinfo.gather([row])
        assert before.connections[0].established == 0
        with socket.create_connection(("127.0.0.1", port)) as client:
            accepted, _ = server.accept()
            with accepted:
                during = hostinfo.gather([row])
        assert client is not None
    assert during.connections[0].established == 1
    assert during.routes[0].interface == "lo"
    assert during.interfaces[0].name == "lo" and during.interfaces[0].up
