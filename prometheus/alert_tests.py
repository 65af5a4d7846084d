"""The alerts' unit-test stories, as data: prometheus/alerts.py renders them
into prometheus/tests/apim-probe.test.yml.

Each case is a small story told in series (values every minute, promtool's
expanding notation: ``0x10`` is eleven zeros, ``0+60x3`` is 0 60 120 180,
``_`` a missing sample) and checked at a time the alert must not fire yet (or
any more) and at a time it must. A check names the labels the alert fires
with; the renderer adds the expected annotations (the alert's own templates
with those labels filled in, so a template naming a label the alert does not
carry fails there, KeyError, instead of rendering empty).

This module imports nothing of the project: it is read by the renderer, and
by tests that check the finding ids it uses against probe.findings.

    python -m prometheus.alerts   # rewrites the test file along with the rules
    promtool test rules prometheus/tests/apim-probe.test.yml
"""

from __future__ import annotations

from dataclasses import dataclass, field

J = 'job="apim-probe",instance="jump1:9839"'
J2 = 'job="apim-probe",instance="jump2:9839"'
AGENT = {"job": "apim-probe", "instance": "jump1:9839"}


def tcp(target: str, dependency: str, host: str, address: str, port: int,
        agent: str = J) -> str:
    return (f'{agent},target="{target}",dependency="{dependency}",host="{host}",'
            f'address="{address}",port="{port}"')


def tcp_labels(target: str, dependency: str, host: str, port: int,
               address: str | None = None) -> dict[str, str]:
    labels = {**AGENT, "target": target, "dependency": dependency, "host": host,
              "port": str(port)}
    if address is not None:
        labels["address"] = address
    return labels


@dataclass(frozen=True)
class Check:
    at: str  # eval_time
    fires: tuple[dict[str, str], ...] = ()  # the alert's labels, severity added


@dataclass(frozen=True)
class Case:
    alert: str
    story: str
    series: tuple[tuple[str, str], ...]
    checks: tuple[Check, ...]
    also: tuple[str, ...] = field(default=())  # comment lines


MGMT = tcp("management", "management", "apim.management.azure-api.net", "10.0.1.5", 3443)
STORAGE_A = tcp("storage", "storage", "apimst.blob.core.windows.net", "20.60.1.10", 443)
STORAGE_B = tcp("storage", "storage", "apimst.blob.core.windows.net", "20.60.1.11", 443)
SQL = tcp("sql", "sql", "apim-sql.database.windows.net", "", 1433)  # unresolved: address=""
KV_A = tcp("keyvault", "keyvault", "apim-kv.vault.azure.net", "20.40.1.1", 443)
KV_B = tcp("keyvault", "keyvault", "apim-kv.vault.azure.net", "20.40.1.2", 443)
HUB = tcp("eventhub", "eventhub", "apim-hub.servicebus.windows.net", "20.50.1.1", 5671)
BACKEND_FAST = tcp("orders", "backend", "orders.internal", "10.2.0.4", 8080)
BACKEND_LOSSY = tcp("billing", "backend", "billing.internal", "10.2.0.5", 8080)
SQL_DROPPED = tcp("sql-dropped", "sql", "apim-sql.database.windows.net", "10.3.0.4", 1433)
REPORTS = tcp("reports", "backend", "reports.internal", "10.2.0.6", 8080)
CACHE = tcp("cache", "cache", "apim-cache.redis.cache.windows.net", "20.70.1.1", 6380)

CASES: tuple[Case, ...] = (
    Case(
        alert="ApimProbeManagementEndpointUnreachable",
        story="3443 stops answering on jump1 at 2m; jump2 and a failing storage target do not "
              "count",
        series=(
            (f"apim_probe_tcp_success{{{MGMT}}}", "1 1 0x10"),
            (f"apim_probe_tcp_success{{{MGMT.replace(J, J2)}}}", "1x12"),
            (f"apim_probe_tcp_success{{{STORAGE_A}}}", "0x12"),
        ),
        checks=(
            Check("4m"),
            Check("6m", ({**tcp_labels("management", "management",
                                       "apim.management.azure-api.net", 3443)},)),
        ),
    ),
    Case(
        alert="ApimProbeRequiredDependencyUnreachable",
        story="required targets fail: both storage addresses, the unresolved SQL name and an "
              "eventhub marked required; an optional backend fails too (the optional alert's), "
              "as do management (its own alert) and one keyvault address (the other answers)",
        series=(
            (f"apim_probe_tcp_success{{{STORAGE_A}}}", "0x12"),
            (f"apim_probe_tcp_required{{{STORAGE_A}}}", "1x12"),
            (f"apim_probe_tcp_success{{{STORAGE_B}}}", "0x12"),
            (f"apim_probe_tcp_required{{{STORAGE_B}}}", "1x12"),
            (f"apim_probe_tcp_success{{{SQL}}}", "0x12"),
            (f"apim_probe_tcp_required{{{SQL}}}", "1x12"),
            (f"apim_probe_tcp_success{{{KV_A}}}", "1x12"),
            (f"apim_probe_tcp_required{{{KV_A}}}", "1x12"),
            (f"apim_probe_tcp_success{{{KV_B}}}", "0x12"),
            (f"apim_probe_tcp_required{{{KV_B}}}", "1x12"),
            (f"apim_probe_tcp_success{{{MGMT}}}", "0x12"),
            (f"apim_probe_tcp_required{{{MGMT}}}", "1x12"),
            (f"apim_probe_tcp_success{{{HUB}}}", "0x12"),
            (f"apim_probe_tcp_required{{{HUB}}}", "1x12"),
            (f"apim_probe_tcp_success{{{REPORTS}}}", "0x12"),
            (f"apim_probe_tcp_required{{{REPORTS}}}", "0x12"),
        ),
        checks=(
            Check("4m"),
            Check("6m", (
                tcp_labels("storage", "storage", "apimst.blob.core.windows.net", 443),
                tcp_labels("sql", "sql", "apim-sql.database.windows.net", 1433),
                tcp_labels("eventhub", "eventhub", "apim-hub.servicebus.windows.net", 5671),
            )),
        ),
    ),
    Case(
        alert="ApimProbeRequiredDependencyUnreachable",
        story="only optional targets fail (a backend and a cache marked required = false); "
              "the required storage target answers: nothing fires, however long",
        series=(
            (f"apim_probe_tcp_success{{{REPORTS}}}", "0x20"),
            (f"apim_probe_tcp_required{{{REPORTS}}}", "0x20"),
            (f"apim_probe_tcp_success{{{CACHE}}}", "0x20"),
            (f"apim_probe_tcp_required{{{CACHE}}}", "0x20"),
            (f"apim_probe_tcp_success{{{STORAGE_A}}}", "1x20"),
            (f"apim_probe_tcp_required{{{STORAGE_A}}}", "1x20"),
        ),
        checks=(Check("6m"), Check("20m")),
    ),
    Case(
        alert="ApimProbeRequiredDependencyUnreachable",
        story="jump2 runs an agent too old to export apim_probe_tcp_required: its failing "
              "eventhub target counts as required rather than going unwatched",
        series=(
            (f"apim_probe_tcp_success{{{HUB.replace(J, J2)}}}", "0x12"),
        ),
        checks=(
            Check("4m"),
            Check("6m", ({**tcp_labels("eventhub", "eventhub",
                                       "apim-hub.servicebus.windows.net", 5671),
                          "instance": "jump2:9839"},)),
        ),
    ),
    Case(
        alert="ApimProbeOptionalDependencyUnreachable",
        story="optional targets fail for good: an eventhub and a backend marked required = "
              "false; required targets fail too (a storage target and a cache marked required: "
              "the critical alert's), an optional keyvault answers",
        series=(
            (f"apim_probe_tcp_success{{{HUB}}}", "0x15"),
            (f"apim_probe_tcp_required{{{HUB}}}", "0x15"),
            (f"apim_probe_tcp_success{{{REPORTS}}}", "0x15"),
            (f"apim_probe_tcp_required{{{REPORTS}}}", "0x15"),
            (f"apim_probe_tcp_success{{{STORAGE_A}}}", "0x15"),
            (f"apim_probe_tcp_required{{{STORAGE_A}}}", "1x15"),
            (f"apim_probe_tcp_success{{{CACHE}}}", "0x15"),
            (f"apim_probe_tcp_required{{{CACHE}}}", "1x15"),
            (f"apim_probe_tcp_success{{{KV_A}}}", "1x15"),
            (f"apim_probe_tcp_required{{{KV_A}}}", "0x15"),
        ),
        checks=(
            Check("9m"),
            Check("11m", (
                tcp_labels("eventhub", "eventhub", "apim-hub.servicebus.windows.net", 5671),
                tcp_labels("reports", "backend", "reports.internal", 8080),
            )),
        ),
    ),
    Case(
        alert="ApimProbeOptionalDependencyUnreachable",
        story="only required targets fail (an eventhub marked required, a storage target, "
              "and one without the flag from an older agent); the optional backend answers: "
              "nothing fires, however long",
        series=(
            (f"apim_probe_tcp_success{{{HUB}}}", "0x20"),
            (f"apim_probe_tcp_required{{{HUB}}}", "1x20"),
            (f"apim_probe_tcp_success{{{STORAGE_A}}}", "0x20"),
            (f"apim_probe_tcp_required{{{STORAGE_A}}}", "1x20"),
            (f"apim_probe_tcp_success{{{CACHE.replace(J, J2)}}}", "0x20"),
            (f"apim_probe_tcp_success{{{REPORTS}}}", "1x20"),
            (f"apim_probe_tcp_required{{{REPORTS}}}", "0x20"),
        ),
        checks=(Check("11m"), Check("20m")),
    ),
    Case(
        alert="ApimProbeDependencyAddressFailing",
        story="one keyvault address fails while the other answers; storage fails on every "
              "address (that is the unreachable alert, not this one)",
        series=(
            (f"apim_probe_tcp_success{{{KV_A}}}", "1x15"),
            (f"apim_probe_tcp_success{{{KV_B}}}", "0x15"),
            (f"apim_probe_tcp_success{{{STORAGE_A}}}", "0x15"),
            (f"apim_probe_tcp_success{{{STORAGE_B}}}", "0x15"),
        ),
        checks=(
            Check("9m"),
            Check("11m", (tcp_labels("keyvault", "keyvault", "apim-kv.vault.azure.net", 443,
                                     "20.40.1.2"),)),
        ),
    ),
    Case(
        alert="ApimProbeDnsResolverDown",
        story="the custom DNS server 10.0.0.4 answers nothing; Azure DNS answers everything",
        series=(
            (f'apim_probe_dns_success{{{J},name="a.blob.core.windows.net",resolver="10.0.0.4"}}',
             "0x10"),
            (f'apim_probe_dns_success{{{J},name="apim.azure-api.net",resolver="10.0.0.4"}}',
             "0x10"),
            (f'apim_probe_dns_success{{{J},name="a.blob.core.windows.net",'
             f'resolver="168.63.129.16"}}', "1x10"),
            (f'apim_probe_dns_success{{{J},name="apim.azure-api.net",'
             f'resolver="168.63.129.16"}}', "1x10"),
        ),
        checks=(
            Check("4m"),
            Check("6m", ({**AGENT, "resolver": "10.0.0.4"},)),
        ),
    ),
    Case(
        alert="ApimProbeDnsNameUnresolvable",
        story="a record missing everywhere; the other name resolves on one server",
        series=(
            (f'apim_probe_dns_success{{{J},name="missing.azure-api.net",resolver="10.0.0.4"}}',
             "0x10"),
            (f'apim_probe_dns_success{{{J},name="missing.azure-api.net",'
             f'resolver="168.63.129.16"}}', "0x10"),
            (f'apim_probe_dns_success{{{J},name="apim.azure-api.net",resolver="10.0.0.4"}}',
             "0x10"),
            (f'apim_probe_dns_success{{{J},name="apim.azure-api.net",'
             f'resolver="168.63.129.16"}}', "1x10"),
        ),
        checks=(
            Check("4m"),
            Check("6m", ({**AGENT, "name": "missing.azure-api.net"},)),
        ),
    ),
    Case(
        alert="ApimProbeDnsResolversDisagree",
        story="custom DNS 10.0.0.4 refuses the blob name (no forwarder) but has the APIM zone; "
              "Azure DNS answers both; 10.0.0.5 is down altogether (the resolver-down alert's)",
        series=(
            (f'apim_probe_dns_success{{{J},name="a.blob.core.windows.net",resolver="10.0.0.4"}}',
             "1 0x10"),
            (f'apim_probe_dns_success{{{J},name="apim.azure-api.net",resolver="10.0.0.4"}}',
             "1x11"),
            (f'apim_probe_dns_success{{{J},name="a.blob.core.windows.net",'
             f'resolver="168.63.129.16"}}', "1x11"),
            (f'apim_probe_dns_success{{{J},name="apim.azure-api.net",'
             f'resolver="168.63.129.16"}}', "1x11"),
            (f'apim_probe_dns_success{{{J},name="a.blob.core.windows.net",resolver="10.0.0.5"}}',
             "0x11"),
            (f'apim_probe_dns_success{{{J},name="apim.azure-api.net",resolver="10.0.0.5"}}',
             "0x11"),
        ),
        checks=(
            Check("5m"),
            Check("7m", ({**AGENT, "name": "a.blob.core.windows.net",
                          "resolver": "10.0.0.4"},)),
        ),
    ),
    Case(
        alert="ApimProbeTcpLossHigh",
        story="3 probes a minute each; billing answers 2 of 3 (33% loss), orders all, the "
              "dropped SQL address none (filtered: the unreachable alerts' business)",
        series=(
            (f"apim_probe_tcp_packets_sent_total{{{BACKEND_FAST}}}", "0+3x20"),
            (f"apim_probe_tcp_packets_received_total{{{BACKEND_FAST}}}", "0+3x20"),
            (f'apim_probe_tcp_state{{{BACKEND_FAST},state="open"}}', "1x20"),
            (f"apim_probe_tcp_packets_sent_total{{{BACKEND_LOSSY}}}", "0+3x20"),
            (f"apim_probe_tcp_packets_received_total{{{BACKEND_LOSSY}}}", "0+2x20"),
            (f'apim_probe_tcp_state{{{BACKEND_LOSSY},state="open"}}', "1x20"),
            (f'apim_probe_tcp_state{{{BACKEND_LOSSY},state="filtered"}}', "0x20"),
            (f"apim_probe_tcp_packets_sent_total{{{SQL_DROPPED}}}", "0+3x20"),
            (f"apim_probe_tcp_packets_received_total{{{SQL_DROPPED}}}", "0x20"),
            (f'apim_probe_tcp_state{{{SQL_DROPPED},state="filtered"}}', "1x20"),
            (f'apim_probe_tcp_state{{{SQL_DROPPED},state="open"}}', "0x20"),
        ),
        checks=(
            Check("9m"),
            Check("12m", (tcp_labels("billing", "backend", "billing.internal", 8080,
                                     "10.2.0.5"),)),
        ),
    ),
    Case(
        alert="ApimProbeTcpRttHigh",
        story="billing's handshakes all take 250-500 ms (forced tunnelling), orders' under "
              "100 ms",
        series=(
            *((f'apim_probe_tcp_rtt_seconds_bucket{{{BACKEND_FAST},le="{le}"}}', "0+3x20")
              for le in ("0.1", "0.25", "0.5", "+Inf")),
            (f'apim_probe_tcp_rtt_seconds_bucket{{{BACKEND_LOSSY},le="0.1"}}', "0x20"),
            (f'apim_probe_tcp_rtt_seconds_bucket{{{BACKEND_LOSSY},le="0.25"}}', "0x20"),
            (f'apim_probe_tcp_rtt_seconds_bucket{{{BACKEND_LOSSY},le="0.5"}}', "0+3x20"),
            (f'apim_probe_tcp_rtt_seconds_bucket{{{BACKEND_LOSSY},le="+Inf"}}', "0+3x20"),
        ),
        checks=(
            Check("9m"),
            Check("12m", (tcp_labels("billing", "backend", "billing.internal", 8080,
                                     "10.2.0.5"),)),
        ),
    ),
    Case(
        alert="ApimProbeAgentDown",
        story="jump1 stops answering scrapes at 2m; a node_exporter that is down is not an "
              "apim-probe agent",
        series=(
            (f"up{{{J}}}", "1 1 0x10"),
            (f'apim_probe_build_info{{{J},version="0.1.0",python="3.11.2"}}', "1 1 _x10"),
            ('up{job="node",instance="db1:9100"}', "0x12"),
        ),
        checks=(
            Check("6m"),
            Check("8m", (dict(AGENT),)),
        ),
    ),
    Case(
        alert="ApimProbeRoundsStale",
        story="jump1's last round is stuck at 180 s (3m); jump2 keeps finishing a round a "
              "minute",
        series=(
            (f"apim_probe_last_round_timestamp_seconds{{{J}}}", "0+60x3 180x16"),
            (f"apim_probe_last_round_timestamp_seconds{{{J2}}}", "0+60x20"),
        ),
        checks=(
            Check("10m"),
            Check("12m", (dict(AGENT),)),
        ),
    ),
    Case(
        alert="ApimProbeMetricsAbsent",
        story="no agent ever reported to this Prometheus",
        series=(('up{job="node",instance="db1:9100"}', "1x20"),),
        checks=(
            Check("14m"),
            Check("16m", ({},)),
        ),
    ),
    Case(
        alert="ApimProbeMetricsAbsent",
        story="an agent reports: nothing is absent",
        series=((f"apim_probe_last_round_timestamp_seconds{{{J}}}", "0+60x20"),),
        checks=(Check("20m"),),
    ),
    Case(
        alert="ApimProbeConfigReloadFailed",
        story="a bad config is rejected at 2m and fixed at 6m",
        series=((f"apim_probe_config_last_reload_successful{{{J}}}", "1 1 0 0 0 0 1 1 1"),),
        checks=(
            Check("1m"),
            Check("4m", (dict(AGENT),)),
            Check("7m"),
        ),
    ),
    Case(
        alert="ApimProbeCriticalFinding",
        story="the diagnosis reports management-unreachable (critical) and a warning",
        series=(
            (f'apim_probe_finding{{{J},id="management-unreachable",severity="critical",'
             f'subject="management 10.0.1.5:3443"}}', "1x10"),
            (f'apim_probe_finding{{{J},id="dns-answers-differ",severity="warning",'
             f'subject="apim.developer.azure-api.net"}}', "1x10"),
        ),
        checks=(
            Check("4m"),
            Check("6m", ({**AGENT, "id": "management-unreachable",
                          "subject": "management 10.0.1.5:3443"},)),
        ),
    ),
    Case(
        alert="ApimProbeWarningFinding",
        story="a warning finding stays for 40 minutes; a critical one is the other alert's",
        series=(
            (f'apim_probe_finding{{{J},id="dns-answers-differ",severity="warning",'
             f'subject="apim.developer.azure-api.net"}}', "1x40"),
            (f'apim_probe_finding{{{J},id="management-unreachable",severity="critical",'
             f'subject="management 10.0.1.5:3443"}}', "1x40"),
        ),
        checks=(
            Check("29m"),
            Check("31m", ({**AGENT, "id": "dns-answers-differ",
                           "subject": "apim.developer.azure-api.net"},)),
        ),
    ),
)
