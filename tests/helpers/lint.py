"""Shared by the lint tests: the saved exports and small rule / route builders."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from probe.lint.nsg import DEFAULT_RULES, Nsg, SecurityRule
from probe.lint.nsg_lint import lint_nsg
from probe.lint.routes import RouteEntry
from probe.results import Finding, Severity

AZURE = Path(__file__).resolve().parent.parent / "data" / "azure"


ALL = ((0, 65535),)


def load(name: str) -> Any:
    return json.loads((AZURE / name).read_text())


def by_subject(findings: tuple[Finding, ...] | list[Finding]) -> dict[str, Finding]:
    return {f.subject.split(": ", 1)[1]: f for f in findings}


def rule(name: str, priority: int, direction: str, access: str, src: str, dst: str,
         ports: tuple[tuple[int, int], ...] = ALL, protocol: str = "tcp") -> SecurityRule:
    return SecurityRule(name, priority, direction, access, protocol, (src,), (dst,), ports)


def nsg_findings(*rules: SecurityRule, mode: str = "internal") -> dict[str, Finding]:
    return by_subject(lint_nsg(Nsg("t", (*rules, *DEFAULT_RULES), False), mode, "t.json"))



GOOD_INTERNAL = (
    rule("mgmt", 100, "inbound", "allow", "ApiManagement", "VirtualNetwork", ((3443, 3443),)),
    rule("lb", 110, "inbound", "allow", "AzureLoadBalancer", "VirtualNetwork", ((6390, 6390),)),
)


def r(prefix: str, hop: str, *, name: str = "", ips: tuple[str, ...] = (),
      source: str = "User", active: bool = True) -> RouteEntry:
    return RouteEntry(name, tuple(prefix.split(",")), hop, ips, source, active)


def ids(findings: list[Finding]) -> list[tuple[str, Severity]]:
    return sorted((f.id, f.severity) for f in findings)
