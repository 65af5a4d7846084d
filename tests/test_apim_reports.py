"""Targets from saved networkstatus / outboundNetworkDependenciesEndpoints JSON."""

from __future__ import annotations

from pathlib import Path

import pytest

from probe.apim_reports import (
    NETWORKSTATUS,
    OUTBOUND,
    kind_of,
    load,
    resolve_paths,
    split_name,
    targets_from,
)
from probe.errors import ConfigError

AZURE = Path(__file__).parent / "data" / "azure"


@pytest.mark.parametrize(("name", "default", "expected"), [
    ("apimst.blob.core.windows.net", 443, ("apimst.blob.core.windows.net", 443)),
    ("db.database.windows.net", 1433, ("db.database.windows.net", 1433)),
    ("prod3.prod.microsoftmetrics.com:1886", 443, ("prod3.prod.microsoftmetrics.com", 1886)),
    ("https://gcs.prod.monitoring.core.windows.net", 1433,
     ("gcs.prod.monitoring.core.windows.net", 443)),
    ("http://ocsp.digicert.com/", 443, ("ocsp.digicert.com", 80)),
    ("https://kv.vault.azure.net:8443/secrets", 443, ("kv.vault.azure.net", 8443)),
    ("HOST.Example.NET.", 443, ("host.example.net", 443)),
    ("amqps://ns.servicebus.windows.net", 5671, ("ns.servicebus.windows.net", 5671)),
    ("198.51.100.7:25", 443, ("198.51.100.7", 25)),
    ("host.test/path", 443, ("host.test", 443)),
])
def test_split_name(name: str, default: int, expected: tuple[str, int]) -> None:
    assert split_name(name, default) == expected


@pytest.mark.parametrize("name", ["https://", "host:99999", "not a host", "*.vault.azure.net",
                                  "https://h.test:notaport/"])
def test_split_name_rejects(name: str) -> None:
    with pytest.raises(ValueError):
        split_name(name, 443)


def test_networkstatus_all_locations() -> None:
    result = load(AZURE / "networkstatus.json")
    assert result.kind == NETWORKSTATUS
    got = {(t.name, t.dependency, t.port, t.required) for t in result.targets}
    assert got == {
        ("storage:apimst2f7a9c1e.blob.core.windows.net:443", "storage", 443, True),
        ("storage:apimst2f7a9c1e.table.core.windows.net:443", "storage", 443, True),
        ("storage:apimst2f7a9c1e.file.core.windows.net:443", "storage", 443, True),
        ("storage:apimst2f7a9c1e.queue.core.windows.net:443", "storage", 443, True),
        ("sql:kdbwrtsqlprodeus1.database.windows.net:1433", "sql", 1433, True),
        ("monitor:gcs.prod.monitoring.core.windows.net:443", "monitor", 443, False),
        ("monitor:prod3.prod.microsoftmetrics.com:1886", "monitor", 1886, True),
        ("entra:login.windows.net:443", "entra", 443, False),
        ("email:smtpi-co1.msn.com:25028", "email", 25028, False),
        ("cache:contoso-redis.redis.cache.windows.net:6380", "cache", 6380, False),
    }
    # The blob account appears under two locations: one target.
    assert len(result.targets) == len(got)
    assert result.skipped == ()


def test_networkstatus_of_one_location() -> None:
    result = load(AZURE / "networkstatus-location.json")
    assert [(t.host, t.port, t.dependency) for t in result.targets] == [
        ("apimst2f7a9c1e.blob.core.windows.net", 443, "storage"),
        ("contoso-kv.vault.azure.net", 443, "keyvault"),
    ]


def test_outbound_dependencies() -> None:
    result = load(AZURE / "outbound-dependencies.json")
    assert result.kind == OUTBOUND
    assert [(t.host, t.port, t.dependency, t.required) for t in result.targets] == [
        ("kdbwrtsqlprodeus1.database.windows.net", 1433, "sql", True),
        ("apimst2f7a9c1e.blob.core.windows.net", 443, "storage", True),
        ("apimst2f7a9c1e.table.core.windows.net", 443, "storage", True),
        ("gcs.prod.monitoring.core.windows.net", 443, "monitor", True),
        ("prod3.prod.microsoftmetrics.com", 1886, "monitor", True),
        ("prod3.prod.microsoftmetrics.com", 443, "monitor", True),
        ("ocsp.digicert.com", 80, "other", True),
    ]
    assert result.skipped == ("*.vault.azure.net (wildcard)",)


def test_unknown_resource_type_falls_back_to_the_name() -> None:
    doc = {"connectivityStatus": [{"name": "x.vault.azure.net", "resourceType": "Future"}]}
    (target,) = targets_from(doc, "doc.json").targets
    assert (target.dependency, target.port, target.required) == ("keyvault", 443, True)


def test_outbound_without_endpoint_details_uses_443() -> None:
    doc = {"value": [{"category": "Azure Key Vault",
                      "endpoints": [{"domainName": "kv.vault.azure.net"}]}]}
    (target,) = targets_from(doc, "doc.json").targets
    assert (target.name, target.port) == ("keyvault:kv.vault.azure.net:443", 443)


@pytest.mark.parametrize(("doc", "kind"), [
    ([{"location": "x", "networkStatus": {}}], NETWORKSTATUS),
    ({"networkStatus": {"connectivityStatus": []}}, NETWORKSTATUS),
    ({"connectivityStatus": []}, NETWORKSTATUS),
    ({"value": [{"category": "c", "endpoints": []}]}, OUTBOUND),
    ({"value": []}, OUTBOUND),
    ([{"category": "c", "endpoints": []}], OUTBOUND),
    ({"value": [{"name": "x"}]}, None),
    ([], None),
    ("text", None),
    ([1, 2], None),
])
def test_kind_of(doc: object, kind: str | None) -> None:
    assert kind_of(doc) == kind


@pytest.mark.parametrize(("file", "fragments"), [
    ("malformed-truncated.json", ["malformed-truncated.json:3:", "not valid JSON"]),
    ("malformed-networkstatus-name.json",
     ["[0].networkStatus.connectivityStatus[1].name", "expected a host, URL or host:port",
      "42"]),
    ("malformed-outbound-port.json",
     ["value[0].endpoints[0].endpointDetails[0].port", "expected a port from 1 to 65535",
      "'1433'"]),
    ("malformed-unknown-shape.json", ["expected the JSON of an API Management 'networkstatus'",
                                      "outboundNetworkDependenciesEndpoints"]),
    ("does-not-exist.json", ["does-not-exist.json", "cannot read"]),
])
def test_malformed_documents(file: str, fragments: list[str]) -> None:
    with pytest.raises(ConfigError) as info:
        load(AZURE / file)
    text = str(info.value)
    assert text.startswith(str(AZURE / file))
    for fragment in fragments:
        assert fragment in text


@pytest.mark.parametrize(("doc", "key", "what"), [
    ([{"location": "x"}], "[0]", "'networkStatus'"),
    ([{"networkStatus": {"dnsServers": []}}], "[0].networkStatus", "connectivityStatus"),
    ({"connectivityStatus": {}}, "connectivityStatus", "expected a list"),
    ({"connectivityStatus": ["x"]}, "connectivityStatus[0]", "expected an object"),
    ({"connectivityStatus": [{"name": "h.test", "resourceType": 3}]},
     "connectivityStatus[0].resourceType", "expected a string"),
    ({"connectivityStatus": [{"name": "h.test", "isOptional": "no"}]},
     "connectivityStatus[0].isOptional", "true or false"),
    ({"connectivityStatus": [{"name": "https://"}]}, "connectivityStatus[0].name",
     "no hostname"),
    ({"value": [{"category": 1, "endpoints": []}]}, "value[0].category", "a string"),
    ({"value": [{"category": "c", "endpoints": [1]}]}, "value[0].endpoints[0]", "domainName"),
    ({"value": [{"category": "c", "endpoints": [{"domainName": ""}]}]},
     "value[0].endpoints[0].domainName", "a hostname"),
    ({"value": [{"category": "c", "endpoints": [{"domainName": "h.test",
                                                   "endpointDetails": {}}]}]},
     "value[0].endpoints[0].endpointDetails", "a list"),
    ({"value": [{"category": "c", "endpoints": [{"domainName": "h.test",
                                                   "endpointDetails": [{"port": True}]}]}]},
     "value[0].endpoints[0].endpointDetails[0].port", "1 to 65535"),
])
def test_malformed_shapes(doc: object, key: str, what: str) -> None:
    with pytest.raises(ConfigError) as info:
        targets_from(doc, "saved.json")
    assert info.value.key == key
    assert what in info.value.message
    assert str(info.value).startswith("saved.json: ")


def test_wildcard_name_in_networkstatus_is_skipped() -> None:
    doc = {"connectivityStatus": [{"name": "*.blob.core.windows.net",
                                   "resourceType": "BlobStorage"}]}
    result = targets_from(doc, "saved.json")
    assert result.targets == ()
    assert result.skipped == ("*.blob.core.windows.net (wildcard)",)


def test_paths_are_relative_to_the_config_file(tmp_path: Path) -> None:
    config = str(tmp_path / "conf" / "probe.toml")
    assert resolve_paths(["ns.json", "/abs/o.json"], config) == [
        tmp_path / "conf" / "ns.json", Path("/abs/o.json")]
    assert resolve_paths(["ns.json"], "<config>") == [Path.cwd() / "ns.json"]


def test_byte_order_mark_is_accepted(tmp_path: Path) -> None:
    # PowerShell's Out-File writes a BOM.
    path = tmp_path / "ns.json"
    path.write_bytes(b"\xef\xbb\xbf" + (AZURE / "networkstatus-location.json").read_bytes())
    assert len(load(path).targets) == 2
