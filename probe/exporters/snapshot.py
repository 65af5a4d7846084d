"""What the exposition remembers between rounds: one immutable ``Snapshot``
(the latest round, counters accumulated over rounds, failing-round streaks,
the reload status, the agent's labels), replaced whole by each round or
reload. Pure: no clock, no I/O; ``probe.exporters.prometheus`` renders it."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace

from probe.exporters.promtext import PREFIX, num
from probe.results import STAGES, HostInfo, RoundResult, StageFailure, TcpResult

# Opt-in histogram of every attempt's RTT, for Azure: 0.5 ms and 1 ms (the same
# VNet, the same region), 2 ms (across availability zones), 5-10 ms (a nearby
# region), 30 ms (the same geography), 100-300 ms (across continents), 1 s (a
# path in trouble). Nine bounds and +Inf: ten buckets.
RTT_BUCKETS: tuple[float, ...] = (0.0005, 0.001, 0.002, 0.005, 0.01, 0.03, 0.1, 0.3, 1.0)
_LE = tuple(num(b) for b in RTT_BUCKETS)

TcpKey = tuple[str, str]  # (target, address); an unresolved target has address ""
DnsKey = tuple[str, str]  # (name, resolver)
Labels = tuple[tuple[str, str], ...]  # [agent] labels, sorted by name


@dataclass(frozen=True, slots=True)
class TcpTotals:
    """What one target address has accumulated over the rounds so far."""

    sent: int = 0
    received: int = 0
    # The opt-in histogram: non-cumulative counts per bucket, +Inf excluded
    # (empty while the histogram is off).
    buckets: tuple[int, ...] = ()
    overflow: int = 0
    rtt_sum: float = 0.0

    @property
    def rtt_count(self) -> int:
        return sum(self.buckets) + self.overflow

    def add(self, row: TcpResult, histogram: bool) -> TcpTotals:
        if not histogram:
            return TcpTotals(self.sent + row.sent, self.received + row.received)
        buckets = list(self.buckets or (0,) * len(RTT_BUCKETS))
        overflow = self.overflow
        for rtt in row.rtt_seconds:
            for i, bound in enumerate(RTT_BUCKETS):
                if rtt <= bound:
                    buckets[i] += 1
                    break
            else:
                overflow += 1
        return TcpTotals(self.sent + row.sent, self.received + row.received, tuple(buckets),
                         overflow, self.rtt_sum + sum(row.rtt_seconds))


def tcp_key(row: TcpResult) -> TcpKey:
    return (row.target, row.address or "")


def accumulate(previous: Mapping[TcpKey, TcpTotals], result: RoundResult,
               histogram: bool = False) -> dict[TcpKey, TcpTotals]:
    """Totals after one more round. Keys absent from the round are dropped
    (a target removed from the config, an address DNS no longer returns), so
    the state stays as large as the config, however long the agent runs."""
    totals: dict[TcpKey, TcpTotals] = {}
    for row in result.tcp:
        key = tcp_key(row)
        if key not in totals:  # the same target address twice: the first row counts
            totals[key] = previous.get(key, TcpTotals()).add(row, histogram)
    return totals


@dataclass(frozen=True, slots=True)
class Snapshot:
    """Everything one exposition shows. Immutable: replaced whole."""

    result: RoundResult | None = None
    totals: Mapping[TcpKey, TcpTotals] = field(default_factory=dict)
    rounds: int = 0
    round_finished: float | None = None  # unix time
    reload_ok: bool = True
    reload_success_time: float | None = None  # unix time of the last good (re)load
    method: str | None = None
    rtt_histogram: bool = False
    # Stage failures since start, per stage (every stage of STAGES, 0 included).
    stage_errors: Mapping[str, int] = field(default_factory=lambda: dict.fromkeys(STAGES, 0))
    # Consecutive rounds (the last included) in which a target address / a
    # name on a resolver failed; 0 when the last round succeeded (issue 19).
    tcp_failing: Mapping[TcpKey, int] = field(default_factory=dict)
    dns_failing: Mapping[DnsKey, int] = field(default_factory=dict)
    agent_labels: Labels = ()

    def with_round(self, result: RoundResult, finished: float | None = None,
                   rtt_histogram: bool | None = None,
                   agent_labels: Labels | None = None) -> Snapshot:
        histogram = self.rtt_histogram if rtt_histogram is None else rtt_histogram
        end = finished if finished is not None else (result.started.timestamp()
                                                     + result.duration_seconds)
        tcp_failing, dns_failing = streaks(self.tcp_failing, self.dns_failing, result)
        return replace(self, result=result,
                       totals=accumulate(self.totals, result, histogram),
                       rounds=self.rounds + 1, round_finished=end, rtt_histogram=histogram,
                       method=result.method if result.method != "-" else self.method,
                       stage_errors=count_failures(self.stage_errors, result.stage_failures),
                       tcp_failing=tcp_failing, dns_failing=dns_failing,
                       agent_labels=self.agent_labels if agent_labels is None else agent_labels)

    @property
    def host(self) -> HostInfo | None:
        return self.result.host if self.result is not None else None

    def with_reload(self, ok: bool, when: float) -> Snapshot:
        return replace(self, reload_ok=ok,
                       reload_success_time=when if ok else self.reload_success_time)


def streaks(tcp: Mapping[TcpKey, int], dns: Mapping[DnsKey, int], result: RoundResult,
            ) -> tuple[dict[TcpKey, int], dict[DnsKey, int]]:
    """Failing-round streaks after this round: one more where it failed, 0
    where it succeeded; keys not in the round are dropped (the state stays as
    large as the config). The first row of a key counts, as in ``accumulate``."""
    tcp_out: dict[TcpKey, int] = {}
    for row in result.tcp:
        key = tcp_key(row)
        if key not in tcp_out:
            tcp_out[key] = 0 if row.ok else tcp.get(key, 0) + 1
    dns_out: dict[DnsKey, int] = {}
    for answer in result.dns:
        dkey = (answer.name, answer.resolver)
        if dkey not in dns_out:
            dns_out[dkey] = 0 if answer.ok else dns.get(dkey, 0) + 1
    return tcp_out, dns_out


def streaks_from_text(text: str) -> tuple[dict[TcpKey, int], dict[DnsKey, int]]:
    """The failing-round streaks of an earlier exposition (the textfile the
    last ``--once`` run wrote), so that a timer's rounds count like a
    daemon's. Anything unreadable counts as no streak."""
    from prometheus_client.parser import text_string_to_metric_families

    tcp: dict[TcpKey, int] = {}
    dns: dict[DnsKey, int] = {}
    try:
        for family in text_string_to_metric_families(text):
            for sample in family.samples:
                value = int(sample.value) if sample.value == sample.value else 0
                if sample.name == f"{PREFIX}_tcp_failing_rounds":
                    tcp[(sample.labels.get("target", ""),
                         sample.labels.get("address", ""))] = max(value, 0)
                elif sample.name == f"{PREFIX}_dns_failing_rounds":
                    dns[(sample.labels.get("name", ""),
                         sample.labels.get("resolver", ""))] = max(value, 0)
    except (ValueError, TypeError, OverflowError):
        return {}, {}
    return tcp, dns


def count_failures(counts: Mapping[str, int], failures: Sequence[StageFailure],
                   ) -> dict[str, int]:
    """Stage failure counts with one more per failure."""
    out = dict(counts)
    for failure in failures:
        out[failure.stage] = out.get(failure.stage, 0) + 1
    return out
