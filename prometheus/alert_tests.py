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


@dataclass(frozen=True)
class Target:
    """One target address of the stories. Per-address series carry only
    ``target`` and ``address``; the rest is on apim_probe_target_info."""

    name: str
    dependency: str
    host: str
    address: str
    port: int

    def at(self, agent: str = J) -> str:
        """The labels of its per-address series."""
        return f'{agent},target="{self.name}",address="{self.address}"'

    def info(self, values: str, *, required: bool = True,
             agent: str = J) -> tuple[str, str]:
        """Its apim_probe_target_info series (one per target, whatever the address)."""
        return (f'apim_probe_target_info{{{agent},target="{self.name}",'
                f'dependency="{self.dependency}",host="{self.host}",port="{self.port}",'
                f'expected="open",required="{"true" if required else "false"}"}}', values)

    def labels(self, *, address: bool = False, **extra: str) -> dict[str, str]:
        """What an alert about it fires with (the address only for per-address alerts)."""
        out = {**AGENT, "target": self.name, "dependency": self.dependency,
               "host": self.host, "port": str(self.port), **extra}
        if address:
            out["address"] = self.address
        return out


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


MGMT = Target("management", "management", "apim.management.azure-api.net", "10.0.1.5", 3443)
STORAGE_A = Target("storage", "storage", "apimst.blob.core.windows.net", "20.60.1.10", 443)
STORAGE_B = Target("storage", "storage", "apimst.blob.core.windows.net", "20.60.1.11", 443)
SQL = Target("sql", "sql", "apim-sql.database.windows.net", "", 1433)  # unresolved: address=""
KV_A = Target("keyvault", "keyvault", "apim-kv.vault.azure.net", "20.40.1.1", 443)
KV_B = Target("keyvault", "keyvault", "apim-kv.vault.azure.net", "20.40.1.2", 443)
HUB = Target("eventhub", "eventhub", "apim-hub.servicebus.windows.net", "20.50.1.1", 5671)
BACKEND_FAST = Target("orders", "backend", "orders.internal", "10.2.0.4", 8080)
BACKEND_LOSSY = Target("billing", "backend", "billing.internal", "10.2.0.5", 8080)
SQL_DROPPED = Target("sql-dropped", "sql", "apim-sql.database.windows.net", "10.3.0.4", 1433)
REPORTS = Target("reports", "backend", "reports.internal", "10.2.0.6", 8080)
CACHE = Target("cache", "cache", "apim-cache.redis.cache.windows.net", "20.70.1.1", 6380)


def success(t: Target, values: str, agent: str = J) -> tuple[str, str]:
    return (f"apim_probe_tcp_success{{{t.at(agent)}}}", values)


def verdict(t: Target, state: str, reason: str, values: str) -> tuple[str, str]:
    return (f'apim_probe_tcp_verdict_info{{{t.at()},state="{state}",reason="{reason}",'
            f'responder="{t.address}"}}', values)


CASES: tuple[Case, ...] = (
    Case(
        alert="ApimProbeManagementEndpointUnreachable",
        story="3443 stops answering on jump1 at 2m; jump2 and a failing storage target do not "
              "count",
        series=(
            success(MGMT, "1 1 0x10"),
            MGMT.info("1x12"),
            success(MGMT, "1x12", J2),
            MGMT.info("1x12", agent=J2),
            success(STORAGE_A, "0x12"),
            STORAGE_A.info("1x12"),
        ),
        checks=(
            Check("4m"),
            Check("6m", (MGMT.labels(),)),
        ),
    ),
    Case(
        alert="ApimProbeRequiredDependencyUnreachable",
        story="required targets fail: both storage addresses, the unresolved SQL name and an "
              "eventhub marked required; an optional backend fails too (the optional alert's), "
              "as do management (its own alert) and one keyvault address (the other answers)",
        series=(
            success(STORAGE_A, "0x12"),
            success(STORAGE_B, "0x12"),
            STORAGE_A.info("1x12"),  # one info series for both addresses
            success(SQL, "0x12"),
            SQL.info("1x12"),
            success(KV_A, "1x12"),
            success(KV_B, "0x12"),
            KV_A.info("1x12"),
            success(MGMT, "0x12"),
            MGMT.info("1x12"),
            success(HUB, "0x12"),
            HUB.info("1x12"),
            success(REPORTS, "0x12"),
            REPORTS.info("1x12", required=False),
        ),
        checks=(
            Check("4m"),
            Check("6m", (STORAGE_A.labels(), SQL.labels(), HUB.labels())),
        ),
    ),
    Case(
        alert="ApimProbeRequiredDependencyUnreachable",
        story="only optional targets fail (a backend and a cache marked required = false); "
              "the required storage target answers: nothing fires, however long",
        series=(
            success(REPORTS, "0x20"),
            REPORTS.info("1x20", required=False),
            success(CACHE, "0x20"),
            CACHE.info("1x20", required=False),
            success(STORAGE_A, "1x20"),
            STORAGE_A.info("1x20"),
        ),
        checks=(Check("6m"), Check("20m")),
    ),
    Case(
        alert="ApimProbeOptionalDependencyUnreachable",
        story="optional targets fail for good: an eventhub and a backend marked required = "
              "false; required targets fail too (a storage target and a cache marked required: "
              "the critical alert's), an optional keyvault answers",
        series=(
            success(HUB, "0x15"),
            HUB.info("1x15", required=False),
            success(REPORTS, "0x15"),
            REPORTS.info("1x15", required=False),
            success(STORAGE_A, "0x15"),
            STORAGE_A.info("1x15"),
            success(CACHE, "0x15"),
            CACHE.info("1x15"),
            success(KV_A, "1x15"),
            KV_A.info("1x15", required=False),
        ),
        checks=(
            Check("9m"),
            Check("11m", (HUB.labels(), REPORTS.labels())),
        ),
    ),
    Case(
        alert="ApimProbeOptionalDependencyUnreachable",
        story="only required targets fail (an eventhub marked required, a storage target); "
              "the optional backend answers: nothing fires, however long",
        series=(
            success(HUB, "0x20"),
            HUB.info("1x20"),
            success(STORAGE_A, "0x20"),
            STORAGE_A.info("1x20"),
            success(REPORTS, "1x20"),
            REPORTS.info("1x20", required=False),
        ),
        checks=(Check("11m"), Check("20m")),
    ),
    Case(
        alert="ApimProbeDependencyAddressFailing",
        story="one keyvault address fails while the other answers; storage fails on every "
              "address (that is the unreachable alert, not this one)",
        series=(
            success(KV_A, "1x15"),
            success(KV_B, "0x15"),
            KV_A.info("1x15"),
            success(STORAGE_A, "0x15"),
            success(STORAGE_B, "0x15"),
            STORAGE_A.info("1x15"),
        ),
        checks=(
            Check("9m"),
            Check("11m", (KV_B.labels(address=True),)),
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
            (f"apim_probe_tcp_packets_sent_total{{{BACKEND_FAST.at()}}}", "0+3x20"),
            (f"apim_probe_tcp_packets_received_total{{{BACKEND_FAST.at()}}}", "0+3x20"),
            verdict(BACKEND_FAST, "open", "syn-ack", "1x20"),
            BACKEND_FAST.info("1x20"),
            (f"apim_probe_tcp_packets_sent_total{{{BACKEND_LOSSY.at()}}}", "0+3x20"),
            (f"apim_probe_tcp_packets_received_total{{{BACKEND_LOSSY.at()}}}", "0+2x20"),
            verdict(BACKEND_LOSSY, "open", "syn-ack", "1x20"),
            BACKEND_LOSSY.info("1x20"),
            (f"apim_probe_tcp_packets_sent_total{{{SQL_DROPPED.at()}}}", "0+3x20"),
            (f"apim_probe_tcp_packets_received_total{{{SQL_DROPPED.at()}}}", "0x20"),
            verdict(SQL_DROPPED, "filtered", "no-response", "1x20"),
            SQL_DROPPED.info("1x20"),
        ),
        checks=(
            Check("9m"),
            Check("12m", (BACKEND_LOSSY.labels(address=True),)),
        ),
    ),
    Case(
        alert="ApimProbeTcpRttHigh",
        story="billing's rounds take 300-400 ms (forced tunnelling), orders' 2 ms but for one "
              "slow round; no RTT for the dropped SQL address (nothing answered)",
        series=(
            (f"apim_probe_tcp_rtt_seconds{{{BACKEND_FAST.at()}}}", "0.002x8 0.4 0.002x11"),
            BACKEND_FAST.info("1x20"),
            (f"apim_probe_tcp_rtt_seconds{{{BACKEND_LOSSY.at()}}}", "0.3 0.4 0.35x18"),
            BACKEND_LOSSY.info("1x20"),
            SQL_DROPPED.info("1x20"),
        ),
        checks=(
            Check("9m"),
            Check("12m", (BACKEND_LOSSY.labels(address=True),)),
        ),
    ),
    Case(
        alert="ApimProbeAgentDown",
        story="jump1 stops answering scrapes at 2m; a node_exporter that is down is not an "
              "apim-probe agent",
        series=(
            (f"up{{{J}}}", "1 1 0x10"),
            (f'apim_probe_build_info{{{J},version="0.2.0",python="3.11.2"}}', "1 1 _x10"),
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
