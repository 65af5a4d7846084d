"""An NSG against APIM's requirements -> findings (pure).

For each requirement of the mode the rules are walked in Azure's order; the
first that matches decides. A rule offline lint cannot judge (application
security groups, service tags it cannot expand, public prefixes on the Azure
side) that comes before the decider and would decide otherwise makes the
verdict unknown: reported as info, naming the rules, never guessed.
"""

from __future__ import annotations

from dataclasses import dataclass

from probe.findings import finding
from probe.lint.nsg import (
    DEFAULT_RULES,
    Network,
    Nsg,
    Requirement,
    SecurityRule,
    matches,
    opaque_parts,
    requirements,
)
from probe.results import Finding, Severity


@dataclass(frozen=True, slots=True)
class Verdict:
    decider: SecurityRule | None  # the first rule that matches for sure
    allows: tuple[SecurityRule, ...]  # custom allows that match, in order
    unknown: tuple[SecurityRule, ...]  # undecidable rules before the decider, deciding otherwise


def judge(nsg: Nsg, req: Requirement, subnet: Network | None = None) -> Verdict:
    ordered = sorted(nsg.rules, key=lambda r: (r.default, r.priority))
    decider: SecurityRule | None = None
    allows: list[SecurityRule] = []
    unknown: list[SecurityRule] = []
    for rule in ordered:
        verdict = matches(rule, req, subnet)
        if verdict is None and decider is None:
            unknown.append(rule)
        elif verdict:
            decider = decider or rule
            # Azure's default rules cannot be re-prioritised: only a custom allow is "shadowed".
            if rule.access == "allow" and not rule.default:
                allows.append(rule)
    access = decider.access if decider else "deny"
    return Verdict(decider, tuple(allows), tuple(r for r in unknown if r.access != access))


def lint_nsg(nsg: Nsg, mode: str, source: str, subnet: Network | None = None) -> list[Finding]:
    findings: list[Finding] = []
    if nsg.rule_list:
        findings.append(_defaults_added(nsg, source))
    for req in requirements(mode):
        verdict = judge(nsg, req, subnet)
        if verdict.unknown:
            findings.append(_not_judged(nsg, req, verdict, source))
        elif verdict.decider is None or verdict.decider.access != "allow":
            findings.append(_denied(nsg, req, verdict, source))
    return findings


def _evidence(nsg: Nsg, verdict: Verdict, source: str) -> list[str]:
    decider = verdict.decider
    if decider is None:
        return [f"{source}: no rule matches (Azure would deny)"]
    evidence = [f"{source}: {decider.describe()}"]
    if not nsg.defaults_from_export and any(decider is d for d in DEFAULT_RULES):
        evidence.append(f"{source}: {decider.name} is Azure's default rule (not in the "
                        "export, added as Azure adds it)")
    return evidence


def _denied(nsg: Nsg, req: Requirement, verdict: Verdict, source: str) -> Finding:
    decider = verdict.decider
    subject = f"nsg {nsg.name}: {req.describe()}"
    evidence = _evidence(nsg, verdict, source)
    if verdict.allows and decider is not None:
        allow = verdict.allows[0]
        direction = "Inbound" if req.direction == "inbound" else "Outbound"
        evidence.append(f"{source}: {allow.describe()} (never reached)")
        return finding(
            "nsg-rule-shadowed", req.severity, subject,
            (f"{req.describe()} ({req.why}) is allowed by {allow.name!r} "
             f"(priority {allow.priority}) but {decider.name!r} (priority "
             f"{decider.priority}) denies it first"),
            tuple(evidence), allow=allow.name, priority=decider.priority,
            decider=decider.name, remote=req.remote, direction=direction)
    rule = (f"an {req.direction} Allow rule: source "
            f"{'service tag ' if req.direction == 'inbound' else ''}{req.source}, "
            f"destination {'service tag ' if req.direction == 'outbound' else ''}"
            f"{req.destination}, TCP, destination port {req.port}")
    return finding(
        "nsg-rule-missing", req.severity, subject,
        (f"{req.describe()} ({req.why}) is denied"
         + (f" by {decider.name!r} (priority {decider.priority})" if decider else "")
         + ": no rule allows it"),
        tuple(evidence), rule=rule, priority=decider.priority if decider else 65500)


def _not_judged(nsg: Nsg, req: Requirement, verdict: Verdict, source: str) -> Finding:
    decider = verdict.decider
    outcome = "allowed" if decider is not None and decider.access == "allow" else "denied"
    names = ", ".join(f"{r.name!r}" for r in verdict.unknown)
    evidence = [f"{source}: {r.describe()} (cannot be judged offline: "
                f"{', '.join(opaque_parts(r, req)) or 'unknown members'})"
                for r in verdict.unknown]
    evidence += [f"{source}: without them: {line.split(': ', 1)[1]}"
                 for line in _evidence(nsg, verdict, source)]
    return finding(
        "nsg-rule-not-judged", Severity.INFO, f"nsg {nsg.name}: {req.describe()}",
        (f"{req.describe()} ({req.why}) depends on {names}, whose addresses "
         f"offline lint cannot expand; without them it would be {outcome}"),
        tuple(evidence))


def _defaults_added(nsg: Nsg, source: str) -> Finding:
    added = [d.name for d in DEFAULT_RULES if any(r is d for r in nsg.rules)]
    return finding(
        "nsg-default-rules-added", Severity.INFO, f"nsg {nsg.name}",
        ("a list of rules without their NSG: judged with Azure's default rules added, "
         "as Azure adds them to every NSG"),
        (f"{source}: added {', '.join(added) or 'none (all in the export)'}",))
