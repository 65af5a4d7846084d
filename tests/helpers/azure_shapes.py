"""Derive what ``az`` and PowerShell print from the REST API's example bodies.

The REST API specification's examples (``tests/data/azure/rest-examples/``,
provenance in its README) are the one public, real source of Azure's network
JSON. People save the same resources with other tools, which reshape them:

* ``az``: flattens ``properties`` into the object (recursively, sub-resources
  too), adds ``resourceGroup`` from the id; ``list`` commands print a bare
  list, the NIC's ``show-effective-route-table`` / ``list-effective-nsg``
  keep ``{"nextLink": null, "value": [...]}``.
* PowerShell (``Get-Az... | ConvertTo-Json -Depth 10``): the az shape with
  every key in PascalCase, a rule's address prefixes and port ranges as lists
  (``List<string>`` in Az.Network's PSSecurityRule), ``ResourceGroupName``,
  and the effective cmdlets return bare lists. Windows PowerShell 5's ``>``
  writes UTF-16 LE with a byte order mark.

This is a documented model of those reshapings, not the tools themselves.
``python -m tests.helpers.azure_shapes`` writes ``tests/data/azure/derived/``;
``tests/lint/test_shapes.py`` checks the committed files equal its output and
that lint judges every shape of a sample the same.
"""

from __future__ import annotations

import codecs
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent / "data" / "azure"
EXAMPLES = ROOT / "rest-examples"
DERIVED = ROOT / "derived"

# PSSecurityRule keeps these as List<string>.
_PS_LISTS = ("SourcePortRange", "DestinationPortRange", "SourceAddressPrefix",
             "DestinationAddressPrefix")


def az(value: Any) -> Any:
    """REST body -> what ``az ... show`` prints."""
    if isinstance(value, list):
        return [az(v) for v in value]
    if not isinstance(value, dict):
        return value
    out = {k: az(v) for k, v in value.items() if k != "properties"}
    if isinstance(value.get("properties"), dict):
        out.update(az(value["properties"]))
    ident = out.get("id")
    if isinstance(ident, str) and "/resourceGroups/" in ident and "properties" in value:
        out["resourceGroup"] = ident.split("/resourceGroups/")[1].split("/")[0]
    return out


def powershell(value: Any) -> Any:
    """az shape -> ``ConvertTo-Json`` of the Az.Network PowerShell object."""
    if isinstance(value, list):
        return [powershell(v) for v in value]
    if not isinstance(value, dict):
        return value
    out: dict[str, Any] = {}
    for key, item in value.items():
        name = "ResourceGroupName" if key == "resourceGroup" else key[:1].upper() + key[1:]
        out[name] = powershell(item)
    if {"Access", "Direction", "Priority"} <= set(out):
        for key in _PS_LISTS:
            if key in out and not isinstance(out[key], list):
                out[key] = [out[key]] if out[key] not in (None, "") else []
            plural = key + ("es" if key.endswith("Prefix") else "s")
            out[key] = [*out.get(key, []), *(out.pop(plural, None) or [])]
    return out


def _body(name: str) -> Any:
    return json.loads((EXAMPLES / name).read_text())


def _az_nic(name: str) -> dict[str, Any]:
    return {"nextLink": None, "value": az(_body(name))["value"]}


def _rules() -> list[Any]:
    return list(az(_body("NetworkSecurityGroupGet.json"))["securityRules"])


# derived file -> how it is made from the examples
SHAPES: dict[str, Callable[[], Any]] = {
    "az/nsg-show.json": lambda: az(_body("NetworkSecurityGroupGet.json")),
    "az/nsg-list.json": lambda: az(_body("NetworkSecurityGroupList.json")["value"]),
    "az/nsg-rule-list.json": _rules,
    "az/nsg-rule-show.json": lambda: _rules()[0],
    "az/route-table-show.json": lambda: az(_body("RouteTableGet.json")),
    "az/route-table-list.json": lambda: az(_body("RouteTableList.json")["value"]),
    "az/nic-show-effective-route-table.json":
        lambda: _az_nic("NetworkInterfaceEffectiveRouteTableList.json"),
    "az/nic-list-effective-nsg.json": lambda: _az_nic("NetworkInterfaceEffectiveNSGList.json"),
    "powershell/Get-AzNetworkSecurityGroup.json":
        lambda: powershell(az(_body("NetworkSecurityGroupGet.json"))),
    "powershell/Get-AzNetworkSecurityGroup-list.json":
        lambda: powershell(az(_body("NetworkSecurityGroupList.json")["value"])),
    "powershell/Get-AzRouteTable.json": lambda: powershell(az(_body("RouteTableGet.json"))),
    "powershell/Get-AzEffectiveRouteTable.json":
        lambda: powershell(_body("NetworkInterfaceEffectiveRouteTableList.json")["value"]),
    "powershell/Get-AzEffectiveNetworkSecurityGroup.json":
        lambda: powershell(_body("NetworkInterfaceEffectiveNSGList.json")["value"]),
}
UTF16 = "powershell/Get-AzNetworkSecurityGroup-utf16.json"  # the same, as PowerShell 5's '>'


def render(name: str) -> bytes:
    """The bytes of one derived file."""
    if name == UTF16:
        text = render("powershell/Get-AzNetworkSecurityGroup.json").decode()
        return codecs.BOM_UTF16_LE + text.replace("\n", "\r\n").encode("utf-16-le")
    return (json.dumps(SHAPES[name](), indent=2) + "\n").encode()


def names() -> list[str]:
    return [*SHAPES, UTF16]


def main() -> int:
    for name in names():
        path = DERIVED / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(render(name))
        print(path.relative_to(ROOT))
    return 0


if __name__ == "__main__":
    sys.exit(main())
