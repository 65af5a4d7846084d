"""APIM's saved networkstatus / outboundNetworkDependenciesEndpoints: targets and evidence.

The samples under data/azure/rest-examples/ are Azure's own example responses
(PROVENANCE-apim.md): parsed only, never probed.
"""

from __future__ import annotations

import copy
import json
import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from probe.apim_reports import (
    COMMANDS,
    NETWORKSTATUS,
    OUTBOUND,
    kind_of,
    load,
    location_key,
    resolve_paths,
    split_name,
    targets_from,
    unique,
)
from probe.config import Target
from probe.errors import ConfigError

AZURE = Path(__file__).parent / "data" / "azure"
REST = AZURE / "rest-examples"
NS_2024 = REST / "ApiManagementServiceGetNetworkStatus.2024-05-01.json"
NS_2022 = REST / "ApiManagementServiceGetNetworkStatus.2022-08-01.json"
NS_BY_LOCATION = REST / "ApiManagementServiceGetNetworkStatusByLocation.2024-05-01.json"
OUTBOUND_2024 = REST / "ApiManagementServiceGetOutboundNetworkDependenciesEndpoints.2024-05-01.json"


@pytest.mark.parametrize(("name", "default", "expected"), [
    ("apimst.blob.core.windows.net", 443, ("apimst.blob.core.windows.net", 443)),
    ("db.database.windows.net", 1433, ("db.database.windows.net", 1433)),
    ("prod3.prod.microsoftmetrics.com:1886", 443, ("prod3.prod.microsoftmetrics.com", 1886)),
    ("https://gcs.prod.monitoring.core.windows.net", 1433,
     ("gcs.prod.monitoring.core.windows.net", 443)),
    ("http://ocsp.digicert.com/", 443, ("ocsp.digicert.com", 80)),
    ("https://kv.vault.azure.net:8443/secrets", 443, ("kv.vault.azure.net", 8443)),
    ("https://x.prod.microsoftmetrics.com:1886/RecoveryService", 443,
     ("x.prod.microsoftmetrics.com", 1886)),
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


@pytest.mark.parametrize(("a", "b"), [("West US", "westus"), ("West US", "WEST US"),
                                      ("Central US EUAP", "centraluseuap"),
                                      ("West US", "west-us")])
def test_location_names_compare_without_case_and_spaces(a: str, b: str) -> None:
    assert location_key(a) == location_key(b)
    assert location_key("West US") != location_key("West US 2")


# --------------------------------------------------------------------------
# networkstatus: the hand-made multi-location response


def test_networkstatus_of_the_configured_region() -> None:
    result = load(AZURE / "networkstatus.json", ["East US"])
    assert result.kind == NETWORKSTATUS
    assert result.locations == ("East US",)
    got = {(t.name, t.port, t.required) for t in result.targets}
    assert got == {
        ("storage:apimst2f7a9c1e.blob.core.windows.net:443", 443, True),
        ("storage:apimst2f7a9c1e.table.core.windows.net:443", 443, True),
        ("storage:apimst2f7a9c1e.file.core.windows.net:443", 443, True),
        ("storage:apimst2f7a9c1e.queue.core.windows.net:443", 443, True),
        ("sql:kdbwrtsqlprodeus1.database.windows.net:1433", 1433, True),
        ("monitor:gcs.prod.monitoring.core.windows.net:443", 443, False),
        ("monitor:prod3.prod.microsoftmetrics.com:1886", 1886, True),
        ("entra:login.windows.net:443", 443, False),
        ("email:smtpi-co1.msn.com:25028", 25028, False),
    }
    # West Europe's storage account and cache are another location's business.
    assert not any("9b8eweu" in t.host or "redis" in t.host for t in result.targets)
    assert not any(t.port == 3443 for t in result.targets)
    assert result.skipped == (
        "LocalGatewayRedis (APIM's internal check, not a hostname)",
        "https://contoso.management.azure-api.net:3443/servicestatus?api-version=2018-01-01 "
        "(inbound control-plane check: Azure calling the instance, not a dependency)")


def test_every_entry_is_kept_whole_as_apims_evidence() -> None:
    checks = {c.name: c for c in load(AZURE / "networkstatus.json", ["eastus"]).checks}
    assert len(checks) == 11
    sql = checks["kdbwrtsqlprodeus1.database.windows.net"]
    assert (sql.status, sql.resource_type, sql.is_optional, sql.location) == (
        "failure", "SQLDatabase", False, "East US")
    assert sql.error.startswith("Failed to connect to kdbwrtsqlprodeus1.database.windows.net:1433")
    assert (sql.last_updated, sql.last_status_change) == (
        "2024-05-01T10:00:00.1234567Z", "2024-05-01T09:45:00.0000000Z")
    assert (sql.host, sql.port, sql.dependency, sql.direction) == (
        "kdbwrtsqlprodeus1.database.windows.net", 1433, "sql", "outbound")
    assert sql.dns_servers == ("10.0.0.4", "10.0.0.5")
    assert sql.source == str(AZURE / "networkstatus.json")
    redis = checks["LocalGatewayRedis"]
    assert (redis.host, redis.port, redis.direction, redis.dependency, redis.status) == (
        None, None, "internal", "cache", "failure")
    inbound = next(c for c in checks.values() if c.direction == "inbound")
    assert (inbound.host, inbound.port, inbound.dependency) == (
        "contoso.management.azure-api.net", 3443, "management")
    assert checks["smtpi-co1.msn.com:25028"].status == "initializing"


def test_several_locations_for_a_multi_region_instance() -> None:
    result = load(AZURE / "networkstatus.json", ["East US", "West Europe"])
    assert result.locations == ("East US", "West Europe")
    hosts = [t.host for t in result.targets]
    assert hosts.count("apimst2f7a9c1e.blob.core.windows.net") == 1
    assert "apimst9b8eweu.blob.core.windows.net" in hosts
    assert "contoso-redis.redis.cache.windows.net" in hosts
    assert {c.location for c in result.checks} == {"East US", "West Europe"}


def test_a_location_that_matches_nothing_lists_those_present() -> None:
    with pytest.raises(ConfigError) as info:
        load(AZURE / "networkstatus.json", ["West US"])
    assert str(info.value) == (
        f"{AZURE / 'networkstatus.json'}: no location 'West US' (from [apim] region / "
        "locations); it holds: East US, West Europe")


def test_several_locations_and_no_region_is_an_error_not_a_merge() -> None:
    with pytest.raises(ConfigError) as info:
        load(AZURE / "networkstatus.json")
    assert "2 locations (East US, West Europe)" in info.value.message
    assert "set [apim] region" in info.value.message


def test_networkstatus_of_one_location_needs_no_region() -> None:
    for wanted in ([], ["Somewhere Else"]):
        result = load(AZURE / "networkstatus-location.json", wanted)
        assert [(t.host, t.port, t.dependency) for t in result.targets] == [
            ("apimst2f7a9c1e.blob.core.windows.net", 443, "storage"),
            ("contoso-kv.vault.azure.net", 443, "keyvault"),
        ]


# --------------------------------------------------------------------------
# networkstatus: Azure's own example responses


def test_rest_example_2024_internal_and_inbound_checks_are_not_targets() -> None:
    result = load(NS_2024, ["Central US EUAP"])
    hosts = {t.host for t in result.targets}
    assert not any(h in {"localgatewayredis", "scm"} for h in hosts)
    assert not any(t.port in (3443, 6380) for t in result.targets)
    assert "samir-xxxxxxx.management.azure-api.net" not in hosts
    directions = {c.name: c.direction for c in result.checks}
    assert directions["LocalGatewayRedis"] == directions["Scm"] == "internal"
    assert sum(d == "inbound" for d in directions.values()) == 1
    assert len(result.checks) == 17
    assert len(result.targets) == 14


def test_rest_example_2024_newer_resource_types_are_classified() -> None:
    result = load(NS_2024, ["centraluseuap"])
    by_host = {t.host: t for t in result.targets}
    assert by_host["apimst8rlxxxxxx7.queue.core.windows.net"].dependency == "storage"
    assert by_host["centraluseuap.login.microsoft.com"].dependency == "entra"
    assert by_host["partner.prod.repmap.microsoft.com"].dependency == "captcha"
    assert by_host["apikv-xxxxxxurugl3.vault.azure.net"].dependency == "keyvault"
    assert by_host["xxxxx.prod.microsoftmetrics.com"].port == 1886
    assert not [t for t in result.targets if t.dependency == "other"]
    required = {t.host for t in result.targets if t.required}
    assert required == {"apimstm5lkxxxxx4kky0.blob.core.windows.net",
                        "apimstm5lkxxxxx4kky0.table.core.windows.net",
                        "apirpsqlmgsxxxxxxic45.database.windows.net",
                        "gcs.prod.monitoring.core.windows.net",
                        "apikv-xxxxxxurugl3.vault.azure.net"}


def test_rest_example_2022_west_us() -> None:
    result = load(NS_2022, ["westus"])
    assert result.locations == ("West US",)
    assert len(result.targets) == 12  # 14 entries less LocalGatewayRedis and Scm
    assert ("email", 25028, False) in {(t.dependency, t.port, t.required)
                                       for t in result.targets}
    with pytest.raises(ConfigError, match="it holds: West US"):
        load(NS_2022, ["East US"])


def test_rest_example_by_location() -> None:
    result = load(NS_BY_LOCATION, ["North Central US"])
    assert result.locations == ()
    assert len(result.checks) == 14 and len(result.targets) == 12
    assert {c.dns_servers for c in result.checks} == {("10.82.98.10",)}


# --------------------------------------------------------------------------
# outboundNetworkDependenciesEndpoints


def test_rest_example_outbound_is_classified_required_or_optional() -> None:
    result = load(OUTBOUND_2024)
    assert result.kind == OUTBOUND
    got = {(t.dependency, t.port, t.required) for t in result.targets}
    assert got == {
        ("email", 25028, False), ("sql", 1433, True), ("storage", 443, True),
        ("storage", 445, False), ("eventhub", 443, False), ("eventhub", 5671, False),
        ("eventhub", 5672, False), ("certificate", 80, True), ("certificate", 443, True),
        ("monitor", 443, True), ("monitor", 1886, True), ("captcha", 443, False),
        ("entra", 443, False),
    }
    assert len(result.targets) == 1 + 1 + 13 + 4 * 3 + 6 * 2 + 9 + 2 + 3
    assert result.notes == ()


def test_outbound_hand_made() -> None:
    result = load(AZURE / "outbound-dependencies.json")
    assert [(t.host, t.port, t.dependency, t.required) for t in result.targets] == [
        ("kdbwrtsqlprodeus1.database.windows.net", 1433, "sql", True),
        ("apimst2f7a9c1e.blob.core.windows.net", 443, "storage", True),
        ("apimst2f7a9c1e.table.core.windows.net", 443, "storage", True),
        ("gcs.prod.monitoring.core.windows.net", 443, "monitor", True),
        ("prod3.prod.microsoftmetrics.com", 1886, "monitor", True),
        ("prod3.prod.microsoftmetrics.com", 443, "monitor", True),
        ("ocsp.digicert.com", 80, "certificate", True),
    ]
    assert result.skipped == ("*.vault.azure.net (wildcard)",)


def test_unknown_category_is_required_and_said_so() -> None:
    doc = {"value": [{"category": "Quantum Relay",
                      "endpoints": [{"domainName": "q.example.test",
                                     "endpointDetails": [{"port": 7000, "region": "Global"}]}]}]}
    result = targets_from(doc, "o.json")
    (target,) = result.targets
    assert target.required
    assert result.notes == ("category 'Quantum Relay' is not in Microsoft's VNet reference: "
                            "q.example.test:7000 is required (a [[target]] can say otherwise)",)


def test_outbound_without_endpoint_details_uses_443() -> None:
    doc = {"value": [{"category": "Azure Key Vault",
                      "endpoints": [{"domainName": "kv.vault.azure.net"}]}]}
    (target,) = targets_from(doc, "doc.json").targets
    assert (target.name, target.port) == ("keyvault:kv.vault.azure.net:443", 443)


# --------------------------------------------------------------------------
# required wins, whatever the order


def test_required_wins_whatever_the_order() -> None:
    optional = Target("email:m.test:25", "m.test", 25, dependency="email", required=False)
    required = Target("other:m.test:25", "m.test", 25, dependency="other", required=True)
    assert unique([optional, required]) == (
        Target("email:m.test:25", "m.test", 25, dependency="email", required=True),)
    assert unique([required, optional]) == (required,)
    assert unique([optional, optional]) == (optional,)


def test_required_wins_across_locations_of_one_document() -> None:
    def entry(optional: bool) -> dict[str, Any]:
        return {"name": "st.blob.core.windows.net", "resourceType": "BlobStorage",
                "isOptional": optional}
    for first, second in ((True, False), (False, True)):
        doc = [{"location": "A", "networkStatus": {"connectivityStatus": [entry(first)]}},
               {"location": "B", "networkStatus": {"connectivityStatus": [entry(second)]}}]
        (target,) = targets_from(doc, "ns.json", ["A", "B"]).targets
        assert target.required


# --------------------------------------------------------------------------
# shapes


def test_unknown_resource_type_falls_back_to_the_name() -> None:
    doc = {"connectivityStatus": [{"name": "x.vault.azure.net", "resourceType": "Future"}]}
    (target,) = targets_from(doc, "doc.json").targets
    assert (target.dependency, target.port, target.required) == ("keyvault", 443, True)


@pytest.mark.parametrize("name", ["LocalGatewayRedis", "Scm", "Some Future Check", "cache_2"])
def test_labels_are_internal_checks_not_errors(name: str) -> None:
    doc = {"connectivityStatus": [{"name": name, "status": "failure", "error": "boom",
                                   "resourceType": "InternalCache", "isOptional": True}]}
    result = targets_from(doc, "ns.json")
    assert result.targets == ()
    (check,) = result.checks
    assert (check.direction, check.host, check.status, check.error) == (
        "internal", None, "failure", "boom")


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
      "42", COMMANDS[NETWORKSTATUS]]),
    ("malformed-outbound-port.json",
     ["value[0].endpoints[0].endpointDetails[0].port", "expected a port from 1 to 65535",
      "'1433'", COMMANDS[OUTBOUND]]),
    ("malformed-unknown-shape.json", ["expected the JSON of an API Management 'networkstatus'",
                                      "outboundNetworkDependenciesEndpoints",
                                      COMMANDS[NETWORKSTATUS], COMMANDS[OUTBOUND]]),
    ("does-not-exist.json", ["does-not-exist.json", "cannot read"]),
])
def test_malformed_documents(file: str, fragments: list[str]) -> None:
    with pytest.raises(ConfigError) as info:
        load(AZURE / file, ["East US"])
    text = str(info.value)
    assert text.startswith(str(AZURE / file))
    for fragment in fragments:
        assert fragment in text


def test_the_commands_are_az_rest_calls_with_an_api_version() -> None:
    assert COMMANDS[NETWORKSTATUS] == (
        'az rest --method get --url "$(az apim show -g RESOURCE_GROUP -n NAME --query id '
        '-o tsv)/networkstatus?api-version=2022-08-01"')
    assert COMMANDS[OUTBOUND].endswith('/outboundNetworkDependenciesEndpoints'
                                       '?api-version=2022-08-01"')


@pytest.mark.parametrize(("doc", "key", "what"), [
    ([{"location": "x"}], "[0]", "'networkStatus'"),
    ([{"location": 3, "networkStatus": {}}], "[0].location", "a location name"),
    ([{"networkStatus": {"dnsServers": []}}], "[0].networkStatus", "connectivityStatus"),
    ([{"networkStatus": {"dnsServers": "10.0.0.4", "connectivityStatus": []}}],
     "[0].networkStatus.dnsServers", "a list of addresses"),
    ({"connectivityStatus": {}}, "connectivityStatus", "expected a list"),
    ({"connectivityStatus": ["x"]}, "connectivityStatus[0]", "expected an object"),
    ({"connectivityStatus": [{"name": "h.test", "resourceType": 3}]},
     "connectivityStatus[0].resourceType", "expected a string"),
    ({"connectivityStatus": [{"name": "h.test", "status": False}]},
     "connectivityStatus[0].status", "expected a string"),
    ({"connectivityStatus": [{"name": "h.test", "lastUpdated": 1}]},
     "connectivityStatus[0].lastUpdated", "expected a string"),
    ({"connectivityStatus": [{"name": "h.test", "isOptional": "no"}]},
     "connectivityStatus[0].isOptional", "true or false"),
    ({"connectivityStatus": [{"name": "https://"}]}, "connectivityStatus[0].name",
     "no hostname"),
    ({"connectivityStatus": [{"name": "h.test:99999"}]}, "connectivityStatus[0].name",
     "port"),
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
    assert "az rest --method get" in info.value.message
    assert str(info.value).startswith(f"saved.json: {key}: ")


def _mutations(doc: Any, path: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    yield path
    children = doc.items() if isinstance(doc, dict) else \
        enumerate(doc) if isinstance(doc, list) else ()
    for key, value in children:
        yield from _mutations(value, (*path, key))


def _replaced(doc: Any, path: tuple[Any, ...], value: Any) -> Any:
    if not path:
        return value
    out = copy.deepcopy(doc)
    node = out
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value
    return out


@pytest.mark.parametrize(("sample", "wanted"), [
    (NS_2024, ["Central US EUAP"]), (NS_BY_LOCATION, []), (OUTBOUND_2024, []),
    (AZURE / "networkstatus.json", ["East US", "West Europe"])], ids=lambda p: str(p)[-30:])
def test_every_wrong_value_anywhere_is_a_config_error_never_a_traceback(
        sample: Path, wanted: list[str]) -> None:
    doc = json.loads(sample.read_text())
    assert targets_from(doc, "m.json", wanted).targets
    wrongs = (None, 42, -1, True, "", "x y", "*", [], {}, [1], {"a": 1}, 1.5)
    tried = 0
    for path in _mutations(doc):
        for wrong in wrongs:
            tried += 1
            try:
                targets_from(_replaced(doc, path, wrong), "m.json", wanted)
            except ConfigError as exc:
                assert str(exc).startswith("m.json"), exc
    assert tried > 500


def test_wildcard_name_in_networkstatus_is_skipped_but_kept() -> None:
    doc = {"connectivityStatus": [{"name": "*.blob.core.windows.net",
                                   "resourceType": "BlobStorage"}]}
    result = targets_from(doc, "saved.json")
    assert result.targets == ()
    assert result.skipped == ("*.blob.core.windows.net (wildcard)",)
    assert [c.host for c in result.checks] == [None]


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


def test_deeply_nested_json_is_a_config_error(tmp_path: Path) -> None:
    path = tmp_path / "deep.json"
    path.write_text("[" * 100_000 + "]" * 100_000)
    with pytest.raises(ConfigError, match="nested too deeply"):
        load(path)


@pytest.mark.parametrize("argv", [["--check-config"], ["targets"]])
def test_a_wrong_shape_is_exit_2_with_file_path_and_command(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], argv: list[str]) -> None:
    from probe.cli import main

    doc = json.loads(NS_2024.read_text())
    doc[0]["networkStatus"]["connectivityStatus"][3]["name"] = ["not", "a", "name"]
    (tmp_path / "ns.json").write_text(json.dumps(doc))
    config = tmp_path / "probe.toml"
    config.write_text('[apim]\nname = "c"\nmode = "internal"\nregion = "Central US EUAP"\n'
                      'import = ["ns.json"]\n')
    status = main([*argv, "-c", str(config)])
    err = capsys.readouterr().err
    assert status == 2
    assert "Traceback" not in err
    assert f"{tmp_path / 'ns.json'}: [0].networkStatus.connectivityStatus[3].name: " \
           "expected a host, URL or host:port, got ['not', 'a', 'name']" in err
    assert COMMANDS[NETWORKSTATUS] in err


@pytest.mark.parametrize("special", ["fifo", "/dev/zero", "directory"])
def test_an_import_that_is_no_regular_file_is_refused_at_once(tmp_path: Path,
                                                              special: str) -> None:
    # before: a FIFO named in [apim] import hung --check-config and a SIGHUP reload
    path = tmp_path / "ns.json"
    if special == "fifo":
        os.mkfifo(path)
    elif special == "directory":
        path.mkdir()
    else:
        path.symlink_to(special)
    with pytest.raises(ConfigError) as info:
        load(path)
    assert str(info.value).startswith(f"{path}: cannot read: ")
    assert info.value.message.endswith("not a regular file")


# --------------------------------------------------------------------------
# [apim] import_limit: a bounded number of entries, a clear error beyond


def _networkstatus(n: int, location: str = "East US") -> list[dict[str, Any]]:
    return [{"location": location, "networkStatus": {"dnsServers": [], "connectivityStatus": [
        {"name": f"h{i}.example.test", "status": "success", "resourceType": "BlobStorage",
         "isOptional": False} for i in range(n)]}}]


def _outbound(domains: int, ports: tuple[int, ...]) -> dict[str, Any]:
    return {"value": [{"category": "Azure Storage", "endpoints": [
        {"domainName": f"s{i}.blob.example.test",
         "endpointDetails": [{"port": p, "region": "East US"} for p in ports]}
        for i in range(domains)]}]}


def _import_config(tmp_path: Path, docs: dict[str, Any], extra: str = "") -> Path:
    for name, doc in docs.items():
        (tmp_path / name).write_text(json.dumps(doc))
    config = tmp_path / "probe.toml"
    files = ", ".join(f'"{name}"' for name in docs)
    config.write_text('[apim]\nname = "c"\nmode = "internal"\ndomain = "apim.test"\n'
                      f"import = [{files}]\n{extra}")
    return config


def _expanded(config: Path) -> Any:
    from probe.config import load as load_config
    from probe.targets import expand

    return expand(load_config(config))


def test_an_import_over_the_default_limit_is_refused_naming_file_count_and_key(
        tmp_path: Path) -> None:
    config = _import_config(tmp_path, {"ns.json": _networkstatus(5001)})
    with pytest.raises(ConfigError) as info:
        _expanded(config)
    assert info.value.source == str(tmp_path / "ns.json")
    assert info.value.message.startswith(
        "5001 entries, over the limit of 5000 ([apim] import_limit); expected at most 5000 ")
    assert "raise import_limit (at most 100000)" in info.value.message


def test_an_import_at_the_limit_is_read_whole(tmp_path: Path) -> None:
    config = _expanded(_import_config(tmp_path, {"ns.json": _networkstatus(5000)}))
    assert len(config.apim.reports) == 5000
    assert sum(t.host.endswith(".example.test") for t in config.targets) == 5000


def test_an_oversized_import_is_exit_2_under_check_config(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from probe.cli import main

    config = _import_config(tmp_path, {"ns.json": _networkstatus(30)}, "import_limit = 20\n")
    status = main(["--check-config", "-c", str(config)])
    err = capsys.readouterr().err
    assert status == 2
    assert "Traceback" not in err
    assert f"{tmp_path / 'ns.json'}: 30 entries, over the limit of 20 ([apim] import_limit)" \
        in err


def test_the_limit_is_configurable(tmp_path: Path) -> None:
    docs = {"ns.json": _networkstatus(6000)}
    config = _expanded(_import_config(tmp_path, docs, "import_limit = 6000\n"))
    assert len(config.apim.reports) == 6000
    with pytest.raises(ConfigError, match=re.escape("5999 ([apim] import_limit)")):
        _expanded(_import_config(tmp_path, docs, "import_limit = 5999\n"))


@pytest.mark.parametrize("value", ["0", "100001", "-1", "'many'", "1.5"])
def test_a_limit_out_of_range_is_a_config_error_on_the_key(tmp_path: Path, value: str) -> None:
    config = _import_config(tmp_path, {"ns.json": _networkstatus(1)},
                            f"import_limit = {value}\n")
    with pytest.raises(ConfigError) as info:
        _expanded(config)
    assert info.value.key == "apim.import_limit"
    assert info.value.source == str(config)


def test_the_limit_counts_every_file_and_names_the_one_that_passes_it(tmp_path: Path) -> None:
    docs = {"a.json": _networkstatus(8), "b.json": _outbound(2, (443, 445))}
    assert len(_expanded(_import_config(tmp_path, docs, "import_limit = 12\n"))
               .apim.reports) == 8
    with pytest.raises(ConfigError) as info:
        _expanded(_import_config(tmp_path, docs, "import_limit = 11\n"))
    assert info.value.source == str(tmp_path / "b.json")
    assert info.value.message.startswith(
        "4 entries (12 with the imports listed before it), over the limit of 11 ")


def test_every_location_of_a_networkstatus_counts_not_only_the_one_read(tmp_path: Path) -> None:
    doc = [*_networkstatus(6, "East US"), *_networkstatus(6, "West US")]
    docs = {"ns.json": doc}
    config = _expanded(_import_config(tmp_path, docs, 'region = "West US"\nimport_limit = 12\n'))
    assert len(config.apim.reports) == 6
    with pytest.raises(ConfigError, match=r"ns\.json: 12 entries, over the limit of 11 "):
        _expanded(_import_config(tmp_path, docs, 'region = "West US"\nimport_limit = 11\n'))


def test_outbound_entries_are_domain_and_port_pairs(tmp_path: Path) -> None:
    result = targets_from(_outbound(3, (443, 445, 443)), "o.json")
    assert result.entries == 6  # a port listed twice for one domain counts once
    wildcard = {"value": [{"category": "Azure Storage",
                           "endpoints": [{"domainName": "*.blob.example.test"}]}]}
    assert targets_from(wildcard, "o.json").entries == 1


def test_an_oversized_networkstatus_is_refused_before_its_entries_are_read(
        tmp_path: Path) -> None:
    # Every entry would be an error: the count alone decides, so an oversized
    # document never costs a check per entry before it is refused.
    doc = _networkstatus(30)
    for entry in doc[0]["networkStatus"]["connectivityStatus"]:
        entry["name"] = ["not", "a", "name"]
    config = _import_config(tmp_path, {"ns.json": doc}, "import_limit = 29\n")
    with pytest.raises(ConfigError, match=r"ns\.json: 30 entries, over the limit of 29 "):
        _expanded(config)
    with pytest.raises(ConfigError, match=r"connectivityStatus\[0\]\.name: expected a host"):
        _expanded(_import_config(tmp_path, {"ns.json": doc}, "import_limit = 30\n"))
