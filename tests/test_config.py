"""Config validation: valid files parse to the values a user wrote, invalid
ones fail with a message naming the file, the key, the line and what was
expected (blackbox_exporter's config/testdata/invalid-*.yml, done in TOML).

No test reads the real /etc/resolv.conf: 'system' is always pointed at a
temporary file through ``resolv_conf=``.
"""

from __future__ import annotations

import contextlib
import dataclasses
import io
import os
import re
import subprocess
import sys
from pathlib import Path
from unittest import mock

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from probe import config as config_module
from probe.addresses import is_hostname, is_ip
from probe.cli import main
from probe.config import (
    SECTIONS,
    AgentConfig,
    Config,
    Target,
    infer_dependency,
    load,
    parse,
    parse_resolver,
    parse_target_spec,
    split_host_port,
    with_overrides,
)
from probe.errors import ConfigError, error_lines
from probe.files import CONFIG_LIMIT
from probe.resolvers import Resolver
from probe.results import PortState
from probe.schema import toml_names
from probe.tomldoc import control_character
from tests.helpers import configgen
from tests.helpers.readme_keys import README, filled, sections_in

DATA = Path(__file__).parent / "data"
INVALID = DATA / "invalid"
VALID = DATA / "valid"
EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "probe.toml"


@pytest.fixture
def resolv_conf(tmp_path: Path) -> Path:
    path = tmp_path / "resolv.conf"
    path.write_text("# written by the test\nsearch contoso.internal\n"
                    "nameserver 10.0.0.4\nnameserver 10.0.0.5\noptions ndots:2\n")
    return path


# --------------------------------------------------------------------------
# invalid files: (file, key, line or None when not checked, what was expected)

INVALID_CASES: list[tuple[str, str | None, int | None, str]] = [
    # unknown keys: a typo must not silently become a default
    ("unknown-top-key.toml", "tagret", 5,
     "unknown key 'tagret'; expected one of: agent, dns, target"),
    ("unknown-agent-key.toml", "agent.timeuot", 3, "unknown key 'timeuot'"),
    ("unknown-target-key.toml", "target[1].expected", 13,
     "unknown key 'expected'; expected one of: name, host, port, dependency, expect, "
     "required, count"),
    ("key-under-wrong-table.toml", "dns.target", 4,
     "unknown key 'target'; expected one of: resolvers, aaaa"),
    # wrong types, bool where a number is expected included
    ("timeout-string.toml", "agent.timeout", 2, "expected a number, got str '2'"),
    ("interval-bool.toml", "agent.interval", 2, "expected a number, got True"),
    ("concurrency-float.toml", "agent.concurrency", 2, "expected an integer, got float 2.5"),
    ("agent-not-table.toml", "agent", 1, "expected a table, got int 3"),
    ("aaaa-string.toml", "dns.aaaa", 3, "expected true or false, got str 'yes'"),
    ("max-addresses-zero.toml", "dns.max_addresses", 3,
     "expected an integer from 1 to 4096, got 0"),
    ("max-addresses-float.toml", "dns.max_addresses", 3,
     "expected an integer, got float 2.5"),
    ("metrics-histogram-string.toml", "metrics.rtt_histogram", 3,
     "expected true or false, got str 'yes'"),
    ("unknown-metrics-key.toml", "metrics.rtt_histograms", 3,
     "unknown key 'rtt_histograms'; expected one of: rtt_histogram"),
    ("port-bool.toml", "target[0].port", 7, "expected an integer, got True"),
    ("port-string.toml", "target[0].port", 7, "expected an integer, got str '443'"),
    ("count-bool.toml", "target[0].count", 8, "expected an integer, got False"),
    ("required-string.toml", "target[0].required", 8, "expected true or false, got str 'no'"),
    ("target-not-list.toml", "target", 1, "expected a list, got int 443"),
    ("target-not-table.toml", "target[0]", None, "expected a [[target]] table"),
    ("header-with-comment.toml", "target[0].port", 7, "expected an integer, got True"),
    # values out of range or not among the choices
    ("timeout-zero.toml", "agent.timeout", 3, "expected seconds from 0.01 to 60, got 0"),
    ("method-unknown.toml", "agent.method", 2, "expected one of: auto, syn, connect, got 'udp'"),
    ("listen-no-port.toml", "agent.listen", 2, "expected HOST:PORT (the port is missing)"),
    ("listen-port-out-of-range.toml", "agent.listen", 2,
     "expected HOST:PORT (port must be a number from 1 to 65535"),
    ("port-out-of-range.toml", "target[1].port", 12,
     "expected a port from 1 to 65535, got 70000"),
    ("port-zero.toml", "target[0].port", 7, "expected a port from 1 to 65535, got 0"),
    ("count-out-of-range.toml", "target[0].count", 8, "expected an integer from 1 to 100, got 101"),
    ("expect-unknown.toml", "target[0].expect", 8,
     "expected one of: open, closed, filtered, got 'up'"),
    ("host-invalid.toml", "target[0].host", 6, "expected a hostname or an IP address"),
    ("name-blank.toml", "target[0].name", 5, "expected a non-empty label"),
    ("duplicate-target-name.toml", "target[2].name", 15,
     "duplicate target name 'gateway' (also target[0])"),
    # missing required keys: the key is the table, the line its header
    ("missing-host.toml", "target[0]", 4, "missing required key 'host'"),
    ("missing-port.toml", "target[0]", 4, "missing required key 'port'"),
    ("missing-name-second-target.toml", "target[1]", 9, "missing required key 'name'"),
    # resolvers are IP addresses, queried directly, never names
    ("resolver-hostname.toml", "dns.resolvers[1]", 3, "'dns.google' is not an IP address"),
    ("resolver-garbage.toml", "dns.resolvers[0]", 2, "'not an address!' is not an IP address"),
    ("resolver-port-out-of-range.toml", "dns.resolvers[0]", 2,
     "port must be a number from 1 to 65535"),
    ("resolver-ipv6-unclosed.toml", "dns.resolvers[0]", 2, "unclosed '['"),
    ("resolver-not-string.toml", "dns.resolvers[0]", 2,
     "expected a string ('system', 'hosts', an IP address or IP:PORT), got 53"),
    ("resolvers-empty.toml", "dns.resolvers", 2, "expected at least one resolver, got []"),
    # control characters would forge a log line or a table row (C0, DEL, C1, U+2028)
    ("host-newline.toml", "target[0].host", 6,
     r"expected text without control characters, got 'contoso.azure-api.net\n' (U+000A)"),
    ("name-newline.toml", "target[0].name", 5,
     r"expected text without control characters, got 'a\nb' (U+000A)"),
    ("name-c1-control.toml", "target[0].name", 5,
     r"expected text without control characters, got 'gateway\x85' (U+0085)"),
    ("name-del.toml", "target[0].name", 5,
     r"expected text without control characters, got 'gateway\x7f' (U+007F)"),
    ("dependency-line-separator.toml", "target[0].dependency", 8,
     r"expected text without control characters, got 'gateway\u2028x' (U+2028)"),
    ("listen-newline.toml", "agent.listen", 2,
     r"expected text without control characters, got '127.0.0.1:9839\n' (U+000A)"),
    ("resolver-newline.toml", "dns.resolvers[0]", 2,
     r"expected text without control characters, got '192.0.2.53\n' (U+000A)"),
    ("apim-region-tab.toml", "apim.region", 7,
     r"expected text without control characters, got 'East\tUS' (U+0009)"),
    ("apim-storage-cr.toml", "apim.storage", 7,
     r"expected a hostname, got 'x\r.blob.core.windows.net' (item 1)"),
    # internationalized names: refused, with the way out
    ("host-idn.toml", "target[0].host", 6,
     "expected a hostname or an IP address (write an internationalized name in its ASCII "
     "form, xn--...), got 'bücher.example'"),
    # hostile sizes: a short message, no RecursionError
    ("nested-too-deep.toml", None, None, "arrays or inline tables nested too deeply to read"),
    ("huge-string.toml", "agent.listen", 2,
     "expected HOST:PORT (the port is missing), got 'xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx..."
     "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx'"),
    # not TOML at all: the parser's line is passed on
    ("bad-syntax.toml", None, 4, "not valid TOML: Expected ']'"),
    ("bad-syntax-value.toml", None, 3, "not valid TOML: Invalid value"),
    ("duplicate-key.toml", None, 3, "not valid TOML: Cannot overwrite a value"),
]


def expected_fragment(name: str, key: str | None, line: int | None, what: str) -> str:
    """'FILE:LINE: KEY: WHAT', or ': KEY: WHAT' when the line is not checked."""
    where = "" if line is None else f"{name}:{line}"
    return f"{where}: {key}: {what}" if key else f"{where}: {what}"


def test_every_invalid_file_has_a_case() -> None:
    on_disk = {p.name for p in INVALID.glob("*.toml")}
    in_table = {case[0] for case in INVALID_CASES} | {"not-utf8.toml"}
    assert on_disk == in_table


@pytest.mark.parametrize(("name", "key", "line", "what"), INVALID_CASES,
                         ids=[c[0] for c in INVALID_CASES])
def test_invalid_file(name: str, key: str | None, line: int | None, what: str,
                      resolv_conf: Path) -> None:
    with pytest.raises(ConfigError) as info:
        load(INVALID / name, resolv_conf=resolv_conf)
    error = info.value
    assert str(error).startswith(str(INVALID / name))
    assert expected_fragment(name, key, line, what) in str(error)
    assert error.key == key
    if line is not None:
        assert error.line == line
    assert error.exit_status == 2


def test_not_utf8_names_the_file() -> None:
    with pytest.raises(ConfigError) as info:
        load(INVALID / "not-utf8.toml")
    assert str(info.value) == f"{INVALID / 'not-utf8.toml'}: not UTF-8 text"


def test_missing_file_names_the_file_and_the_reason(tmp_path: Path) -> None:
    path = tmp_path / "absent.toml"
    with pytest.raises(ConfigError) as info:
        load(path)
    assert str(info.value) == f"{path}: cannot read: No such file or directory"


def test_directory_is_not_a_config(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read"):
        load(tmp_path)


# --------------------------------------------------------------------------
# valid files


def test_defaults_match_the_documentation(resolv_conf: Path) -> None:
    config = load(VALID / "minimal.toml", resolv_conf=resolv_conf)
    assert config.agent.timeout == 2.0
    assert config.agent.interval == 15
    assert config.agent.listen == "127.0.0.1:9839"
    assert config.agent.method == "auto"
    # no [dns]: the resolvers are the system's, in resolv.conf order
    assert [r.label for r in config.dns.resolvers] == ["10.0.0.4", "10.0.0.5"]
    assert config.dns.aaaa is False
    assert config.metrics.rtt_histogram is False  # 6 series per target address, not 18
    (target,) = config.targets
    assert target == Target(name="gateway", host="contoso.azure-api.net", port=443,
                            dependency="gateway", expect=PortState.OPEN, required=True, count=3)
    assert config.source == str(VALID / "minimal.toml")


def test_every_key_set(resolv_conf: Path) -> None:
    config = load(VALID / "custom.toml", resolv_conf=resolv_conf)
    assert config.agent == AgentConfig(timeout=1.5, interval=60.0, listen="0.0.0.0:9100",
                                       method="connect", rate=500.0, concurrency=64)
    assert isinstance(config.agent.timeout, float)
    assert isinstance(config.agent.interval, float)
    assert config.dns.resolvers == (
        Resolver("10.0.0.4", 53, "10.0.0.4"),
        Resolver("168.63.129.16", 53, "168.63.129.16"),
        Resolver("2001:db8::53", 5353, "[2001:db8::53]:5353"),
    )
    assert config.dns.primary == Resolver("10.0.0.4", 53, "10.0.0.4")
    assert [r.label for r in config.dns.resolvers] == [
        "10.0.0.4", "168.63.129.16", "[2001:db8::53]:5353"]
    assert config.dns.aaaa is True
    assert config.metrics.rtt_histogram is True
    assert config.targets == (
        Target("gateway", "contoso.azure-api.net", 443, "gateway"),
        Target("management", "contoso.management.azure-api.net", 3443, "management", count=5),
        Target("sql", "contoso-sql.database.windows.net", 1433, "sql", required=False),
        Target("smtp-blocked", "10.0.9.25", 25, "smtp", expect=PortState.FILTERED),
    )
    assert [t.is_address for t in config.targets] == [False, False, False, True]


def test_shipped_example_is_valid_and_documents_the_defaults(resolv_conf: Path) -> None:
    config = load(EXAMPLE, resolv_conf=resolv_conf)
    # it says "every key, with its default": the values written are the defaults
    assert config.agent == AgentConfig()
    assert config.agent == parse("[dns]\nresolvers = ['192.0.2.53']\n").agent
    # "system" expanded from resolv.conf, then Azure DNS
    assert [r.label for r in config.dns.resolvers] == ["10.0.0.4", "10.0.0.5", "168.63.129.16"]
    assert [r.source for r in config.dns.resolvers] == ["system", "system", "168.63.129.16"]
    assert config.dns.aaaa is False
    assert config.dns.max_addresses == 16
    assert parse("[dns]\nresolvers = ['192.0.2.53']\nmax_addresses = 3\n").dns.max_addresses == 3
    names = [t.name for t in config.targets]
    assert len(names) == len(set(names)) > 0
    by_name = {t.name: t for t in config.targets}
    assert by_name["management"].port == 3443
    # dependency guessed when absent
    assert by_name["sql"].dependency == "sql"
    assert by_name["keyvault"].dependency == "keyvault"
    assert by_name["monitor"].required is False


@pytest.mark.parametrize("path", sorted(EXAMPLE.parent.glob("*.toml")),
                         ids=lambda p: p.name)
def test_every_shipped_example_is_valid(path: Path, resolv_conf: Path) -> None:
    config = load(path, resolv_conf=resolv_conf)
    assert config.targets, "an example without targets shows nothing"
    assert config.dns.resolvers


def test_empty_file_is_valid_with_no_targets(resolv_conf: Path) -> None:
    config = parse("", resolv_conf=resolv_conf)
    assert config.targets == ()
    assert config.agent == AgentConfig()


def test_integers_are_accepted_where_numbers_are_expected() -> None:
    config = parse("[agent]\ntimeout = 1\ninterval = 5\nrate = 10\n"
                   "[dns]\nresolvers = ['192.0.2.53']\n")
    assert (config.agent.timeout, config.agent.interval, config.agent.rate) == (1.0, 5.0, 10.0)
    assert all(isinstance(v, float) for v in (config.agent.timeout, config.agent.interval))


@pytest.mark.parametrize(("text", "message"), [
    ("[agent]\ntimeout = 0.01", None),
    ("[agent]\ntimeout = 60", None),
    ("[agent]\ntimeout = 60.5", "expected seconds from 0.01 to 60"),
    ("[agent]\ninterval = 0.5", "expected seconds from 1 to 86400"),
    ("[agent]\nconcurrency = 0", "expected an integer from 1 to 10000"),
    ("[agent]\nrate = 0", "expected packets per second from 1 to 1e+06"),
    ("[agent]\nlisten = ':9839'", None),
    ("[agent]\nlisten = '[::1]:9839'", None),
    ("[agent]\nlisten = 'metrics.internal:9839'", None),
    ("[agent]\nlisten = 'not a host:9839'", "expected HOST:PORT with an IP address or hostname"),
    ("[[target]]\nname='a'\nhost='h'\nport=1", None),
    ("[[target]]\nname='a'\nhost='h'\nport=65535", None),
    ("[[target]]\nname='a'\nhost='h'\nport=65536", "expected a port from 1 to 65535"),
    ("[[target]]\nname='a'\nhost='h'\nport=443\ncount=100", None),
    ("[[target]]\nname='a'\nhost='h'\nport=443\ncount=0", "expected an integer from 1 to 100"),
    ("[[target]]\nname='a'\nhost='2001:db8::1'\nport=443", None),
    ("[[target]]\nname='a'\nhost='1.2.3.999'\nport=443", "expected a hostname or an IP address"),
    ("[[target]]\nname='a'\nhost='h'\nport=443\nexpect='unresolved'",
     "expected one of: open, closed, filtered"),
    ("[[target]]\nname='a'\nhost='h'\nport=443\ndependency=''", "expected a non-empty label"),
])
def test_bounds(text: str, message: str | None) -> None:
    text += "\n[dns]\nresolvers = ['192.0.2.53']\n" if "[[target]]" not in text else ""
    if "[[target]]" in text:
        text = "[dns]\nresolvers = ['192.0.2.53']\n" + text
    if message is None:
        parse(text)
    else:
        with pytest.raises(ConfigError, match=message.replace("+", r"\+")):
            parse(text)


# --------------------------------------------------------------------------
# resolvers


def test_system_expands_to_resolv_conf_in_order(resolv_conf: Path) -> None:
    assert parse_resolver("system", resolv_conf=resolv_conf) == [
        Resolver("10.0.0.4", 53, "system"), Resolver("10.0.0.5", 53, "system")]


def test_duplicate_resolvers_are_asked_once(resolv_conf: Path) -> None:
    config = parse("[dns]\nresolvers = ['system', '10.0.0.5', '10.0.0.4:53', '10.0.0.4:5353']\n",
                   resolv_conf=resolv_conf)
    assert [r.label for r in config.dns.resolvers] == ["10.0.0.4", "10.0.0.5", "10.0.0.4:5353"]


@pytest.mark.parametrize("content", ["", "# no nameservers here\nsearch x.internal\n"])
def test_system_without_nameservers_names_resolv_conf(tmp_path: Path, content: str) -> None:
    path = tmp_path / "resolv.conf"
    path.write_text(content)
    with pytest.raises(ConfigError) as info:
        parse("[dns]\nresolvers = ['system']\n", source="p.toml", resolv_conf=path)
    assert info.value.key == "dns.resolvers[0]"
    assert f"'system' needs nameservers in {path}" in str(info.value)
    assert str(info.value).startswith("p.toml")


def test_system_with_missing_resolv_conf(tmp_path: Path) -> None:
    path = tmp_path / "absent"
    with pytest.raises(ConfigError, match=f"'system' needs nameservers in {path}"):
        parse_resolver("system", resolv_conf=path)


@pytest.mark.parametrize(("spec", "expected"), [
    ("192.0.2.53", Resolver("192.0.2.53", 53, "192.0.2.53")),
    ("192.0.2.53:5353", Resolver("192.0.2.53", 5353, "192.0.2.53:5353")),
    ("2001:db8::53", Resolver("2001:db8::53", 53, "2001:db8::53")),
    ("[2001:db8::53]", Resolver("2001:db8::53", 53, "[2001:db8::53]")),
    ("[2001:db8::53]:5353", Resolver("2001:db8::53", 5353, "[2001:db8::53]:5353")),
    # written in a non-canonical form, compared canonically
    ("2001:DB8:0::53", Resolver("2001:db8::53", 53, "2001:DB8:0::53")),
])
def test_parse_resolver(spec: str, expected: Resolver) -> None:
    assert parse_resolver(spec) == [expected]


@pytest.mark.parametrize(("spec", "message"), [
    ("dns.google", "is not an IP address"),
    ("dns.google:53", "is not an IP address"),
    ("localhost", "is not an IP address"),
    ("1.2.3", "is not an IP address"),
    ("999.1.1.1", "is not an IP address"),
    ("hello world", "is not an IP address"),
    ("", "is not an IP address"),
    ("192.0.2.53:0", "port must be a number from 1 to 65535"),
    ("192.0.2.53:65536", "port must be a number from 1 to 65535"),
    ("192.0.2.53:", "port must be a number from 1 to 65535"),
    ("192.0.2.53:dns", "port must be a number from 1 to 65535"),
    ("[2001:db8::53]:99999", "port must be a number from 1 to 65535"),
    ("[2001:db8::53", "unclosed '['"),
    ("[2001:db8::53]53", "expected ':PORT' after ']'"),
])
def test_parse_resolver_rejects(spec: str, message: str) -> None:
    with pytest.raises(ValueError, match=message.replace("[", r"\[")) as info:
        parse_resolver(spec)
    assert "expected 'system', 'hosts', an IP address or IP:PORT" in str(info.value)


@pytest.mark.parametrize(("address", "port", "label"), [
    ("192.0.2.53", 53, "192.0.2.53"),
    ("192.0.2.53", 5353, "192.0.2.53:5353"),
    ("2001:db8::53", 53, "2001:db8::53"),
    ("2001:db8::53", 5353, "[2001:db8::53]:5353"),
])
def test_resolver_label(address: str, port: int, label: str) -> None:
    assert Resolver(address, port).label == label


@pytest.mark.parametrize(("text", "expected"), [
    ("host", ("host", None)),
    ("host:53", ("host", 53)),
    ("1.2.3.4:53", ("1.2.3.4", 53)),
    ("[::1]:53", ("::1", 53)),
    ("[::1]", ("::1", None)),
    ("::1", ("::1", None)),
    ("2001:db8::1", ("2001:db8::1", None)),
])
def test_split_host_port(text: str, expected: tuple[str, int | None]) -> None:
    assert split_host_port(text) == expected


# --------------------------------------------------------------------------
# ad-hoc targets and dependency guessing


@pytest.mark.parametrize(("host", "port", "dependency"), [
    ("contoso.azure-api.net", 443, "gateway"),
    ("contoso.regional.azure-api.net", 443, "gateway"),
    ("contoso.management.azure-api.net", 3443, "management"),
    ("contoso.management.azure-api.net", 443, "management"),
    ("contoso.configuration.azure-api.net", 3443, "configuration"),
    ("contoso.developer.azure-api.net", 443, "portal"),
    ("contoso.portal.azure-api.net", 443, "portal"),
    ("contoso.scm.azure-api.net", 443, "scm"),
    ("CONTOSO.Management.Azure-Api.NET.", 443, "management"),
    ("apimst.blob.core.windows.net", 443, "storage"),
    ("apimst.table.core.windows.net", 443, "storage"),
    ("apimst.queue.core.windows.net", 443, "storage"),
    ("apimst.file.core.windows.net", 445, "storage"),
    ("contoso-sql.database.windows.net", 1433, "sql"),
    ("contoso-kv.vault.azure.net", 443, "keyvault"),
    ("gcs.prod.monitoring.core.windows.net", 443, "monitor"),
    ("global.handler.control.monitor.azure.com", 443, "monitor"),
    ("contoso-eh.servicebus.windows.net", 443, "eventhub"),
    ("login.microsoftonline.com", 443, "entra"),
    # by port when the name says nothing
    ("10.0.0.5", 3443, "management"),
    ("db.contoso.internal", 1433, "sql"),
    ("10.0.0.6", 1886, "monitor"),
    ("10.0.0.7", 5671, "eventhub"),
    ("10.0.0.7", 5672, "eventhub"),
    ("contoso.redis.cache.windows.net", 6380, "cache"),
    ("10.0.0.8", 6383, "cache"),
    ("10.0.0.4", 53, "dns"),
    ("orders.contoso.internal", 8080, "other"),
    ("10.0.0.9", 443, "other"),
    # the name wins over the port
    ("contoso-sql.database.windows.net", 3443, "sql"),
    # names are matched on whole labels: a backend is not Azure Monitor by accident
    # (the rules tell a refusing backend from a refusing Azure dependency by this)
    ("promonitor.contoso.internal", 9090, "other"),
    ("sysmonitoring.contoso.internal", 443, "other"),
])
def test_infer_dependency(host: str, port: int, dependency: str) -> None:
    assert infer_dependency(host, port) == dependency


@pytest.mark.parametrize(("spec", "expected"), [
    ("contoso.azure-api.net:443",
     Target("contoso.azure-api.net:443", "contoso.azure-api.net", 443, "gateway")),
    ("gw=contoso.azure-api.net:443", Target("gw", "contoso.azure-api.net", 443, "gateway")),
    ("10.0.0.5:3443", Target("10.0.0.5:3443", "10.0.0.5", 3443, "management")),
    ("mgmt=10.0.0.5:3443", Target("mgmt", "10.0.0.5", 3443, "management")),
    ("v6=[2001:db8::5]:443", Target("v6", "2001:db8::5", 443, "other")),
    ("[::1]:443", Target("[::1]:443", "::1", 443, "other")),
    ("sql=contoso-sql.database.windows.net:1433",
     Target("sql", "contoso-sql.database.windows.net", 1433, "sql")),
])
def test_parse_target_spec(spec: str, expected: Target) -> None:
    target = parse_target_spec(spec)
    assert target == expected
    assert (target.expect, target.required, target.count) == (PortState.OPEN, True, 3)


@pytest.mark.parametrize(("spec", "message"), [
    ("contoso.azure-api.net", "the port is missing"),
    ("gw=contoso.azure-api.net", "the port is missing"),
    ("2001:db8::5", "the port is missing"),
    ("[2001:db8::5]", "the port is missing"),
    ("contoso.azure-api.net:0", "port must be a number from 1 to 65535"),
    ("contoso.azure-api.net:65536", "port must be a number from 1 to 65535"),
    ("contoso.azure-api.net:https", "port must be a number from 1 to 65535"),
    ("[2001:db8::5:443", "unclosed '\\['"),
    ("bad host:443", "'bad host' is neither a hostname nor an IP address"),
    (":443", "'' is neither a hostname nor an IP address"),
    ("1.2.3.999:443", "'1.2.3.999' is neither a hostname nor an IP address"),
])
def test_parse_target_spec_rejects(spec: str, message: str) -> None:
    with pytest.raises(ValueError, match=message) as info:
        parse_target_spec(spec)
    assert str(info.value).startswith(f"--target {spec!r}: ")


# --------------------------------------------------------------------------
# command-line overrides


def _config() -> Config:
    return parse("[dns]\nresolvers = ['192.0.2.53']\n"
                 "[[target]]\nname='gw'\nhost='contoso.azure-api.net'\nport=443\ncount=5\n"
                 "[[target]]\nname='sql'\nhost='10.0.0.9'\nport=1433\nrequired=false\n")


def test_overrides_win_over_the_file() -> None:
    config = with_overrides(_config(), timeout=0.5, count=1, method="connect", rate=10.0,
                            resolvers=[Resolver("10.0.0.4"), Resolver("10.0.0.4")])
    assert (config.agent.timeout, config.agent.method, config.agent.rate) == (
        0.5, "connect", 10.0)
    assert [t.count for t in config.targets] == [1, 1]
    assert [t.required for t in config.targets] == [True, False]
    assert [r.label for r in config.dns.resolvers] == ["10.0.0.4"]


def test_no_overrides_change_nothing() -> None:
    assert with_overrides(_config()) == _config()


def test_command_line_targets_replace_the_file_targets() -> None:
    config = with_overrides(_config(), targets=[parse_target_spec("10.1.1.1:80")])
    assert [t.name for t in config.targets] == ["10.1.1.1:80"]


def test_duplicate_command_line_targets_are_refused() -> None:
    specs = ["a=10.1.1.1:80", "10.1.1.2:80", "a=10.1.1.3:80"]
    with pytest.raises(ConfigError) as info:
        with_overrides(_config(), targets=[parse_target_spec(s) for s in specs])
    assert str(info.value).startswith("<command line>: --target: duplicate target names ['a']")


# --------------------------------------------------------------------------
# the schema is the one place: README and the example follow it


def test_readme_key_tables_are_the_schemas() -> None:
    text = README.read_text(encoding="utf-8")
    assert sorted(sections_in(text)) == sorted(SECTIONS)
    assert text == filled(text), "README.md drifted: run python -m tests.helpers.readme_keys"


def _example_keys(path: Path) -> dict[str, set[str]]:
    """Section -> keys written in a TOML example, commented-out ones included."""
    keys: dict[str, set[str]] = {}
    section = ""
    for raw in path.read_text(encoding="utf-8").splitlines():
        line = raw.strip().lstrip("#").strip()
        if header := re.fullmatch(r"\[\[?\s*(\w+)\s*\]\]?(\s*#.*)?", line):
            section = header.group(1)
            keys.setdefault(section, set())
        elif (assignment := re.match(r"(\w+)\s*=", line)) and section:
            keys[section].add(assignment.group(1))
    return keys


def test_example_documents_every_key_and_no_other() -> None:
    written = _example_keys(EXAMPLE)
    assert {section: sorted(keys) for section, keys in written.items()} == {
        section: sorted(toml_names(cls)) for section, cls in SECTIONS.items()}


# --------------------------------------------------------------------------
# hostile input: special files, resolv.conf, control characters, IDN


@pytest.mark.parametrize("kind", ["fifo", "/dev/zero", "directory", "huge"])
def test_only_regular_files_of_sane_size_are_read(tmp_path: Path, kind: str) -> None:
    path = tmp_path / "probe.toml"
    if kind == "fifo":
        os.mkfifo(path)  # load() must not wait for a writer (a SIGHUP reload would stall)
        what = "a FIFO (named pipe), not a regular file"
    elif kind == "directory":
        path.mkdir()
        what = "a directory, not a regular file"
    elif kind == "huge":
        path.write_bytes(b"#" * (CONFIG_LIMIT + 1))
        what = f"{CONFIG_LIMIT + 1} bytes, over the limit of 1 MiB"
    else:
        path.symlink_to(kind)
        what = "a character device, not a regular file"
    with pytest.raises(ConfigError) as info:
        load(path)
    assert str(info.value) == f"{path}: cannot read: {what}"


def test_files_the_config_names_are_read_safely(tmp_path: Path) -> None:
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    dns = "[dns]\nresolvers = ['192.0.2.53']\n"
    with pytest.raises(ConfigError) as info:
        parse(f"[agent]\ntls_cert = '{fifo}'\ntls_key = '{fifo}'\n" + dns, source="p.toml")
    # both keys are wrong, and both are named, in file order
    assert error_lines(info.value) == [
        f"p.toml:{line}: agent.{key}: expected the path of a readable "
        f"file (a FIFO (named pipe), not a regular file), got '{fifo}'"
        for line, key in ((2, "tls_cert"), (3, "tls_key"))]
    with pytest.raises(ConfigError) as info:
        parse(dns + f"[apim]\nname = 'c'\nmode = 'internal'\nca_file = '{fifo}'\n",
              source="p.toml")
    assert str(info.value) == (f"p.toml:6: apim.ca_file: expected a readable PEM file, got "
                               f"'{fifo}' (a FIFO (named pipe), not a regular file)")


@pytest.mark.parametrize(("content", "line", "value"), [
    ("nameserver garbage\n", 1, "garbage"),
    ("search contoso.internal\nnameserver 10.0.0.4\nnameserver 10.0.0.999\n", 3,
     "10.0.0.999"),
    ("nameserver https://dns.example/dns-query\n", 1, "https://dns.example/dns-query"),
])
def test_malformed_resolv_conf_names_its_line(tmp_path: Path, content: str, line: int,
                                              value: str) -> None:
    path = tmp_path / "resolv.conf"
    path.write_text(content)
    with pytest.raises(ConfigError) as info:
        parse("[dns]\nresolvers = ['system']\n", source="p.toml", resolv_conf=path)
    assert str(info.value) == (f"p.toml:2: dns.resolvers[0]: 'system' needs nameservers in "
                               f"{path}, but: line {line} is not valid: nameserver {value!r} "
                               "is not an IP address")


def test_malformed_resolv_conf_on_the_default_path(tmp_path: Path) -> None:
    # no [dns] at all: 'system' is implied, and the error still names resolv.conf's line
    path = tmp_path / "resolv.conf"
    path.write_text("nameserver garbage\n")
    with pytest.raises(ConfigError, match=f"{path}, but: line 1 is not valid"):
        parse("", resolv_conf=path)


def test_resolv_conf_that_is_a_fifo(tmp_path: Path) -> None:
    path = tmp_path / "resolv.conf"
    os.mkfifo(path)
    with pytest.raises(ConfigError, match="but: cannot read: a FIFO"):
        parse_resolver("system", resolv_conf=path)


def test_idn_written_as_a_labels_is_a_hostname() -> None:
    config = parse("[dns]\nresolvers = ['192.0.2.53']\n[[target]]\nname = 'bücher'\n"
                   "host = 'xn--bcher-kva.example'\nport = 443\n")
    # a unicode label is fine in a name (it is not a control character)
    assert [(t.name, t.host) for t in config.targets] == [("bücher", "xn--bcher-kva.example")]


@pytest.mark.parametrize("spec", ["a\nb=192.0.2.1:443", "gw=192.0.2.1:443\n",
                                  "gw\u2028=192.0.2.1:443", "gw\x1b[31m=192.0.2.1:443"])
def test_command_line_target_with_control_characters(spec: str) -> None:
    with pytest.raises(ValueError, match="expected text without control characters"):
        parse_target_spec(spec)


# --------------------------------------------------------------------------
# config fuzz: generated from the schema; the oracle is "a Config or one clear
# ConfigError line", and for the command line "exit 0/1/2, never a traceback"


@pytest.fixture(scope="module")
def fuzz_files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Files a generated config may name: regular, empty, a FIFO, a directory, /dev/zero."""
    base = tmp_path_factory.mktemp("fuzz")
    files = {"resolv.conf": base / "resolv.conf", "pem": base / "not.pem",
             "empty": base / "empty", "fifo": base / "fifo", "dir": base / "dir",
             "zero": base / "zero", "config": base / "probe.toml"}
    files["resolv.conf"].write_text("nameserver 192.0.2.53\n")
    files["pem"].write_text("not a certificate\n")
    files["empty"].write_text("")
    os.mkfifo(files["fifo"])
    files["dir"].mkdir()
    files["zero"].symlink_to("/dev/zero")
    return files


def _no_control_characters(value: object) -> bool:
    if isinstance(value, str):
        return control_character(value) is None
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return all(_no_control_characters(getattr(value, f.name))
                   for f in dataclasses.fields(value))
    if isinstance(value, tuple):
        return all(_no_control_characters(v) for v in value)
    return True


_FUZZ = settings(max_examples=1000, deadline=None, derandomize=True, database=None,
                 suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


@_FUZZ
@given(data=st.data(), headers=st.booleans())
def test_fuzz_parse(fuzz_files: dict[str, Path], data: st.DataObject, headers: bool) -> None:
    paths = [str(p) for name, p in fuzz_files.items() if name != "config"]
    text = configgen.dump(data.draw(configgen.configs(paths)), headers=headers)
    try:
        config = parse(text, source="fuzz.toml", resolv_conf=fuzz_files["resolv.conf"])
    except ConfigError as exc:
        message = str(exc)
        assert message.startswith("fuzz.toml")
        assert "\n" not in message and len(message) < 2000, "one short line"
        assert exc.exit_status == 2
        return
    # accepted: then nothing that reaches a label, a log line or a table is forged
    assert _no_control_characters(config)
    assert all(is_ip(t.host) or is_hostname(t.host) for t in config.targets)


@settings(max_examples=300, deadline=None, derandomize=True, database=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(data=st.data())
def test_fuzz_check_config(fuzz_files: dict[str, Path], data: st.DataObject) -> None:
    paths = [str(p) for name, p in fuzz_files.items() if name != "config"]
    path = fuzz_files["config"]
    path.write_text(configgen.dump(data.draw(configgen.configs(paths))), encoding="utf-8")
    out, err = io.StringIO(), io.StringIO()
    with (mock.patch.object(config_module, "SYSTEM_RESOLV_CONF", fuzz_files["resolv.conf"]),
          contextlib.redirect_stdout(out), contextlib.redirect_stderr(err)):
        status = main(["--check-config", "-c", str(path)])
    assert status in (0, 1, 2)
    errors = [line for line in err.getvalue().splitlines() if "warning" not in line]
    if status == 0:
        assert out.getvalue().startswith(f"{path}: valid, ") and not errors
    else:
        # every error of the file, one line each, none repeated
        assert errors and all(e.startswith("probe: error: ") for e in errors), err.getvalue()
        assert len(set(errors)) == len(errors), err.getvalue()


@pytest.mark.parametrize("special", ["/dev/zero", "/dev/null", "fifo", "dir", "zero",
                                     "symlink-to-fifo", "deep", "huge"])
def test_check_config_on_hostile_files_exits_2_at_once(fuzz_files: dict[str, Path],
                                                       tmp_path: Path, special: str) -> None:
    """A sample through the real process: exit 2 and one line, no traceback, no hang."""
    path = fuzz_files.get(special, Path(special))
    if special == "symlink-to-fifo":
        path = tmp_path / "probe.toml"
        path.symlink_to(fuzz_files["fifo"])
    elif special == "deep":
        path = tmp_path / "deep.toml"
        path.write_text("a = " + "[" * 100_000 + "]" * 100_000 + "\n")
    elif special == "huge":
        path = tmp_path / "huge.toml"
        with path.open("wb") as handle:
            handle.truncate(1 << 34)  # 16 GiB, sparse
    done = subprocess.run([sys.executable, "-m", "probe", "--check-config", "-c", str(path)],
                          capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 2
    assert done.stdout == ""
    assert done.stderr.startswith(f"probe: error: {path}") and done.stderr.count("\n") == 1


def test_check_config_of_a_full_size_config_finishes(tmp_path: Path) -> None:
    """1 MiB of [[target]] tables (21k targets): it took minutes when every table
    scanned the whole file for its header line; the timeout is a hang guard."""
    parts = ["[dns]\nresolvers = ['192.0.2.53']\n"]
    size, i = len(parts[0]), 0
    while size < CONFIG_LIMIT - 100:
        parts.append(f"[[target]]\nname='t{i}'\nhost='192.0.2.1'\nport=1\n")
        size, i = size + len(parts[-1]), i + 1
    path = tmp_path / "many.toml"
    path.write_text("".join(parts))
    done = subprocess.run([sys.executable, "-m", "probe", "--check-config", "-c", str(path)],
                          capture_output=True, text=True, timeout=60, check=False)
    assert (done.returncode, done.stderr) == (0, "")
    assert done.stdout.startswith(f"{path}: valid, {i} target(s)")


def test_agent_labels_name_the_agent() -> None:
    config = parse('[agent]\nlabels = { vnet = "hub", region = "westeurope" }\n'
                   '[dns]\nresolvers = ["192.0.2.53"]\n')
    assert config.agent.labels == (("region", "westeurope"), ("vnet", "hub"))
    assert parse('[dns]\nresolvers = ["192.0.2.53"]\n').agent.labels == ()


@pytest.mark.parametrize(("labels", "message"), [
    ('{ job = "x" }', "agent.labels.job: 'job' is set by Prometheus"),
    ('{ instance = "x" }', "agent.labels.instance: 'instance' is set by Prometheus"),
    ('{ "a-b" = "x" }', "agent.labels.a-b: expected a Prometheus label name"),
    ('{ __name__ = "x" }', "agent.labels.__name__: expected a Prometheus label name"),
    ('{ "1a" = "x" }', "agent.labels.1a: expected a Prometheus label name"),
    ('{ vnet = 3 }', "agent.labels.vnet: expected a string, got 3"),
    ('{ vnet = "a\\u001bb" }', "agent.labels.vnet: expected text without control characters"),
    ('"hub"', "agent.labels: expected a table"),
    ("{ " + ", ".join(f"l{i} = 'x'" for i in range(17)) + " }",
     "agent.labels: expected at most 16 labels, got 17"),
])
def test_bad_agent_labels_are_named(labels: str, message: str) -> None:
    with pytest.raises(ConfigError) as err:
        parse(f'[agent]\nlabels = {labels}\n[dns]\nresolvers = ["192.0.2.53"]\n')
    assert message in str(err.value)


def test_metrics_process_switch() -> None:
    assert parse('[dns]\nresolvers = ["192.0.2.53"]\n').metrics.process is True
    assert parse('[metrics]\nprocess = false\n[dns]\nresolvers = ["192.0.2.53"]\n'
                 ).metrics.process is False


def test_the_installed_default_probes_nothing_until_edited(tmp_path: Path) -> None:
    """Issue 20: `make install`, the image and the ConfigMap ship a config that
    names no real host and makes the agent say what to edit (exit 2)."""
    default = Path(__file__).parents[1] / "deploy" / "default" / "probe.toml"
    text = default.read_text(encoding="utf-8")
    hosts = re.findall(r'"([a-z0-9-]+(?:\.[a-z0-9-]+)+)"', text)
    assert hosts and all(h.endswith((".example", ".invalid")) or h[0].isdigit() for h in hosts)
    proc = subprocess.run([sys.executable, "-m", "probe", "--check-config", "-c", str(default)],
                          capture_output=True, text=True, timeout=60, check=False)
    assert proc.returncode == 2
    assert f"edit {default}: no instance or targets yet" in proc.stderr
    # uncommenting the example [apim] block makes it a config
    edited = tmp_path / "probe.toml"
    edited.write_text(re.sub(r"^# (\[apim\]|name =|mode =|region =)", r"\1", text, flags=re.M),
                      encoding="utf-8")
    assert "[apim]" in edited.read_text(encoding="utf-8")
