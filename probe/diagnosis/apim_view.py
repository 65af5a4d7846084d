"""APIM's view beside ours: a saved networkstatus against the round.

APIM checks its own dependencies from its own subnet every 15 minutes and says
so in ``networkstatus`` (``probe.apim_reports`` keeps each entry as an
``ApimCheck``). This agent probes the same endpoints from its subnet. Side by
side, the two say where a problem lies, which neither can say alone:

    apim-view-differs         critical (required) / warning (optional): APIM
                              fails, this agent connects: the difference lies
                              between the APIM subnet and this host's subnet
    apim-view-corroborated    critical / warning: both fail to reach it
    apim-view-agent-only      info: APIM reaches it, this agent does not
    apim-view-failure         critical / warning: APIM fails a check this agent
                              cannot repeat (an internal check, a wildcard, an
                              endpoint not probed this round)
    apim-view-inbound         critical: Azure's control plane cannot reach the
                              instance (inbound 3443), a path this agent is not on

Pure: a function of the round and the checks, no sockets, no clock. It imports
nothing from ``probe.diagnosis`` (which registers it): the context it needs is
anything with ``reports``.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from typing import Protocol

from probe.findings import FINDINGS, finding
from probe.results import ApimCheck, Finding, PortState, RoundResult, Severity, TcpResult

FAILURE = "failure"
SUCCESS = "success"


class HasReports(Protocol):
    """What the rule reads from the diagnosis context."""

    @property
    def reports(self) -> tuple[ApimCheck, ...]: ...


def _severity(check: ApimCheck) -> Severity:
    return Severity.WARNING if check.is_optional else Severity.CRITICAL


def _subject(check: ApimCheck) -> str:
    where = f"{check.host}:{check.port}" if check.host else check.name
    return f"{where} ({check.location})" if check.location else where


def _key(host: str) -> str:
    return host.rstrip(".").lower()


def _by_endpoint(round_: RoundResult) -> dict[tuple[str, int], list[TcpResult]]:
    """The round's rows by (host, port), in round order: one pass, so that
    matching every check is linear in checks plus rows, never their product."""
    rows: dict[tuple[str, int], list[TcpResult]] = defaultdict(list)
    for result in round_.tcp:
        rows[(_key(result.host), result.port)].append(result)
    return rows


def _matching(rows: Mapping[tuple[str, int], list[TcpResult]],
              check: ApimCheck) -> list[TcpResult]:
    if check.host is None or check.port is None:
        return []
    return rows.get((_key(check.host), check.port), [])


def apim_evidence(check: ApimCheck) -> tuple[str, ...]:
    """APIM's side: its status, since when, its error, its resolvers, the file."""
    need = "optional" if check.is_optional else "required"
    where = f"in {check.location}" if check.location else "in its location"
    lines = [f"APIM {where}: {check.name} ({check.resource_type or 'no resourceType'}, {need}) "
             f"is {check.status or 'unknown'} since {check.last_status_change or '?'}, "
             f"last checked {check.last_updated or '?'}"]
    if check.error:
        lines.append(f"APIM's error: {check.error}")
    if check.dns_servers:
        lines.append(f"APIM resolves through: {', '.join(check.dns_servers)}")
    lines.append(f"saved report: {check.source}")
    return tuple(lines)


def agent_evidence(result: TcpResult) -> str:
    """This agent's side, one line per probed address."""
    address = result.address or "(no address)"
    line = (f"this agent: {result.target} {result.host} -> {address}:{result.port} "
            f"{result.state.value}/{result.reason} by {result.method}")
    if result.sent:
        line += f", {result.received}/{result.sent} attempts answered"
    if result.responder and result.responder != result.address:
        line += f", answered by {result.responder} (in the path)"
    return line


def apim_view(round_: RoundResult, context: HasReports) -> Iterable[Finding]:
    """APIM's failing (and succeeding) checks beside what this round saw."""
    rows = _by_endpoint(round_) if context.reports else {}
    for check in context.reports:
        results = _matching(rows, check)
        if check.status == FAILURE:
            yield _on_failure(check, results)
        elif check.status == SUCCESS and results and check.direction == "outbound" \
                and not any(r.state is PortState.OPEN for r in results):
            yield _agent_only(check, results)


def _on_failure(check: ApimCheck, results: list[TcpResult]) -> Finding:
    evidence = (*apim_evidence(check), *(agent_evidence(r) for r in results))
    if check.direction == "inbound":
        return _inbound(check, evidence)
    if not results:
        return _not_comparable(check, evidence)
    reached = [r for r in results if r.state is PortState.OPEN]
    if len(reached) == len(results):
        return _differs(check, evidence)
    partly = "" if not reached else \
        f" (on {len(results) - len(reached)} of its {len(results)} addresses)"
    summary = (f"APIM and this agent both fail to reach {check.dependency} "
               f"{check.host}:{check.port}{partly}: corroborated")
    return finding("apim-view-corroborated", _severity(check), _subject(check), summary,
                   evidence)


def _differs(check: ApimCheck, evidence: tuple[str, ...]) -> Finding:
    dns = f" (APIM resolves through {', '.join(check.dns_servers)})" \
        if check.dns_servers else ""
    summary = (f"APIM fails to reach {check.dependency} {check.host}:{check.port} while this "
               "agent connects: the difference lies between the APIM subnet and this host's "
               "subnet")
    return finding("apim-view-differs", _severity(check), _subject(check), summary, evidence,
                   port=check.port, dns=dns)


def _agent_only(check: ApimCheck, results: list[TcpResult]) -> Finding:
    summary = (f"APIM reaches {check.dependency} {check.host}:{check.port} but this agent "
               "does not: the block is on this host's side, not on APIM's path")
    return finding("apim-view-agent-only", Severity.INFO, _subject(check), summary,
                   (*apim_evidence(check), *(agent_evidence(r) for r in results)))


def _inbound(check: ApimCheck, evidence: tuple[str, ...]) -> Finding:
    summary = ("APIM reports that Azure's control plane cannot reach the instance's "
               "management endpoint (inbound 3443): the portal and ARM cannot manage it")
    return finding("apim-view-inbound", Severity.CRITICAL, _subject(check), summary, evidence)


def _not_comparable(check: ApimCheck, evidence: tuple[str, ...]) -> Finding:
    variant: str | None = None  # the catalogue's default: an endpoint not probed
    if check.host is None and "*" not in check.name:
        why = (f"{check.name} is one of APIM's internal checks ({check.resource_type}), not "
               "a name this agent can probe")
        variant = check.dependency if check.dependency in _OWN_ADVICE else "internal"
    else:
        why = f"{check.name} was not probed this round"
    return finding("apim-view-failure", _severity(check), _subject(check),
                   f"APIM reports a failing check: {why}",
                   (*evidence, "this agent: no probe to compare with"), variant=variant)


# Internal checks whose remedy the catalogue words for them (variants of
# apim-view-failure, named after the dependency); any other gets "internal".
_OWN_ADVICE = frozenset(name for name, _ in FINDINGS["apim-view-failure"].variants)

