"""The 'APIM probe' Grafana dashboard, as code: one function per row.

    python -m grafana.dashboard           # rewrite grafana/dashboards/apim-probe.json
    python -m grafana.dashboard --check   # exit 1 when the JSON is out of date

Generated rather than exported from the UI so that every query goes through
one filter (``job=~"$job", instance=~"$instance"``) and one data source
variable, and so that tests can hold every metric name against
docs/metrics.md. To change a panel: edit its row function below, run the
script, commit both files (tests/grafana/test_dashboard.py fails when they
differ). The panel builders are in grafana/panels.py; the remedy catalogue
panel is generated from probe.findings.FINDINGS.

Rows, top to bottom (``ROWS``): is my APIM VNet healthy (counts, the
dependency x resolver matrix), DNS per resolver and disagreements, TCP state
and reason per target address, RTT and loss, findings and their remedies, the
agent's own health, and the host context (egress interfaces, established
connections).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from grafana.panels import (
    DNS_STATUS,
    DS,
    FD,
    OK_FAIL,
    RATE,
    SEVERITY,
    TCP_STATE,
    F,
    Json,
    Layout,
    column,
    organize,
    panel,
    stat,
    state_timeline,
    steps,
    table,
    target,
    timeseries,
)
from probe.findings import DIAGNOSIS, markdown_rows, of
from probe.promql import INFO_LABELS, ROUNDS, TARGET_FAILING

ROOT = Path(__file__).resolve().parent.parent
DASHBOARD_FILE = ROOT / "grafana" / "dashboards" / "apim-probe.json"

UID = "apim-probe"
TITLE = "APIM probe"


def remedies_markdown() -> str:
    """The 'Finding remedies' panel: the diagnosis' part of the finding catalogue."""
    return "\n".join([
        "What to do about each finding, in APIM terms. The agent's report "
        "(`probe --once -c /etc/apim-probe/probe.toml`) shows the same remedy with the "
        "evidence for the subject at hand.",
        "",
        *markdown_rows(of(DIAGNOSIS)),
    ])


# --------------------------------------------------------------------------
# queries shared by panels

# The per-address series carry only target and address; what is static per
# target (dependency, host, port, expected, required) is on apim_probe_target_info,
# which is also where the $dependency filter applies.
# Label-agnostic (issue 19): joins match ignoring() the labels one side lacks,
# aggregations drop labels without(); no query names job or instance, so the
# agent's identity (instance, or external labels such as vnet and region under
# remote_write) stays on every series.
INFO = f"apim_probe_target_info{{{FD}}}"
# (ignoring the verdict's labels too: per_target also joins apim_probe_tcp_verdict_info)
WITH_TARGET = (f"ignoring (address, state, reason, responder, {INFO_LABELS}) "
               "group_left (dependency, host, port)")


def per_target(expr: str) -> str:
    """``expr`` (per target address) with the target's static labels, $dependency applied."""
    return f"(\n  {expr}\n)\n* {WITH_TARGET}\n  {INFO}"


SUCCESS = per_target(f"apim_probe_tcp_success{{{F}}}")

DEP_X_RESOLVER = f"""\
min without (job, name, host) (
  label_replace(apim_probe_dns_success{{{F}}}, "host", "$1", "name", "(.*)")
  * ignoring (name, resolver, dependency) group_left (dependency)
    topk without (dependency) (1,
      group without (target, port, expected, required) ({INFO})
    )
)
or
label_replace(
  min without (job, target, address, host, port) ({SUCCESS}),
  "resolver", "TCP (primary's answer)", "", ""
)"""

TCP_ROWS = f"""\
apim_probe_tcp_success{{{F}}}
* ignoring (state, reason, responder) group_left (state, reason, responder)
  apim_probe_tcp_verdict_info{{{F}}}
* ignoring (address, state, reason, responder, {INFO_LABELS}) group_left ({INFO_LABELS})
  {INFO}"""

DISAGREE = f"""\
apim_probe_dns_status_info{{{F}, status!="ok"}}
and ignoring (status) (apim_probe_dns_success{{{F}}} == 0)
and ignoring (status, resolver)
  (max without (resolver) (apim_probe_dns_success{{{F}}}) == 1)"""

# The fleet: per agent and dependency, the worst failing-round streak of its
# targets (the agent's identity labels kept), and the endpoints failing from
# some agents while another reaches them.
_FAILING = (TARGET_FAILING.replace("apim_probe_tcp_failing_rounds",
                                   f"apim_probe_tcp_failing_rounds{{{F}}}")
            .replace("apim_probe_target_info", INFO))
FLEET_GRID = f"""\
max without (target, host, port) (
  {_FAILING.replace(chr(10), chr(10) + "  ")}
)"""
FLEET_LOCAL = f"""\
(
  {_FAILING.replace(chr(10), chr(10) + "  ")}
) >= {ROUNDS}
and on (dependency, host, port)
  count by (dependency, host, port) (
    ({_FAILING.replace(chr(10), " ")}) == 0
  )"""


def quantile(q: str) -> str:
    """A quantile over the rate interval of the rounds' RTT (each the median of its attempts)."""
    return per_target(f"quantile_over_time({q}, apim_probe_tcp_rtt_seconds{{{F}}}[{RATE}])")


LOSS = per_target(
    f"1 - (\n    rate(apim_probe_tcp_packets_received_total{{{F}}}[{RATE}])\n"
    f"    / rate(apim_probe_tcp_packets_sent_total{{{F}}}[{RATE}])\n  )")


def overview_row(lay: Layout) -> None:
    """Is my APIM VNet healthy? Counts, the dependency x resolver matrix."""
    lay.row("Is my APIM VNet healthy?")
    lay.add(stat("Addresses as expected",
                 "Share of probed target addresses in their expected state (open unless the "
                 "target says otherwise).",
                 f"sum({SUCCESS}) / count({SUCCESS})",
                 unit="percentunit",
                 thresholds=steps((None, "red"), (0.999, "green"))), 4, 4)
    lay.add(stat("Addresses failing",
                 "Target addresses not in their expected state right now.",
                 f"count(({SUCCESS}) == 0) or vector(0)",
                 thresholds=steps((None, "green"), (1, "red"))), 4, 4)
    lay.add(stat("DNS answers failing",
                 "(name, resolver) pairs that did not resolve in the last round.",
                 f"count(apim_probe_dns_success{{{F}}} == 0) or vector(0)",
                 thresholds=steps((None, "green"), (1, "red"))), 4, 4)
    lay.add(stat("Critical findings",
                 "Active critical findings of the agents' diagnosis; see Findings below.",
                 f'count(apim_probe_finding{{{F}, severity="critical"}} == 1) or vector(0)',
                 thresholds=steps((None, "green"), (1, "red"))), 4, 4)
    lay.add(stat("Warnings",
                 "Active warning findings.",
                 f'count(apim_probe_finding{{{F}, severity="warning"}} == 1) or vector(0)',
                 thresholds=steps((None, "green"), (1, "orange"))), 4, 4)
    lay.add(stat("Oldest last round",
                 "Seconds since the least recent agent finished a probe round; above a few "
                 "intervals the agent is stuck (or its textfile is stale).",
                 f"max(time() - apim_probe_last_round_timestamp_seconds{{{F}}})",
                 unit="s", thresholds=steps((None, "green"), (120, "orange"), (300, "red"))),
            4, 4)
    lay.add(table(
        "Dependency x resolver: $instance",
        "One row per APIM dependency group. Resolver columns: do the dependency's names "
        "resolve on that DNS server (FAIL when any does not). The TCP column: are its "
        "addresses (as the primary resolver answered) in their expected state. A dependency "
        "red on the custom DNS server only is the 'custom DNS without a forwarder to "
        "168.63.129.16' story.",
        [target(DEP_X_RESOLVER, instant=True, fmt="table")],
        mappings=OK_FAIL, cell="color-background",
        transformations=[{"id": "groupingToMatrix", "options": {
            "columnField": "resolver", "rowField": "dependency", "valueField": "Value",
            "emptyValue": "null"}}],
        extra={"repeat": "instance", "repeatDirection": "h", "maxPerRow": 2}), 12, 9)
    lay.add(state_timeline(
        "Dependencies over time",
        "Per dependency group: OK while every address of every target in it meets its "
        "expectation.",
        [target(f"min by (dependency) ({SUCCESS})",
                legend="{{dependency}}")]), 12, 9)


def dns_row(lay: Layout) -> None:
    """DNS per resolver: the name x resolver matrix, disagreements, answer times."""
    lay.row("DNS per resolver")
    lay.add(table(
        "DNS status, name x resolver: $instance",
        "The outcome of each name on each resolver in the last round. Azure names failing "
        "on the VNet's custom DNS server but ok on Azure DNS: add a forwarder to "
        "168.63.129.16.",
        [target(f"apim_probe_dns_status_info{{{F}}}", instant=True, fmt="table")],
        mappings=DNS_STATUS, cell="color-background",
        transformations=[{"id": "groupingToMatrix", "options": {
            "columnField": "resolver", "rowField": "name", "valueField": "status",
            "emptyValue": "null"}}],
        extra={"repeat": "instance", "repeatDirection": "h", "maxPerRow": 2}), 12, 9)
    lay.add(table(
        "Resolvers disagree",
        "Names that fail on these resolvers while another resolver answers them.",
        [target(DISAGREE, instant=True, fmt="table")],
        mappings=DNS_STATUS,
        transformations=[organize(["Time", "Value", "__name__", "job"],
                                  order=["instance", "name", "resolver", "status"])],
        overrides=[column("status", **{"custom.cellOptions": {"type": "color-background"}})]),
            12, 9)
    lay.add(timeseries(
        "DNS answer time",
        "How long each resolver took to answer each name (or to time out).",
        [target(f"apim_probe_dns_duration_seconds{{{F}}}",
                legend="{{name}} @ {{resolver}} ({{instance}})")], unit="s", min_=0), 12, 8)
    lay.add(timeseries(
        "Names resolving, per resolver",
        "Share of names each resolver resolves; a drop on one resolver only is a forwarder or "
        "zone problem on that server.",
        [target(f"sum by (resolver) (apim_probe_dns_success{{{F}}}) / "
                f"count by (resolver) (apim_probe_dns_success{{{F}}})",
                legend="{{resolver}}")], unit="percentunit", min_=0, max_=1), 12, 8)


def tcp_row(lay: Layout) -> None:
    """TCP state and reason per target address."""
    lay.row("TCP state and reason per target address")
    lay.add(table(
        "Targets and addresses",
        "Every probed address: expected and current state, the nmap-style reason "
        "(syn-ack, reset, no-response, admin-prohibited, host-unreach, ...). filtered + "
        "no-response: an NSG or firewall drops; filtered + an ICMP reason: a device rejects; "
        "closed + reset: nothing listens; unresolved: the name did not resolve on the primary "
        "resolver (the reason is the DNS outcome). responder: who answered (the target, or "
        "the router or firewall that sent an ICMP error; empty for silence). required: the "
        "target's `required` flag in the agent's config (false: a failure is a warning, "
        "true: critical).",
        [target(TCP_ROWS, instant=True, fmt="table")],
        mappings=OK_FAIL,
        transformations=[organize(
            ["Time", "job", "__name__"],
            rename={"Value": "as expected"},
            order=["instance", "dependency", "target", "required", "host", "address", "port",
                   "expected", "state", "reason", "responder", "Value"])],
        overrides=[column("as expected", **{"custom.cellOptions": {"type": "color-background"},
                                            "thresholds": steps((None, "red"), (1, "green"))}),
                   column("state", mappings=TCP_STATE,
                          **{"custom.cellOptions": {"type": "color-text"}})]), 24, 10)
    lay.add(state_timeline(
        "Expectation met, per target address",
        "History of each address: OK while in its expected state.",
        [target(SUCCESS,
                legend="{{target}} {{address}}:{{port}} ({{instance}})")]), 12, 9)
    lay.add(timeseries(
        "Addresses by state",
        "How many probed addresses are open, closed, filtered or unresolved.",
        [target("count by (state) (" + per_target(f"apim_probe_tcp_verdict_info{{{F}}}")
                + ")", legend="{{state}}")],
        stack=True, min_=0), 6, 9)
    lay.add(timeseries(
        "Addresses by reason",
        "Why: syn-ack, reset, no-response (dropped), ICMP rejects, DNS outcomes.",
        [target("count by (reason) (" + per_target(f"apim_probe_tcp_verdict_info{{{F}}}")
                + ")", legend="{{reason}}")],
        stack=True, min_=0), 6, 9)


def rtt_row(lay: Layout) -> None:
    """Round-trip time and loss."""
    lay.row("Round-trip time and loss")
    lay.add(panel(
        "heatmap", "Handshake RTT (all selected addresses)",
        "SYN to SYN-ACK/RST (or connect()) time of each round (the median of its attempts) "
        "of every answering address, bucketed by Grafana. Azure services in the region "
        "answer in a few ms; a band near 20-100 ms suggests forced tunnelling through a "
        "firewall or on-premises. Every attempt's RTT is in the opt-in histogram "
        "apim_probe_tcp_attempt_rtt_seconds ([metrics] rtt_histogram = true).",
        [target(per_target(f"apim_probe_tcp_rtt_seconds{{{F}}}"))],
        options={"calculate": True,
                 "calculation": {"yBuckets": {"mode": "count", "scale": {"type": "log",
                                                                         "log": 2}}},
                 "yAxis": {"unit": "s"},
                 "cellGap": 1, "color": {"mode": "scheme", "scheme": "Oranges",
                                         "fill": "dark-orange", "scale": "exponential",
                                         "exponent": 0.5, "steps": 64},
                 "rowsFrame": {"layout": "auto"}, "tooltip": {"show": True, "yHistogram": True},
                 "legend": {"show": True}}), 12, 9)
    lay.add(timeseries(
        "RTT p95 and p50 per target address",
        "Percentiles over the rate interval of the rounds' RTT (each the median of its "
        "attempts).",
        [target(quantile("0.95"), "A", "p95 {{target}} {{address}}:{{port}} ({{instance}})"),
         target(quantile("0.5"), "B", "p50 {{target}} {{address}}:{{port}} ({{instance}})")],
        unit="s", min_=0), 12, 9)
    lay.add(timeseries(
        "Loss per target address",
        "1 - answered / sent probes. 100% on a filtered, no-response address is the drop "
        "itself; partial loss on an address that answers points at an overloaded appliance, "
        "SNAT exhaustion or an asymmetric route.",
        [target(LOSS, legend="{{target}} {{address}}:{{port}} ({{instance}})")],
        unit="percentunit", min_=0, max_=1), 12, 8)
    lay.add(timeseries(
        "Probes per second",
        "Probes sent and answered (any answer: SYN-ACK, RST, ICMP).",
        [target("sum by (instance) (" + per_target(
                    f"rate(apim_probe_tcp_packets_sent_total{{{F}}}[{RATE}])") + ")",
                "A", "sent ({{instance}})"),
         target("sum by (instance) (" + per_target(
                    f"rate(apim_probe_tcp_packets_received_total{{{F}}}[{RATE}])") + ")",
                "B", "answered ({{instance}})")], unit="pps", min_=0), 12, 8)


def findings_row(lay: Layout) -> None:
    """The diagnosis' findings, and the remedy catalogue the findings table links to."""
    lay.row("Findings")
    remedies_id = lay.next_id + 2  # the text panel added after the next two
    lay.add(table(
        "Active findings",
        "What the agents' diagnosis concludes from the last round. Click an id for the "
        "remedy catalogue.",
        [target(f"apim_probe_finding{{{F}}} == 1", instant=True, fmt="table")],
        mappings=SEVERITY,
        transformations=[organize(["Time", "Value", "__name__", "job"],
                                  order=["severity", "id", "subject", "instance"])],
        overrides=[column("severity", **{"custom.cellOptions": {"type": "color-background"}}),
                   column("id", links=[{
                       "title": "Remedy for ${__data.fields.id}",
                       "url": f"/d/{UID}/{UID}?viewPanel={remedies_id}&${{__url_time_range}}"
                              "&${datasource:queryparam}&${job:queryparam}"
                              "&${instance:queryparam}"}])]), 14, 9)
    lay.add(timeseries(
        "Findings over time",
        "Active findings by severity.",
        [target(f"count by (severity) (apim_probe_finding{{{F}}} == 1)", legend="{{severity}}")],
        stack=True, min_=0), 10, 9)
    remedies = lay.add({"type": "text", "title": "Finding remedies",
                        "description": "The remedy catalogue: one entry per finding id.",
                        "options": {"mode": "markdown", "content": remedies_markdown()}}, 24, 14)
    if remedies["id"] != remedies_id:
        raise RuntimeError("the findings table links to the wrong panel id")


def agent_row(lay: Layout) -> None:
    """The agent's own health: last round, config reload, scrape, rounds."""
    lay.row("The agent")
    lay.add(stat("Last round age",
                 "Seconds since each agent finished a round.",
                 f"time() - apim_probe_last_round_timestamp_seconds{{{F}}}", unit="s",
                 legend="{{instance}}",
                 thresholds=steps((None, "green"), (120, "orange"), (300, "red"))), 6, 5)
    lay.add(stat("Config reload",
                 "Whether the last config load or SIGHUP reload succeeded. FAILED: the agent "
                 "runs the previous config; `probe --check-config` says why.",
                 f"apim_probe_config_last_reload_successful{{{F}}}", legend="{{instance}}",
                 mappings=[{"type": "value", "options": {
                     "1": {"text": "OK", "color": "green", "index": 0},
                     "0": {"text": "FAILED", "color": "red", "index": 1}}}]), 6, 5)
    lay.add(stat("Scrape",
                 "Prometheus' own view: 1 when the last scrape of the agent worked.",
                 f"up{{{F}}}", legend="{{instance}}", mappings=OK_FAIL,
                 thresholds=steps((None, "red"), (1, "green"))), 6, 5)
    lay.add(stat("Probe method",
                 "syn: raw SYN probes (CAP_NET_RAW); connect: the fallback without it.",
                 f"apim_probe_tcp_probe_method{{{F}}} == 1", legend="{{instance}}: {{method}}"),
            6, 5)
    lay.add(timeseries(
        "Round duration",
        "How long the last round took; close to agent.interval means rounds barely fit.",
        [target(f"apim_probe_round_duration_seconds{{{F}}}", legend="{{instance}}")],
        unit="s", min_=0), 8, 8)
    lay.add(timeseries(
        "Rounds per minute",
        "Completed rounds; flat zero with the agent up means it is stuck.",
        [target(f"rate(apim_probe_rounds_total{{{F}}}[{RATE}]) * 60", legend="{{instance}}")],
        min_=0), 8, 8)
    lay.add(table(
        "Agents",
        "Version of apim-probe and Python on each agent, and when its config last loaded.",
        [target(f"apim_probe_build_info{{{F}}}", "A", instant=True, fmt="table"),
         target(f"apim_probe_config_last_reload_success_timestamp_seconds{{{F}}} * 1000",
                "B", instant=True, fmt="table")],
        transformations=[{"id": "merge", "options": {}},
                         organize(["Time", "Value #A", "__name__", "job"],
                                  rename={"Value #B": "config loaded"},
                                  order=["instance", "version", "python", "Value #B"])],
        overrides=[column("config loaded", unit="dateTimeAsIso")]), 8, 8)


def host_row(lay: Layout) -> None:
    """Host context: egress interfaces, probe routes, established connections."""
    lay.row("Host context")
    lay.add(table(
        "Egress interfaces",
        "Interfaces the probes leave from (as the kernel routes them), their state and MTU.",
        [target(f"apim_probe_host_interface_up{{{F}}}", "A", instant=True, fmt="table"),
         target(f"apim_probe_host_interface_mtu_bytes{{{F}}}", "B", instant=True,
                fmt="table")],
        mappings=[{"type": "value", "options": {
            "1": {"text": "up", "color": "green", "index": 0},
            "0": {"text": "DOWN", "color": "red", "index": 1}}}],
        transformations=[{"id": "merge", "options": {}},
                         organize(["Time", "__name__", "job"],
                                  rename={"Value #A": "state", "Value #B": "MTU"},
                                  order=["instance", "interface", "Value #A", "Value #B"])],
        overrides=[column("MTU", mappings=[], unit="bytes")]), 6, 8)
    lay.add(table(
        "Probe routes",
        "How many target addresses the kernel routes the probes to from each source "
        "address and interface (ip route get): addresses leaving from an unexpected "
        "interface are a routing problem on this host, not in the VNet; `probe --once` "
        "names them. An address with no route at all shows as reason no-route.",
        [target(f"apim_probe_host_routed_addresses{{{F}}}", instant=True, fmt="table")],
        transformations=[organize(["Time", "__name__", "job"],
                                  rename={"Value": "target addresses"},
                                  order=["instance", "source", "interface", "Value"])]),
            6, 8)
    lay.add(timeseries(
        "Interface errors and drops",
        "Receive/transmit errors and drops per second on the egress interfaces.",
        [target(f"rate(apim_probe_host_interface_errors_total{{{F}}}[{RATE}])", "A",
                "errors {{interface}} {{direction}} ({{instance}})"),
         target(f"rate(apim_probe_host_interface_drops_total{{{F}}}[{RATE}])", "B",
                "drops {{interface}} {{direction}} ({{instance}})")], unit="pps", min_=0),
            6, 8)
    lay.add(timeseries(
        "Established connections per target",
        "ESTABLISHED TCP connections from the agent's host to each target address (the "
        "netstat -ant | grep of the field articles). Next to a self-hosted gateway, zero "
        "connections to the configuration endpoint means it has lost Azure. The agent "
        "exports no series for none; the zeros come from the targets.",
        [target(f"apim_probe_host_established_connections{{{F}}}\n"
                f"or ignoring (address, {INFO_LABELS}) (0 * {INFO})",
                legend="{{target}} {{address}} ({{instance}})")], min_=0), 6, 8)


# A failing-round streak as the alerts read it.
FAILING_ROUNDS = [
    {"type": "value", "options": {"0": {"text": "ok", "color": "green", "index": 0}}},
    {"type": "range", "options": {"from": 1, "to": ROUNDS - 0.5, "result": {
        "text": "1 bad round", "color": "orange", "index": 1}}},
    {"type": "range", "options": {"from": ROUNDS, "to": 1e12, "result": {
        "text": "FAIL", "color": "red", "index": 2}}},
]


def fleet_row(lay: Layout) -> None:
    """Many agents, one per VNet and region: which VNet is wrong."""
    lay.row("Fleet: which VNet is wrong")
    lay.add(table(
        "Agent x dependency",
        "One row per agent (its identity labels: instance, or vnet and region set as "
        "external labels), one column per dependency: the failing-round streak of its worst "
        f"target (0 ok; {ROUNDS} or more: failing, as the alerts count).",
        [target(FLEET_GRID, instant=True, fmt="table")],
        mappings=FAILING_ROUNDS,
        transformations=[organize(["Time", "__name__", "job"],
                                  rename={"Value": "failing rounds"})],
        overrides=[column("failing rounds",
                          **{"custom.cellOptions": {"type": "color-background"}})]),
        12, 9)
    lay.add(table(
        "Fails here, works elsewhere",
        "Endpoints failing from these agents while another selected agent reaches them: the "
        "fault is "
        "local to the failing agent's VNet (its NSG, routes or DNS), not the dependency. "
        "`probe fleet --prometheus URL` prints the same from a shell.",
        [target(FLEET_LOCAL, instant=True, fmt="table")],
        transformations=[organize(["Time", "__name__", "job", "target"],
                                  rename={"Value": "failing rounds"})]), 12, 9)


# The panels that need the live Azure context ([azure] apim): tests/test_azure_lab.py
# runs them against it; the other lab query test leaves them out.
AZURE_PANELS = ("APIM's networkstatus", "Azure context age", "Failed Azure reads")


def azure_row(lay: Layout) -> None:
    """APIM's own view beside the agent's, and the live Azure context's health."""
    lay.row("APIM's own view and the Azure context")
    lay.add(table(
        "APIM's networkstatus",
        "Each check of APIM's own networkstatus (live through ARM with [azure] apim, or "
        "imported): what APIM itself sees from its subnet. Compare with the TCP rows: APIM "
        "failing what the agent reaches means the difference is between the two subnets.",
        [target(f"apim_probe_apim_view_info{{{F}}} == 1", instant=True, fmt="table")],
        mappings=[{"type": "value", "options": {
            "success": {"color": "green", "index": 0},
            "failure": {"color": "red", "index": 1},
            "initializing": {"color": "orange", "index": 2}}}],
        transformations=[organize(["Time", "Value", "__name__", "job"],
                                  order=["status", "dependency", "host", "port", "location",
                                         "instance"])],
        overrides=[column("status", **{"custom.cellOptions": {"type": "color-background"}})]),
        14, 9)
    lay.add(stat("Azure context age",
                 "Seconds since the agent last read APIM through ARM ([azure] apim; every "
                 "refresh, 15 minutes by default). Growing: reads fail, see the next panel.",
                 f"apim_probe_azure_context_age_seconds{{{F}}}", unit="s",
                 legend="{{instance}}",
                 thresholds=steps((None, "green"), (1800, "orange"), (3600, "red"))), 10, 4)
    lay.add(table(
        "Failed Azure reads",
        "Reads of the Azure context that failed since the agent started, by call and code "
        "(403: grant the action the finding azure-permission-missing names).",
        [target(f"apim_probe_azure_read_errors_total{{{F}}} > 0", instant=True,
                fmt="table")],
        transformations=[organize(["Time", "__name__", "job"],
                                  rename={"Value": "failures"},
                                  order=["instance", "call", "code", "Value"])]), 10, 5)


ROWS = (overview_row, fleet_row, dns_row, tcp_row, rtt_row, findings_row, azure_row, agent_row,
        host_row)


def build() -> Json:
    lay = Layout()
    for row in ROWS:
        row(lay)
    return {
        "uid": UID,
        "title": TITLE,
        "description": "apim-probe: DNS per resolver and TCP state/reason per address of an "
                       "Azure API Management VNet's dependencies, with the agent's diagnosis.",
        "tags": ["apim", "azure", "apim-probe", "network"],
        "editable": True,
        "graphTooltip": 1,
        "timezone": "browser",
        "time": {"from": "now-6h", "to": "now"},
        "refresh": "1m",
        "schemaVersion": 39,
        "version": 1,
        "fiscalYearStartMonth": 0,
        "liveNow": False,
        "weekStart": "",
        "links": [],
        "annotations": {"list": [
            {"builtIn": 1, "datasource": {"type": "grafana", "uid": "-- Grafana --"},
             "enable": True, "hide": True, "iconColor": "rgba(0, 211, 255, 1)",
             "name": "Annotations & Alerts", "type": "dashboard"},
            {"name": "Config reloads", "datasource": DS, "enable": True, "hide": False,
             "iconColor": "blue",
             "expr": f"changes(apim_probe_config_last_reload_success_timestamp_seconds{{{F}}}"
                     f"[2m]) > 0",
             "step": "1m", "titleFormat": "config reloaded", "textFormat": "{{instance}}",
             "useValueForTime": False},
        ]},
        "templating": {"list": [
            {"type": "datasource", "name": "datasource", "label": "Data source",
             "query": "prometheus", "regex": "", "hide": 0, "refresh": 1,
             "includeAll": False, "multi": False, "current": {}, "options": []},
            _query_var("job", "Job", "label_values(apim_probe_build_info, job)"),
            _query_var("instance", "Agent",
                       'label_values(apim_probe_build_info{job=~"$job"}, instance)'),
            # Identity labels of a fleet (external labels or target labels per agent);
            # "All" matches series without them too.
            _query_var("vnet", "VNet", 'label_values(apim_probe_build_info{job=~"$job", '
                       'instance=~"$instance"}, vnet)', all_value=".*"),
            _query_var("region", "Region", 'label_values(apim_probe_build_info{job=~"$job", '
                       'instance=~"$instance"}, region)', all_value=".*"),
            _query_var("dependency", "Dependency",
                       f"label_values(apim_probe_target_info{{{F}}}, dependency)"),
        ]},
        "panels": lay.panels,
    }


def _query_var(name: str, label: str, query: str, all_value: str = ".+") -> Json:
    return {"type": "query", "name": name, "label": label, "datasource": DS,
            "definition": query, "query": {"query": query, "refId": f"{name}-variable"},
            "refresh": 2, "sort": 1, "regex": "", "hide": 0,
            "includeAll": True, "multi": True, "allValue": all_value,
            "current": {"selected": True, "text": ["All"], "value": ["$__all"]},
            "options": []}


def render() -> str:
    return json.dumps(build(), indent=2, ensure_ascii=False) + "\n"


def main(argv: list[str]) -> int:
    text = render()
    current = DASHBOARD_FILE.read_text(encoding="utf-8") if DASHBOARD_FILE.exists() else None
    if current == text:
        return 0
    if "--check" in argv:
        print(f"{DASHBOARD_FILE.relative_to(ROOT)} is out of date: run python "
              "grafana/dashboard.py", file=sys.stderr)
        return 1
    DASHBOARD_FILE.parent.mkdir(parents=True, exist_ok=True)
    DASHBOARD_FILE.write_text(text, encoding="utf-8")
    print(f"wrote {DASHBOARD_FILE.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
