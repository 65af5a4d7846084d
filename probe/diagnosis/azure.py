"""Findings from the live Azure context (``[azure] apim``): what ARM said beside
the round (``Context.azure``: probe.azure.facts, parsed once per refresh).

    azure-permission-missing   a read ARM refused (403): the action, the scope, the command
    azure-read-failed          any other failed read; the last good context is kept
    azure-config-contradicts   the live resource contradicts the config (the config wins)
    apim-view-stale            APIM's networkstatus is older than 30 minutes
    nsg-denies-dependency      a failing dependency, and the NSG rule that denies it
    route-diverts-dependency   a failing dependency, and the route that diverts it
    agent-vantage-differs      the agent's NIC has another NSG or other routes than APIM's subnet

The live subnet, NSG and route table are linted with ``probe lint``'s engine
(their findings, computed per refresh, are reported as they are).
"""

from __future__ import annotations

from collections.abc import Iterable

from probe.apimmodel import SERVICE_TAGS
from probe.azure.facts import STALE_AFTER, Facts
from probe.diagnosis.context import DEFAULT_CONTEXT, Context
from probe.findings import finding
from probe.lint.nsg import Requirement
from probe.lint.nsg_lint import judge
from probe.lint.routes import longest_match
from probe.results import AzureReadError, Finding, PortState, RoundResult, Severity, TcpResult

__all__ = ["azure_context", "live_explains", "vantage"]

# What each read feeds (said in azure-permission-missing: what is skipped meanwhile).
FEATURES = {
    "lookup": "finding the instance by name",
    "service": "the instance's profile, hostnames and addresses from ARM",
    "networkstatus": "APIM's own view (apim-view-* findings, apim_probe_apim_view_info)",
    "outbound": "the outbound dependencies as targets",
    "vnet": "reading the APIM subnet (its NSG, route table and DNS servers)",
    "nsg": "naming the NSG rule behind a failing dependency",
    "route_table": "naming the route behind a failing dependency",
    "vm": "finding the agent's NIC (the effective NSG and routes)",
    "effective_routes": "comparing the agent's routes with APIM's",
    "effective_nsg": "comparing the agent's NSG with APIM's",
}


def _duration(seconds: float) -> str:
    minutes = int(seconds // 60)
    return f"{minutes // 60} h {minutes % 60} min" if minutes >= 60 else f"{minutes} min"


def _read_failed(error: AzureReadError, facts: Facts, age: float | None) -> Finding:
    kept = "no earlier context" if age is None else f"{_duration(age)} old"
    quiet = error.call in ("effective_routes", "effective_nsg", "vm") and error.code in (
        "400", "404", "409")
    return finding("azure-read-failed", Severity.INFO if quiet else Severity.WARNING,
                   f"azure {error.call}",
                   f"the {error.call} read failed ({error.code}): {error.message}",
                   (f"{error.call}: {error.message}",),
                   what=f"Reading {error.call} failed: {error.message}.", age=kept,
                   arm=facts.arm or "the ARM endpoint")


def azure_context(round_: RoundResult, context: Context = DEFAULT_CONTEXT,
                  ) -> Iterable[Finding]:
    """Reads that failed, contradictions, a stale networkstatus, and the live lint."""
    del round_
    facts = context.azure
    if facts is None:
        return
    for error in facts.errors:
        if error.action:
            yield finding("azure-permission-missing", Severity.WARNING,
                          f"azure {error.call}",
                          f"ARM refused the {error.call} read: the identity lacks "
                          f"{error.action}", (f"{error.call}: {error.message}",
                                              f"scope: {error.scope}"),
                          action=error.action, scope=error.scope,
                          feature=FEATURES.get(error.call, error.call))
        else:
            yield _read_failed(error, facts, context.azure_age)
    for note in facts.notes:
        yield finding("azure-config-contradicts" if note.startswith("[apim]") else
                      "azure-read-failed", Severity.WARNING, "azure context", note, (note,),
                      what=note, age="-", arm=facts.arm or "the ARM endpoint")
    if facts.status_age is not None and facts.status_age > STALE_AFTER \
            and facts.status_updated is not None:
        updated = facts.status_updated.isoformat().replace("+00:00", "Z")
        yield finding("apim-view-stale", Severity.WARNING, "apim networkstatus",
                      f"APIM's networkstatus was last updated {updated}, "
                      f"{_duration(facts.status_age)} before it was read",
                      (f"networkstatus: newest lastUpdated {updated}",),
                      updated=updated, age=_duration(facts.status_age))
    yield from facts.lint


def _failing(result: TcpResult) -> bool:
    return (not result.ok and result.expected is PortState.OPEN and result.probed
            and result.dependency in SERVICE_TAGS and result.dependency != "dns")


def live_explains(round_: RoundResult, context: Context = DEFAULT_CONTEXT,
                  ) -> Iterable[Finding]:
    """For each failing dependency, the live NSG rule that denies it or the route
    that diverts it (one finding per rule or route and dependency port)."""
    facts = context.azure
    if facts is None or (facts.nsg is None and not facts.routes):
        return
    seen: set[tuple[str, str, int]] = set()
    for result in round_.tcp:
        if not _failing(result) or result.address is None:
            continue
        tag = SERVICE_TAGS[result.dependency][0]
        severity = Severity.CRITICAL if result.required else Severity.WARNING
        flow = f"outbound TCP {result.port} to {tag} ({result.host} {result.address})"
        if facts.nsg is not None:
            verdict = judge(facts.nsg, Requirement("outbound", "VirtualNetwork", tag,
                                                   result.port, severity, ""), facts.subnet)
            rule = verdict.decider
            if rule is not None and rule.access == "deny" and not verdict.unknown \
                    and ("nsg", rule.name, result.port) not in seen:
                seen.add(("nsg", rule.name, result.port))
                yield finding("nsg-denies-dependency", severity,
                              f"nsg {facts.nsg.name}: {rule.name}",
                              f"rule {rule.name!r} (priority {rule.priority}) in NSG "
                              f"{facts.nsg.name} denies {flow}",
                              (f"{facts.nsg_source}: {rule.describe()}",
                               f"{result.target}: {result.state.value}/{result.reason}"),
                              rule=rule.name, priority=rule.priority, nsg=facts.nsg.name,
                              flow=flow, tag=tag, port=result.port)
                continue
        match = longest_match(facts.routes, result.address) if facts.routes else None
        if match is not None and match[0].breaks and ("route", match[0].name,
                                                      result.port) not in seen:
            route, prefix = match
            seen.add(("route", route.name, result.port))
            hop = route.next_hop + (f" {','.join(route.next_hop_ip)}" if route.next_hop_ip
                                    else "")
            yield finding("route-diverts-dependency", severity,
                          f"route table {facts.route_table}: {route.name}",
                          f"route {route.name!r} ({prefix} -> {hop}) in route table "
                          f"{facts.route_table} takes {flow}",
                          (route.describe(), f"{result.target}: "
                           f"{result.state.value}/{result.reason}"),
                          route=route.name, prefix=str(prefix), hop=hop,
                          table=facts.route_table, flow=flow, tag=tag)


def _name(resource_id: str) -> str:
    return resource_id.rstrip("/").rsplit("/", 1)[-1] or "-"


def vantage(round_: RoundResult, context: Context = DEFAULT_CONTEXT) -> Iterable[Finding]:
    """Does the agent run under APIM's subnet's NSG and user routes?"""
    del round_
    facts = context.azure
    if facts is None:
        return
    differences: list[str] = []
    if facts.agent_nsgs is not None and facts.apim_nsg \
            and facts.agent_nsgs != (facts.apim_nsg,):
        agent = ", ".join(_name(n) for n in facts.agent_nsgs) or "none"
        differences.append(f"NSG {agent} (this agent) vs {_name(facts.apim_nsg)} (APIM)")
    if facts.agent_routes is not None and facts.agent_routes != facts.apim_routes:
        only_agent = len(facts.agent_routes - facts.apim_routes)
        only_apim = len(facts.apim_routes - facts.agent_routes)
        differences.append(f"user routes: {only_agent} only this agent has, {only_apim} only "
                           f"APIM's route table {facts.route_table or '(none)'} has")
    if differences:
        what = "; ".join(differences)
        yield finding("agent-vantage-differs", Severity.WARNING, "agent vantage",
                      f"this agent's path differs from APIM's: {what}", tuple(differences),
                      what=what)
