"""probe.tomldoc: the shared reader finds lines, builds the error type it is given."""

from __future__ import annotations

import pytest

from probe.errors import ConfigError, ExportError, InputError
from probe.tomldoc import TomlDoc, control_character, kind_name, parse_toml, show

TEXT = """\
[agent]
timeout = 2

[[target]]
name = "a"

[[ target ]]  # the second one
name = "b"
port = 443

[apim]
name = "c"
"""


def test_header_line() -> None:
    doc = TomlDoc("p.toml", TEXT)
    assert doc.header_line("agent") == 1
    assert doc.header_line("target", 0) == 4
    assert doc.header_line("target", 1) == 7
    assert doc.header_line("target", 2) is None
    assert doc.header_line("apim") == 11
    assert doc.header_line("dns") is None


@pytest.mark.parametrize(("key", "line"), [
    ("agent.timeout", 2), ("target[1].port", 9), ("target[0].name", 5),
    ("apim.name", 12), ("target[1]", 7), ("agent.interval", None),
])
def test_locate(key: str, line: int | None) -> None:
    assert TomlDoc("p.toml", TEXT).locate(key) == line


@pytest.mark.parametrize("error", [ConfigError, ExportError, InputError])
def test_fail_builds_the_given_error_type(error: type[InputError]) -> None:
    doc = TomlDoc("p.toml", TEXT, error)
    exc = doc.fail("target[1].port", "expected a port")
    assert type(exc) is error
    assert str(exc) == "p.toml:9: target[1].port: expected a port"


def test_fail_without_text_has_no_line() -> None:
    # a JSON reader passes no text: the key path alone
    exc = TomlDoc("ns.json", error=ConfigError).fail("value[2].name", "expected a string")
    assert str(exc) == "ns.json: value[2].name: expected a string"


def test_get_refuses_control_characters() -> None:
    doc = TomlDoc("p.toml", 'name = "a\\u0085b"\n', ConfigError)
    with pytest.raises(ConfigError) as info:
        doc.get({"name": "a\x85b"}, "", "name", str, "")
    assert str(info.value) == ("p.toml:1: name: expected text without control characters, "
                               "got 'a\\x85b' (U+0085)")


@pytest.mark.parametrize(("text", "char"), [
    ("plain", None), ("tab\t", "\t"), ("nl\n", "\n"), ("\x00", "\x00"), ("\x7f", "\x7f"),
    ("\x9b", "\x9b"), ("\u2028", "\u2028"), ("\u2029", "\u2029"), ("bücher ✓", None),
])
def test_control_character(text: str, char: str | None) -> None:
    assert control_character(text) == char


def test_parse_toml_errors() -> None:
    with pytest.raises(ConfigError) as info:
        parse_toml("a = 1\nb = \n", source="p.toml", error=ConfigError)
    assert info.value.line == 2 and "not valid TOML: Invalid value" in info.value.message
    with pytest.raises(ConfigError, match="nested too deeply"):
        parse_toml("a = " + "[" * 50_000 + "]" * 50_000, source="p.toml", error=ConfigError)


def test_show_keeps_messages_short() -> None:
    assert show("443") == "'443'"
    assert len(show("x" * 1_000_000)) < 100
    deep: list[object] = []
    for _ in range(500):
        deep = [deep]
    assert len(show(deep)) < 100


def test_kind_name() -> None:
    assert kind_name((int, float)) == "a number"
    assert kind_name((list, str)) == "a list or a string"
