"""One object read the same way from az, REST and PowerShell, with exact paths."""

from __future__ import annotations

import pytest

from probe.errors import ExportError
from probe.lint.node import Node, child, join


def test_join() -> None:
    assert join("", "routes") == "routes"
    assert join("value", 0) == "value[0]"
    assert join("value[0]", "properties") == "value[0].properties"
    assert join("", 3) == "[3]"


@pytest.mark.parametrize(("data", "path"), [
    ({"priority": 100}, "value[0].priority"),  # az: flattened
    ({"properties": {"priority": 100}}, "value[0].properties.priority"),  # REST: nested
    ({"Priority": 100}, "value[0].Priority"),  # PowerShell: PascalCase
])
def test_a_key_is_found_where_each_tool_puts_it(data: dict[str, int], path: str) -> None:
    node = Node(data, "value[0]", "f.json")
    assert node.get("priority") == 100 and node.has("priority")
    assert node.at("priority") == path
    with pytest.raises(ExportError) as info:
        node.field("priority", str)
    assert (info.value.source, info.value.key) == ("f.json", path)
    assert info.value.message == "expected a string, got 100"


def test_a_missing_key_is_named_where_az_would_put_it() -> None:
    node = Node({"properties": {}}, "routes[2]", "f.json")
    assert node.get("nextHopType") is None and not node.has("nextHopType")
    with pytest.raises(ExportError) as info:
        node.field("nextHopType", str)
    assert str(info.value) == "f.json: routes[2].nextHopType: missing; expected a string"


def test_children_carry_their_paths() -> None:
    node = Node({"properties": {"routes": [{"name": "a"}, {"name": "b"}]}}, "", "f.json")
    assert [c.path for c in node.children("routes", "route", "routes")] == [
        "properties.routes[0]", "properties.routes[1]"]
    assert list(Node({"routes": None}, "", "f").children("routes", "route", "routes")) == []
    with pytest.raises(ExportError, match="expected a list of routes, got dict"):
        list(Node({"routes": {}}, "", "f").children("routes", "route", "routes"))


def test_a_powershell_depth_cut_is_named() -> None:
    with pytest.raises(ExportError) as info:
        child("Microsoft.Azure.Commands.Network.Models.PSSecurityRule", "SecurityRules[0]",
              "nsg.json", "security rule")
    assert info.value.key == "SecurityRules[0]"
    assert "ConvertTo-Json -Depth 10" in info.value.message
    with pytest.raises(ExportError, match=r"expected an effective route object, got 3$"):
        child(3, "value[0]", "f", "effective route")
