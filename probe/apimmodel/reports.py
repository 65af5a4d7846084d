"""The APIM model's words for APIM's own reports (part of ``probe.apimmodel``).

* ``RESOURCE_TYPES``: a networkstatus ``resourceType`` -> the dependency group
  (as ``probe.config``'s guesses name them), with words for types not seen yet.
* ``OUTBOUND_CATEGORIES``: an outboundNetworkDependenciesEndpoints ``category``
  -> dependency group, and whether APIM needs it to run or it enables one
  optional feature.

Pure data and two look-ups; ``probe.apim_reports`` uses them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

# networkstatus resourceType (lower case, letters only) -> dependency group.
RESOURCE_TYPES: dict[str, str] = {
    "blobstorage": "storage",
    "tablestorage": "storage",
    "filestorage": "storage",
    "queue": "storage",
    "smtpqueue": "storage",
    "sqldatabase": "sql",
    "monitoring": "monitor",
    "metrics": "monitor",
    "applicationinsights": "monitor",
    "azureactivedirectory": "entra",
    "regionalazureactivedirectory": "entra",
    "internalcache": "cache",
    "sourcecontrol": "scm",
    "email": "email",
    "keyvault": "keyvault",
    "azurekeyvault": "keyvault",
    "eventhub": "eventhub",
    "captchaendpoint": "captcha",
    "apimanagementcontrolplaneinbound": "management",
}

# A resourceType not listed above: words in it (Azure keeps adding types, e.g.
# regional Entra ID, Application Insights ingestion), first match wins.
_RESOURCE_WORDS: tuple[tuple[str, str], ...] = (
    ("inbound", "management"), ("insights", "monitor"), ("captcha", "captcha"),
    ("activedirectory", "entra"), ("entra", "entra"), ("login", "entra"),
    ("smtp", "email"), ("email", "email"), ("sql", "sql"), ("keyvault", "keyvault"),
    ("eventhub", "eventhub"), ("monitor", "monitor"), ("metric", "monitor"),
    ("storage", "storage"), ("queue", "storage"), ("blob", "storage"), ("cache", "cache"),
)


def resource_dependency(resource_type: str) -> str:
    """The dependency group of a networkstatus resourceType ("" when unknown)."""
    normal = re.sub(r"[^a-z]", "", resource_type.lower())
    return RESOURCE_TYPES.get(normal) or next(
        (dep for word, dep in _RESOURCE_WORDS if word in normal), "")



@dataclass(frozen=True, slots=True)
class Category:
    """One kind of outbound dependency, as Microsoft's VNet reference lists it."""

    words: tuple[str, ...]       # matched in the document's category, lower case
    dependency: str
    required: bool               # needed to run (bold in the reference) or one feature
    purpose: str
    optional_ports: frozenset[int] = frozenset()  # ports of an optional feature only


# Source: Microsoft's "Virtual network configuration reference: API Management"
# (MicrosoftDocs/azure-docs, articles/api-management/virtual-network-reference.md:
# "Required ports", "TLS functionality", "Developer portal CAPTCHA",
# "Application Insights"; the SMTP relay on 25, 587 and 25028 from its earlier
# revisions), summarised in APIM-REFERENCE.md. Bold purposes are required; the
# ones the reference labels "optional" enable one feature. First match wins.
OUTBOUND_CATEGORIES: tuple[Category, ...] = (
    Category(("sql",), "sql", True, "Azure SQL: the configuration database"),
    Category(("storage",), "storage", True, "Azure Storage: deployment, configuration, logs",
             frozenset({445})),  # 445: the file share behind Git (optional, retired)
    Category(("key vault", "keyvault"), "keyvault", True, "Azure Key Vault: certificates"),
    Category(("application insights", "app insights"), "monitor", False,
             "Application Insights telemetry (optional)"),
    Category(("monitor", "metrics"), "monitor", True,
             "Azure Monitor: diagnostics logs, metrics, resource health"),
    Category(("certificate", "ssl", "crl", "ocsp"), "certificate", True,
             "certificate chain and revocation checks (Internet 80, 443)"),
    Category(("event hub", "eventhub"), "eventhub", False,
             "log-to-eventhub policy (optional)"),
    Category(("active directory", "entra"), "entra", False,
             "Microsoft Entra ID sign-in, Graph (optional)"),
    Category(("smtp", "email", "mail"), "email", False,
             "SMTP relay for notification e-mail (optional)"),
    Category(("captcha",), "captcha", False, "developer portal CAPTCHA (optional)"),
    Category(("connector",), "connectors", False, "managed connections (optional)"),
    Category(("redis", "cache"), "cache", False, "external cache (optional)"),
)


def classify(category: str, port: int) -> tuple[str, bool] | None:
    """(dependency, required) of an outbound category and port; None if unknown."""
    lowered = category.lower()
    for entry in OUTBOUND_CATEGORIES:
        if any(word in lowered for word in entry.words):
            return entry.dependency, entry.required and port not in entry.optional_ports
    return None
