"""A subnet against the mode's subnet rules in the APIM model (pure, no I/O).

``az network vnet subnet show`` (its REST body, PowerShell's
``Get-AzVirtualNetworkSubnetConfig``) says what APIM needs of the subnet
itself: its delegation, its size, ``addressPrefix`` (one CIDR) against
``addressPrefixes``, an NSG attached. The NSG and route table it references
are linted from their own exports; the findings name the commands.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence
from dataclasses import dataclass

from probe.apimmodel import CLASSIC, Mode, profile
from probe.findings import finding
from probe.results import Finding, Severity


@dataclass(frozen=True, slots=True)
class Subnet:
    name: str
    prefixes: tuple[str, ...]           # every prefix the subnet holds
    single_prefix: bool                 # set as addressPrefix (one CIDR)
    delegations: tuple[str, ...]        # service names, e.g. Microsoft.Web/serverFarms
    nsg: str | None                     # the attached NSG's id
    route_table: str | None             # the attached route table's id


def lint_subnet(subnet: Subnet, mode: Mode | str, source: str) -> list[Finding]:
    """Findings for one subnet: what the mode's profile needs of it."""
    mode = Mode(mode)
    rules = profile(mode).subnet
    subject = f"{source}: subnet {subnet.name}"
    if rules is None:
        return []
    out: list[Finding] = []
    wanted = rules.delegation
    have = tuple(d.lower() for d in subnet.delegations)
    if mode in CLASSIC and have:
        out.append(finding(
            "subnet-delegation", Severity.CRITICAL, subject,
            f"subnet {subnet.name} is delegated to {', '.join(subnet.delegations)}: a classic "
            f"({mode.value}) APIM subnet must not be delegated",
            (f"delegations: {', '.join(subnet.delegations)}",),
            variant="classic", mode=mode.value, delegations=", ".join(subnet.delegations)))
    elif wanted is not None and wanted.lower() not in have:
        out.append(finding(
            "subnet-delegation", Severity.CRITICAL, subject,
            f"subnet {subnet.name} is not delegated to {wanted}, which {mode.value} needs",
            (f"delegations: {', '.join(subnet.delegations) or 'none'}",),
            mode=mode.value, delegation=wanted, name=subnet.name))
    out.extend(_size(subnet, mode, subject, rules.min_prefix, rules.recommended_prefix))
    if rules.single_prefix and not subnet.single_prefix:
        out.append(finding(
            "subnet-address-prefix", Severity.CRITICAL, subject,
            f"subnet {subnet.name} sets addressPrefixes (a list) instead of one addressPrefix: "
            f"{mode.value} needs a single CIDR",
            (f"addressPrefixes: {', '.join(subnet.prefixes)}",),
            name=subnet.name, prefix=subnet.prefixes[0] if subnet.prefixes else "a /24"))
    if rules.nsg_required and subnet.nsg is None:
        severity = Severity.WARNING if mode in CLASSIC else Severity.CRITICAL
        out.append(finding(
            "subnet-nsg-missing", severity, subject,
            f"no NSG is associated with subnet {subnet.name} ({mode.value} requires one)",
            ("networkSecurityGroup: none",), name=subnet.name))
    refs = [f"az network nsg show --ids {subnet.nsg}"] if subnet.nsg else []
    if subnet.route_table:
        refs.append(f"az network route-table show --ids {subnet.route_table}")
    if refs:
        out.append(finding(
            "subnet-attached", Severity.INFO, subject,
            f"subnet {subnet.name} has {'an NSG' if subnet.nsg else ''}"
            f"{' and ' if subnet.nsg and subnet.route_table else ''}"
            f"{'a route table' if subnet.route_table else ''}: lint them too",
            tuple(refs), commands="; ".join(refs)))
    return out


def _size(subnet: Subnet, mode: Mode, subject: str, least: int,
          recommended: int) -> Sequence[Finding]:
    lengths = [ipaddress.ip_network(p, strict=False).prefixlen for p in subnet.prefixes
               if ":" not in p]
    if not lengths:
        return ()
    length = min(lengths)
    if length > least:
        return (finding("subnet-size", Severity.CRITICAL, subject,
                        f"subnet {subnet.name} is a /{length}: {mode.value} needs /{least} at "
                        f"least (/{recommended} recommended)", (f"prefixes: "
                                                              f"{', '.join(subnet.prefixes)}",),
                        length=length, least=least, recommended=recommended),)
    if length > recommended:
        return (finding("subnet-size", Severity.INFO, subject,
                        f"subnet {subnet.name} is a /{length}: enough, though /{recommended} "
                        f"is recommended for {mode.value} (scaling out needs addresses)",
                        (f"prefixes: {', '.join(subnet.prefixes)}",),
                        length=length, least=least, recommended=recommended),)
    return ()
