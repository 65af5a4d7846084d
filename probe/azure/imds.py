"""Where the agent runs, from Azure's Instance Metadata Service (IMDS).

``parse`` turns the documented ``GET /metadata/instance`` answer into an
``Instance`` (pure, tolerant: every IMDS value is a string, missing ones are
empty, interface order is not guaranteed, fields Azure adds later are
ignored). ``read`` fetches it: plain HTTP with ``Metadata: true``, never
through a proxy (IMDS documents that requests must bypass proxies), a short
timeout, and retries with backoff for 429 and 410/5xx (IMDS answers 410 for up
to 70 s while it starts). Not on Azure is an answer (``NotOnAzure``), not an
error: the caller logs one line and goes on.

The base URL is configurable (``[azure] imds``) so that tests and unusual
hosts point it elsewhere; tests only ever point it at loopback or the lab.
"""

from __future__ import annotations

import ipaddress
import urllib.error
import urllib.request
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from tenacity import (
    RetryError,
    retry,
    retry_if_exception,
    stop_after_delay,
    wait_exponential,
)

from probe.boundary import load_json
from probe.display import printable
from probe.errors import InputError, ProbeError

__all__ = ["API_VERSION", "DEFAULT_BASE", "Instance", "NotOnAzure", "labels", "parse", "read",
           "under_configured"]

DEFAULT_BASE = "http://169.254.169.254"
API_VERSION = "2025-04-07"
ANSWER_LIMIT = 1 << 20  # bytes; the documented answer is about 6 KiB
RETRY_FOR = 70.0  # seconds: IMDS may answer 410 for up to 70 s after boot

# Clouds, by IMDS azEnvironment: the ARM endpoint that goes with each.
ARM_BY_ENVIRONMENT = {
    "azurepubliccloud": "https://management.azure.com",
    "azureusgovernmentcloud": "https://management.usgovcloudapi.net",
    "azurechinacloud": "https://management.chinacloudapi.cn",
}


class NotOnAzure(ProbeError):
    """IMDS did not answer (not an Azure VM, or blocked): a fact, not a failure."""


@dataclass(frozen=True, slots=True)
class Instance:
    """What IMDS says about this VM (every field "" when IMDS left it empty)."""

    location: str = ""
    environment: str = ""
    subscription: str = ""
    resource_group: str = ""
    resource_id: str = ""
    name: str = ""
    vmss: str = ""
    zone: str = ""
    tags: Mapping[str, str] = field(default_factory=dict)
    private_ip: str = ""
    subnet: str = ""  # the primary interface's subnet, CIDR

    @property
    def aks(self) -> str:
        """The AKS cluster a node belongs to ("" when not an AKS node): AKS tags
        its node VMs aks-managed-*; the cluster name tag says which."""
        if not any(key.startswith("aks-managed-") for key in self.tags):
            return ""
        return self.tags.get("aks-managed-cluster-name", "") or "yes"

    @property
    def arm(self) -> str:
        """The ARM endpoint of this VM's cloud ("" when the cloud is unknown)."""
        return ARM_BY_ENVIRONMENT.get(self.environment.lower(), "")


def _text(value: Any) -> str:
    return value if isinstance(value, str) else ""


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _tags(compute: Mapping[str, Any]) -> dict[str, str]:
    """tagsList (2019-06-04 on) or the older "k:v;k:v" string."""
    listed = compute.get("tagsList")
    if isinstance(listed, list):
        return {_text(t.get("name")): _text(t.get("value")) for t in listed
                if isinstance(t, dict) and _text(t.get("name"))}
    out: dict[str, str] = {}
    for pair in _text(compute.get("tags")).split(";"):
        key, sep, value = pair.partition(":")
        if key and sep:
            out[key] = value
    return out


def _primary(network: Mapping[str, Any]) -> tuple[str, str]:
    """(private IP, subnet CIDR) of the interface with the lowest MAC that has an
    IPv4 address: IMDS does not promise an order, so pick one stably."""
    candidates: list[tuple[str, str, str]] = []
    interfaces = network.get("interface")
    for interface in interfaces if isinstance(interfaces, list) else ():
        if not isinstance(interface, dict):
            continue
        ipv4 = _dict(interface.get("ipv4"))
        addresses = _list(ipv4.get("ipAddress"))
        subnets = _list(ipv4.get("subnet"))
        ip = next((_text(a.get("privateIpAddress")) for a in addresses
                   if isinstance(a, dict) and _text(a.get("privateIpAddress"))), "")
        if not ip:
            continue
        subnet = ""
        for item in subnets:
            if isinstance(item, dict):
                try:
                    subnet = str(ipaddress.ip_network(
                        f"{_text(item.get('address'))}/{_text(item.get('prefix'))}",
                        strict=False))
                    break
                except ValueError:
                    continue
        candidates.append((_text(interface.get("macAddress")), ip, subnet))
    if not candidates:
        return "", ""
    _, ip, subnet = min(candidates)
    return ip, subnet


def parse(answer: Any) -> Instance:
    """The instance from IMDS's JSON answer; a shape that is not one is an error."""
    if not isinstance(answer, dict) or not isinstance(answer.get("compute"), dict):
        raise ProbeError("IMDS answered something that is not an instance document "
                         "(no 'compute' object)")
    compute = answer["compute"]
    network = _dict(answer.get("network"))
    ip, subnet = _primary(network)
    return Instance(location=_text(compute.get("location")),
                    environment=_text(compute.get("azEnvironment")),
                    subscription=_text(compute.get("subscriptionId")),
                    resource_group=_text(compute.get("resourceGroupName")),
                    resource_id=_text(compute.get("resourceId")),
                    name=_text(compute.get("name")), vmss=_text(compute.get("vmScaleSetName")),
                    zone=_text(compute.get("zone")), tags=_tags(compute),
                    private_ip=ip, subnet=subnet)


def labels(instance: Instance) -> dict[str, str]:
    """The agent's identity labels from IMDS (empty values left out)."""
    pairs = {"region": instance.location, "subscription": instance.subscription,
             "resource_group": instance.resource_group, "vm": instance.name,
             "vmss": instance.vmss, "zone": instance.zone, "subnet": instance.subnet,
             "aks": instance.aks}
    return {k: v for k, v in pairs.items() if v}


def under_configured(found: Mapping[str, str], configured: Iterable[tuple[str, str]],
                     ) -> tuple[tuple[str, str], ...]:
    """The agent's labels: IMDS's ``found`` under the ``[agent] labels`` (which win),
    sorted (the one series of ``apim_probe_agent_info``, the report, `probe context`)."""
    return tuple(sorted({**found, **dict(configured)}.items()))


class _Retry(Exception):
    """An answer worth asking again for (429, 410, 5xx)."""


def _get(url: str, timeout: float) -> bytes:
    base = url.split("/metadata", maxsplit=1)[0]
    request = urllib.request.Request(url, headers={"Metadata": "true"})
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # never a proxy
    try:
        with opener.open(request, timeout=timeout) as response:
            return bytes(response.read(ANSWER_LIMIT + 1))
    except urllib.error.HTTPError as exc:
        if exc.code in (410, 429) or exc.code >= 500:
            raise _Retry(f"HTTP {exc.code}") from None
        raise NotOnAzure(f"IMDS at {base} answered HTTP {exc.code}") from None
    except (urllib.error.URLError, OSError, ValueError) as exc:
        reason = getattr(exc, "reason", exc)
        raise NotOnAzure(f"no IMDS at {base} ({reason})") from None


def read(base: str = DEFAULT_BASE, timeout: float = 2.0, retry_for: float = RETRY_FOR,
         ) -> Instance:
    """This VM's instance document; ``NotOnAzure`` when IMDS is not there."""
    url = f"{base.rstrip('/')}/metadata/instance?api-version={API_VERSION}"
    fetch = retry(retry=retry_if_exception(lambda e: isinstance(e, _Retry)),
                  wait=wait_exponential(multiplier=0.5, max=8),
                  stop=stop_after_delay(retry_for), reraise=False)(_get)
    try:
        body = fetch(url, timeout)
    except RetryError as exc:
        raise NotOnAzure(f"IMDS at {base} kept answering {exc.last_attempt.exception()} "
                         f"for {retry_for:.0f} s") from None
    if len(body) > ANSWER_LIMIT:
        raise ProbeError(f"IMDS at {base} answered more than {ANSWER_LIMIT} bytes")
    try:
        doc = load_json(body, base, expected="IMDS's JSON")
    except InputError as exc:
        raise ProbeError(f"IMDS at {base} answered something we do not read: "
                         f"{printable(exc.message)[:200]}") from None
    return parse(doc)
