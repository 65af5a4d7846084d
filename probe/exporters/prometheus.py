"""The round as Prometheus metrics, built from snapshots at scrape time.

A custom collector holds one immutable ``Snapshot`` (the latest round, its
host context, the totals accumulated over rounds, the reload status) and
builds fresh metric families from it at every scrape, so a target removed
from the config disappears from /metrics with the next round. The daemon
swaps in a new snapshot after each round; a scrape reads whichever one is
current (one reference read, no lock).

``docs/metrics.md`` is the catalogue of every family built here; a test
holds the two together.
"""

from __future__ import annotations

import platform
import threading
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

from prometheus_client import CollectorRegistry, generate_latest, write_to_textfile
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector

from probe import __version__
from probe.hostinfo import HostInfo
from probe.results import DnsStatus, PortState, RoundResult, TcpResult

PREFIX = "apim_probe"
# 50 us (loopback, the same host) to 5 s (well past any sane timeout).
RTT_BUCKETS: tuple[float, ...] = (0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005,
                                  0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)
TCP_LABELS = ("target", "dependency", "host", "address", "port")
DNS_LABELS = ("name", "resolver")

TcpKey = tuple[str, str, str, str, str]


@dataclass(frozen=True, slots=True)
class TcpTotals:
    """What one target address has accumulated over the rounds so far."""

    buckets: tuple[int, ...] = (0,) * len(RTT_BUCKETS)  # non-cumulative, +Inf excluded
    overflow: int = 0  # RTTs above the last bucket
    rtt_sum: float = 0.0
    sent: int = 0
    received: int = 0

    @property
    def rtt_count(self) -> int:
        return sum(self.buckets) + self.overflow

    def add(self, row: TcpResult) -> TcpTotals:
        buckets = list(self.buckets)
        overflow = self.overflow
        for rtt in row.rtt_seconds:
            for i, bound in enumerate(RTT_BUCKETS):
                if rtt <= bound:
                    buckets[i] += 1
                    break
            else:
                overflow += 1
        return TcpTotals(tuple(buckets), overflow, self.rtt_sum + sum(row.rtt_seconds),
                         self.sent + row.sent, self.received + row.received)


def tcp_key(row: TcpResult) -> TcpKey:
    """Label values of a TCP row; an unresolved target has address ""."""
    return (row.target, row.dependency, row.host, row.address or "", str(row.port))


def accumulate(previous: Mapping[TcpKey, TcpTotals], result: RoundResult,
               ) -> dict[TcpKey, TcpTotals]:
    """Totals after one more round. Keys absent from the round are dropped
    (a target removed from the config, an address DNS no longer returns), so
    the state stays as large as the config, however long the agent runs."""
    totals: dict[TcpKey, TcpTotals] = {}
    for row in result.tcp:
        key = tcp_key(row)
        totals[key] = totals.get(key, previous.get(key, TcpTotals())).add(row)
    return totals


@dataclass(frozen=True, slots=True)
class Snapshot:
    """Everything one scrape shows. Immutable: the daemon replaces it whole."""

    result: RoundResult | None = None
    host: HostInfo | None = None
    totals: Mapping[TcpKey, TcpTotals] = field(default_factory=dict)
    rounds: int = 0
    round_finished: float | None = None  # unix time
    reload_ok: bool = True
    reload_success_time: float | None = None  # unix time of the last good (re)load
    method: str | None = None

    def with_round(self, result: RoundResult, host: HostInfo | None,
                   finished: float | None = None) -> Snapshot:
        end = finished if finished is not None else (result.started.timestamp()
                                                     + result.duration_seconds)
        return replace(self, result=result, host=host, totals=accumulate(self.totals, result),
                       rounds=self.rounds + 1, round_finished=end,
                       method=result.tcp[0].method if result.tcp else self.method)

    def with_reload(self, ok: bool, when: float) -> Snapshot:
        return replace(self, reload_ok=ok,
                       reload_success_time=when if ok else self.reload_success_time)


def _name(short: str) -> str:
    return f"{PREFIX}_{short}"


def _dns_families(result: RoundResult) -> list[Metric]:
    success = GaugeMetricFamily(_name("dns_success"),
                                "1 when the name resolved on the resolver, else 0",
                                labels=DNS_LABELS)
    duration = GaugeMetricFamily(_name("dns_duration_seconds"),
                                 "Time the resolver took to answer (or to time out)",
                                 labels=DNS_LABELS)
    status = GaugeMetricFamily(_name("dns_status"),
                               "1 for the current outcome of the query, 0 for the others",
                               labels=(*DNS_LABELS, "status"))
    for r in result.dns:
        labels = [r.name, r.resolver]
        success.add_metric(labels, 1.0 if r.ok else 0.0)
        duration.add_metric(labels, r.duration_seconds)
        for s in DnsStatus:
            status.add_metric([*labels, s.value], 1.0 if r.status is s else 0.0)
    return [success, duration, status]


def _tcp_families(result: RoundResult, totals: Mapping[TcpKey, TcpTotals]) -> list[Metric]:
    success = GaugeMetricFamily(_name("tcp_success"),
                                "1 when the target address is in the expected state, else 0",
                                labels=TCP_LABELS)
    required = GaugeMetricFamily(_name("tcp_required"),
                                 "1 when the target is required (required = true in the "
                                 "config), 0 when optional", labels=TCP_LABELS)
    expected = GaugeMetricFamily(_name("tcp_expected_state"),
                                 "1 for the state the target is expected to be in",
                                 labels=(*TCP_LABELS, "state"))
    state = GaugeMetricFamily(_name("tcp_state"),
                              "1 for the current port state, 0 for the other states",
                              labels=(*TCP_LABELS, "state"))
    reason = GaugeMetricFamily(_name("tcp_reason"),
                               "1 for the reason of the current state (nmap --reason "
                               "vocabulary); only the current reason is exposed",
                               labels=(*TCP_LABELS, "reason"))
    rtt = HistogramMetricFamily(_name("tcp_rtt_seconds"),
                                "Round-trip time of answered probes, accumulated over rounds",
                                labels=TCP_LABELS)
    sent = CounterMetricFamily(_name("tcp_packets_sent"),
                               "Probes sent to the target address, accumulated over rounds",
                               labels=TCP_LABELS)
    received = CounterMetricFamily(_name("tcp_packets_received"),
                                   "Probes that got an answer, accumulated over rounds",
                                   labels=TCP_LABELS)
    seen: set[TcpKey] = set()
    for row in result.tcp:
        key = tcp_key(row)
        if key in seen:  # the same name listed twice: one series, first row wins
            continue
        seen.add(key)
        labels = list(key)
        success.add_metric(labels, 1.0 if row.ok else 0.0)
        required.add_metric(labels, 1.0 if row.required else 0.0)
        expected.add_metric([*labels, row.expected.value], 1.0)
        for s in PortState:
            state.add_metric([*labels, s.value], 1.0 if row.state is s else 0.0)
        reason.add_metric([*labels, row.reason], 1.0)
        t = totals.get(key, TcpTotals())
        cumulative, running = [], 0
        for bound, n in zip(RTT_BUCKETS, t.buckets, strict=True):
            running += n
            cumulative.append((_bound(bound), float(running)))
        cumulative.append(("+Inf", float(t.rtt_count)))
        rtt.add_metric(labels, cumulative, t.rtt_sum)
        sent.add_metric(labels, float(t.sent))
        received.add_metric(labels, float(t.received))
    return [success, required, expected, state, reason, rtt, sent, received]


def _bound(value: float) -> str:
    return repr(value)


def _health_families(result: RoundResult) -> list[Metric]:
    """The HTTPS checks of the gateway's status path, and the TCP traceroutes."""
    labels = ("url", "address")
    success = GaugeMetricFamily(_name("http_success"),
                                "1 when the health check answered 200, else 0", labels=labels)
    status = GaugeMetricFamily(_name("http_status_code"),
                               "HTTP status of the health check (absent when none came)",
                               labels=labels)
    duration = GaugeMetricFamily(_name("http_duration_seconds"),
                                 "Time the health check took", labels=labels)
    seen: set[tuple[str, str]] = set()
    for h in result.health:
        key = (h.url, h.address or "")
        if key in seen:
            continue
        seen.add(key)
        success.add_metric(list(key), 1.0 if h.ok else 0.0)
        if h.status is not None:
            status.add_metric(list(key), float(h.status))
        duration.add_metric(list(key), h.duration_seconds)
    trace_labels = ("target", "dependency", "address", "port")
    reached = GaugeMetricFamily(_name("trace_reached"),
                                "1 when the TCP traceroute of a traced target address reached "
                                "it, else 0", labels=trace_labels)
    stopped = GaugeMetricFamily(_name("trace_stopped_after_info"),
                                "1 per trace that did not reach its target: hop is the last "
                                "device that answered (\"\" when none did)",
                                labels=(*trace_labels, "hop"))
    traced: set[tuple[str, str, str, str]] = set()
    for t in result.traces:
        labels4 = (t.target, t.dependency, t.address, str(t.port))
        if labels4 in traced:
            continue
        traced.add(labels4)
        reached.add_metric(list(labels4), 1.0 if t.reached else 0.0)
        if not t.reached:
            last = t.last_answering
            hop = (last.address or "") if last is not None else ""
            stopped.add_metric([*labels4, hop], 1.0)
    return [success, status, duration, reached, stopped]


def _host_families(host: HostInfo | None) -> list[Metric]:
    route = GaugeMetricFamily(_name("host_route_info"),
                              "1 per target address: the source address and interface the "
                              "kernel routes probes from", labels=("address", "source",
                                                                   "interface"))
    up = GaugeMetricFamily(_name("host_interface_up"),
                           "1 when an interface the probes leave from is up",
                           labels=("interface",))
    mtu = GaugeMetricFamily(_name("host_interface_mtu_bytes"),
                            "MTU of an interface the probes leave from", labels=("interface",))
    speed = GaugeMetricFamily(_name("host_interface_speed_bytes"),
                              "Link speed of an interface the probes leave from, in bytes per "
                              "second, when known",
                              labels=("interface",))
    errors = CounterMetricFamily(_name("host_interface_errors"),
                                 "Receive (in) and transmit (out) errors of an interface the "
                                 "probes leave from", labels=("interface", "direction"))
    drops = CounterMetricFamily(_name("host_interface_drops"),
                                "Dropped packets, in and out, of an interface the probes "
                                "leave from", labels=("interface", "direction"))
    established = GaugeMetricFamily(_name("host_established_connections"),
                                    "ESTABLISHED TCP connections from this host to the target "
                                    "address:port (any process)",
                                    labels=("target", "address", "port"))
    if host is not None:
        for r in host.routes:
            if r.source is not None:
                route.add_metric([r.address, r.source, r.interface or ""], 1.0)
        for i in host.interfaces:
            up.add_metric([i.name], 1.0 if i.up else 0.0)
            mtu.add_metric([i.name], float(i.mtu))
            if i.speed_bits_per_second:
                speed.add_metric([i.name], i.speed_bits_per_second / 8)
            errors.add_metric([i.name, "in"], float(i.errors_in))
            errors.add_metric([i.name, "out"], float(i.errors_out))
            drops.add_metric([i.name, "in"], float(i.drops_in))
            drops.add_metric([i.name, "out"], float(i.drops_out))
        for c in host.connections:
            if c.established is not None:
                established.add_metric([c.target, c.address, str(c.port)], float(c.established))
    return [route, up, mtu, speed, errors, drops, established]


def families(snapshot: Snapshot) -> list[Metric]:
    """Every apim_probe_ family for one snapshot (pure: no clock, no I/O)."""
    out: list[Metric] = []
    info = GaugeMetricFamily(_name("build_info"), "Always 1; the version of apim-probe",
                             labels=("version", "python"))
    info.add_metric([__version__, platform.python_version()], 1.0)
    out.append(info)
    reload_ok = GaugeMetricFamily(_name("config_last_reload_successful"),
                                  "1 when the last config (re)load succeeded, 0 when it was "
                                  "rejected and the previous config kept running")
    reload_ok.add_metric([], 1.0 if snapshot.reload_ok else 0.0)
    out.append(reload_ok)
    if snapshot.reload_success_time is not None:
        out.append(GaugeMetricFamily(_name("config_last_reload_success_timestamp_seconds"),
                                     "Unix time of the last successful config (re)load",
                                     value=snapshot.reload_success_time))
    rounds = CounterMetricFamily(_name("rounds"), "Rounds completed since start")
    rounds.add_metric([], float(snapshot.rounds))
    out.append(rounds)
    method = GaugeMetricFamily(_name("tcp_probe_method"),
                               "1 for the TCP probe method in use (syn or connect)",
                               labels=("method",))
    if snapshot.method:
        method.add_metric([snapshot.method], 1.0)
    out.append(method)

    result = snapshot.result
    if result is None:
        return out
    out.append(GaugeMetricFamily(_name("round_duration_seconds"),
                                 "How long the last round took", value=result.duration_seconds))
    if snapshot.round_finished is not None:
        out.append(GaugeMetricFamily(_name("last_round_timestamp_seconds"),
                                     "Unix time the last round finished",
                                     value=snapshot.round_finished))
    out.extend(_dns_families(result))
    out.extend(_tcp_families(result, snapshot.totals))
    finding = GaugeMetricFamily(_name("finding"), "1 per active finding of the last round",
                                labels=("id", "severity", "subject"))
    for f in dict.fromkeys((f.id, f.severity.value, f.subject) for f in result.findings):
        finding.add_metric(list(f), 1.0)
    out.append(finding)
    out.extend(_health_families(result))
    out.extend(_host_families(snapshot.host))
    return out


class ProbeCollector(Collector):
    """Yields the families of the current snapshot at every scrape."""

    def __init__(self, snapshot: Snapshot | None = None) -> None:
        self.snapshot = snapshot or Snapshot()

    def collect(self) -> Iterator[Metric]:
        yield from families(self.snapshot)

    def describe(self) -> Iterable[Metric]:
        return ()  # families come and go with the config: checked at scrape time

    def record_round(self, result: RoundResult, host: HostInfo | None = None,
                     finished: float | None = None) -> None:
        self.snapshot = self.snapshot.with_round(result, host, finished)

    def record_reload(self, ok: bool, when: float | None = None) -> None:
        self.snapshot = self.snapshot.with_reload(ok, time.time() if when is None else when)


def register(registry: CollectorRegistry, snapshot: Snapshot | None = None) -> ProbeCollector:
    collector = ProbeCollector(snapshot)
    registry.register(collector)
    return collector


def one_round(result: RoundResult, host: HostInfo | None = None,
              loaded: float | None = None) -> CollectorRegistry:
    """A private registry holding one round (``--once --format prom``, textfile)."""
    registry = CollectorRegistry(auto_describe=False)
    collector = register(registry)
    collector.record_reload(True, loaded)
    collector.record_round(result, host)
    return registry


class CachedExposition:
    """The probe families rendered once per snapshot.

    With a thousand targets the text format costs a few hundred milliseconds
    of pure Python; between two rounds nothing changes, so every scrape after
    the first (a second Prometheus, a person with curl) gets the same bytes.
    ``extra`` (process metrics, which do change) is rendered at every scrape.
    """

    def __init__(self, collector: ProbeCollector, registry: CollectorRegistry,
                 extra: CollectorRegistry | None = None) -> None:
        self.collector = collector
        self.registry = registry
        self.extra = extra
        self._lock = threading.Lock()
        self._snapshot: Snapshot | None = None
        self._text = b""

    def chunks(self) -> list[bytes]:
        """The exposition in pieces (the cached part is shared, never copied)."""
        snapshot = self.collector.snapshot
        with self._lock:
            if snapshot is not self._snapshot:
                self._text = b""  # let the old text go before the new one is built
                self._text = generate_latest(self.registry)
                self._snapshot = snapshot
            cached = self._text
        return [cached, generate_latest(self.extra) if self.extra is not None else b""]

    def text(self) -> bytes:
        return b"".join(self.chunks())


def render(registry: CollectorRegistry) -> str:
    return generate_latest(registry).decode("utf-8")


def write_textfile(path: Path, registry: CollectorRegistry) -> None:
    """Atomically (temporary file, then rename) for node_exporter's textfile collector."""
    write_to_textfile(str(path), registry)


def series_names(metrics: Sequence[Metric]) -> list[str]:
    """Family names as exposed (counters with their _total)."""
    return [f"{m.name}_total" if m.type == "counter" else m.name for m in metrics]
