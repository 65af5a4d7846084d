"""probe.schema: a section's keys, defaults, checks and README rows come from its fields."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from probe.errors import ConfigError
from probe.schema import Between, OneOf, key, keys_of, markdown_table, read_section, toml_names
from probe.tomldoc import TomlDoc


@dataclass(frozen=True, slots=True)
class Demo:
    name: str = key(help="required label")
    size: float = key(1.5, float, "how big", check=Between(0, 10, "units"), convert=float)
    mode: str = key("a", str, "which", check=OneOf(["a", "b"]))
    imports: tuple[str, ...] = key((), list, "files", toml="import")
    not_a_key: int = 0


def test_keys_follow_the_fields() -> None:
    assert toml_names(Demo) == ["name", "size", "mode", "import"]
    assert [spec.required for _, spec in keys_of(Demo)] == [True, False, False, False]


def test_read_section_uses_defaults_and_field_names() -> None:
    doc = TomlDoc("d.toml", "[demo]\nname = 'x'\nsize = 2\nimport = ['f']\n", ConfigError)
    values = read_section(doc, {"name": "x", "size": 2, "import": ["f"]}, "demo", Demo)
    assert Demo(**values) == Demo(name="x", size=2.0, imports=["f"])  # type: ignore[arg-type]
    assert isinstance(values["size"], float)


@pytest.mark.parametrize(("table", "message"), [
    ({"size": 1}, "d.toml:1: demo: missing required key 'name'"),
    ({"name": "x", "size": 11}, "d.toml: demo.size: expected units from 0 to 10, got 11"),
    ({"name": "x", "mode": "c"}, "d.toml: demo.mode: expected one of: a, b, got 'c'"),
    ({"name": "x", "not_a_key": 1},
     "d.toml: demo.not_a_key: unknown key 'not_a_key'; expected one of: name, size, mode, "
     "import"),
    ({"name": "x", "imports": []}, "unknown key 'imports'"),
])
def test_read_section_errors(table: dict[str, object], message: str) -> None:
    doc = TomlDoc("d.toml", "[demo]\n", ConfigError)
    with pytest.raises(ConfigError) as info:
        read_section(doc, table, "demo", Demo, header=lambda: doc.header_line("demo"))
    assert message in str(info.value)


def test_markdown_table() -> None:
    assert markdown_table(Demo, "demo") == (
        "| key | default | accepted | meaning |\n|---|---|---|---|\n"
        "| `demo.name` | required | a string | required label |\n"
        "| `demo.size` | `1.5` | units from 0 to 10 | how big |\n"
        "| `demo.mode` | `\"a\"` | one of: a, b | which |\n"
        "| `demo.import` | `[]` | a list | files |\n")
