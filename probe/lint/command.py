"""``probe lint``: the command line, and the findings as a table or JSON."""

from __future__ import annotations

import argparse
import ipaddress
import json
import sys
from collections.abc import Iterable, Sequence
from pathlib import Path

from probe.apimmodel import MODES
from probe.display import printable
from probe.errors import ExportError
from probe.lint.exports import Checked, lint_any, read
from probe.lint.nsg import Network
from probe.results import Finding, Severity

FORMATS = ("table", "json")
# output and the command


def exit_status(findings: Iterable[Finding]) -> int:
    return 1 if any(f.severity is not Severity.INFO for f in findings) else 0


def _sorted(checked: Sequence[Checked]) -> list[Finding]:
    """Every file's findings, most severe first, then by id and subject."""
    return sorted((f for c in checked for f in c.findings), key=lambda f: f.sort_key)


def render_table(checked: Sequence[Checked], mode: str) -> str:
    out = [f"LINT (mode {mode})"]
    out.extend(printable(f"  {c.source}: {c.label} ({c.kind})") for c in checked)
    findings = _sorted(checked)
    if findings:
        out.append("")
        out.append("FINDINGS")
    for f in findings:
        # printable: names and descriptions come from the export, and can
        # neither forge a line nor send a terminal escape
        out.append(printable(f"{f.severity.value.upper()} {f.id}: {f.subject}"))
        out.append(printable(f"    {f.summary}"))
        out.extend(printable(f"    {line}") for line in f.evidence)
        out.append(printable(f"    remedy: {f.remedy}"))
    counts = {s: sum(f.severity is s for f in findings) for s in Severity}
    out.append("")
    out.append(f"{len(findings)} finding(s): {counts[Severity.CRITICAL]} critical, "
               f"{counts[Severity.WARNING]} warning, {counts[Severity.INFO]} info; exit "
               f"{exit_status(findings)}")
    return "\n".join(out) + "\n"


def render_json(checked: Sequence[Checked], mode: str) -> str:
    findings = _sorted(checked)
    doc = {
        "mode": mode,
        "files": [{"file": c.source, "kind": c.kind, "label": c.label} for c in checked],
        "findings": [{"id": f.id, "severity": f.severity.value, "subject": f.subject,
                      "summary": f.summary, "evidence": list(f.evidence), "remedy": f.remedy}
                     for f in findings],
        "exit_status": exit_status(findings),
    }
    return json.dumps(doc, indent=2) + "\n"


def _destination(text: str) -> str:
    try:
        return str(ipaddress.ip_address(text))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an IP address, got {text!r}") from None


def _subnet(text: str) -> Network:
    try:
        return ipaddress.ip_network(text, strict=False)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a CIDR prefix, got {text!r}") from None


_INPUTS = """\
inputs (recognised by content; also as {"value": [...]} list bodies or bare lists,
UTF-8 or UTF-16, with or without a byte order mark):
  az network nsg show / nsg list          az rest --url .../networkSecurityGroups/NAME
  az network nsg rule list / rule show    (judged with Azure's default rules added)
  az network nic list-effective-nsg       az network route-table show / list
  az network route-table route list       az network nic show-effective-route-table
  az network vnet subnet show             (delegation, size, addressPrefix, NSG: per --mode)
  PowerShell: Get-AzNetworkSecurityGroup, Get-AzRouteTable, Get-AzEffectiveRouteTable,
              Get-AzEffectiveNetworkSecurityGroup | ConvertTo-Json -Depth 10

Exit status: 0 clean (info only), 1 critical or warning findings, 2 unreadable
or malformed input.
"""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="probe lint", formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Check saved Azure exports (NSGs, route tables, a NIC's effective routes "
                    "and security rules) against API Management's network requirements. "
                    "Offline: nothing is sent.",
        epilog=_INPUTS)
    parser.add_argument("files", nargs="+", type=Path, metavar="FILE",
                        help="saved JSON (see inputs below)")
    parser.add_argument("--mode", choices=MODES, default="internal",
                        help="the instance's mode, a profile of the APIM model (default "
                             "internal): its NSG requirements and subnet rules")
    parser.add_argument("--format", choices=FORMATS, default="table")
    parser.add_argument("--subnet", type=_subnet, metavar="PREFIX",
                        help="the APIM subnet: rules naming IP prefixes on the VNet side are "
                             "matched against it (default: any private prefix is taken as it)")
    parser.add_argument("--control-plane", action="append", type=_destination, default=[],
                        metavar="IP", dest="control_plane",
                        help="an APIM control-plane address: critical when its winning route "
                             "goes to a virtual appliance or gateway (repeatable)")
    parser.add_argument("--destination", action="append", type=_destination, default=[],
                        metavar="IP", help="any other address (a backend, on-premises): "
                                           "reported with its winning route, critical only "
                                           "when it has none (next hop None) (repeatable)")
    return parser


def run(argv: list[str]) -> int:
    """``probe lint ...``: argv is what follows 'lint'."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # argparse's usage errors and --help
        return exc.code if isinstance(exc.code, int) else 2
    try:
        checked = [c for path in args.files
                   for c in lint_any(read(path), str(path), args.mode, args.destination,
                                     args.subnet, args.control_plane)]
    except ExportError as exc:
        print(f"probe lint: error: {exc}", file=sys.stderr)
        return exc.exit_status
    render = render_json if args.format == "json" else render_table
    sys.stdout.write(render(checked, args.mode))
    return exit_status(f for c in checked for f in c.findings)
