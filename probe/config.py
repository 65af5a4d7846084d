"""Configuration: TOML in, one frozen, validated ``Config`` out.

Defaults first, then validation; unknown keys are rejected (a typo must not
silently become a default). Every error names the file, the key, the line
where it can be found, and what was expected.

Each section is declared once, as a dataclass whose fields carry their key's
type, check and help (``probe.schema.key``): ``AgentConfig``, ``DnsConfig``,
``Target`` here, ``ApimConfig`` in ``probe.apim``. The accepted keys, the
defaults, the checks and README's key tables all come from those fields.
Files are read through ``probe.files`` (regular files of at most 1 MiB) and
the TOML through ``probe.tomldoc`` (errors with file, line and key).
"""

from __future__ import annotations

import functools
import io
import ipaddress
import re
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from probe import checks
from probe.addresses import is_hostname, is_ip, is_prefix, split_host_port
from probe.apim import ApimConfig, parse_apim, strings_key
from probe.apimmodel import group_of
from probe.azure.settings import ARM_KEYS, AzureConfig, extra_missing
from probe.errors import ConfigError, InputError, several
from probe.files import CONFIG_LIMIT, read_utf8
from probe.localnames import HOSTS, HOSTS_FILE
from probe.resolvers import HOSTS_RESOLVER, Resolver, unique
from probe.results import PortState
from probe.schema import Between, OneOf, key, read_section
from probe.tomldoc import TomlDoc, control_character, parse_toml, show

SYSTEM_RESOLV_CONF = Path("/etc/resolv.conf")

METHODS = ("auto", "syn", "connect")
EXPECTATIONS = (PortState.OPEN, PortState.CLOSED, PortState.FILTERED)




# --------------------------------------------------------------------------
# checks the schema below refers to


_FILE = "the path of a readable file"


# --------------------------------------------------------------------------
# the schema: one declaration per section (README tables are generated from it)


MAX_AGENT_LABELS = 16
_LABEL_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
# Set by Prometheus per scrape target, or by the agent on the same series.
_RESERVED_LABELS = frozenset({"job", "instance"})


def _read_labels(doc: TomlDoc, table: Mapping[str, Any], where: str,
                 name: str) -> tuple[tuple[str, str], ...]:
    given = doc.get(table, where, name, dict, {})
    if len(given) > MAX_AGENT_LABELS:
        raise doc.fail(f"{where}.{name}", f"expected at most {MAX_AGENT_LABELS} labels, "
                                          f"got {len(given)}")
    out: list[tuple[str, str]] = []
    for label, value in given.items():
        full = f"{where}.{name}.{label}"
        doc.check_text(full, label)
        if not _LABEL_NAME.match(label) or label.startswith("__"):
            raise doc.fail(full, "expected a Prometheus label name ([A-Za-z_][A-Za-z0-9_]*, "
                                 f"not starting with '__'), got {show(label)}")
        if label in _RESERVED_LABELS:
            raise doc.fail(full, f"{label!r} is set by Prometheus for each scrape target: name "
                                 "the agent with another label (vnet, region, ...)")
        if not isinstance(value, str):
            raise doc.fail(full, f"expected a string, got {show(value)}")
        doc.check_text(full, value)
        out.append((label, value))
    return tuple(sorted(out))


@dataclass(frozen=True, slots=True)
class AgentConfig:
    timeout: float = key(2.0, float, "seconds one attempt (a DNS question, a TCP probe) may take",
                         check=Between(0.01, 60, "seconds"), convert=float)
    interval: float = key(15.0, float, "seconds between rounds in daemon mode (two failing "
                          "rounds raise an alert: prometheus/README.md, Time to alert)",
                          check=Between(1, 86400, "seconds"), convert=float)
    listen: str = key("127.0.0.1:9839", str, "where /metrics and /healthz are served in "
                      "daemon mode", check=checks.listen, expected="HOST:PORT")
    method: str = key("auto", str, "TCP probe method: raw SYN probes need CAP_NET_RAW; auto "
                      "falls back to connect()", check=OneOf(METHODS))
    rate: float = key(200.0, float, "cap on SYN probes per second across all targets",
                      check=Between(1, 1_000_000, "packets per second"), convert=float)
    concurrency: int = key(256, int, "probes (and DNS questions) in flight at once",
                           check=Between(1, 10_000, "an integer"))
    # /metrics for remote scrapes: TLS (both or neither) and basic auth (both or neither)
    tls_cert: str | None = key(None, str, "PEM certificate for HTTPS on /metrics (with "
                               "`tls_key`)", check=checks.readable_file, expected=_FILE)
    tls_key: str | None = key(None, str, "its PEM private key (with `tls_cert`)",
                              check=checks.readable_file, expected=_FILE)
    basic_auth_user: str | None = key(None, str, "basic auth user for /metrics (with "
                                      "`basic_auth_password_file`)", check=checks.user,
                                      expected="a user name without ':'")
    basic_auth_password_file: str | None = key(None, str, "file holding its password (with "
                                               "`basic_auth_user`)", check=checks.readable_file,
                                               expected=_FILE)
    labels: tuple[tuple[str, str], ...] = key(
        (), dict, "who this agent is, e.g. `{ vnet = \"hub\", region = \"westeurope\" }`: "
        "the labels of its one `apim_probe_agent_info` series (Prometheus' external_labels "
        "or relabelling tell agents apart on every series)", default_text="`{}`",
        expected=f"a table of up to {MAX_AGENT_LABELS} label names to strings",
        read=_read_labels)


def _read_resolvers(doc: TomlDoc, table: Mapping[str, Any], where: str,
                    name: str) -> tuple[Resolver, ...]:
    resolv_conf = doc.resolv_conf if isinstance(doc, _ConfigDoc) else None
    specs = doc.get(table, where, name, list, ["system"])
    if not specs:
        raise doc.fail(f"{where}.{name}", "expected at least one resolver, got []")
    resolvers: list[Resolver] = []
    for i, spec in enumerate(specs):
        full = f"{where}.{name}[{i}]"
        if not isinstance(spec, str):
            raise doc.fail(full, f"expected a string ('system', 'hosts', an IP address or "
                                 f"IP:PORT), "
                                 f"got {show(spec)}")
        doc.check_text(full, spec)
        try:
            resolvers.extend(parse_resolver(spec, resolv_conf=resolv_conf))
        except ValueError as exc:
            raise doc.fail(full, str(exc)) from None
        except ConfigError as exc:
            raise doc.fail(full, exc.message) from None
    return unique(resolvers)


# A name may answer with thousands of addresses (a 64 KiB TCP answer holds
# ~4,000): the round probes this many per name, the lowest in address order.
DEFAULT_MAX_ADDRESSES = 16


@dataclass(frozen=True, slots=True)
class DnsConfig:
    resolvers: tuple[Resolver, ...] = key(
        (), list, "DNS servers queried directly, side by side: `system` (the nameservers of "
        "/etc/resolv.conf), an IP address or IP:PORT, or `hosts` (this host's hosts file, "
        "`hosts_file`); the first is the primary",
        read=_read_resolvers, default_text='`["system"]`',
        expected="a list of 'system', 'hosts', IP or IP:PORT")
    aaaa: bool = key(False, bool, "also ask for AAAA records and probe IPv6 addresses")
    max_addresses: int = key(DEFAULT_MAX_ADDRESSES, int, "addresses probed per name, the "
                             "lowest in address order, IPv4 and IPv6 in turn when the "
                             "answer has both (a name may answer with thousands)",
                             check=Between(1, 4096, "an integer"))
    allow_answers: tuple[str, ...] = key(
        (), (list, str), "prefixes whose answers are probed although they cannot be the "
        "dependency (loopback, link-local, this host...: a lab, a test); other such answers "
        "are reported `unusable` and never probed", expected="IP addresses or CIDR prefixes",
        read=strings_key(is_prefix, "an IP address or CIDR prefix"))
    hosts_file: str = key(
        str(HOSTS_FILE), str, "this host's hosts file: what the `hosts` resolver answers, "
        "and what finding `hosts-file-pin` compares with DNS (a name pinned there is still "
        "probed as DNS answers it)", check=checks.path, expected="a path")

    @property
    def primary(self) -> Resolver | None:
        return self.resolvers[0] if self.resolvers else None


@dataclass(frozen=True, slots=True)
class Target:
    name: str = key(help="unique label", check=checks.label, expected="a non-empty label")
    host: str = key(help="a name (resolved through every resolver; every address on the "
                    "primary is probed) or an IP address", check=checks.host,
                    expected="a hostname or an IP address")
    port: int = key(kind=int, help="TCP port", check=Between(1, 65535, "a port"))
    dependency: str = key("other", str, "group (management, storage, sql, keyvault, monitor, "
                          "backend, ...)", check=checks.label, expected="a non-empty label",
                          default_text="guessed from host and port")
    expect: PortState = key(PortState.OPEN, str, "the state that counts as success",
                            check=OneOf(EXPECTATIONS), convert=PortState)
    required: bool = key(True, bool, "a failure fails the run (exit 1)")
    count: int = key(3, int, "attempts per address per round",
                     check=Between(1, 100, "an integer"))
    trace: bool = key(False, bool, "TCP traceroute it every round (failing targets are "
                      "traced anyway when raw sockets are allowed)")

    @property
    def is_address(self) -> bool:
        return is_ip(self.host)


@dataclass(frozen=True, slots=True)
class MetricsConfig:
    rtt_histogram: bool = key(False, bool, "the opt-in RTT histogram "
                              "`apim_probe_tcp_attempt_rtt_seconds` (10 buckets from 0.5 ms to "
                              "1 s, 12 more series per target address)")
    process: bool = key(True, bool, "the agent's own `process_*` and `python_*` series on "
                        "/metrics (false: a leaner scrape, about 7 % fewer series)")


@dataclass(frozen=True, slots=True)
class Config:
    agent: AgentConfig = field(default_factory=AgentConfig)
    dns: DnsConfig = field(default_factory=DnsConfig)
    targets: tuple[Target, ...] = ()
    source: str | None = None
    apim: ApimConfig | None = None
    metrics: MetricsConfig = field(default_factory=MetricsConfig)
    azure: AzureConfig | None = None


# The sections of a config file, for the README's key tables and the drift test.
SECTIONS: dict[str, type] = {"agent": AgentConfig, "dns": DnsConfig, "target": Target,
                             "apim": ApimConfig, "metrics": MetricsConfig,
                             "azure": AzureConfig}
TOP_KEYS = tuple(SECTIONS)


# --------------------------------------------------------------------------
# small pure helpers


def system_resolvers(path: Path | None = None) -> list[str]:
    """The nameservers of resolv.conf, through dnspython's own parser.

    resolv.conf is read like a config file (a regular file of sane size); a
    nameserver that is not an IP address is an error naming its line.
    """
    import dns.resolver

    path = SYSTEM_RESOLV_CONF if path is None else path  # looked up late: tests point it away

    def refuse(reason: str) -> ConfigError:
        return ConfigError(f"'system' needs nameservers in {path}, but: {reason}",
                           key="dns.resolvers")

    try:
        text = read_utf8(path, CONFIG_LIMIT, error=ConfigError)
    except ConfigError as exc:
        raise refuse(exc.message) from None
    try:
        found = [str(ns) for ns in dns.resolver.Resolver(filename=io.StringIO(text)).nameservers]
    except dns.resolver.NoResolverConfiguration:
        raise refuse("it lists none") from None
    except ValueError:
        found = []  # dnspython refused a nameserver line: find it below
    for number, line in enumerate(text.splitlines(), start=1):
        words = line.split()
        if words[:1] == ["nameserver"] and len(words) > 1 and not is_ip(words[1]):
            raise refuse(f"line {number} is not valid: nameserver {words[1]!r} is not an IP "
                         "address")
    if not found:
        raise refuse("dnspython cannot read them")
    return found


def parse_resolver(text: str, *, resolv_conf: Path | None = None) -> list[Resolver]:
    """'system' expands to the nameservers of resolv.conf; else IP or IP:PORT."""
    if text == "system":
        return [Resolver(ns, 53, "system") for ns in system_resolvers(resolv_conf)]
    if text == HOSTS:
        return [HOSTS_RESOLVER]
    try:
        host, port = split_host_port(text)
    except ValueError as exc:
        raise ValueError(f"{exc}; expected 'system', 'hosts', an IP address or IP:PORT",
                         ) from None
    if not is_ip(host):
        raise ValueError(f"{text!r} is not an IP address; expected 'system', 'hosts', an IP "
                         "address or IP:PORT (resolvers are queried directly, not by name)")
    return [Resolver(str(ipaddress.ip_address(host)), port or 53, text)]


def infer_dependency(host: str, port: int) -> str:
    """Best guess at the APIM dependency group of an ad-hoc target (the model's)."""
    return group_of(host, port)


def target_name(dependency: str, host: str, port: int) -> str:
    """The one naming scheme of generated and imported targets (dedup by name)."""
    return f"{dependency}:{host}:{port}"


def parse_target_spec(spec: str) -> Target:
    """'[NAME=]HOST:PORT' from the command line."""
    char = control_character(spec)
    if char is not None:
        raise ValueError(f"--target {spec!r}: expected text without control characters "
                         f"(U+{ord(char):04X})")
    name, sep, rest = spec.partition("=")
    if not sep:
        name, rest = "", spec
    try:
        host, port = split_host_port(rest)
    except ValueError as exc:
        raise ValueError(f"--target {spec!r}: {exc}") from None
    if port is None:
        raise ValueError(f"--target {spec!r}: expected [NAME=]HOST:PORT (the port is missing)")
    if not (is_ip(host) or is_hostname(host)):
        raise ValueError(f"--target {spec!r}: {host!r} is neither a hostname nor an IP address")
    problem = checks.host(host)  # the same rule as the file's targets: no 0.0.0.0, no multicast
    if problem:
        raise ValueError(f"--target {spec!r}: {problem}")
    default_name = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    return Target(name=name or default_name, host=host, port=port,
                  dependency=infer_dependency(host, port))


# --------------------------------------------------------------------------
# TOML loading and validation


class _ConfigDoc(TomlDoc):
    """The config file: ConfigErrors, and the resolv.conf that 'system' means."""

    def __init__(self, source: str, text: str, resolv_conf: Path | None) -> None:
        super().__init__(source, text, ConfigError)
        self.resolv_conf = resolv_conf


def load(path: Path, *, resolv_conf: Path | None = None) -> Config:
    """Read and validate a config file; every problem is a ConfigError.

    Only a regular file of at most 1 MiB is read: a FIFO, a device or a
    directory is refused at once (a SIGHUP reload must never hang on one).
    """
    text = read_utf8(path, CONFIG_LIMIT, error=ConfigError)
    return parse(text, source=str(path), resolv_conf=resolv_conf)


def parse(text: str, *, source: str = "<config>",
          resolv_conf: Path | None = None) -> Config:
    """Validate a config; every problem of every section and target is found
    (a ConfigError standing for all of them: ``errors.error_lines``)."""
    raw = parse_toml(text, source=source, error=ConfigError)
    doc = _ConfigDoc(source, text, resolv_conf)
    problems: list[InputError] = []

    def read(build: Callable[[], Any], default: Any) -> Any:
        try:
            return build()
        except InputError as exc:
            problems.append(exc)
            return default

    read(lambda: doc.check_keys(raw, "", TOP_KEYS), None)

    def agent_section() -> AgentConfig:
        agent = AgentConfig(**read_section(doc, doc.get(raw, "", "agent", dict, {}), "agent",
                                           AgentConfig))
        _check_pairs(doc, agent)
        return agent

    agent = read(agent_section, AgentConfig())
    dns_config = read(lambda: DnsConfig(**read_section(
        doc, doc.get(raw, "", "dns", dict, {}), "dns", DnsConfig)), DnsConfig())
    targets = read(lambda: _targets(doc, doc.get(raw, "", "target", list, [])), ())
    apim = read(lambda: _apim(doc, raw), None)
    metrics = read(lambda: MetricsConfig(**read_section(
        doc, doc.get(raw, "", "metrics", dict, {}), "metrics", MetricsConfig)), MetricsConfig())
    azure = read(lambda: _azure(doc, raw), None)
    if problems:
        raise several(problems)
    return Config(agent=agent, dns=dns_config, targets=targets, source=source, apim=apim,
                  metrics=metrics, azure=azure)


def _apim(doc: TomlDoc, raw: Mapping[str, Any]) -> ApimConfig | None:
    apim_raw = doc.get(raw, "", "apim", dict, None)
    return parse_apim(doc, apim_raw) if apim_raw is not None else None


def _azure(doc: TomlDoc, raw: Mapping[str, Any]) -> AzureConfig | None:
    azure_raw = doc.get(raw, "", "azure", dict, None)
    if azure_raw is None:
        return None
    azure = AzureConfig(**read_section(doc, azure_raw, "azure", AzureConfig))
    asked = [name for name in ARM_KEYS if name in azure_raw]
    if azure.identity != "none" and asked and extra_missing():
        raise doc.fail(f"azure.{asked[0]}", f"'{asked[0]}' reads Azure Resource Manager, "
                       "which needs the Azure extra: pip install 'apim-probe[azure]'")
    return azure


def _check_pairs(doc: TomlDoc, agent: AgentConfig) -> None:
    """TLS and basic auth for /metrics: each a pair, both keys or neither."""
    for first, second in (("tls_cert", "tls_key"), ("basic_auth_user",
                                                    "basic_auth_password_file")):
        values = {first: getattr(agent, first), second: getattr(agent, second)}
        if (values[first] is None) != (values[second] is None):
            given, missing = (first, second) if values[first] is not None else (second, first)
            raise doc.fail(f"agent.{given}", f"'{given}' needs 'agent.{missing}' as well "
                                             "(both or neither)")


def _targets(doc: TomlDoc, entries: Sequence[Any]) -> tuple[Target, ...]:
    """Every [[target]] table; the errors of all of them at once."""
    targets: list[Target] = []
    seen: dict[str, int] = {}
    problems: list[InputError] = []
    for i, entry in enumerate(entries):
        where = f"target[{i}]"
        # a repeated name is its own error, whether or not the rest of the entry is valid
        name = entry.get("name") if isinstance(entry, dict) else None
        if isinstance(name, str) and name in seen:
            problems.append(doc.fail(f"{where}.name", f"duplicate target name {name!r} (also "
                                     f"target[{seen[name]}]); names must be unique"))
        elif isinstance(name, str):
            seen[name] = i
        try:
            if not isinstance(entry, dict):
                raise doc.fail(where, "expected a [[target]] table")
            values = read_section(doc, entry, where, Target,
                                  header=functools.partial(doc.header_line, "target", i))
        except InputError as exc:
            problems.append(exc)
            continue
        if "dependency" not in values:
            values["dependency"] = infer_dependency(values["host"], values["port"])
        targets.append(Target(**values))
    if problems:
        raise several(problems)
    return tuple(targets)


def with_overrides(config: Config, *, targets: Sequence[Target] | None = None,
                   resolvers: Sequence[Resolver] | None = None, timeout: float | None = None,
                   count: int | None = None, method: str | None = None,
                   rate: float | None = None) -> Config:
    """Command-line flags win over the file."""
    agent = config.agent
    if timeout is not None:
        agent = replace(agent, timeout=timeout)
    if method is not None:
        agent = replace(agent, method=method)
    if rate is not None:
        agent = replace(agent, rate=rate)
    dns_config = config.dns
    if resolvers is not None:
        dns_config = replace(dns_config, resolvers=unique(resolvers))
    chosen = tuple(targets) if targets is not None else config.targets
    if count is not None:
        chosen = tuple(replace(t, count=count) for t in chosen)
    duplicates = sorted(n for n, seen in Counter(t.name for t in chosen).items() if seen > 1)
    if duplicates:
        raise ConfigError(f"duplicate target names {duplicates}; give each --target a "
                          "unique NAME= prefix", key="--target")
    return replace(config, agent=agent, dns=dns_config, targets=chosen)
