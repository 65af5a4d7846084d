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

# A fleet under remote_write (or federation): every agent is scraped by its own
# Prometheus as 127.0.0.1:9839, so job and instance are the same everywhere and
# only the external labels (vnet, region) tell the agents apart.
_LOCAL = {"job": "apim-probe", "instance": "127.0.0.1:9839"}
VNET_A = {**_LOCAL, "region": "westeurope", "vnet": "vnet-a"}
VNET_B = {**_LOCAL, "region": "westeurope", "vnet": "vnet-b"}
VNET_C = {**_LOCAL, "region": "northeurope", "vnet": "vnet-c"}


def sel(agent: dict[str, str]) -> str:
    """An agent's labels as a series selector's inside."""
    return ",".join(f'{k}="{v}"' for k, v in agent.items())


A, B, C = sel(VNET_A), sel(VNET_B), sel(VNET_C)


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

    def labels(self, *, address: bool = False, agent: dict[str, str] | None = None,
               **extra: str) -> dict[str, str]:
        """What an alert about it fires with (the address only for per-address alerts)."""
        out = {**(AGENT if agent is None else agent), "target": self.name,
               "dependency": self.dependency, "host": self.host, "port": str(self.port),
               **extra}
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


def streak(t: Target, values: str, agent: str = J) -> tuple[str, str]:
    """apim_probe_tcp_failing_rounds: consecutive failing rounds (a round a minute here)."""
    return (f"apim_probe_tcp_failing_rounds{{{t.at(agent)}}}", values)


def dns(name: str, resolver: str, values: str, agent: str = J) -> tuple[str, str]:
    """apim_probe_dns_failing_rounds of a name on a resolver."""
    return (f'apim_probe_dns_failing_rounds{{{agent},name="{name}",resolver="{resolver}"}}',
            values)


def verdict(t: Target, state: str, reason: str, values: str) -> tuple[str, str]:
    return (f'apim_probe_tcp_verdict_info{{{t.at()},state="{state}",reason="{reason}",'
            f'responder="{t.address}"}}', values)


FAILING = "0 0 1+1x10"   # fails from 2m on: 2 consecutive failing rounds at 3m
FLAP = "0 1 0 1 0 1 0 1 0 1 0 1"  # one bad round, then a good one, again and again
OK = "0x11"
NAME_A = "a.blob.core.windows.net"
NAME_APIM = "apim.azure-api.net"

# The hosts file, asked as resolver "hosts", lists none of the names; the DNS
# server answers both (one story told to two alerts that must stay quiet).
HOSTS_LISTS_NONE = (
    dns(NAME_A, "hosts", "1+1x11"),
    dns(NAME_APIM, "hosts", "1+1x11"),
    dns(NAME_A, "10.0.0.4", OK),
    dns(NAME_APIM, "10.0.0.4", OK),
)


CASES: tuple[Case, ...] = (
    Case(
        alert="ApimProbeManagementEndpointUnreachable",
        story="3443 stops answering on jump1 at 2m (fires at the second failing round); "
              "jump2 and a failing storage target do not count",
        series=(
            streak(MGMT, FAILING),
            MGMT.info("1x11"),
            streak(MGMT, OK, J2),
            MGMT.info("1x11", agent=J2),
            streak(STORAGE_A, "1+1x11"),
            STORAGE_A.info("1x11"),
        ),
        checks=(
            Check("2m"),
            Check("3m", (MGMT.labels(),)),
        ),
    ),
    Case(
        alert="ApimProbeManagementEndpointUnreachable",
        story="a flapping path: one failed round, then a good one, for 12 rounds; never fires",
        series=(streak(MGMT, FLAP), MGMT.info("1x11")),
        checks=(Check("1m"), Check("5m"), Check("11m")),
    ),
    Case(
        alert="ApimProbeRequiredDependencyUnreachable",
        story="required targets fail: both storage addresses, the unresolved SQL name and an "
              "eventhub marked required; an optional backend fails too (the optional alert's), "
              "as do management (its own alert) and one keyvault address (the other answers)",
        series=(
            streak(STORAGE_A, FAILING),
            streak(STORAGE_B, FAILING),
            STORAGE_A.info("1x11"),  # one info series for both addresses
            streak(SQL, FAILING),
            SQL.info("1x11"),
            streak(KV_A, OK),
            streak(KV_B, FAILING),
            KV_A.info("1x11"),
            streak(MGMT, FAILING),
            MGMT.info("1x11"),
            streak(HUB, FAILING),
            HUB.info("1x11"),
            streak(REPORTS, FAILING),
            REPORTS.info("1x11", required=False),
        ),
        checks=(
            Check("2m"),
            Check("3m", (STORAGE_A.labels(), SQL.labels(), HUB.labels())),
        ),
    ),
    Case(
        alert="ApimProbeRequiredDependencyUnreachable",
        story="only optional targets fail (a backend and a cache marked required = false); "
              "the required storage target answers but for single bad rounds: nothing fires",
        series=(
            streak(REPORTS, "1+1x11"),
            REPORTS.info("1x11", required=False),
            streak(CACHE, "1+1x11"),
            CACHE.info("1x11", required=False),
            streak(STORAGE_A, FLAP),
            STORAGE_A.info("1x11"),
        ),
        checks=(Check("3m"), Check("11m")),
    ),
    Case(
        alert="ApimProbeRequiredDependencyUnreachable",
        story="a fleet under remote_write: three agents all 127.0.0.1:9839, told apart only by "
              "vnet and region; storage fails from vnet-b alone, and the alert names vnet-b",
        series=(
            streak(STORAGE_A, OK, A),
            STORAGE_A.info("1x11", agent=A),
            streak(STORAGE_A, FAILING, B),
            STORAGE_A.info("1x11", agent=B),
            streak(STORAGE_A, OK, C),
            STORAGE_A.info("1x11", agent=C),
        ),
        checks=(
            Check("2m"),
            Check("3m", (STORAGE_A.labels(agent=VNET_B),)),
        ),
    ),
    Case(
        alert="ApimProbeOptionalDependencyUnreachable",
        story="optional targets fail for good: an eventhub and a backend marked required = "
              "false; required targets fail too (a storage target and a cache marked required: "
              "the critical alert's), an optional keyvault answers",
        series=(
            streak(HUB, "1+1x11"),
            HUB.info("1x11", required=False),
            streak(REPORTS, "1+1x11"),
            REPORTS.info("1x11", required=False),
            streak(STORAGE_A, "1+1x11"),
            STORAGE_A.info("1x11"),
            streak(CACHE, "1+1x11"),
            CACHE.info("1x11"),
            streak(KV_A, OK),
            KV_A.info("1x11", required=False),
        ),
        checks=(
            Check("5m"),
            Check("6m", (HUB.labels(), REPORTS.labels())),
        ),
    ),
    Case(
        alert="ApimProbeOptionalDependencyUnreachable",
        story="only required targets fail (an eventhub marked required, a storage target); "
              "the optional backend answers: nothing fires, however long",
        series=(
            streak(HUB, "1+1x11"),
            HUB.info("1x11"),
            streak(STORAGE_A, "1+1x11"),
            STORAGE_A.info("1x11"),
            streak(REPORTS, OK),
            REPORTS.info("1x11", required=False),
        ),
        checks=(Check("6m"), Check("11m")),
    ),
    Case(
        alert="ApimProbeDependencyAddressFailing",
        story="one keyvault address fails while the other answers; storage fails on every "
              "address (that is the unreachable alert, not this one)",
        series=(
            streak(KV_A, OK),
            streak(KV_B, "1+1x11"),
            KV_A.info("1x11"),
            streak(STORAGE_A, "1+1x11"),
            streak(STORAGE_B, "1+1x11"),
            STORAGE_A.info("1x11"),
        ),
        checks=(
            Check("5m"),
            Check("7m", (KV_B.labels(address=True),)),
        ),
    ),
    Case(
        alert="ApimProbeManagementEndpointUnreachable",
        story="a fleet under remote_write: 3443 stops answering from vnet-c only; vnet-a and "
              "vnet-b (the same job and instance) keep reaching it",
        series=(
            streak(MGMT, OK, A), MGMT.info("1x11", agent=A),
            streak(MGMT, OK, B), MGMT.info("1x11", agent=B),
            streak(MGMT, FAILING, C), MGMT.info("1x11", agent=C),
        ),
        checks=(Check("2m"), Check("3m", (MGMT.labels(agent=VNET_C),))),
    ),
    Case(
        alert="ApimProbeOptionalDependencyUnreachable",
        story="a fleet: an optional backend fails from vnet-a only",
        series=(
            streak(REPORTS, "1+1x11", A), REPORTS.info("1x11", required=False, agent=A),
            streak(REPORTS, OK, B), REPORTS.info("1x11", required=False, agent=B),
        ),
        checks=(Check("5m"), Check("6m", (REPORTS.labels(agent=VNET_A),))),
    ),
    Case(
        alert="ApimProbeDependencyAddressFailing",
        story="a fleet: one keyvault address fails from vnet-b; from vnet-a both answer",
        series=(
            streak(KV_A, OK, A), streak(KV_B, OK, A), KV_A.info("1x11", agent=A),
            streak(KV_A, OK, B), streak(KV_B, "1+1x11", B), KV_A.info("1x11", agent=B),
        ),
        checks=(Check("5m"), Check("7m", (KV_B.labels(address=True, agent=VNET_B),))),
    ),
    Case(
        alert="ApimProbeDnsNameUnresolvable",
        story="a fleet: the required name is missing on vnet-b's DNS servers only",
        series=(
            dns(NAME_A, "10.0.0.4", OK, A), dns(NAME_A, "168.63.129.16", OK, A),
            STORAGE_A.info("1x11", agent=A),
            dns(NAME_A, "10.0.0.4", FAILING, B), dns(NAME_A, "168.63.129.16", FAILING, B),
            Target("blob", "storage", NAME_A, "", 443).info("1x11", agent=B),
        ),
        checks=(Check("2m"), Check("3m", ({**VNET_B, "name": NAME_A},))),
    ),
    Case(
        alert="ApimProbeDependencyFailsOnlyHere",
        story="storage fails from vnet-b while vnet-a and vnet-c reach it: the fault is "
              "vnet-b's; keyvault fails from every VNet (the other fleet alert's)",
        series=(
            streak(STORAGE_A, OK, A),
            STORAGE_A.info("1x11", agent=A),
            streak(STORAGE_A, FAILING, B),
            STORAGE_A.info("1x11", agent=B),
            streak(STORAGE_A, OK, C),
            STORAGE_A.info("1x11", agent=C),
            streak(KV_A, FAILING, A),
            KV_A.info("1x11", agent=A),
            streak(KV_A, FAILING, B),
            KV_A.info("1x11", agent=B),
        ),
        checks=(
            Check("2m"),
            Check("3m", (STORAGE_A.labels(agent=VNET_B),)),
        ),
    ),
    Case(
        alert="ApimProbeDependencyFailsOnlyHere",
        story="one agent alone fails (no other agent probes the name): nothing to compare with",
        series=(streak(STORAGE_A, FAILING, A), STORAGE_A.info("1x11", agent=A)),
        checks=(Check("3m"), Check("11m")),
    ),
    Case(
        alert="ApimProbeDependencyFailsEverywhere",
        story="keyvault fails from vnet-a, vnet-b and vnet-c: the dependency (or a change made "
              "to every VNet), not one VNet; storage fails from vnet-b only",
        series=(
            streak(KV_A, FAILING, A),
            KV_A.info("1x11", agent=A),
            streak(KV_A, FAILING, B),
            KV_A.info("1x11", agent=B),
            streak(KV_A, FAILING, C),
            KV_A.info("1x11", agent=C),
            streak(STORAGE_A, OK, A),
            STORAGE_A.info("1x11", agent=A),
            streak(STORAGE_A, FAILING, B),
            STORAGE_A.info("1x11", agent=B),
        ),
        checks=(
            Check("2m"),
            Check("3m", ({"dependency": KV_A.dependency, "host": KV_A.host,
                          "port": str(KV_A.port), "__value__": "3"},)),
        ),
    ),
    Case(
        alert="ApimProbeDnsResolverDown",
        story="the custom DNS server 10.0.0.4 answers nothing from 2m; Azure DNS answers "
              "everything",
        series=(
            dns(NAME_A, "10.0.0.4", FAILING),
            dns(NAME_APIM, "10.0.0.4", FAILING),
            dns(NAME_A, "168.63.129.16", OK),
            dns(NAME_APIM, "168.63.129.16", OK),
        ),
        checks=(
            Check("2m"),
            Check("3m", ({**AGENT, "resolver": "10.0.0.4"},)),
        ),
    ),
    Case(
        alert="ApimProbeDnsResolverDown",
        story="a fleet: vnet-a's custom DNS server is down, vnet-b's (the same address) "
              "answers; only vnet-a's is down, with its labels",
        series=(
            dns(NAME_A, "10.0.0.4", FAILING, A),
            dns(NAME_APIM, "10.0.0.4", FAILING, A),
            dns(NAME_A, "10.0.0.4", OK, B),
            dns(NAME_APIM, "10.0.0.4", OK, B),
        ),
        checks=(
            Check("2m"),
            Check("3m", ({**VNET_A, "resolver": "10.0.0.4"},)),
        ),
    ),
    Case(
        alert="ApimProbeDnsNameUnresolvable",
        story="a required target's record is missing everywhere; an optional target's name "
              "fails too (the optional alert's); the APIM name resolves on one server",
        series=(
            dns("missing.azure-api.net", "10.0.0.4", FAILING),
            dns("missing.azure-api.net", "168.63.129.16", FAILING),
            Target("portal", "portal", "missing.azure-api.net", "", 443).info("1x11"),
            dns("reports.internal", "10.0.0.4", FAILING),
            dns("reports.internal", "168.63.129.16", FAILING),
            Target("reports", "backend", "reports.internal", "", 8080).info(
                "1x11", required=False),
            dns(NAME_APIM, "10.0.0.4", FAILING),
            dns(NAME_APIM, "168.63.129.16", OK),
            MGMT.info("1x11"),
        ),
        checks=(
            Check("2m"),
            Check("3m", ({**AGENT, "name": "missing.azure-api.net"},)),
        ),
    ),
    Case(
        alert="ApimProbeDnsNameUnresolvable",
        story="the jump box pins the APIM name in its hosts file (resolvers = [..., \"hosts\"] "
              "answers it) while both DNS servers fail it: APIM cannot resolve it, and the pin "
              "must not hide that",
        series=(
            dns("pinned.azure-api.net", "10.0.0.4", FAILING),
            dns("pinned.azure-api.net", "168.63.129.16", FAILING),
            dns("pinned.azure-api.net", "hosts", OK),
            Target("gw", "gateway", "pinned.azure-api.net", "", 443).info("1x11"),
        ),
        checks=(
            Check("2m"),
            Check("3m", ({**AGENT, "name": "pinned.azure-api.net"},)),
        ),
    ),
    Case(
        alert="ApimProbeOptionalDnsNameUnresolvable",
        story="only optional targets use the failing name: a warning after 5 minutes; the "
              "required target's name is the critical alert's",
        series=(
            dns("reports.internal", "10.0.0.4", FAILING),
            dns("reports.internal", "168.63.129.16", FAILING),
            Target("reports", "backend", "reports.internal", "", 8080).info(
                "1x11", required=False),
            dns("missing.azure-api.net", "10.0.0.4", FAILING),
            dns("missing.azure-api.net", "168.63.129.16", FAILING),
            Target("portal", "portal", "missing.azure-api.net", "", 443).info("1x11"),
        ),
        checks=(
            Check("7m"),
            Check("8m", ({**AGENT, "name": "reports.internal"},)),
        ),
    ),
    Case(
        alert="ApimProbeDnsResolverDown",
        story="the hosts file, asked as resolver \"hosts\", lists none of the names: that is "
              "no DNS server down",
        series=HOSTS_LISTS_NONE,
        checks=(Check("3m"), Check("10m")),
    ),
    Case(
        alert="ApimProbeDnsResolversDisagree",
        story="the hosts file, asked as resolver \"hosts\", lists none of the names: that is "
              "no DNS server failing a name another answers",
        series=HOSTS_LISTS_NONE,
        checks=(Check("3m"), Check("10m")),
    ),
    Case(
        alert="ApimProbeDnsResolversDisagree",
        story="custom DNS 10.0.0.4 refuses the blob name (no forwarder) but has the APIM zone; "
              "Azure DNS answers both; 10.0.0.5 is down altogether (the resolver-down alert's)",
        series=(
            dns(NAME_A, "10.0.0.4", FAILING),
            dns(NAME_APIM, "10.0.0.4", OK),
            dns(NAME_A, "168.63.129.16", OK),
            dns(NAME_APIM, "168.63.129.16", OK),
            dns(NAME_A, "10.0.0.5", "1+1x11"),
            dns(NAME_APIM, "10.0.0.5", "1+1x11"),
        ),
        checks=(
            Check("2m"),
            Check("3m", ({**AGENT, "name": NAME_A, "resolver": "10.0.0.4"},)),
        ),
    ),
    Case(
        alert="ApimProbeDnsResolversDisagree",
        story="a fleet: vnet-b's custom DNS lacks the forwarder, vnet-a's has it; the healthy "
              "VNet does not mask vnet-b, and vnet-a is not blamed",
        series=(
            dns(NAME_A, "10.0.0.4", FAILING, B),
            dns(NAME_APIM, "10.0.0.4", OK, B),
            dns(NAME_A, "168.63.129.16", OK, B),
            dns(NAME_A, "10.0.0.4", OK, A),
            dns(NAME_APIM, "10.0.0.4", OK, A),
            dns(NAME_A, "168.63.129.16", OK, A),
        ),
        checks=(
            Check("2m"),
            Check("3m", ({**VNET_B, "name": NAME_A, "resolver": "10.0.0.4"},)),
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
            Check("3m"),
            Check("4m", (dict(AGENT),)),
        ),
    ),
    Case(
        alert="ApimProbeAgentDown",
        story="a fleet: vnet-c's agent stops answering its Prometheus' scrapes at 2m; vnet-a's "
              "(the same instance label) keeps answering",
        series=(
            (f"up{{{C}}}", "1 1 0x10"),
            (f'apim_probe_build_info{{{C},version="0.3.0",python="3.11.2"}}', "1 1 _x10"),
            (f"up{{{A}}}", "1x12"),
            (f'apim_probe_build_info{{{A},version="0.3.0",python="3.11.2"}}', "1x12"),
        ),
        checks=(
            Check("3m"),
            Check("4m", (dict(VNET_C),)),
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
        alert="ApimProbeAzureContextStale",
        story="jump1's ARM reads fail from minute 0 (its context ages a minute a minute); "
              "jump2 refreshes every 15 minutes",
        series=(
            (f"apim_probe_azure_context_age_seconds{{{J}}}", "0+60x70"),
            (f"apim_probe_azure_context_age_seconds{{{J2}}}", "0+60x14 0+60x14 0+60x14 0+60x14"),
        ),
        checks=(
            Check("59m"),
            Check("61m", (dict(AGENT),)),
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
