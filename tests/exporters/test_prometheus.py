"""The Prometheus exposition: values, accumulation, vanishing targets, the
series budget, conformance (prometheus-client's parser, promtool, escaping)
and the catalogue in docs/metrics.md."""

from __future__ import annotations

import re
import shutil
import subprocess
from dataclasses import replace
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry, Gauge, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from probe.exporters import prometheus as prom
from probe.exporters import promtext
from probe.results import Connections, HostInfo, Interface, PortState, RoundResult, Route
from tests.helpers.metrics_data import (
    APIM_VIEW,
    AZURE,
    BLOB,
    GATEWAY_STATUS,
    H,
    sample_round,
    tcp,
)

ROOT = Path(__file__).resolve().parent.parent.parent
CATALOGUE = ROOT / "docs" / "metrics.md"
MGMT = {"target": "management", "address": "198.18.3.10"}
SQL = {"target": "sql", "address": "198.18.3.14"}
ORDERS = {"target": "orders", "address": "198.18.3.20"}
BLOB_ROW = {"target": "blob", "address": ""}
HOST = HostInfo(
    routes=(Route("198.18.3.10", "198.18.1.10", "eth0"),
            Route("198.18.3.20", "198.18.1.10", "eth0"),
            Route("198.18.3.14", None, None, "ENETUNREACH")),
    interfaces=(Interface("eth0", True, 1500, 10_000_000_000, 1, 2, 3, 4),),
    connections=(Connections("management", "198.18.3.10", 3443, 5),
                 Connections("orders", "198.18.3.20", 8080, 0),
                 Connections("sql", "198.18.3.14", 1433, None)),
)

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def exposition(*rounds: RoundResult, host: HostInfo | None = None,
               histogram: bool = False) -> prom.Exposition:
    e = prom.Exposition()
    for r in rounds:
        e.record_round(replace(r, host=host) if host is not None else r,
                       rtt_histogram=histogram)
    return e


def parsed(body: bytes) -> Samples:
    """Every sample, read back with prometheus-client's parser."""
    out: Samples = {}
    for family in text_string_to_metric_families(body.decode("utf-8")):
        for s in family.samples:
            key = (s.name, frozenset(s.labels.items()))
            assert key not in out, f"duplicate series {key}"
            out[key] = s.value
    return out


def value(e: prom.Exposition, metric: str, /, **labels: str) -> float | None:
    return parsed(e.body).get((metric, frozenset(labels.items())))


def series_of(e: prom.Exposition, metric: str) -> list[dict[str, str]]:
    return [dict(labels) for name, labels in parsed(e.body) if name == metric]


def test_verdict_info_carries_state_reason_and_responder() -> None:
    base = sample_round()
    rows = tuple(replace(r, responder="198.18.1.1") if r.target == "sql" else r
                 for r in base.tcp)
    e = exposition(replace(base, tcp=rows))
    verdicts = {v["target"]: v for v in series_of(e, "apim_probe_tcp_verdict_info")}
    assert verdicts["sql"] == {**SQL, "state": "filtered", "reason": "no-response",
                               "responder": "198.18.1.1"}
    assert verdicts["orders"]["state"] == "closed" and verdicts["orders"]["reason"] == "reset"
    assert verdicts["blob"] == {**BLOB_ROW, "state": "unresolved", "reason": "refused",
                                "responder": ""}
    assert all(v == 1 for (name, _), v in parsed(e.body).items()
               if name == "apim_probe_tcp_verdict_info")


def test_success_and_rtt_of_the_round() -> None:
    e = exposition(sample_round(rtt=0.0012))
    assert value(e, "apim_probe_tcp_success", **MGMT) == 1
    assert value(e, "apim_probe_tcp_success", **SQL) == 0
    assert value(e, "apim_probe_tcp_success", **ORDERS) == 0
    assert value(e, "apim_probe_tcp_rtt_seconds", **MGMT) == pytest.approx(0.0012)
    assert value(e, "apim_probe_tcp_rtt_seconds", **ORDERS) == pytest.approx(0.0004)
    assert value(e, "apim_probe_tcp_rtt_seconds", **SQL) is None  # nothing answered


def test_rtt_gauge_is_the_median_of_the_answered_attempts() -> None:
    row = tcp("web", "web.test", "198.18.3.30", 443, PortState.OPEN, "syn-ack",
              rtts=(0.001, None, 0.009, 0.002))
    e = exposition(replace(sample_round(), tcp=(row,)))
    assert value(e, "apim_probe_tcp_rtt_seconds", target="web",
                 address="198.18.3.30") == pytest.approx(0.002)


def test_target_info_holds_what_is_static_per_target() -> None:
    base = sample_round()
    rows = tuple(replace(r, required=False) if r.target == "orders" else r for r in base.tcp)
    e = exposition(replace(base, tcp=rows))
    info = {i["target"]: i for i in series_of(e, "apim_probe_target_info")}
    assert info["orders"] == {"target": "orders", "dependency": "other",
                              "host": "orders.backend.test", "port": "8080",
                              "expected": "open", "required": "false"}
    assert info["management"]["required"] == "true"
    assert info["management"]["dependency"] == "management"
    assert set(info) == {"management", "sql", "blob", "orders"}


def test_one_target_info_per_target_however_many_addresses() -> None:
    rows = tuple(tcp("storage", "st.test", f"198.18.3.{i}", 443, PortState.OPEN, "syn-ack",
                     rtts=(0.001,)) for i in (1, 2, 3))
    e = exposition(replace(sample_round(), tcp=rows))
    assert len(series_of(e, "apim_probe_target_info")) == 1
    assert len(series_of(e, "apim_probe_tcp_success")) == 3


def test_counters_accumulate_over_rounds() -> None:
    e = exposition(sample_round(), sample_round())
    assert value(e, "apim_probe_tcp_packets_sent_total", **MGMT) == 6
    assert value(e, "apim_probe_tcp_packets_received_total", **MGMT) == 6
    assert value(e, "apim_probe_tcp_packets_sent_total", **SQL) == 6
    assert value(e, "apim_probe_tcp_packets_received_total", **SQL) == 0
    assert value(e, "apim_probe_tcp_packets_sent_total", **BLOB_ROW) == 0
    assert value(e, "apim_probe_rounds_total") == 2


def test_default_exposition_stays_within_seven_series_per_target_address() -> None:
    """Issue 13: at most 6 series and 1,200 bytes per target address, every
    family included (DNS, findings, host), so a fleet pays less than blackbox;
    issue 19 added the failing-round streak the alerts fire from: 7."""
    rows = tuple(tcp(f"storage-account-{i:04d}", f"apimst{i:04d}.blob.core.windows.net",
                     f"198.18.{i // 250}.{i % 250 + 1}", 443, PortState.OPEN, "syn-ack",
                     rtts=(0.0011, 0.0012, 0.0013), dependency="storage")
                 for i in range(1000))
    host = HostInfo(routes=tuple(Route(r.address or "", "198.18.255.10", "eth0") for r in rows),
                    interfaces=(Interface("eth0", True, 1500, None, 0, 0, 0, 0),),
                    connections=tuple(Connections(r.target, r.address or "", 443, 0)
                                      for r in rows))
    e = exposition(replace(sample_round(), tcp=rows, dns=(), findings=(), traces=(),
                           health=()), host=host)
    assert promtext.series_count(e.body) <= 7 * 1000 + 30  # + agent, stage and host series
    assert len(e.body) <= 1200 * 1000
    assert "apim_probe_tcp_attempt_rtt_seconds" not in promtext.family_names(e.body)


def test_rtt_histogram_is_opt_in_with_ten_buckets() -> None:
    e = exposition(sample_round(rtt=0.0012), sample_round(rtt=0.3), histogram=True)
    buckets = [s for s in series_of(e, "apim_probe_tcp_attempt_rtt_seconds_bucket")
               if s["target"] == "management"]
    assert len(buckets) <= 10
    name = "apim_probe_tcp_attempt_rtt_seconds"
    assert value(e, f"{name}_count", **MGMT) == 6
    assert value(e, f"{name}_sum", **MGMT) == pytest.approx(3 * 0.0012 + 3 * 0.3)
    assert value(e, f"{name}_bucket", **MGMT, le="0.001") == 0
    assert value(e, f"{name}_bucket", **MGMT, le="0.002") == 3
    assert value(e, f"{name}_bucket", **MGMT, le="0.3") == 6
    assert value(e, f"{name}_bucket", **MGMT, le="+Inf") == 6
    assert value(e, f"{name}_count", **SQL) == 0


def test_rtt_above_the_last_bucket_counts_only_in_inf() -> None:
    e = exposition(sample_round(rtt=7.0), histogram=True)
    name = "apim_probe_tcp_attempt_rtt_seconds_bucket"
    assert value(e, name, **MGMT, le="1.0") == 0
    assert value(e, name, **MGMT, le="+Inf") == 3


def test_a_removed_target_vanishes_and_its_totals_are_dropped() -> None:
    e = exposition(sample_round(), sample_round(with_orders=False))
    assert value(e, "apim_probe_tcp_success", **ORDERS) is None
    assert value(e, "apim_probe_tcp_packets_sent_total", **ORDERS) is None
    assert not [i for i in series_of(e, "apim_probe_target_info") if i["target"] == "orders"]
    assert all(key[0] != "orders" for key in e.snapshot.totals)
    e.record_round(sample_round())  # back: counts start again
    assert value(e, "apim_probe_tcp_packets_sent_total", **ORDERS) == 3


def test_failing_rounds_count_consecutive_failures_and_reset_on_success() -> None:
    """Issue 19: the alerts fire from 2 consecutive failing rounds, so the
    streak must count each failing round once and drop to 0 on a good one."""
    ok_orders = replace(sample_round(), tcp=tuple(
        replace(r, state=PortState.CLOSED, ok=True) if r.target == "orders" else r
        for r in sample_round().tcp))
    e = exposition(sample_round())
    assert value(e, "apim_probe_tcp_failing_rounds", **MGMT) == 0
    assert value(e, "apim_probe_tcp_failing_rounds", **SQL) == 1
    assert value(e, "apim_probe_tcp_failing_rounds", **BLOB_ROW) == 1
    e.record_round(sample_round())
    assert value(e, "apim_probe_tcp_failing_rounds", **SQL) == 2
    assert value(e, "apim_probe_tcp_failing_rounds", **ORDERS) == 2
    e.record_round(ok_orders)  # one good round resets only its own streak
    assert value(e, "apim_probe_tcp_failing_rounds", **ORDERS) == 0
    assert value(e, "apim_probe_tcp_failing_rounds", **SQL) == 3
    bad = {"name": BLOB, "resolver": "198.18.2.54"}
    good = {"name": H, "resolver": "198.18.2.53"}
    assert value(e, "apim_probe_dns_failing_rounds", **bad) == 3
    assert value(e, "apim_probe_dns_failing_rounds", **good) == 0
    e.record_round(sample_round(with_orders=False))  # a removed target's streak goes
    assert value(e, "apim_probe_tcp_failing_rounds", **ORDERS) is None
    e.record_round(sample_round())
    assert value(e, "apim_probe_tcp_failing_rounds", **ORDERS) == 1


def test_textfile_runs_continue_the_streak_of_the_last_file() -> None:
    first, _ = prom.one_round(sample_round())
    second, _ = prom.one_round(sample_round(), previous=first.decode())
    third, _ = prom.one_round(sample_round(), previous=second.decode())
    samples = parsed(third)
    assert samples[("apim_probe_tcp_failing_rounds", frozenset(SQL.items()))] == 3
    assert samples[("apim_probe_tcp_failing_rounds", frozenset(MGMT.items()))] == 0
    # a file that is not an exposition (or was cut short) starts the streaks again
    for junk in ("garbage {{{", "apim_probe_tcp_failing_rounds{target=\"sql\"", "\x00" * 10):
        body, failed = prom.one_round(sample_round(), previous=junk)
        assert not failed
        assert parsed(body)[("apim_probe_tcp_failing_rounds", frozenset(SQL.items()))] == 1


def test_agent_info_carries_the_configured_labels_and_nothing_else_does() -> None:
    e = prom.Exposition()
    e.record_round(sample_round(), agent_labels=(("region", "westeurope"), ("vnet", "hub")))
    assert series_of(e, "apim_probe_agent_info") == [{"region": "westeurope", "vnet": "hub"}]
    for (name, labelset), _ in parsed(e.body).items():
        if name != "apim_probe_agent_info":
            assert "vnet" not in dict(labelset), name
    e.record_round(sample_round())  # labels kept when a round does not pass them
    assert series_of(e, "apim_probe_agent_info") == [{"region": "westeurope", "vnet": "hub"}]
    assert series_of(prom.Exposition(), "apim_probe_agent_info") == [{}]


def test_process_series_follow_the_metrics_process_switch() -> None:
    from prometheus_client import ProcessCollector

    registry = CollectorRegistry(auto_describe=False)
    ProcessCollector(registry=registry)
    enabled = [True]
    cached = prom.CachedExposition(exposition(sample_round()), registry, lambda: enabled[0])
    assert b"process_cpu_seconds_total" in cached.text()
    enabled[0] = False
    assert b"process_" not in cached.text()
    assert b"apim_probe_tcp_success" in cached.text()


def test_round_and_reload_metrics() -> None:
    e = exposition()
    assert value(e, "apim_probe_round_duration_seconds") is None
    assert value(e, "apim_probe_config_last_reload_successful") == 1
    e.record_reload(True, 1000.0)
    e.record_round(sample_round(), finished=2000.0)
    assert value(e, "apim_probe_round_duration_seconds") == 1.25
    assert value(e, "apim_probe_last_round_timestamp_seconds") == 2000.0
    e.record_reload(False, 3000.0)
    assert value(e, "apim_probe_config_last_reload_successful") == 0
    assert value(e, "apim_probe_config_last_reload_success_timestamp_seconds") == 1000.0
    assert value(e, "apim_probe_tcp_probe_method", method="connect") == 1
    assert len(series_of(e, "apim_probe_build_info")) == 1


def test_dns_success_duration_and_only_the_current_status() -> None:
    e = exposition(sample_round())
    good = {"name": H, "resolver": "198.18.2.53"}
    bad = {"name": BLOB, "resolver": "198.18.2.54"}
    assert value(e, "apim_probe_dns_success", **good) == 1
    assert value(e, "apim_probe_dns_success", **bad) == 0
    assert value(e, "apim_probe_dns_duration_seconds", **good) == pytest.approx(0.002)
    assert value(e, "apim_probe_dns_status_info", **bad, status="refused") == 1
    assert [s["status"] for s in series_of(e, "apim_probe_dns_status_info")
            if s["name"] == BLOB] == ["refused"]


def test_findings_health_checks_and_traces() -> None:
    e = exposition(sample_round())
    assert value(e, "apim_probe_finding", id="dns-resolver-fails", severity="critical",
                 subject=BLOB) == 1
    good = {"url": GATEWAY_STATUS, "address": "198.18.3.10"}
    bad = {"url": GATEWAY_STATUS, "address": "198.18.3.11"}
    assert value(e, "apim_probe_http_success", **good) == 1
    assert value(e, "apim_probe_http_status_code", **good) == 200
    assert value(e, "apim_probe_http_duration_seconds", **good) == pytest.approx(0.012)
    assert value(e, "apim_probe_http_success", **bad) == 0
    assert value(e, "apim_probe_http_status_code", **bad) is None  # no response
    assert value(e, "apim_probe_trace_reached", **SQL) == 0
    assert value(e, "apim_probe_trace_stopped_after_info", **SQL, hop="198.18.1.1") == 1
    assert value(e, "apim_probe_trace_reached", **MGMT) == 1
    assert len(series_of(e, "apim_probe_trace_stopped_after_info")) == 1


def test_host_metrics() -> None:
    e = exposition(sample_round(), host=HOST)
    # two target addresses leave from eth0; the unroutable one is the tcp verdict's business
    assert series_of(e, "apim_probe_host_routed_addresses") == [
        {"source": "198.18.1.10", "interface": "eth0"}]
    assert value(e, "apim_probe_host_routed_addresses", source="198.18.1.10",
                 interface="eth0") == 2
    assert value(e, "apim_probe_host_interface_up", interface="eth0") == 1
    assert value(e, "apim_probe_host_interface_mtu_bytes", interface="eth0") == 1500
    assert value(e, "apim_probe_host_interface_speed_bytes", interface="eth0") == 1.25e9
    assert value(e, "apim_probe_host_interface_errors_total", interface="eth0",
                 direction="out") == 2
    assert value(e, "apim_probe_host_interface_drops_total", interface="eth0",
                 direction="in") == 3
    assert value(e, "apim_probe_host_established_connections", **MGMT) == 5
    # none, or the kernel would not tell: no series (dashboards fill in 0 from target_info)
    assert value(e, "apim_probe_host_established_connections", **ORDERS) is None
    assert value(e, "apim_probe_host_established_connections", **SQL) is None


# --------------------------------------------------------------------------
# conformance


HOSTILE = ['back\\slash', 'a "quoted" name', 'two\nlines', '\\"\n', 'ünïcode ✓', '']


@pytest.mark.parametrize("text", HOSTILE)
def test_label_values_are_escaped_and_read_back_unchanged(text: str) -> None:
    row = tcp(text or "t", text, "198.18.3.40", 443, PortState.FILTERED, text or "x",
              rtts=(None,), dependency=text)
    e = exposition(replace(sample_round(), tcp=(row,), findings=()))
    info = series_of(e, "apim_probe_target_info")
    assert info == [{"target": text or "t", "dependency": text, "host": text, "port": "443",
                     "expected": "open", "required": "true"}]
    verdict = series_of(e, "apim_probe_tcp_verdict_info")
    assert verdict[0]["reason"] == (text or "x")


@pytest.mark.parametrize("text", HOSTILE)
def test_escaping_matches_prometheus_client(text: str) -> None:
    registry = CollectorRegistry()
    Gauge("g", "h", ["name"], registry=registry).labels(text).set(1)
    theirs = [line for line in generate_latest(registry).decode().splitlines()
              if line.startswith("g{")]
    assert theirs == [f"g{promtext.labels(name=text)} 1.0"]


def test_body_reads_back_sample_for_sample() -> None:
    """Everything written can be parsed, and the parser sees what was meant."""
    e = exposition(sample_round(), host=HOST, histogram=True)
    got = parsed(e.body)
    assert got[("apim_probe_tcp_success", frozenset(MGMT.items()))] == 1
    lines = [ln for ln in e.body.decode().splitlines() if ln and not ln.startswith("#")]
    assert len(got) == len(lines)
    for family in text_string_to_metric_families(e.body.decode()):
        assert family.documentation, family.name


def full_body() -> bytes:
    e = exposition(replace(sample_round(), azure=AZURE, apim_view=APIM_VIEW), host=HOST,
                   histogram=True)
    e.record_reload(True, 1.0)
    return e.body


@pytest.mark.skipif(shutil.which("promtool") is None,
                    reason="promtool not installed (apt-get install prometheus)")
@pytest.mark.parametrize("histogram", [False, True])
def test_promtool_check_metrics_finds_nothing(histogram: bool) -> None:
    e = exposition(replace(sample_round(), azure=AZURE, apim_view=APIM_VIEW), host=HOST,
                   histogram=histogram)
    proc = subprocess.run(["promtool", "check", "metrics"], input=e.body,
                          capture_output=True, timeout=30, check=False)
    assert proc.returncode == 0 and not proc.stdout.strip() and not proc.stderr.strip(), (
        proc.stdout + proc.stderr)


def test_rendered_once_per_round_not_per_scrape() -> None:
    e = exposition(sample_round())
    extra = CollectorRegistry(auto_describe=False)
    cached = prom.CachedExposition(e, extra)
    first = cached.chunks()[0]
    assert first is e.body and cached.chunks()[0] is first  # the same bytes, not a render
    assert first == prom.render(e.snapshot)
    e.record_round(sample_round(with_orders=False))
    assert b'target="orders"' not in cached.text()


def test_one_round_is_the_same_renderer() -> None:
    result = sample_round()
    result = replace(sample_round(), host=HOST)
    body, failed = prom.one_round(result, loaded=1.0)
    e = exposition()
    e.record_reload(True, 1.0)
    e.record_round(result)
    assert body == e.body and failed == ()


def test_write_textfile_replaces_atomically(tmp_path: Path) -> None:
    path = tmp_path / "apim_probe.prom"
    prom.write_textfile(path, b"old\n")
    prom.write_textfile(path, full_body())
    assert path.read_bytes() == full_body()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["apim_probe.prom"]
    with pytest.raises(OSError):
        prom.write_textfile(tmp_path / "missing" / "x.prom", b"")


# --------------------------------------------------------------------------
# the catalogue


def catalogue() -> dict[str, tuple[str, tuple[str, ...]]]:
    """name -> (type, labels) from the markdown table of docs/metrics.md."""
    rows: dict[str, tuple[str, tuple[str, ...]]] = {}
    for line in CATALOGUE.read_text(encoding="utf-8").splitlines():
        match = re.match(r"^\|\s*`(apim_probe_[a-z_]+)`\s*\|\s*(\w+)\s*\|([^|]*)\|", line)
        if match:
            labels = tuple(re.findall(r"`([a-z_]+)`", match.group(3)))
            assert match.group(1) not in rows, f"{match.group(1)} listed twice"
            rows[match.group(1)] = (match.group(2), labels)
    return rows


def emitted(text: str) -> dict[str, tuple[str, tuple[str, ...]]]:
    out: dict[str, tuple[str, tuple[str, ...]]] = {}
    for family in text_string_to_metric_families(text):
        name = f"{family.name}_total" if family.type == "counter" else family.name
        labels: set[str] = set()
        for sample in family.samples:
            labels |= set(sample.labels) - {"le"}
        out[name] = (family.type, tuple(sorted(labels)))
    return out


def test_catalogue_lists_every_emitted_metric_with_its_type_and_labels() -> None:
    documented = catalogue()
    assert len(documented) >= 20
    seen = emitted(full_body().decode())
    assert set(seen) == set(documented)
    for name, (kind, labels) in seen.items():
        doc_kind, doc_labels = documented[name]
        assert kind == doc_kind, f"{name}: emitted as {kind}, catalogued as {doc_kind}"
        assert labels == tuple(sorted(doc_labels)), f"{name}: labels {labels} vs {doc_labels}"


def test_catalogue_names_are_prometheus_style() -> None:
    for name, (kind, _) in catalogue().items():
        assert not name.startswith("process_")
        if kind == "counter":
            assert name.endswith("_total"), name
        else:
            assert not name.endswith("_total"), name
        if name.endswith("_info"):
            assert kind == "gauge", name


def test_azure_context_series_say_apims_view_the_age_and_the_failed_reads() -> None:
    samples = parsed(full_body())
    view = {(dict(labels)["dependency"], dict(labels)["host"], dict(labels)["port"],
             dict(labels)["status"]) for name, labels in samples
            if name == "apim_probe_apim_view_info"}
    assert view == {("storage", BLOB, "443", "success"),
                    ("cache", "LocalGatewayRedis", "", "failure")}
    assert samples[("apim_probe_azure_context_age_seconds", frozenset())] == 300.0
    errors = {(dict(labels)["call"], dict(labels)["code"]): v
              for (name, labels), v in samples.items()
              if name == "apim_probe_azure_read_errors_total"}
    assert errors == {("effective_nsg", "403"): 2, ("networkstatus", "429"): 1}
    assert samples[("apim_probe_azure_arm_requests", frozenset())] == 9
    # no [azure] section and no networkstatus: none of them
    bare = parsed(exposition(sample_round()).body)
    assert not [name for name, _ in bare if "azure" in name or "apim_view" in name]
