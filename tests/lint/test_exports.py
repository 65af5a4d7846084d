"""Whole documents, recognised by content, end to end."""

from __future__ import annotations

import codecs
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from probe.errors import ExportError
from probe.lint.exports import (
    EFFECTIVE_ROUTES,
    NSG,
    ROUTE_TABLE,
    kind_of,
    lint_any,
    lint_document,
    read,
)
from probe.results import Severity
from tests.helpers.lint import by_subject, ids, load


def test_fixture_internal_ok_is_clean() -> None:
    checked = lint_document(load("nsg-internal-ok.json"), "nsg-internal-ok.json", "internal")
    assert (checked.kind, checked.label, checked.findings) == (NSG, "nsg nsg-apim-internal", ())


def test_fixture_internal_ok_in_external_mode_lacks_clients() -> None:
    checked = lint_document(load("nsg-internal-ok.json"), "f.json", "external")
    assert {(f.id, f.severity) for f in checked.findings} == {
        ("nsg-rule-missing", Severity.CRITICAL), ("nsg-rule-missing", Severity.INFO)}


def test_fixture_broken() -> None:
    checked = lint_document(load("nsg-broken.json"), "nsg-broken.json", "internal")
    got = {k: (f.id, f.severity) for k, f in by_subject(checked.findings).items()}
    assert got == {
        "inbound ApiManagement -> VirtualNetwork TCP 3443": ("nsg-rule-shadowed",
                                                              Severity.CRITICAL),
        "outbound VirtualNetwork -> Sql TCP 1433": ("nsg-rule-shadowed", Severity.CRITICAL),
        "outbound VirtualNetwork -> AzureKeyVault TCP 443": ("nsg-rule-missing",
                                                              Severity.CRITICAL),
        # CRL validation is required (the APIM model, virtual-network-reference)
        "outbound VirtualNetwork -> Internet TCP 80": ("nsg-rule-missing", Severity.CRITICAL),
    }


def test_fixture_external_arm_shape_without_defaults() -> None:
    checked = lint_document(load("nsg-external-arm.json"), "nsg-external-arm.json", "external")
    assert checked.findings == ()


def test_fixture_route_tables() -> None:
    forced = lint_document(load("route-table-forced.json"), "f", "internal",
                           control_plane=["52.224.186.99"])
    assert forced.kind == ROUTE_TABLE and forced.label == "route table rt-apim-forced"
    assert ids(list(forced.findings)) == [
        ("route-default-via-appliance", Severity.CRITICAL),
        ("route-destination-via-appliance", Severity.CRITICAL)]
    ok = lint_document(load("route-table-ok.json"), "f", "internal",
                       control_plane=["52.224.186.99"])
    assert ids(list(ok.findings)) == [("route-default-via-appliance", Severity.WARNING),
                                       ("route-destination", Severity.INFO)]
    cp = lint_document(load("route-table-control-plane-to-fw.json"), "f", "internal")
    assert ids(list(cp.findings)) == [("route-control-plane-via-appliance", Severity.CRITICAL)]


def test_fixture_effective_routes() -> None:
    bgp = lint_document(load("effective-routes-bgp-default.json"), "e.json", "internal",
                        ["10.0.4.5"], control_plane=["52.224.186.99"])
    assert bgp.kind == EFFECTIVE_ROUTES
    found = {f.subject.split(": ", 1)[1]: f for f in bgp.findings}
    assert found["0.0.0.0/0"].severity is Severity.CRITICAL
    assert "learnt over BGP" in found["0.0.0.0/0"].summary
    assert found["52.224.186.99"].id == "route-destination-via-appliance"
    assert found["10.0.4.5"].id == "route-destination"  # VnetLocal /16 beats None /8
    assert "VnetLocal" in found["10.0.4.5"].summary
    tunnel = lint_document(load("effective-routes-tunnel-with-exceptions.json"), "e.json",
                           "internal", ["40.1.1.1"],
                           control_plane=["52.224.186.99", "13.84.189.17"])
    got = {f.subject.split(": ", 1)[1]: (f.id, f.severity) for f in tunnel.findings}
    assert got == {
        "0.0.0.0/0": ("route-default-via-appliance", Severity.WARNING),
        "52.224.186.99": ("route-destination", Severity.INFO),
        "13.84.189.17": ("route-destination", Severity.INFO),
        "40.1.1.1": ("route-destination", Severity.INFO),  # a backend may go via the FW
    }
    as_control_plane = lint_document(load("effective-routes-tunnel-with-exceptions.json"),
                                     "e.json", "internal", control_plane=["40.1.1.1"])
    got = {f.subject.split(": ", 1)[1]: (f.id, f.severity) for f in as_control_plane.findings}
    assert got["40.1.1.1"] == ("route-destination-via-appliance", Severity.CRITICAL)


@pytest.mark.parametrize(("doc", "kind"), [
    ({"securityRules": []}, NSG),
    ({"defaultSecurityRules": []}, NSG),
    ({"properties": {"securityRules": []}}, NSG),
    ({"type": "Microsoft.Network/networkSecurityGroups"}, NSG),
    ({"routes": []}, ROUTE_TABLE),
    ({"type": "Microsoft.Network/routeTables"}, ROUTE_TABLE),
    ({"value": [{"nextHopType": "Internet"}]}, EFFECTIVE_ROUTES),
    ({"value": []}, None),  # nothing to check is never clean
    ({"value": [{"endpoints": []}]}, None),
    ([], None),
    ({"name": "vnet"}, None),
])
def test_kind_of(doc: Any, kind: str | None) -> None:
    assert kind_of(doc) == kind


def test_a_list_of_documents() -> None:
    docs = [load("nsg-internal-ok.json"), load("route-table-forced.json")]
    checked = lint_any(docs, "all.json", "internal")
    assert [(c.source, c.kind) for c in checked] == [("all.json[0]", NSG),
                                                     ("all.json[1]", ROUTE_TABLE)]


# --------------------------------------------------------------------------
# reading files: encodings, sizes, kinds of file, JSON errors

NSG_JSON = '{"securityRules": [], "name": "n"}'


@pytest.mark.parametrize("data", [
    NSG_JSON.encode(),
    codecs.BOM_UTF8 + NSG_JSON.encode(),
    NSG_JSON.encode("utf-16"),  # with a BOM: Windows PowerShell's '>'
    NSG_JSON.encode("utf-16-le"),  # without one
    NSG_JSON.encode("utf-16-be"),
    NSG_JSON.encode("utf-32"),
])
def test_encodings(tmp_path: Path, data: bytes) -> None:
    path = tmp_path / "nsg.json"
    path.write_bytes(data)
    assert read(path) == {"securityRules": [], "name": "n"}


@pytest.mark.parametrize(("data", "fragment"), [
    (b'{"name": "r\xe9seau"}', "not UTF-8 text"),
    (b'{"securityRules": [}', "not valid JSON at line 1 column 20"),
    (b'{\n  "a": 1,\n}', "not valid JSON at line 3 column 1"),
    (b"[" * 100_000 + b"]" * 100_000, "nested too deeply"),
])
def test_unreadable_content(tmp_path: Path, data: bytes, fragment: str) -> None:
    path = tmp_path / "bad.json"
    path.write_bytes(data)
    with pytest.raises(ExportError) as info:
        read(path)
    assert info.value.source == str(path) and fragment in info.value.message


def test_only_regular_files_of_sane_size(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ExportError, match="not a regular file"):
        read(tmp_path)
    fifo = tmp_path / "fifo.json"
    os.mkfifo(fifo)
    with pytest.raises(ExportError, match="not a regular file"):
        read(fifo)  # would block for ever if opened
    big = tmp_path / "big.json"
    big.write_text(NSG_JSON)
    monkeypatch.setattr("probe.lint.exports.MAX_BYTES", 10)
    with pytest.raises(ExportError, match="34 bytes, over the limit of 10"):
        read(big)
    with pytest.raises(ExportError, match="cannot read: No such file"):
        read(tmp_path / "missing.json")


# --------------------------------------------------------------------------
# hostile values anywhere in real exports: a finding or an ExportError, nothing else

HOSTILE: tuple[Any, ...] = (None, [], {}, "", "x", -1, 70000, True, 4.5, ["x"], [{}], {"a": 1})


def _mutations(value: Any, path: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    """Every (path, replacement) for every node of a document."""
    yield path
    if isinstance(value, dict):
        for key, item in value.items():
            yield from _mutations(item, (*path, key))
    elif isinstance(value, list):
        for i, item in enumerate(value):
            yield from _mutations(item, (*path, i))


def _replaced(doc: Any, path: tuple[Any, ...], new: Any) -> Any:
    if not path:
        return new
    copy = json.loads(json.dumps(doc))
    target = copy
    for step in path[:-1]:
        target = target[step]
    target[path[-1]] = new
    return copy


@pytest.mark.parametrize("name", [
    "rest-examples/NetworkSecurityGroupGet.json", "rest-examples/RouteTableGet.json",
    "rest-examples/NetworkInterfaceEffectiveNSGList.json",
    "derived/powershell/Get-AzEffectiveRouteTable.json", "derived/az/nsg-rule-list.json",
    "effective-routes-bgp-default.json"])
def test_hostile_values_never_escape_as_anything_but_export_errors(name: str) -> None:
    doc = load(name)
    tried = 0
    for path in _mutations(doc):
        for new in HOSTILE:
            tried += 1
            try:
                lint_any(_replaced(doc, path, new), "f.json", "internal", ["10.1.2.3"],
                         control_plane=["52.224.186.99"])
            except ExportError as exc:
                assert exc.source == "f.json" and exc.message
    assert tried > 50
