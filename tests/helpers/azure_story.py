"""The lab's Azure story: one APIM instance, its VNet, NSG, route table and the
agent's VM, as ARM answers them, made of real recorded answers
(tests/data/azure/recordings/PROVENANCE.md) chained together.

What is changed in the recordings, and why (nothing else is):
- resource IDs and names (service, VNet, subnet, NSG, route table, VM, NIC) are
  rewritten to the story's, so that one answer leads to the next as in Azure;
- hostnames become lab names (``labify``: the recorded instance ps2356 is
  apimlab, its storage account apimlabst, its SQL server apimlab-sql; any other
  public suffix becomes .test), so that nothing names or reaches a real host;
- the NSG gets one outbound rule the recording lacks, DenySqlOut (priority 200,
  Sql 1433), the cause the story's SQL failure is traced to;
- the IMDS instance document gets the story's subscription and VM ID;
- the effective route table answers one poll 202 with Retry-After: 1 before the
  recorded final answer (the recording's first poll was already final).
"""

from __future__ import annotations

import copy
import json
from typing import Any

from tests.helpers.fake_azure import IMDS_DOC, Scenario, labify, recording

SUB = "6b1a9c2e-0f3d-4e5a-9b7c-1d2e3f4a5b6c"
APIM = (f"/subscriptions/{SUB}/resourceGroups/rg-apim/providers/Microsoft.ApiManagement/"
        "service/apimlab")
NET = f"/subscriptions/{SUB}/resourceGroups/rg-net/providers/Microsoft.Network"
VNET = f"{NET}/virtualNetworks/vnet-apim"
SUBNET = f"{VNET}/subnets/apim"
NSG = f"{NET}/networkSecurityGroups/nsg-apim"
RT = f"{NET}/routeTables/rt-apim"
PROBE = f"/subscriptions/{SUB}/resourceGroups/rg-probe/providers"
VM = f"{PROBE}/Microsoft.Compute/virtualMachines/probe-vm"
NIC = f"{PROBE}/Microsoft.Network/networkInterfaces/probe-vm-nic"
OPERATION = (f"/subscriptions/{SUB}/providers/Microsoft.Network/locations/eastus/"
             "operationResults/77aad9c4-2c47-4757-8847-34c18e9338e1")
APIM_API, NETWORK_API, COMPUTE_API = "2024-05-01", "2024-05-01", "2024-07-01"
NAMES = {"ps2356": "apimlab", "apimstcyxrbx2isb8kqjoqys": "apimlabst",
         "apirpsqlqrs0lrqlkffam8i7": "apimlab-sql"}

DENY_SQL = {
    "name": "DenySqlOut",
    "properties": {"protocol": "Tcp", "sourcePortRange": "*", "destinationPortRange": "1433",
                   "sourceAddressPrefix": "VirtualNetwork", "destinationAddressPrefix": "Sql",
                   "access": "Deny", "priority": 200, "direction": "Outbound"}}


def _body(name: str) -> Any:
    return labify(recording(name)["body"], NAMES)


def instance() -> dict[str, Any]:
    doc = json.loads(IMDS_DOC.read_text(encoding="utf-8"))
    doc["compute"].update(subscriptionId=SUB, resourceGroupName="rg-probe", name="probe-vm",
                          resourceId=VM, vmScaleSetName="", location="eastus")
    return doc  # type: ignore[no-any-return]


def documents() -> dict[str, Any]:
    """Each ARM answer of the story, by call."""
    service = _body("apim-service-get-vnet-external.json")
    service.update(id=APIM, name="apimlab")
    service["properties"]["virtualNetworkConfiguration"]["subnetResourceId"] = SUBNET
    vnet = _body("vnet-get-dns-servers.json")
    vnet.update(id=VNET, name="vnet-apim")
    subnet = vnet["properties"]["subnets"][0]
    subnet.update(id=SUBNET, name="apim")
    subnet["properties"].update(networkSecurityGroup={"id": NSG}, routeTable={"id": RT})
    nsg = _body("nsg-get.json")
    nsg.update(id=NSG, name="nsg-apim")
    nsg["properties"]["securityRules"] = [*nsg["properties"]["securityRules"],
                                          copy.deepcopy(DENY_SQL)]
    table = _body("route-table-get.json")
    table.update(id=RT, name="rt-apim")
    vm = _body("vm-get.json")
    vm["id"] = VM
    vm["properties"]["networkProfile"]["networkInterfaces"][0]["id"] = NIC
    return {"service": service, "networkstatus": _body("apim-networkstatus.json"),
            "outbound": _body("apim-outbound-network-dependencies-endpoints.json"),
            "vnet": vnet, "nsg": nsg, "route_table": table, "vm": vm,
            "effective_routes": _body("nic-effective-route-table-3-final.json")}


def _ok(body: Any, api: str) -> dict[str, Any]:
    return {"api": api, "responses": [{"status": 200, "body": body}]}


def scenario(arm_url: str, **changes: dict[str, Any]) -> Scenario:
    """The story's fake IMDS and ARM; ``changes``: routes replaced by call name
    (service, networkstatus, outbound, vnet, nsg, route_table, vm,
    effective_routes, effective_nsg, operation), each a route dict."""
    docs = documents()
    forbidden = recording("error-403-authorization-failed.json")
    arm = {
        f"GET {APIM}": _ok(docs["service"], APIM_API),
        f"GET {APIM}/networkstatus": _ok(docs["networkstatus"], APIM_API),
        f"GET {APIM}/outboundNetworkDependenciesEndpoints": _ok(docs["outbound"], APIM_API),
        f"GET {VNET}": _ok(docs["vnet"], NETWORK_API),
        f"GET {NSG}": _ok(docs["nsg"], NETWORK_API),
        f"GET {RT}": _ok(docs["route_table"], NETWORK_API),
        f"GET {VM}": _ok(docs["vm"], COMPUTE_API),
        f"POST {NIC}/effectiveRouteTable": {"api": NETWORK_API, "responses": [{
            "status": 202, "body": None,
            "headers": {"Location": f"{arm_url}{OPERATION}?api-version={NETWORK_API}"}}]},
        f"GET {OPERATION}": {"api": NETWORK_API, "responses": [
            {"status": 202, "body": None, "headers": {
                "Location": f"{arm_url}{OPERATION}?api-version={NETWORK_API}",
                "Retry-After": "1"}},
            {"status": 200, "body": docs["effective_routes"]}]},
        f"POST {NIC}/effectiveNetworkSecurityGroups": {"api": NETWORK_API, "responses": [{
            "status": forbidden["status"], "body": forbidden["body"]}]},
    }
    keys = {"service": f"GET {APIM}", "networkstatus": f"GET {APIM}/networkstatus",
            "outbound": f"GET {APIM}/outboundNetworkDependenciesEndpoints",
            "vnet": f"GET {VNET}", "nsg": f"GET {NSG}", "route_table": f"GET {RT}",
            "vm": f"GET {VM}", "effective_routes": f"POST {NIC}/effectiveRouteTable",
            "effective_nsg": f"POST {NIC}/effectiveNetworkSecurityGroups",
            "operation": f"GET {OPERATION}"}
    for call, route in changes.items():
        arm[keys[call]] = route
    return Scenario(instance=instance(), arm=arm)
