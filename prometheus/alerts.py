"""The apim-probe alerts, written once, rendered twice.

This module is the source of truth for

    prometheus/apim-probe.rules.yml               Prometheus alerting rules
    grafana/provisioning/alerting/apim-probe.yaml  the same alerts, Grafana-managed
    prometheus/tests/apim-probe.test.yml          their promtool unit tests
                                                  (cases in prometheus/alert_tests.py)

so the two cannot drift apart. Edit the ``ALERTS`` below (and the stories in
alert_tests.py, plain data), then run, from the repository's root,

    python -m prometheus.alerts            # rewrite the three files (or: make generated)
    python -m prometheus.alerts --check    # exit 1 when a file is out of date

Imports go one way: this module reads alert_tests.py (data) and writes with
yamltext.py. ``tests/prometheus/test_alerts.py`` runs the check, ``promtool
check rules`` and ``promtool test rules`` (prometheus/tests/apim-probe.test.yml,
every alert firing and not firing).

The Grafana rules use the conversion Grafana itself applies when it imports
Prometheus rules: query A is the PromQL expression as an instant query, and
condition B, ``is_number($A) || is_nan($A) || is_inf($A)``, is true for every
series A returns, whatever its value; no data means OK. So a Grafana rule fires
for exactly the series its Prometheus twin fires for.

Thresholds worth tuning per site are the module constants below.
"""

from __future__ import annotations

import re
import sys
from dataclasses import dataclass
from pathlib import Path

from probe.promql import JOIN, JOIN_ADDRESS, ROUNDS, TARGET_FAILING, TARGET_STREAK
from prometheus import alert_tests
from prometheus.yamltext import yaml_document

ROOT = Path(__file__).resolve().parent.parent
RULES_FILE = ROOT / "prometheus" / "apim-probe.rules.yml"
GRAFANA_FILE = ROOT / "grafana" / "provisioning" / "alerting" / "apim-probe.yaml"
TEST_FILE = ROOT / "prometheus" / "tests" / "apim-probe.test.yml"

GROUP = "apim-probe"
GRAFANA_FOLDER = "APIM probe"
GRAFANA_DATASOURCE_UID = "apim-probe-prometheus"  # grafana/provisioning/datasources/prometheus.yaml
DASHBOARD_UID = "apim-probe"
EVALUATION_INTERVAL = "1m"  # Grafana needs one per group; Prometheus uses its global setting

# What is static per target (dependency, host, port, expected, required) is on
# apim_probe_target_info, one series per target; the per-address series carry
# only target and address. JOIN puts the static labels on a per-target series
# (address aggregated away), JOIN_ADDRESS on a per-address one. Required or
# optional is the target's own `required` flag in the agent's config: anything
# not marked "false" counts as required. The management endpoint has an alert
# of its own.
#
# Label-agnostic (issue 19): no rule names job or instance. Every rule
# aggregates `without (...)` and matches `ignoring (...)` the labels it drops,
# so whatever tells agents apart (instance when Prometheus scrapes each one,
# external labels such as vnet and region under remote_write, federation or a
# central scrape) stays on the alert, and two agents that differ only by an
# external label never collide ("many-to-many matching").
# The building blocks live in probe/promql.py, shared with `probe fleet`.
LOSS_THRESHOLD = 0.2  # fraction of probes unanswered by a target that does answer
RTT_P95_THRESHOLD_SECONDS = 0.25  # inside one region Azure answers in a few ms
STALE_ROUND_SECONDS = 300  # 20 x the default agent.interval (15 s); raise it for slow intervals
AZURE_STALE_SECONDS = 3600  # 4 x the default [azure] refresh (900 s): three refreshes failed

# The names of required targets (a name may serve several targets: required
# when any of them is), as name-labelled series to match DNS series on.
NAME_OF_TARGET = ('label_replace(apim_probe_target_info{{{selector}}}, "name", "$1", "host", '
                  '"(.*)")')
# A name's failing streak on the DNS servers: the `hosts` resolver (this host's
# hosts file, probe.localnames) lists few names, and its NXDOMAIN is no server
# failing; a name DNS fails must alert though the hosts file pins it.
DNS_FAILING = 'apim_probe_dns_failing_rounds{resolver!="hosts"}'

NAME_REQUIRED = ("max without (target, dependency, port, expected, required) (\n    "
                 + NAME_OF_TARGET.format(selector='required!="false"') + ")")

# Where an alert comes from: the scrape target, and the identity labels the
# README asks every agent's Prometheus to set (external_labels vnet, region).
WHERE = ("{{ $labels.instance }}{{ if $labels.vnet }} in VNet {{ $labels.vnet }}{{ end }}"
         "{{ if $labels.region }} ({{ $labels.region }}){{ end }}")

SEE_DASHBOARD = ("Dashboard 'APIM probe' shows the state, reason and responder per address; "
                 "`probe --once -c /etc/apim-probe/probe.toml` on the agent prints "
                 "the findings with their evidence and remedy.")

TARGET = "{{ $labels.target }} ({{ $labels.host }}:{{ $labels.port }})"


@dataclass(frozen=True)
class Alert:
    name: str
    uid: str  # Grafana rule uid (at most 40 characters)
    expr: str
    duration: str  # Prometheus `for`
    severity: str
    summary: str
    description: str


ALERTS: tuple[Alert, ...] = (
    Alert(
        name="ApimProbeManagementEndpointUnreachable",
        uid="apim-probe-management-unreachable",
        expr=f"""\
{TARGET_STREAK}
  {JOIN}
    apim_probe_target_info{{dependency="management"}}
>= {ROUNDS}""",
        duration="0s",
        severity="critical",
        summary=f"APIM management endpoint {TARGET} unreachable from {WHERE}",
        description=(
            f"No address of the management endpoint {{{{ $labels.host }}}} has answered on port "
            f"{{{{ $labels.port }}}} as expected in {ROUNDS} or more consecutive rounds. The "
            "Azure portal shows 'APIs keep loading' / 'Failed to connect to Management "
            "endpoint', and ARM deployments and scaling fail. Check: the APIM subnet's NSG "
            "allows inbound TCP 3443 from service tag ApiManagement to VirtualNetwork; no "
            "0.0.0.0/0 user-defined route (or BGP default route, or one learned from a peered "
            "VNet) sends the replies to a firewall or on-premises (forced tunnelling: add a "
            "route for service tag ApiManagement with next hop Internet); in internal mode the "
            "name resolves to the instance's private VIP (private DNS zone azure-api.net or the "
            "custom DNS server). " + SEE_DASHBOARD),
    ),
    Alert(
        name="ApimProbeRequiredDependencyUnreachable",
        uid="apim-probe-required-dependency-down",
        expr=f"""\
{TARGET_STREAK}
  {JOIN}
    apim_probe_target_info{{dependency!="management", required!="false"}}
>= {ROUNDS}""",
        duration="0s",
        severity="critical",
        summary=(f"APIM dependency {{{{ $labels.dependency }}}} {TARGET} unreachable from "
                 f"{WHERE}"),
        description=(
            "No address of {{ $labels.host }} has been in its expected state on port "
            f"{{{{ $labels.port }}}} in {ROUNDS} or more consecutive rounds, and the target is "
            "required (`required = true`, the default, in the agent's config). APIM needs "
            "such dependencies: Storage 443 (deploy, "
            "configuration), Sql 1433 (configuration database), AzureKeyVault 443 "
            "(certificates), AzureMonitor 1886/443 (logs, metrics), port 80 to the Internet "
            "(CRL checks), and your backends. Check: an outbound NSG rule from VirtualNetwork to "
            "the dependency's service tag above any deny (DenyAllOutBound is 65500); a "
            "user-defined route or forced tunnelling through a firewall or virtual appliance "
            "that drops or rejects it; the service's own firewall ('Selected networks', "
            "service endpoints for the APIM subnet); that the name resolves on the VNet's DNS "
            "(an unresolved target is a custom DNS server without a forwarder to Azure DNS "
            "168.63.129.16); for a backend, that something listens on the port. "
            + SEE_DASHBOARD),
    ),
    Alert(
        name="ApimProbeOptionalDependencyUnreachable",
        uid="apim-probe-optional-dependency-down",
        expr=f"""\
{TARGET_STREAK}
  {JOIN}
    apim_probe_target_info{{dependency!="management", required="false"}}
>= {ROUNDS}""",
        duration="5m",
        severity="warning",
        summary=(f"Optional APIM dependency {{{{ $labels.dependency }}}} {TARGET} unreachable "
                 f"from {WHERE}"),
        description=(
            "{{ $labels.host }}:{{ $labels.port }} has not been in its expected state for 5 "
            "minutes. The target is marked `required = false` in the agent's config: APIM runs "
            "without it, but the feature that uses it breaks, e.g. the developer portal, Entra "
            "ID sign-in (AzureActiveDirectory 443), the log-to-eventhub policy (EventHub 5671, "
            "5672, 443) or the external cache (6380, 6381-6383). If APIM cannot do without it, "
            "set `required = true` and the critical alert takes over. Check the outbound NSG "
            "rule to that service tag, user-defined routes / forced tunnelling, and the name's "
            "DNS. "
            + SEE_DASHBOARD),
    ),
    Alert(
        name="ApimProbeDependencyAddressFailing",
        uid="apim-probe-address-failing",
        expr=f"""\
(
  apim_probe_tcp_failing_rounds >= {ROUNDS}
  unless ignoring (address)
    ({TARGET_STREAK} >= {ROUNDS})
)
{JOIN_ADDRESS} apim_probe_target_info""",
        duration="5m",
        severity="warning",
        summary=("{{ $labels.address }} of {{ $labels.dependency }} " + TARGET
                 + " fails while its other addresses answer"),
        description=(
            "{{ $labels.host }} resolves to several addresses and {{ $labels.address }} has not "
            "been in its expected state on port {{ $labels.port }} for 5 minutes while the "
            "others are. APIM picks any of them, so requests fail intermittently. Check: an NSG "
            "rule or route that covers one address range and not the other, a stale A record "
            "or private endpoint record on the DNS server, a storage account or SQL server "
            "that moved. " + SEE_DASHBOARD),
    ),
    Alert(
        name="ApimProbeDependencyFailsOnlyHere",
        uid="apim-probe-fails-only-here",
        expr=f"""\
(
  {TARGET_STREAK}
    {JOIN}
      apim_probe_target_info
) >= {ROUNDS}
and on (dependency, host, port)
  count by (dependency, host, port) (
    (
      {TARGET_STREAK}
        {JOIN}
          apim_probe_target_info
    ) == 0
  )""",
        duration="0s",
        severity="warning",
        summary=(f"{{{{ $labels.dependency }}}} {TARGET} fails from {WHERE} but works from "
                 "another agent"),
        description=(
            "Another agent of the fleet reaches {{ $labels.host }}:{{ $labels.port }}, so the "
            "dependency and Azure are fine: the fault is local to this VNet (or this agent's "
            "subnet). Compare it with an agent that works: its NSG (an outbound deny above the "
            "rule for the service tag), its route table (a 0.0.0.0/0 or service-tag route to a "
            "firewall, NVA or on-premises, or a default route learned from a peered VNet or BGP) "
            "and its DNS servers (a custom DNS server without a forwarder to 168.63.129.16). "
            + SEE_DASHBOARD),
    ),
    Alert(
        name="ApimProbeDependencyFailsEverywhere",
        uid="apim-probe-fails-everywhere",
        expr=f"""\
count by (dependency, host, port) (
  (
    {TARGET_STREAK}
      {JOIN}
        apim_probe_target_info
  ) >= {ROUNDS}
) >= 2
unless on (dependency, host, port)
  (
    {TARGET_STREAK}
      {JOIN}
        apim_probe_target_info
  ) < {ROUNDS}""",
        duration="0s",
        severity="critical",
        summary=("{{ $labels.dependency }} {{ $labels.host }}:{{ $labels.port }} "
                 "fails from every agent ({{ $value }})"),
        description=(
            "Every agent of the fleet that probes {{ $labels.host }}:{{ $labels.port }} has "
            f"failed to reach it in {ROUNDS} or more consecutive rounds: no single VNet's NSG, "
            "routes or DNS explains that. Look at the dependency itself (the service's own "
            "firewall, 'Selected networks', a deleted or moved account, a private endpoint), at "
            "a change applied to every VNet (a policy-deployed NSG rule or route table, a hub "
            "firewall they all route through) and at Azure's status for the region."),
    ),
    Alert(
        name="ApimProbeDnsResolverDown",
        uid="apim-probe-dns-resolver-down",
        expr=f"""\
min without (name) ({DNS_FAILING}) >= {ROUNDS}""",
        duration="0s",
        severity="critical",
        summary="DNS server {{ $labels.resolver }} resolves none of the APIM names "
                f"({WHERE})",
        description=(
            f"Every name asked of {{{{ $labels.resolver }}}} has failed in {ROUNDS} or more "
            "consecutive rounds (timeout, "
            "REFUSED, SERVFAIL or NXDOMAIN; the DNS panels say which). If it is one of the "
            "VNet's DNS servers APIM cannot reach any dependency by name. Check: the DNS server "
            "runs and the NSG allows UDP and TCP 53 to it; a custom DNS server forwards Azure "
            "zones (blob/table/queue.core.windows.net, database.windows.net, vault.azure.net, "
            "azure-api.net) to Azure DNS 168.63.129.16 or an Azure DNS Private Resolver "
            "(168.63.129.16 answers only from inside Azure); the VNet's DNS server list "
            "(a change needs the APIM instance to be restarted or applied)."),
    ),
    Alert(
        name="ApimProbeDnsNameUnresolvable",
        uid="apim-probe-dns-name-unresolvable",
        expr=f"""\
min without (resolver) ({DNS_FAILING}) >= {ROUNDS}
and ignoring (host)
  {NAME_REQUIRED}""",
        duration="0s",
        severity="critical",
        summary=f"{{{{ $labels.name }}}} resolves on no DNS server ({WHERE})",
        description=(
            f"{{{{ $labels.name }}}} has failed on every resolver the agent asks in {ROUNDS} or "
            "more consecutive rounds, and a required target (`required = true`, the default) "
            "needs it. "
            "Check: the record exists (in internal mode the APIM names need A records for the "
            "instance's private VIP in a private DNS zone azure-api.net linked to the VNet, or "
            "on the custom DNS server); a private endpoint's privatelink zone is linked to this "
            "VNet; the name in the config is spelled right."),
    ),
    Alert(
        name="ApimProbeOptionalDnsNameUnresolvable",
        uid="apim-probe-optional-dns-name",
        expr=f"""\
min without (resolver) ({DNS_FAILING}) >= {ROUNDS}
unless ignoring (host)
  {NAME_REQUIRED}""",
        duration="5m",
        severity="warning",
        summary=f"{{{{ $labels.name }}}} resolves on no DNS server ({WHERE})",
        description=(
            "{{ $labels.name }} has failed on every resolver the agent asks for 5 minutes; "
            "only optional targets (`required = false`) use it, so APIM runs, but the feature "
            "behind it breaks. Check: the record exists; a private endpoint's privatelink zone "
            "is linked to this VNet; the custom DNS server forwards the zone to 168.63.129.16."),
    ),
    Alert(
        name="ApimProbeDnsResolversDisagree",
        uid="apim-probe-dns-resolvers-disagree",
        expr=f"""\
{DNS_FAILING} >= {ROUNDS}
and ignoring (resolver)
  (min without (resolver) ({DNS_FAILING}) == 0)
unless ignoring (name)
  (min without (name) ({DNS_FAILING}) >= {ROUNDS})""",
        duration="0s",
        severity="warning",
        summary="{{ $labels.name }} fails on {{ $labels.resolver }} but resolves on another "
                f"DNS server ({WHERE})",
        description=(
            f"In {ROUNDS} or more consecutive rounds {{{{ $labels.resolver }}}} has failed to "
            "resolve {{ $labels.name }} while "
            "another resolver answers it. This is the custom-DNS story: the VNet's DNS server "
            "has no forwarder for this zone. Check: add a conditional forwarder for the zone (or "
            "a default forwarder) to Azure DNS 168.63.129.16 or an Azure DNS Private Resolver "
            "on the custom DNS server; a private DNS zone linked to one resolver's network "
            "only. If {{ $labels.resolver }} is the VNet's DNS server, APIM cannot reach this "
            "dependency. " + SEE_DASHBOARD),
    ),
    Alert(
        name="ApimProbeTcpLossHigh",
        uid="apim-probe-tcp-loss-high",
        expr=f"""\
(
  (
    1 - (
      rate(apim_probe_tcp_packets_received_total[5m])
      / rate(apim_probe_tcp_packets_sent_total[5m])
    )
  ) > {LOSS_THRESHOLD}
  and ignoring (state, reason, responder)
    apim_probe_tcp_verdict_info{{state=~"open|closed"}}
)
{JOIN_ADDRESS} apim_probe_target_info""",
        duration="10m",
        severity="warning",
        summary=(f"{{{{ $labels.address }}}} of {TARGET} loses more than "
                 f"{LOSS_THRESHOLD:.0%} of probes ({WHERE})"),
        description=(
            f"Over 10 minutes more than {LOSS_THRESHOLD:.0%} of the probes to "
            "{{ $labels.address }}:{{ $labels.port }} got no answer although the address does "
            "answer the others. Intermittent loss in a VNet points at an overloaded virtual "
            "appliance or firewall on a forced-tunnelling path (0.0.0.0/0 user-defined route), "
            "SNAT port exhaustion, an asymmetric route whose replies a stateful firewall "
            "sometimes drops, or a saturated ExpressRoute / VPN gateway. Check the effective "
            "routes of the APIM subnet and the appliance's health."),
    ),
    Alert(
        name="ApimProbeTcpRttHigh",
        uid="apim-probe-tcp-rtt-high",
        expr=f"""\
(
  quantile_over_time(0.95, apim_probe_tcp_rtt_seconds[10m]) > {RTT_P95_THRESHOLD_SECONDS}
)
{JOIN_ADDRESS} apim_probe_target_info""",
        duration="10m",
        severity="warning",
        summary=(f"p95 TCP handshake time to {{{{ $labels.address }}}} of "
                 f"{{{{ $labels.target }}}} above {RTT_P95_THRESHOLD_SECONDS * 1000:.0f} ms "
                 f"({WHERE})"),
        description=(
            f"The 95th percentile over 10 minutes of the round's SYN to SYN-ACK/RST time "
            f"(the median of its attempts) to {{{{ $labels.address }}}}:"
            f"{{{{ $labels.port }}}} ({{{{ $labels.dependency }}}}) has been above "
            f"{RTT_P95_THRESHOLD_SECONDS * 1000:.0f} ms for 10 minutes; Azure services in the "
            "same region answer in a few milliseconds. A detour is the usual cause: forced "
            "tunnelling (0.0.0.0/0 to a firewall, an NVA or on-premises over VPN / ExpressRoute) "
            "or a dependency in another region. Check the APIM subnet's effective routes and "
            "user-defined routes, and that service endpoints or service-tag routes with next hop "
            "Internet keep Azure traffic on the backbone."),
    ),
    Alert(
        name="ApimProbeAgentDown",
        uid="apim-probe-agent-down",
        expr="""\
up == 0
and ignoring (version, python)
  present_over_time(apim_probe_build_info[1d])""",
        duration="2m",
        severity="warning",
        summary=f"apim-probe agent {WHERE} cannot be scraped",
        description=(
            "Prometheus has failed to scrape {{ $labels.instance }} (job {{ $labels.job }}) for "
            "2 minutes, so nothing is known about this VNet's dependencies. Check on the jump "
            "box: `systemctl status apim-probe`, `journalctl -u apim-probe`; that /metrics "
            "listens on the scraped address (agent.listen, loopback by default); the NSG / "
            "host firewall between Prometheus and the agent."),
    ),
    Alert(
        name="ApimProbeRoundsStale",
        uid="apim-probe-rounds-stale",
        expr=f"""\
time() - apim_probe_last_round_timestamp_seconds > {STALE_ROUND_SECONDS}""",
        duration="2m",
        severity="warning",
        summary=f"apim-probe agent {WHERE} has not finished a round for "
                f"{STALE_ROUND_SECONDS // 60} minutes",
        description=(
            f"The last probe round on {{{{ $labels.instance }}}} finished more than "
            f"{STALE_ROUND_SECONDS} seconds ago: the agent is stuck, or in textfile mode the "
            "timer (apim-probe-textfile.timer) no longer runs and node_exporter serves a stale "
            "file. The dashboards show old results. Check `journalctl -u apim-probe` (or "
            "`systemctl list-timers apim-probe-textfile.timer`) and restart the unit."),
    ),
    Alert(
        name="ApimProbeAzureContextStale",
        uid="apim-probe-azure-context-stale",
        expr=f"""\
apim_probe_azure_context_age_seconds > {AZURE_STALE_SECONDS}""",
        duration="0s",
        severity="warning",
        summary=f"apim-probe agent {WHERE} has not read APIM through ARM for "
                f"{AZURE_STALE_SECONDS // 60} minutes",
        description=(
            "With [azure] apim the agent reads the instance, its networkstatus and its "
            "subnet's NSG and route table through ARM every refresh (15 minutes by default); "
            f"none of them has been read for over {AZURE_STALE_SECONDS} seconds, so APIM's "
            "own view, the NSG rule behind a failure and the agent's vantage are that old. "
            "apim_probe_azure_read_errors_total says which call fails and how (403: the "
            "finding azure-permission-missing names the action to grant; token: no managed "
            "identity, or workload identity not set up; connection/timeout: ARM unreachable "
            "from this host). Probing goes on meanwhile."),
    ),
    Alert(
        name="ApimProbeMetricsAbsent",
        uid="apim-probe-metrics-absent",
        expr="""\
absent(apim_probe_last_round_timestamp_seconds)""",
        duration="15m",
        severity="warning",
        summary="No apim-probe agent reports to this Prometheus",
        description=(
            "apim_probe_last_round_timestamp_seconds has been absent for 15 minutes: no agent "
            "is scraped (or no agent has completed a round). APIM's VNet dependencies are not "
            "watched. Check the scrape config (job, target address, TLS / basic auth) and that "
            "the agents run (`systemctl status apim-probe`)."),
    ),
    Alert(
        name="ApimProbeConfigReloadFailed",
        uid="apim-probe-config-reload-failed",
        expr="""\
apim_probe_config_last_reload_successful == 0""",
        duration="1m",
        severity="warning",
        summary=f"apim-probe on {WHERE} rejected its new configuration",
        description=(
            "The last SIGHUP reload of {{ $labels.instance }} failed; the agent keeps probing "
            "with the previous configuration, so targets added or changed since are not "
            "watched. Check: `probe --check-config -c /etc/apim-probe/probe.toml` names the "
            "file, key and line at fault; `journalctl -u apim-probe` has the same message. Fix "
            "and `systemctl reload apim-probe`."),
    ),
    Alert(
        name="ApimProbeCriticalFinding",
        uid="apim-probe-critical-finding",
        expr="""\
apim_probe_finding{severity="critical"} == 1""",
        duration="5m",
        severity="critical",
        summary=f"{{{{ $labels.id }}}}: {{{{ $labels.subject }}}} ({WHERE})",
        description=(
            "The agent's diagnosis has reported the critical finding {{ $labels.id }} for "
            "{{ $labels.subject }} for 5 minutes. The remedy, in APIM terms (NSG rules, "
            "user-defined routes / forced tunnelling, custom DNS forwarders to 168.63.129.16, "
            "management endpoint 3443), is in the dashboard's 'Finding remedies' panel under "
            "this id. " + SEE_DASHBOARD),
    ),
    Alert(
        name="ApimProbeWarningFinding",
        uid="apim-probe-warning-finding",
        expr="""\
apim_probe_finding{severity="warning"} == 1""",
        duration="30m",
        severity="warning",
        summary=f"{{{{ $labels.id }}}}: {{{{ $labels.subject }}}} ({WHERE})",
        description=(
            "The agent's diagnosis has reported the warning {{ $labels.id }} for "
            "{{ $labels.subject }} for 30 minutes. The remedy is in the dashboard's 'Finding "
            "remedies' panel under this id. " + SEE_DASHBOARD),
    ),
)


@dataclass(frozen=True)
class Record:
    name: str
    expr: str


# For dashboards and `probe fleet`-style views of a fleet; the alerts inline
# the same expressions, so they work where only the alerts are loaded.
RECORDS: tuple[Record, ...] = (
    # Per agent and target: consecutive failing rounds of its best address,
    # with dependency, host and port (the agent's identity labels kept).
    Record("apim_probe:target_failing_rounds:min", TARGET_FAILING),
    # Per dependency endpoint, across the fleet: how many agents probe it and
    # how many fail it (fails here, works elsewhere: 0 < failing < probing).
    Record("apim_probe:endpoint_agents:count",
           "count by (dependency, host, port) (apim_probe:target_failing_rounds:min)"),
    Record("apim_probe:endpoint_agents_failing:count",
           f"count by (dependency, host, port) (apim_probe:target_failing_rounds:min >= {ROUNDS})"),
)


def prometheus_rules() -> dict[str, object]:
    # No group interval: Prometheus' own evaluation_interval applies.
    return {"groups": [{
        "name": f"{GROUP}-fleet",
        "rules": [{"record": r.name, "expr": r.expr} for r in RECORDS],
    }, {
        "name": GROUP,
        "rules": [{
            "alert": a.name,
            "expr": a.expr,
            "for": a.duration,
            "labels": {"severity": a.severity},
            "annotations": {"summary": a.summary, "description": a.description},
        } for a in ALERTS],
    }]}


def grafana_rules() -> dict[str, object]:
    datasource = {"type": "prometheus", "uid": GRAFANA_DATASOURCE_UID}
    expression = {"type": "__expr__", "uid": "__expr__"}
    return {"apiVersion": 1, "groups": [{
        "orgId": 1,
        "name": GROUP,
        "folder": GRAFANA_FOLDER,
        "interval": EVALUATION_INTERVAL,
        "rules": [{
            "uid": a.uid,
            "title": a.name,
            "condition": "B",
            "data": [
                {"refId": "A",
                 "relativeTimeRange": {"from": 600, "to": 0},
                 "datasourceUid": GRAFANA_DATASOURCE_UID,
                 "model": {"refId": "A", "datasource": datasource, "expr": a.expr,
                           "instant": True, "range": False}},
                {"refId": "B",
                 "datasourceUid": "__expr__",
                 "model": {"refId": "B", "datasource": expression, "type": "math",
                           "expression": "is_number($A) || is_nan($A) || is_inf($A)"}},
            ],
            "noDataState": "OK",
            "execErrState": "Error",
            "for": a.duration,
            "annotations": {"summary": a.summary, "description": a.description,
                            "__dashboardUid__": DASHBOARD_UID},
            "labels": {"severity": a.severity},
            "isPaused": False,
        } for a in ALERTS],
    }]}


RULES_HEADER = """\
# Prometheus alerting rules for apim-probe. GENERATED by prometheus/alerts.py:
# edit the ALERTS there and run `python -m prometheus.alerts`.
# Load with `rule_files: [apim-probe.rules.yml]`; unit tests: tests/apim-probe.test.yml
# (`promtool test rules prometheus/tests/apim-probe.test.yml`).
"""

GRAFANA_HEADER = f"""\
# Grafana-managed alert rules for apim-probe: the same alerts as
# prometheus/apim-probe.rules.yml. GENERATED by prometheus/alerts.py.
# Copy to /etc/grafana/provisioning/alerting/. The rules query the Prometheus
# data source with uid "{GRAFANA_DATASOURCE_UID}"
# (grafana/provisioning/datasources/prometheus.yaml); change datasourceUid if yours differs.
# Use these or the Prometheus rules, not both, or every alert is sent twice.
"""


TEST_HEADER = """\
# promtool unit tests for prometheus/apim-probe.rules.yml: every alert firing and
# not firing. GENERATED by prometheus/alerts.py from prometheus/alert_tests.py.
# Run: promtool test rules prometheus/tests/apim-probe.test.yml
"""

_LABEL_REF = re.compile(r"\{\{ \$labels\.([A-Za-z_][A-Za-z0-9_]*) \}\}")
_IF_LABEL = re.compile(r"\{\{ if \$labels\.([A-Za-z_][A-Za-z0-9_]*) \}\}(.*?)\{\{ end \}\}")
_VALUE = "{{ $value }}"


def expand(template: str, labels: dict[str, str], value: str = "") -> str:
    """The alert templates use {{ $labels.NAME }}, {{ $value }} and
    {{ if $labels.NAME }}...{{ end }} (an optional label such as vnet); fill them in."""
    if re.search(r"(?<!\{)\{ \$", template):  # an f-string ate a brace: "{ $labels.x }"
        raise ValueError(f"template has a single-brace reference: {template!r}")
    text = _IF_LABEL.sub(lambda m: m.group(2) if labels.get(m.group(1)) else "", template)
    leftover = _LABEL_REF.sub("", text).replace(_VALUE, "")
    if "{{" in leftover:
        raise ValueError(f"template uses more than $labels and $value: {template!r}")
    return _LABEL_REF.sub(lambda m: labels[m.group(1)], text).replace(_VALUE, value)


def _expected(alert: Alert, check: alert_tests.Check) -> list[dict[str, object]]:
    """What promtool must see at one check: the alert's labels and filled-in annotations."""
    expected: list[dict[str, object]] = []
    for labels in check.fires:
        value = labels.get("__value__", "")
        full = {**{k: v for k, v in labels.items() if k != "__value__"},
                "severity": alert.severity}
        expected.append({
            "exp_labels": full,
            "exp_annotations": {"summary": expand(alert.summary, full, value),
                                "description": expand(alert.description, full, value)},
        })
    return expected


def promtool_tests() -> dict[str, object]:
    """prometheus/tests/apim-probe.test.yml, from the stories in alert_tests.py."""
    by_name = {a.name: a for a in ALERTS}
    tests = []
    for case in alert_tests.CASES:
        alert = by_name[case.alert]
        tests.append({
            "name": f"{case.alert}: {case.story}",
            "interval": "1m",
            "input_series": [{"series": s, "values": v} for s, v in case.series],
            "alert_rule_test": [{"eval_time": check.at, "alertname": case.alert,
                                 "exp_alerts": _expected(alert, check)}
                                for check in case.checks],
        })
    return {"rule_files": ["../apim-probe.rules.yml"], "evaluation_interval": "1m",
            "tests": tests}


def render() -> dict[Path, str]:
    """Every generated file and its text."""
    return {
        RULES_FILE: yaml_document(RULES_HEADER, prometheus_rules()),
        GRAFANA_FILE: yaml_document(GRAFANA_HEADER, grafana_rules()),
        TEST_FILE: yaml_document(TEST_HEADER, promtool_tests()),
    }


def main(argv: list[str]) -> int:
    stale = []
    for path, text in render().items():
        current = path.read_text(encoding="utf-8") if path.exists() else None
        if current == text:
            continue
        if "--check" in argv:
            stale.append(path)
            continue
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        print(f"wrote {path.relative_to(ROOT)}")
    for path in stale:
        print(f"{path.relative_to(ROOT)} is out of date: run python -m prometheus.alerts",
              file=sys.stderr)
    return 1 if stale else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
