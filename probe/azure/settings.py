"""The [azure] config section (read by probe.config, used by probe.azure)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from probe.apim import pem_file
from probe.schema import Between, OneOf, key

__all__ = ["ARM_KEYS", "IDENTITIES", "AzureConfig", "apim_flag_problem", "apim_ref",
           "extra_missing"]

IDENTITIES = ("auto", "managed", "workload", "cli", "none")

_GUID = r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"
# An APIM instance's resource ID, or its name (1-50 letters, digits and
# hyphens, starting with a letter: Azure's own rule for the service name).
_NAME = r"[A-Za-z](?:[A-Za-z0-9-]{0,48}[A-Za-z0-9])?"
_RESOURCE_ID = (rf"/subscriptions/({_GUID})/resourceGroups/([-\w._()]{{1,90}})"
                rf"/providers/Microsoft\.ApiManagement/service/({_NAME})")

# The keys that need ARM (and so the extra); imds and refresh alone need neither.
ARM_KEYS = ("identity", "client_id", "arm", "apim", "effective", "ca_file")


def _http_url(value: Any) -> str | None:
    return None if re.fullmatch(r"https?://[^\s/?#]+(/[^\s?#]*)?", value) else \
        "expected an http:// or https:// base URL"


def _https_url(value: Any) -> str | None:
    return None if re.fullmatch(r"https://[^\s/?#]+/?", value) else \
        "expected an https:// base URL (scheme and host, no path)"


def _guid(value: Any) -> str | None:
    return None if re.fullmatch(_GUID, value) else "expected a client ID (a GUID)"


def apim_ref(value: str) -> tuple[str, str, str] | None:
    """(subscription, resource group, name) of a resource ID; ("", "", name) of a
    bare name; None when it is neither."""
    found = re.fullmatch(_RESOURCE_ID, value.rstrip("/"), flags=re.IGNORECASE)
    if found:
        return found.group(1).lower(), found.group(2), found.group(3)
    if re.fullmatch(_NAME, value):
        return "", "", value
    return None


APIM_EXPECTED = ("expected an API Management resource ID (/subscriptions/GUID/resourceGroups/"
                 "RG/providers/Microsoft.ApiManagement/service/NAME) or an instance name")


def _apim(value: Any) -> str | None:
    return None if apim_ref(value) else APIM_EXPECTED


def apim_flag_problem(value: str) -> str | None:
    """What is wrong with ``--apim VALUE`` (`probe --once`, `probe context`), or None."""
    if apim_ref(value) is None:
        return f"--apim {value!r}: {APIM_EXPECTED}"
    if extra_missing():
        return ("--apim reads Azure Resource Manager, which needs the Azure extra: "
                "pip install 'apim-probe[azure]'")
    return None


def extra_missing() -> bool:
    """True when the `azure` extra (azure-identity, azure-mgmt-core) is not installed."""
    import importlib.util

    return any(importlib.util.find_spec(name) is None
               for name in ("azure.identity", "azure.mgmt.core"))


@dataclass(frozen=True, slots=True)
class AzureConfig:
    """[azure]: the section's presence turns on the Azure context (IMDS); ``apim``
    turns on the live reads of APIM and its subnet through ARM."""

    identity: str = key("auto", str, "how the agent signs in to ARM: `auto` (workload identity "
                        "when AKS injected it, else the managed identity), `managed`, "
                        "`workload`, `cli` (a developer's `az login`; only when asked) or "
                        "`none` (no ARM reads)", check=OneOf(IDENTITIES))
    client_id: str = key("", str, "client ID of a user-assigned managed identity (default: "
                         "the system-assigned one, or the one AKS injected)", check=_guid,
                         expected="a GUID", default_text="unset")
    imds: str = key("http://169.254.169.254", str, "base URL of the Instance Metadata "
                    "Service (where the agent runs: region, subscription, VM, subnet, AKS "
                    "cluster, as labels of `apim_probe_agent_info`; and the managed "
                    "identity's tokens); read without a proxy",
                    check=_http_url, expected="an http:// or https:// base URL")
    arm: str = key("", str, "ARM base URL (default: the cloud IMDS names in `azEnvironment`: "
                   "public, US Government or China; set it elsewhere)", check=_https_url,
                   expected="an https:// base URL", default_text="from IMDS")
    apim: str = key("", str, "the API Management instance to read live through ARM: its "
                    "resource ID, or its name (subscription from IMDS, found in it); unset: "
                    "IMDS only", check=_apim, expected="a resource ID or an instance name",
                    default_text="unset")
    refresh: float = key(900.0, float, "seconds between reads of the Azure context "
                         "(networkstatus changes every 15 minutes; faster is pointless)",
                         check=Between(60, 86400, "seconds"), convert=float)
    effective: bool = key(True, bool, "read the agent NIC's effective routes and NSG (needs "
                          "the two effective-* actions; compared with APIM's subnet)")
    ca_file: str | None = key(None, str, "CA bundle (PEM) for ARM, for a TLS-inspecting proxy "
                              "or tests (default: the system's)", read=pem_file,
                              expected="the path of a readable file")
