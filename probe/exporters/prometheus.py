"""The round as Prometheus metrics: the text exposition, rendered once per round.

An ``Exposition`` holds one immutable ``Snapshot`` (the latest round, its host
context, the counters accumulated over rounds, the reload status) and the
bytes rendered from it. The daemon records a round (or a reload), which
renders the body once; every scrape then serves those bytes as they are, so
a scrape costs a copy, not a render. ``--format prom`` and ``--textfile``
use the same ``render``.

The body is written by hand rather than through prometheus-client's
registry: with a thousand target addresses that registry spent most of a
second per render. It stays the text format 0.0.4 (``promtool check
metrics`` clean; the tests read it back with prometheus-client's parser,
label escaping included). Numbers are formatted by prometheus-client's own
``floatToGoString``.

The default exposition is sized for a fleet (issue 13): per target address
one verdict info series, success, the round's RTT, packets sent and
received; what is static per target (dependency, host, port, expected,
required) is on one ``apim_probe_target_info`` series per target, joined in
PromQL. The RTT histogram is opt-in (``[metrics] rtt_histogram = true``).

``docs/metrics.md`` is the catalogue of every family written here; a test
holds the two together.
"""

from __future__ import annotations

import gzip
import os
import platform
import statistics
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from pathlib import Path

from prometheus_client import CollectorRegistry, generate_latest

from probe import __version__
from probe.errors import describe_error
from probe.exporters.promtext import (
    Family,
    escape,
    labels,
)
from probe.exporters.snapshot import (
    _LE,
    RTT_BUCKETS,
    DnsKey,
    Labels,
    Snapshot,
    TcpKey,
    TcpTotals,
    count_failures,
    streaks_from_text,
    tcp_key,
)
from probe.results import HostInfo, RoundResult, StageFailure


def _agent_families(snapshot: Snapshot) -> list[Family]:
    build = Family("build_info", "gauge", "Always 1; the version of apim-probe")
    build.add(labels(version=__version__, python=platform.python_version()), 1)
    agent = Family("agent_info", "gauge",
                   "Always 1: who this agent is, from [agent] labels (vnet, region, ...); "
                   "joined in PromQL, never copied onto every series")
    agent.add(labels(**dict(snapshot.agent_labels)), 1)
    reload_ok = Family("config_last_reload_successful", "gauge",
                       "1 when the last config (re)load succeeded, 0 when it was rejected and "
                       "the previous config kept running")
    reload_ok.add("", 1 if snapshot.reload_ok else 0)
    reload_time = Family("config_last_reload_success_timestamp_seconds", "gauge",
                         "Unix time of the last successful config (re)load")
    if snapshot.reload_success_time is not None:
        reload_time.add("", snapshot.reload_success_time)
    rounds = Family("rounds", "counter", "Rounds completed since start")
    rounds.add("", snapshot.rounds)
    stages = Family("stage_errors", "counter",
                    "Stages of a round that failed (an exception; the rest of the round was "
                    "reported), by stage, since start")
    for stage, count in snapshot.stage_errors.items():
        stages.add(labels(stage=stage), count)
    method = Family("tcp_probe_method", "gauge",
                    "1 for the TCP probe method in use (syn or connect)")
    if snapshot.method:
        method.add(labels(method=snapshot.method), 1)
    out = [build, agent, reload_ok, reload_time, rounds, stages, method]
    result = snapshot.result
    if result is not None:
        duration = Family("round_duration_seconds", "gauge", "How long the last round took")
        duration.add("", result.duration_seconds)
        out.append(duration)
        if snapshot.round_finished is not None:
            last = Family("last_round_timestamp_seconds", "gauge",
                          "Unix time the last round finished")
            last.add("", snapshot.round_finished)
            out.append(last)
    return out


def _dns_families(result: RoundResult, streak: Mapping[DnsKey, int]) -> list[Family]:
    success = Family("dns_success", "gauge", "1 when the name resolved on the resolver, else 0")
    duration = Family("dns_duration_seconds", "gauge",
                      "Time the resolver took to answer (or to time out)")
    status = Family("dns_status_info", "gauge",
                    "Always 1: the current outcome of the query (ok, nxdomain, nodata, "
                    "servfail, refused, timeout, error)")
    failing = Family("dns_failing_rounds", "gauge",
                     "Consecutive rounds, the last included, in which the name failed on the "
                     "resolver; 0 when it resolved (alerts fire from 2)")
    for r in result.dns:
        name_resolver = f'name="{escape(r.name)}",resolver="{escape(r.resolver)}"'
        success.add("{" + name_resolver + "}", 1 if r.ok else 0)
        duration.add("{" + name_resolver + "}", r.duration_seconds)
        status.add("{" + name_resolver + f',status="{r.status.value}"' + "}", 1)
        failing.add("{" + name_resolver + "}", streak.get((r.name, r.resolver), 0))
    return [success, duration, status, failing]


def _target_family(result: RoundResult) -> Family:
    info = Family("target_info", "gauge",
                  "Always 1 per configured target: what is static about it (dependency, host, "
                  "port, expected state, required), to join on target")
    seen: set[str] = set()
    for row in result.tcp:
        if row.target in seen:
            continue
        seen.add(row.target)
        info.add(labels(target=row.target, dependency=row.dependency, host=row.host,
                        port=str(row.port), expected=row.expected.value,
                        required="true" if row.required else "false"), 1)
    return info


def _tcp_families(result: RoundResult, totals: Mapping[TcpKey, TcpTotals],
                  histogram: bool, streak: Mapping[TcpKey, int]) -> list[Family]:
    verdict = Family("tcp_verdict_info", "gauge",
                     "Always 1 per target address: its state, the reason (nmap --reason "
                     "vocabulary) and who answered (responder, \"\" for silence)")
    success = Family("tcp_success", "gauge",
                     "1 when the target address is in the expected state, else 0")
    rtt = Family("tcp_rtt_seconds", "gauge",
                 "Median round-trip time of the answered attempts of the last round")
    sent = Family("tcp_packets_sent", "counter",
                  "Probes sent to the target address, accumulated over rounds")
    received = Family("tcp_packets_received", "counter",
                      "Probes that got an answer, accumulated over rounds")
    failing = Family("tcp_failing_rounds", "gauge",
                     "Consecutive rounds, the last included, in which the target address was "
                     "not in the expected state; 0 when it was (alerts fire from 2)")
    hist = Family("tcp_attempt_rtt_seconds", "histogram",
                  "Round-trip time of every answered attempt, accumulated over rounds "
                  "(opt-in: [metrics] rtt_histogram)")
    seen: set[TcpKey] = set()
    for row in result.tcp:
        key = tcp_key(row)
        if key in seen:
            continue
        seen.add(key)
        ident = f'target="{escape(key[0])}",address="{escape(key[1])}"'
        plain = "{" + ident + "}"
        verdict.add("{" + ident + f',state="{row.state.value}",reason="{escape(row.reason)}"'
                    f',responder="{escape(row.responder or "")}"' + "}", 1)
        success.add(plain, 1 if row.ok else 0)
        failing.add(plain, streak.get(key, 0))
        rtts = row.rtt_seconds
        if rtts:
            rtt.add(plain, statistics.median(rtts))
        t = totals.get(key, TcpTotals())
        sent.add(plain, t.sent)
        received.add(plain, t.received)
        if histogram:
            _histogram_lines(hist, ident, t)
    return [verdict, success, failing, rtt, sent, received, hist]


def _histogram_lines(family: Family, ident: str, totals: TcpTotals) -> None:
    running = 0
    for le, n in zip(_LE, totals.buckets or (0,) * len(RTT_BUCKETS), strict=True):
        running += n
        family.add("{" + ident + f',le="{le}"' + "}", running, "_bucket")
    family.add("{" + ident + ',le="+Inf"}', totals.rtt_count, "_bucket")
    family.add("{" + ident + "}", totals.rtt_sum, "_sum")
    family.add("{" + ident + "}", totals.rtt_count, "_count")


def _finding_family(result: RoundResult) -> Family:
    finding = Family("finding", "gauge", "1 per active finding of the last round")
    for f in dict.fromkeys((f.id, f.severity.value, f.subject) for f in result.findings):
        finding.add(labels(id=f[0], severity=f[1], subject=f[2]), 1)
    return finding


def _health_families(result: RoundResult) -> list[Family]:
    """The HTTPS checks of the gateway's status path, and the TCP traceroutes."""
    success = Family("http_success", "gauge", "1 when the health check answered 200, else 0")
    status = Family("http_status_code", "gauge",
                    "HTTP status of the health check (absent when none came)")
    duration = Family("http_duration_seconds", "gauge", "Time the health check took")
    seen: set[tuple[str, str]] = set()
    for h in result.health:
        key = (h.url, h.address or "")
        if key in seen:
            continue
        seen.add(key)
        text = labels(url=key[0], address=key[1])
        success.add(text, 1 if h.ok else 0)
        if h.status is not None:
            status.add(text, h.status)
        duration.add(text, h.duration_seconds)
    reached = Family("trace_reached", "gauge",
                     "1 when the TCP traceroute of a traced target address reached it, else 0")
    stopped = Family("trace_stopped_after_info", "gauge",
                     "1 per trace that did not reach its target: hop is the last device that "
                     "answered (\"\" when none did)")
    traced: set[tuple[str, str]] = set()
    for t in result.traces:
        if (t.target, t.address) in traced:
            continue
        traced.add((t.target, t.address))
        reached.add(labels(target=t.target, address=t.address), 1 if t.reached else 0)
        if not t.reached:
            last = t.last_answering
            hop = (last.address or "") if last is not None else ""
            stopped.add(labels(target=t.target, address=t.address, hop=hop), 1)
    return [success, status, duration, reached, stopped]


def _host_families(host: HostInfo | None) -> list[Family]:
    routed = Family("host_routed_addresses", "gauge",
                    "Target addresses the kernel routes the probes to from this source address "
                    "and interface")
    up = Family("host_interface_up", "gauge", "1 when an interface the probes leave from is up")
    mtu = Family("host_interface_mtu_bytes", "gauge", "MTU of an interface the probes leave from")
    speed = Family("host_interface_speed_bytes", "gauge",
                   "Link speed of an interface the probes leave from, in bytes per second, "
                   "when known")
    errors = Family("host_interface_errors", "counter",
                    "Receive (in) and transmit (out) errors of an interface the probes leave "
                    "from")
    drops = Family("host_interface_drops", "counter",
                   "Dropped packets, in and out, of an interface the probes leave from")
    established = Family("host_established_connections", "gauge",
                         "ESTABLISHED TCP connections from this host to the target address "
                         "(any process); absent when there are none")
    if host is not None:
        counts: dict[tuple[str, str], int] = {}
        for r in dict.fromkeys(host.routes):
            if r.source is not None:
                counts[(r.source, r.interface or "")] = counts.get(
                    (r.source, r.interface or ""), 0) + 1
        for (source, interface), n in counts.items():
            routed.add(labels(source=source, interface=interface), n)
        for i in host.interfaces:
            name = labels(interface=i.name)
            up.add(name, 1 if i.up else 0)
            mtu.add(name, i.mtu)
            if i.speed_bits_per_second:
                speed.add(name, i.speed_bits_per_second / 8)
            for direction, e, d in (("in", i.errors_in, i.drops_in),
                                    ("out", i.errors_out, i.drops_out)):
                errors.add(labels(interface=i.name, direction=direction), e)
                drops.add(labels(interface=i.name, direction=direction), d)
        for c in host.connections:
            if c.established:  # none (or unknown): no series, not a made-up zero
                established.add(labels(target=c.target, address=c.address), c.established)
    return [routed, up, mtu, speed, errors, drops, established]


def _azure_families(result: RoundResult) -> list[Family]:
    view = Family("apim_view_info", "gauge",
                  "Always 1 per check of APIM's own networkstatus (live through ARM, or "
                  "imported): its status (success, failure, initializing) beside the agent's")
    for check in dict.fromkeys(result.apim_view):
        view.add(labels(dependency=check.dependency, host=check.host or check.name,
                        port="" if check.port is None else str(check.port),
                        location=check.location, status=check.status.lower()), 1)
    age = Family("azure_context_age_seconds", "gauge",
                 "Seconds since the last good read of the Azure context through ARM (absent "
                 "before the first)")
    errors = Family("azure_read_errors", "counter",
                    "Reads of the Azure context that failed since start, by call (service, "
                    "networkstatus, vnet, nsg, ...) and code (HTTP status, token, "
                    "connection, timeout, shape)")
    requests = Family("azure_arm_requests", "gauge",
                      "ARM requests the last refresh of the Azure context sent (retries and "
                      "long-running-operation polls included)")
    azure = result.azure
    if azure is not None:
        if azure.age_seconds is not None:
            age.add("", azure.age_seconds)
        for call, code, count in azure.error_counts:
            errors.add(labels(call=call, code=code), count)
        if azure.apim:
            requests.add("", azure.requests)
    return [view, age, errors, requests]


Section = Callable[[Snapshot, RoundResult], list[Family]]

# The parts of the exposition made from a round, each rendered alone: a part
# that fails (a bug, a value that cannot be encoded) is left out and counted as
# a failure of the export stage; the others are served as usual.
SECTIONS: tuple[tuple[str, Section], ...] = (
    ("dns", lambda s, r: _dns_families(r, s.dns_failing)),
    ("targets", lambda s, r: [_target_family(r)]),
    ("tcp", lambda s, r: _tcp_families(r, s.totals, s.rtt_histogram, s.tcp_failing)),
    ("findings", lambda s, r: [_finding_family(r)]),
    ("health", lambda s, r: _health_families(r)),
    ("host", lambda s, r: _host_families(r.host)),
    ("azure", lambda s, r: _azure_families(r)),
)


def families(snapshot: Snapshot) -> list[Family]:
    """Every apim_probe_ family for one snapshot (pure: no clock, no I/O)."""
    out = _agent_families(snapshot)
    result = snapshot.result
    if result is not None:
        for _, section in SECTIONS:
            out.extend(section(snapshot, result))
    return out


def _encode(families_: Sequence[Family]) -> bytes:
    return "".join(f.text() for f in families_).encode("utf-8")


def render_parts(snapshot: Snapshot) -> tuple[bytes, tuple[StageFailure, ...]]:
    """The exposition and the failures of its parts: each part rendered alone."""
    parts: list[bytes] = []
    failed: list[StageFailure] = []
    result = snapshot.result
    for name, section in SECTIONS if result is not None else ():
        assert result is not None
        try:
            parts.append(_encode(section(snapshot, result)))
        except Exception as exc:  # noqa: BLE001 -- one part fails alone (issue 16)
            failed.append(StageFailure("export", f"metrics {name}: {describe_error(exc)}"))
    if failed:
        snapshot = replace(snapshot, stage_errors=count_failures(snapshot.stage_errors, failed))
    try:
        head = _encode(_agent_families(snapshot))
    except Exception as exc:  # noqa: BLE001
        failed.append(StageFailure("export", f"metrics agent: {describe_error(exc)}"))
        head = b""
    return head + b"".join(parts), tuple(failed)


def render(snapshot: Snapshot) -> bytes:
    """The text exposition (format 0.0.4) of one snapshot; a part that fails is left out."""
    return render_parts(snapshot)[0]


class Exposition:
    """The latest snapshot and its rendered body; the daemon's /metrics serves ``body``.

    Rendering happens when a round or a reload is recorded, in the thread
    that records it; a scrape reads ``body`` (one reference) from any thread.
    """

    def __init__(self, snapshot: Snapshot | None = None) -> None:
        self.snapshot = snapshot or Snapshot()
        self.body = render(self.snapshot)

    def _set(self, snapshot: Snapshot) -> tuple[StageFailure, ...]:
        body, failed = render_parts(snapshot)
        if failed:  # counted where the next render (a scrape of this body) shows it
            snapshot = replace(snapshot,
                               stage_errors=count_failures(snapshot.stage_errors, failed))
        self.snapshot = snapshot
        self.body = body
        return failed

    def record_round(self, result: RoundResult, finished: float | None = None,
                     rtt_histogram: bool | None = None, agent_labels: Labels | None = None,
                     ) -> tuple[StageFailure, ...]:
        """Render the exposition of this round; the parts that failed (left out)."""
        return self._set(self.snapshot.with_round(result, finished, rtt_histogram,
                                                  agent_labels))

    def record_reload(self, ok: bool, when: float | None = None) -> tuple[StageFailure, ...]:
        return self._set(self.snapshot.with_reload(ok, time.time() if when is None else when))


def one_round(result: RoundResult, loaded: float | None = None, rtt_histogram: bool = False,
              agent_labels: Labels = (), previous: str = "",
              ) -> tuple[bytes, tuple[StageFailure, ...]]:
    """The exposition of one round (``--once --format prom``, textfile), and the
    parts that failed (left out). ``previous``: the exposition the last run
    wrote (a textfile), whose failing-round streaks this round continues."""
    tcp, dns = streaks_from_text(previous) if previous else ({}, {})
    snapshot = Snapshot(reload_success_time=time.time() if loaded is None else loaded,
                        tcp_failing=tcp, dns_failing=dns)
    return render_parts(snapshot.with_round(result, rtt_histogram=rtt_histogram,
                                            agent_labels=agent_labels))


class CachedExposition:
    """What /metrics serves: the probe body as rendered after the last round
    (shared, never copied or re-rendered) and ``extra`` (the process metrics,
    which do change), rendered at every scrape."""

    def __init__(self, exposition: Exposition, extra: CollectorRegistry | None = None,
                 extra_enabled: Callable[[], bool] = lambda: True) -> None:
        self.exposition = exposition
        self.extra = extra
        self.extra_enabled = extra_enabled  # [metrics] process, as of the last (re)load
        self._gzip_of: bytes | None = None
        self._gzip = b""

    def _extra(self) -> bytes:
        extra = self.extra if self.extra is not None and self.extra_enabled() else None
        return generate_latest(extra) if extra is not None else b""

    def chunks(self) -> list[bytes]:
        return [self.exposition.body, self._extra()]

    def gzip_chunks(self) -> list[bytes]:
        """The same text gzipped: the round's part compressed once per round (the
        body is a new object each round), the process metrics per scrape, as two
        gzip members one after the other (RFC 1952: one stream to a reader)."""
        body = self.exposition.body
        if self._gzip_of is not body:
            self._gzip, self._gzip_of = gzip.compress(body, compresslevel=1), body
        extra = self._extra()
        return [self._gzip, gzip.compress(extra, compresslevel=1)] if extra else [self._gzip]

    def text(self) -> bytes:
        return b"".join(self.chunks())


def previous_textfile(path: Path, limit: int = 64 << 20) -> str:
    """What the last run wrote to the textfile ("" when there is none or it
    cannot be read: the streaks then start again, never the run fails)."""
    try:
        with path.open("rb") as f:
            return f.read(limit).decode("utf-8", errors="replace")
    except OSError:
        return ""


def write_textfile(path: Path, body: bytes) -> None:
    """Atomically (a temporary file beside it, then rename) for node_exporter's
    textfile collector, which must never read half a file."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f"{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(body)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
