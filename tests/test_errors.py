"""probe.errors: an InputError is one line naming source, line and key."""

from __future__ import annotations

from probe.errors import ConfigError, InputError


def test_input_error_format() -> None:
    error = ConfigError("expected a port", source="p.toml", key="target[0].port", line=7)
    assert str(error) == "p.toml:7: target[0].port: expected a port"
    assert isinstance(error, InputError) and error.exit_status == 2
    assert str(InputError("bad")) == "<command line>: bad"


def test_control_characters_in_names_do_not_split_the_line() -> None:
    error = ConfigError("unknown key", source="a\nb.toml", key="x\ry", line=1)
    assert str(error) == "'a\\nb.toml':1: 'x\\ry': unknown key"
    assert "\n" not in str(error)
