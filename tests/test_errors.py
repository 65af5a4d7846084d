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


def test_every_reader_builds_its_errors_at_one_site() -> None:
    """Config, [apim] imports and lint exports raise their own class, built alike."""
    from probe.apim_reports import NETWORKSTATUS, _Where
    from probe.errors import ErrorSite, ExportError
    from probe.tomldoc import TomlDoc

    lint = ErrorSite("nsg.json", ExportError).fail("value[0].properties", "expected a list")
    assert type(lint) is ExportError
    assert str(lint) == "nsg.json: value[0].properties: expected a list"
    toml = TomlDoc("p.toml", "[agent]\ntimeout = 'x'\n", ConfigError).fail("agent.timeout", "bad")
    assert type(toml) is ConfigError and toml.line == 2
    report = _Where("ns.json", NETWORKSTATUS).fail("[0].name", "expected a string")
    assert type(report) is ConfigError and report.key_or_path == "[0].name"
    assert "expected the JSON that `az rest" in report.message
    assert all(isinstance(site, ErrorSite) for site in
               (TomlDoc("p.toml"), _Where("ns.json", NETWORKSTATUS)))
