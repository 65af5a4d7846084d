"""The Prometheus collector: values, accumulation, vanishing targets, the catalogue."""

from __future__ import annotations

import re
import shutil
import subprocess
from dataclasses import replace
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry
from prometheus_client.parser import text_string_to_metric_families

from probe.exporters import prometheus as prom
from probe.hostinfo import Connections, HostInfo, Interface, Route
from tests.test_metrics_data import BLOB, GATEWAY_STATUS, H, sample_round

ROOT = Path(__file__).resolve().parent.parent
CATALOGUE = ROOT / "docs" / "metrics.md"
MGMT = {"target": "management", "dependency": "management", "host": H,
        "address": "198.18.3.10", "port": "3443"}
SQL = {"target": "sql", "dependency": "sql", "host": "apimlab-sql.database.windows.test",
       "address": "198.18.3.14", "port": "1433"}
ORDERS = {"target": "orders", "dependency": "other", "host": "orders.backend.test",
          "address": "198.18.3.20", "port": "8080"}
BLOB_ROW = {"target": "blob", "dependency": "storage", "host": BLOB, "address": "",
            "port": "443"}
HOST = HostInfo(
    routes=(Route("198.18.3.10", "198.18.1.10", "eth0"),
            Route("198.18.3.14", None, None, "ENETUNREACH")),
    interfaces=(Interface("eth0", True, 1500, 10_000_000_000, 1, 2, 3, 4),),
    connections=(Connections("management", "198.18.3.10", 3443, 5),
                 Connections("sql", "198.18.3.14", 1433, None)),
)


def registry_with(*rounds: object, host: HostInfo | None = None,
                  ) -> tuple[CollectorRegistry, prom.ProbeCollector]:
    registry = CollectorRegistry(auto_describe=False)
    collector = prom.register(registry)
    for r in rounds:
        collector.record_round(r, host)  # type: ignore[arg-type]
    return registry, collector


def value(registry: CollectorRegistry, metric: str, /, **labels: str) -> float | None:
    return registry.get_sample_value(metric, labels)


def test_tcp_success_state_reason_per_target() -> None:
    registry, _ = registry_with(sample_round())
    assert value(registry, "apim_probe_tcp_success", **MGMT) == 1
    assert value(registry, "apim_probe_tcp_success", **SQL) == 0
    assert value(registry, "apim_probe_tcp_success", **ORDERS) == 0
    assert value(registry, "apim_probe_tcp_state", **MGMT, state="open") == 1
    assert value(registry, "apim_probe_tcp_state", **MGMT, state="filtered") == 0
    assert value(registry, "apim_probe_tcp_state", **SQL, state="filtered") == 1
    assert value(registry, "apim_probe_tcp_state", **ORDERS, state="closed") == 1
    assert value(registry, "apim_probe_tcp_reason", **ORDERS, reason="reset") == 1
    assert value(registry, "apim_probe_tcp_reason", **SQL, reason="no-response") == 1
    assert value(registry, "apim_probe_tcp_expected_state", **SQL, state="open") == 1


def test_required_flag_per_target_address() -> None:
    base = sample_round()
    optional = replace(base, tcp=tuple(replace(row, required=False) if row.target == "orders"
                                       else row for row in base.tcp))
    registry, _ = registry_with(optional)
    assert value(registry, "apim_probe_tcp_required", **MGMT) == 1
    assert value(registry, "apim_probe_tcp_required", **SQL) == 1
    assert value(registry, "apim_probe_tcp_required", **BLOB_ROW) == 1  # unresolved: address ""
    assert value(registry, "apim_probe_tcp_required", **ORDERS) == 0
    # one series per apim_probe_tcp_success series, with the same labels
    success = {tuple(sorted(s.labels.items())) for f in registry.collect() for s in f.samples
               if s.name == "apim_probe_tcp_success"}
    required = {tuple(sorted(s.labels.items())) for f in registry.collect() for s in f.samples
                if s.name == "apim_probe_tcp_required"}
    assert required == success and len(required) == 4


def test_every_state_exposed_but_only_the_current_reason() -> None:
    registry, _ = registry_with(sample_round())
    states = {s.labels["state"] for f in registry.collect() for s in f.samples
              if s.name == "apim_probe_tcp_state" and s.labels["target"] == "management"}
    reasons = {s.labels["reason"] for f in registry.collect() for s in f.samples
               if s.name == "apim_probe_tcp_reason" and s.labels["target"] == "management"}
    assert states == {"open", "closed", "filtered", "unresolved"}
    assert reasons == {"syn-ack"}


def test_unresolved_target_has_empty_address_and_dns_reason() -> None:
    registry, _ = registry_with(sample_round())
    assert value(registry, "apim_probe_tcp_state", **BLOB_ROW, state="unresolved") == 1
    assert value(registry, "apim_probe_tcp_reason", **BLOB_ROW, reason="refused") == 1
    assert value(registry, "apim_probe_tcp_packets_sent_total", **BLOB_ROW) == 0


def test_dns_families() -> None:
    registry, _ = registry_with(sample_round())
    good = {"name": H, "resolver": "198.18.2.53"}
    bad = {"name": BLOB, "resolver": "198.18.2.54"}
    assert value(registry, "apim_probe_dns_success", **good) == 1
    assert value(registry, "apim_probe_dns_success", **bad) == 0
    assert value(registry, "apim_probe_dns_duration_seconds", **good) == pytest.approx(0.002)
    assert value(registry, "apim_probe_dns_status", **bad, status="refused") == 1
    assert value(registry, "apim_probe_dns_status", **bad, status="ok") == 0
    statuses = [s for f in registry.collect() for s in f.samples
                if s.name == "apim_probe_dns_status" and s.labels["name"] == BLOB]
    assert len(statuses) == 7


def test_counters_and_histogram_accumulate_over_rounds() -> None:
    registry, _ = registry_with(sample_round(rtt=0.0012), sample_round(rtt=0.3))
    assert value(registry, "apim_probe_tcp_packets_sent_total", **MGMT) == 6
    assert value(registry, "apim_probe_tcp_packets_received_total", **MGMT) == 6
    assert value(registry, "apim_probe_tcp_packets_sent_total", **SQL) == 6
    assert value(registry, "apim_probe_tcp_packets_received_total", **SQL) == 0
    assert value(registry, "apim_probe_tcp_rtt_seconds_count", **MGMT) == 6
    assert value(registry, "apim_probe_tcp_rtt_seconds_sum", **MGMT) == pytest.approx(
        3 * 0.0012 + 3 * 0.3)
    assert value(registry, "apim_probe_tcp_rtt_seconds_bucket", **MGMT, le="0.0025") == 3
    assert value(registry, "apim_probe_tcp_rtt_seconds_bucket", **MGMT, le="0.5") == 6
    assert value(registry, "apim_probe_tcp_rtt_seconds_bucket", **MGMT, le="+Inf") == 6
    assert value(registry, "apim_probe_tcp_rtt_seconds_bucket", **MGMT, le="5e-05") == 0
    assert value(registry, "apim_probe_tcp_rtt_seconds_count", **SQL) == 0
    assert value(registry, "apim_probe_rounds_total") == 2


def test_rtt_above_last_bucket_counts_only_in_inf() -> None:
    registry, _ = registry_with(sample_round(rtt=7.0))
    assert value(registry, "apim_probe_tcp_rtt_seconds_bucket", **MGMT, le="5.0") == 0
    assert value(registry, "apim_probe_tcp_rtt_seconds_bucket", **MGMT, le="+Inf") == 3


def test_a_removed_target_vanishes_and_its_totals_are_dropped() -> None:
    registry, collector = registry_with(sample_round(), sample_round(with_orders=False))
    assert value(registry, "apim_probe_tcp_success", **ORDERS) is None
    assert value(registry, "apim_probe_tcp_packets_sent_total", **ORDERS) is None
    assert all(key[0] != "orders" for key in collector.snapshot.totals)
    collector.record_round(sample_round())  # back: counts start again
    assert value(registry, "apim_probe_tcp_packets_sent_total", **ORDERS) == 3


def test_round_and_reload_metrics() -> None:
    registry, collector = registry_with()
    assert value(registry, "apim_probe_round_duration_seconds") is None
    assert value(registry, "apim_probe_config_last_reload_successful") == 1
    collector.record_reload(True, 1000.0)
    collector.record_round(sample_round(), finished=2000.0)
    assert value(registry, "apim_probe_round_duration_seconds") == 1.25
    assert value(registry, "apim_probe_last_round_timestamp_seconds") == 2000.0
    collector.record_reload(False, 3000.0)
    assert value(registry, "apim_probe_config_last_reload_successful") == 0
    assert value(registry, "apim_probe_config_last_reload_success_timestamp_seconds") == 1000.0
    assert value(registry, "apim_probe_tcp_probe_method", method="connect") == 1
    build = [s for f in registry.collect() for s in f.samples
             if s.name == "apim_probe_build_info"]
    assert len(build) == 1 and build[0].value == 1


def test_findings_one_series_each() -> None:
    registry, _ = registry_with(sample_round())
    assert value(registry, "apim_probe_finding", id="dns-resolver-fails", severity="critical",
                 subject=BLOB) == 1


def test_health_checks_and_traces() -> None:
    registry, _ = registry_with(sample_round())
    good = {"url": GATEWAY_STATUS, "address": "198.18.3.10"}
    bad = {"url": GATEWAY_STATUS, "address": "198.18.3.11"}
    assert value(registry, "apim_probe_http_success", **good) == 1
    assert value(registry, "apim_probe_http_status_code", **good) == 200
    assert value(registry, "apim_probe_http_duration_seconds", **good) == pytest.approx(0.012)
    assert value(registry, "apim_probe_http_success", **bad) == 0
    assert value(registry, "apim_probe_http_status_code", **bad) is None  # no response
    sql = {"target": "sql", "dependency": "sql", "address": "198.18.3.14", "port": "1433"}
    mgmt = {"target": "management", "dependency": "management", "address": "198.18.3.10",
            "port": "3443"}
    assert value(registry, "apim_probe_trace_reached", **sql) == 0
    assert value(registry, "apim_probe_trace_stopped_after_info", **sql, hop="198.18.1.1") == 1
    assert value(registry, "apim_probe_trace_reached", **mgmt) == 1
    stops = [s for f in registry.collect() for s in f.samples
             if s.name == "apim_probe_trace_stopped_after_info"]
    assert len(stops) == 1


def test_host_metrics() -> None:
    registry, _ = registry_with(sample_round(), host=HOST)
    assert value(registry, "apim_probe_host_route_info", address="198.18.3.10",
                 source="198.18.1.10", interface="eth0") == 1
    assert value(registry, "apim_probe_host_interface_up", interface="eth0") == 1
    assert value(registry, "apim_probe_host_interface_mtu_bytes", interface="eth0") == 1500
    assert value(registry, "apim_probe_host_interface_speed_bytes",
                 interface="eth0") == 1.25e9
    assert value(registry, "apim_probe_host_interface_errors_total", interface="eth0",
                 direction="out") == 2
    assert value(registry, "apim_probe_host_interface_drops_total", interface="eth0",
                 direction="in") == 3
    assert value(registry, "apim_probe_host_established_connections", target="management",
                 address="198.18.3.10", port="3443") == 5
    # the kernel would not tell: no series rather than a made-up zero
    assert value(registry, "apim_probe_host_established_connections", target="sql",
                 address="198.18.3.14", port="1433") is None


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


def full_exposition() -> str:
    registry, collector = registry_with(sample_round(), host=HOST)
    collector.record_reload(True, 1.0)
    return prom.render(registry)


def test_catalogue_lists_every_emitted_metric_with_its_type_and_labels() -> None:
    documented = catalogue()
    assert len(documented) >= 20
    seen = emitted(full_exposition())
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


@pytest.mark.skipif(shutil.which("promtool") is None,
                    reason="promtool not installed (apt-get install prometheus)")
def test_promtool_check_metrics_finds_nothing() -> None:
    proc = subprocess.run(["promtool", "check", "metrics"], input=full_exposition(),
                          capture_output=True, text=True, timeout=30, check=False)
    assert proc.returncode == 0 and not proc.stdout.strip() and not proc.stderr.strip(), (
        proc.stdout + proc.stderr)


def test_cached_exposition_renders_once_per_snapshot() -> None:
    registry, collector = registry_with(sample_round())
    extra = CollectorRegistry(auto_describe=False)
    cached = prom.CachedExposition(collector, registry, extra)
    first = cached.text()
    assert first == prom.render(registry).encode()
    before = cached._text
    cached.text()
    assert cached._text is before  # no new round: not rendered again
    collector.record_round(sample_round(with_orders=False))
    assert b'target="orders"' not in cached.text()
