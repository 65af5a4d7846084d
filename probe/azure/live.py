"""One refresh of what ARM says about the APIM instance and its subnet.

``read_live`` makes the reads below, each alone: a failed one is recorded
(with the RBAC action it needs and the scope to grant it on, when ARM said
403) and the others go on. What it returns (``Live``) is raw JSON, handed to
the readers `probe --once` already has for saved files (probe.apim_reports,
probe.apim_resource, probe.lint) by ``probe.azure.facts``.

    call              request                                          per refresh
    lookup            GET  /subscriptions/S/providers/.../service       once (a name)
    service           GET  .../Microsoft.ApiManagement/service/N        1
    networkstatus     GET  .../service/N/networkstatus                  1
    outbound          GET  .../service/N/outboundNetworkDependenciesEndpoints  1 + pages
    vnet              GET  .../virtualNetworks/V (subnets inline, DNS)  1
    nsg               GET  the APIM subnet's NSG                        1
    route_table       GET  the APIM subnet's route table                1
    vm                GET  the agent's VM (its NIC's ID)                once
    effective_routes  POST the agent NIC's effectiveRouteTable          1 + polls
    effective_nsg     POST the agent NIC's effectiveNetworkSecurityGroups  1 + polls
"""

from __future__ import annotations

import functools
import re
import threading
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from probe.azure.arm import ArmError
from probe.azure.imds import Instance
from probe.azure.settings import apim_ref
from probe.errors import describe_error
from probe.results import AzureReadError

__all__ = ["ACTIONS", "API_VERSIONS", "Live", "Memo", "read_live"]

API_VERSIONS = {"apim": "2024-05-01", "network": "2024-05-01", "compute": "2024-07-01"}

# What each call needs granted (the custom role in deploy/azure/ holds exactly these).
ACTIONS = {
    "lookup": "Microsoft.ApiManagement/service/read",
    "service": "Microsoft.ApiManagement/service/read",
    "networkstatus": "Microsoft.ApiManagement/service/networkstatus/read",
    "outbound": "Microsoft.ApiManagement/service/outboundNetworkDependenciesEndpoints/read",
    "vnet": "Microsoft.Network/virtualNetworks/read",
    "nsg": "Microsoft.Network/networkSecurityGroups/read",
    "route_table": "Microsoft.Network/routeTables/read",
    "vm": "Microsoft.Compute/virtualMachines/read",
    "effective_routes": "Microsoft.Network/networkInterfaces/effectiveRouteTable/action",
    "effective_nsg": "Microsoft.Network/networkInterfaces/effectiveNetworkSecurityGroups/action",
}


@dataclass
class Memo:
    """What does not change between refreshes: read once, kept by the watcher."""

    apim_id: str = ""
    nic_id: str = ""


@dataclass(frozen=True, slots=True)
class Live:
    """The raw answers of one refresh, and what failed."""

    apim_id: str
    read_at: datetime
    documents: tuple[tuple[str, str, Any], ...] = ()  # (call, resource path, JSON)
    errors: tuple[AzureReadError, ...] = ()
    requests: int = 0
    ids: Mapping[str, str] = field(default_factory=dict)  # subnet, nsg, route_table, nic

    def doc(self, call: str) -> Any:
        return next((d for c, _, d in self.documents if c == call), None)

    def path(self, call: str) -> str:
        return next((p for c, p, _ in self.documents if c == call), "")


class _Reads:
    def __init__(self, arm: Any) -> None:
        self.arm = arm
        self.documents: list[tuple[str, str, Any]] = []
        self.errors: list[AzureReadError] = []
        self.lock = threading.Lock()

    def keep(self, call: str, path: str, doc: Any) -> None:
        with self.lock:
            self.documents.append((call, path, doc))

    def one(self, call: str, path: str, fetch: Callable[[], Any]) -> Any:
        """``fetch()``'s JSON kept under ``call``; None (and the error kept) when it failed."""
        try:
            doc = fetch()
        except ArmError as exc:
            self._failed(call, path, exc)
            return None
        except Exception as exc:  # noqa: BLE001 -- each read fails alone (a library's surprise)
            self._failed(call, path, ArmError(call, "error", describe_error(exc)))
            return None
        self.keep(call, path, doc)
        return doc

    def _failed(self, call: str, path: str, exc: ArmError) -> None:
        """A 403 keeps the action to grant and where."""
        forbidden = exc.status == 403 or exc.arm_code in ("AuthorizationFailed",
                                                          "LinkedAuthorizationFailed")
        with self.lock:
            self.errors.append(AzureReadError(
                call=call, code=exc.code, message=exc.detail,
                action=ACTIONS.get(call, "") if forbidden else "",
                scope=_scope(path) if forbidden else ""))

    def get(self, call: str, path: str, api: str) -> Any:
        return self.one(call, path, lambda: self.arm.get(call, path, API_VERSIONS[api]))


def _scope(path: str) -> str:
    """Where to grant a call's action: the resource, not its sub-path."""
    path = path.split("?", 1)[0]
    for suffix in ("/networkstatus", "/outboundNetworkDependenciesEndpoints",
                   "/effectiveRouteTable", "/effectiveNetworkSecurityGroups"):
        path = path.removesuffix(suffix)
    return path


def _prop(doc: Any, *names: str) -> Any:
    for name in names:
        doc = doc.get(name) if isinstance(doc, Mapping) else None
    return doc


def _id(value: Any) -> str:
    return value if isinstance(value, str) and value.startswith("/subscriptions/") else ""


def _find(reads: _Reads, name: str, instance: Instance | None) -> str:
    subscription = instance.subscription if instance else ""
    if not subscription:
        reads.errors.append(AzureReadError(
            "lookup", "config", f"[azure] apim = {name!r} is a name, and no subscription is "
            "known to look it up in (IMDS did not answer): give its resource ID"))
        return ""
    path = f"/subscriptions/{subscription}/providers/Microsoft.ApiManagement/service"

    def found() -> Any:
        return next((item for item in reads.arm.pages("lookup", path, API_VERSIONS["apim"])
                     if isinstance(item, Mapping)
                     and str(item.get("name", "")).lower() == name.lower()), None)

    item = reads.one("lookup", path, found)
    if isinstance(item, Mapping) and _id(item.get("id")):
        return str(item["id"])
    if not any(e.call == "lookup" for e in reads.errors):
        reads.errors.append(AzureReadError(
            "lookup", "404", f"no API Management instance named {name!r} in subscription "
            f"{subscription}: give its resource ID"))
    return ""


def _nic(reads: _Reads, instance: Instance | None, memo: Memo) -> str:
    if memo.nic_id:
        return memo.nic_id
    vm = instance.resource_id if instance else ""
    if not re.search(r"/providers/Microsoft\.Compute/virtualMachines/[^/]+$", vm, re.I):
        return ""  # not a VM (a scale set instance, AKS, not on Azure): no effective view
    doc = reads.get("vm", vm, "compute")
    nics = _prop(doc, "properties", "networkProfile", "networkInterfaces")
    entries = [n for n in nics if isinstance(n, Mapping)] if isinstance(nics, list) else []
    primary = next((n for n in entries if _prop(n, "properties", "primary") is True),
                   entries[0] if entries else None)
    memo.nic_id = _id(primary.get("id")) if primary else ""
    return memo.nic_id


def _subnet(reads: _Reads, subnet_id: str, pool: ThreadPoolExecutor) -> dict[str, str]:
    """The APIM subnet from its VNet (one read: the subnets are inline), then its NSG
    and route table side by side; their IDs."""
    vnet_id, _, subnet_name = subnet_id.rpartition("/subnets/")
    subnets = _prop(reads.get("vnet", vnet_id, "network"), "properties", "subnets")
    subnet = next((s for s in subnets if isinstance(s, Mapping)
                   and str(s.get("name", "")).lower() == subnet_name.lower()), None) \
        if isinstance(subnets, list) else None
    if subnet is None:
        return {}
    reads.keep("subnet", subnet_id, subnet)
    ids = {"nsg": _id(_prop(subnet, "properties", "networkSecurityGroup", "id")),
           "route_table": _id(_prop(subnet, "properties", "routeTable", "id"))}
    for future in [pool.submit(reads.get, call, ids[call], "network")
                   for call in ("nsg", "route_table") if ids[call]]:
        future.result()
    return {k: v for k, v in ids.items() if v}


def read_live(arm: Any, apim: str, instance: Instance | None, *, effective: bool = True,
              memo: Memo | None = None) -> Live:
    """Every read of one refresh (see the module docstring); never raises ArmError."""
    memo = memo if memo is not None else Memo()
    reads = _Reads(arm)
    before = getattr(arm, "requests", 0)
    ref = apim_ref(apim)
    if not memo.apim_id and ref is not None:
        subscription, group, name = ref
        memo.apim_id = (f"/subscriptions/{subscription}/resourceGroups/{group}/providers/"
                        f"Microsoft.ApiManagement/service/{name}" if subscription
                        else _find(reads, name, instance))
    service_id = memo.apim_id
    ids: dict[str, str] = {}
    # Side by side (ARM answers each in tens of ms, an effective-* operation in
    # seconds): APIM's three reads, the agent's NIC chain, then the subnet chain.
    # The service first, alone: its request also gets the token the others reuse.
    service = reads.get("service", service_id, "apim") if service_id else None
    with ThreadPoolExecutor(max_workers=6, thread_name_prefix="arm") as pool:
        nic = pool.submit(_nic, reads, instance, memo) if effective else None
        if service_id:
            pool.submit(reads.get, "networkstatus", f"{service_id}/networkstatus", "apim")
            outbound = f"{service_id}/outboundNetworkDependenciesEndpoints"
            pool.submit(reads.one, "outbound", outbound, lambda: {"value": list(arm.pages(
                "outbound", outbound, API_VERSIONS["apim"]))})
            ids["subnet"] = _id(_prop(service, "properties", "virtualNetworkConfiguration",
                                      "subnetResourceId"))
        if nic is not None and nic.result():
            ids["nic"] = nic.result()
            for call, verb in (("effective_routes", "effectiveRouteTable"),
                               ("effective_nsg", "effectiveNetworkSecurityGroups")):
                path = f"{ids['nic']}/{verb}"
                pool.submit(reads.one, call, path, functools.partial(
                    arm.action, call, path, API_VERSIONS["network"]))
        if ids.get("subnet"):
            ids.update(_subnet(reads, ids["subnet"], pool))
    order = {call: n for n, call in enumerate(dict.fromkeys((
        "lookup", "service", "networkstatus", "outbound", "vnet", "subnet", *ACTIONS)))}
    documents = sorted(reads.documents, key=lambda d: order.get(d[0], len(order)))
    errors = sorted(reads.errors, key=lambda e: order.get(e.call, len(order)))
    return Live(apim_id=service_id, read_at=datetime.now(UTC), documents=tuple(documents),
                errors=tuple(errors), requests=getattr(arm, "requests", 0) - before,
                ids=ids)
