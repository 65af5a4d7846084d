"""Microsoft's reference, as tables: resource types and outbound categories."""

from __future__ import annotations

import pytest

from probe.apimmodel.reports import OUTBOUND_CATEGORIES, classify, resource_dependency


@pytest.mark.parametrize(("category", "port", "expected"), [
    ("Azure SQL", 1433, ("sql", True)),
    ("Azure Storage", 443, ("storage", True)),
    ("Azure Storage", 445, ("storage", False)),
    ("Azure Key Vault", 443, ("keyvault", True)),
    ("Azure Monitor", 1886, ("monitor", True)),
    ("Application Insights", 443, ("monitor", False)),
    ("SSL Certificate Verification", 80, ("certificate", True)),
    ("Azure Event Hub", 5671, ("eventhub", False)),
    ("Azure Active Directory", 443, ("entra", False)),
    ("Microsoft Entra ID", 443, ("entra", False)),
    ("Azure SMTP", 25, ("email", False)),
    ("Azure SMTP", 587, ("email", False)),
    ("Azure SMTP", 25028, ("email", False)),
    ("Portal Captcha", 443, ("captcha", False)),
    ("Azure Connectors", 443, ("connectors", False)),
    ("Something New", 443, None),
])
def test_classify(category: str, port: int, expected: tuple[str, bool] | None) -> None:
    assert classify(category, port) == expected


def test_every_category_of_the_table_is_reachable() -> None:
    # An earlier entry's words must not swallow a later entry.
    for entry in OUTBOUND_CATEGORIES:
        for word in entry.words:
            assert classify(word, 1) == (entry.dependency, entry.required), word


@pytest.mark.parametrize(("resource_type", "dependency"), [
    ("BlobStorage", "storage"), ("SmtpQueue", "storage"), ("SQLDatabase", "sql"),
    ("AzureKeyVault", "keyvault"), ("RegionalAzureActiveDirectory", "entra"),
    ("CaptchaEndpoint", "captcha"), ("Metrics", "monitor"),
    ("ApiManagement Control Plane - inbound", "management"),
    # types this code has not seen yet, by their words
    ("ApplicationInsightsIngestion", "monitor"), ("Regional Entra ID", "entra"),
    ("EventHubLogging", "eventhub"), ("PremiumStorageFiles", "storage"),
    ("Future", ""), ("", ""),
])
def test_resource_types(resource_type: str, dependency: str) -> None:
    assert resource_dependency(resource_type) == dependency
