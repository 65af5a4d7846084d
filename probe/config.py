"""Configuration: TOML in, one frozen, validated ``Config`` out.

Defaults first, then validation; unknown keys are rejected (a typo must not
silently become a default). Every error names the file, the key, the line
where it can be found, and what was expected.
"""

from __future__ import annotations

import ipaddress
import re
import tomllib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from probe.addresses import is_hostname, is_ip, split_host_port
from probe.errors import ConfigError
from probe.results import PortState

if TYPE_CHECKING:
    from probe.apim import ApimConfig

SYSTEM_RESOLV_CONF = Path("/etc/resolv.conf")

METHODS = ("auto", "syn", "connect")
EXPECTATIONS = (PortState.OPEN, PortState.CLOSED, PortState.FILTERED)

@dataclass(frozen=True, slots=True)
class Resolver:
    """A DNS server queried directly. ``source`` is how it was named."""

    address: str
    port: int = 53
    source: str = ""

    @property
    def label(self) -> str:
        if self.port == 53:
            return self.address
        host = f"[{self.address}]" if ":" in self.address else self.address
        return f"{host}:{self.port}"


@dataclass(frozen=True, slots=True)
class Target:
    name: str
    host: str
    port: int
    dependency: str = "other"
    expect: PortState = PortState.OPEN
    required: bool = True
    count: int = 3
    trace: bool = False

    @property
    def is_address(self) -> bool:
        return is_ip(self.host)


@dataclass(frozen=True, slots=True)
class AgentConfig:
    timeout: float = 2.0
    interval: float = 30.0
    listen: str = "127.0.0.1:9839"
    method: str = "auto"
    rate: float = 200.0
    concurrency: int = 256
    # /metrics for remote scrapes: TLS (both or neither) and basic auth (both or neither)
    tls_cert: str | None = None
    tls_key: str | None = None
    basic_auth_user: str | None = None
    basic_auth_password_file: str | None = None


@dataclass(frozen=True, slots=True)
class DnsConfig:
    resolvers: tuple[Resolver, ...] = ()
    aaaa: bool = False

    @property
    def primary(self) -> Resolver | None:
        return self.resolvers[0] if self.resolvers else None


@dataclass(frozen=True, slots=True)
class MetricsConfig:
    rtt_histogram: bool = False  # the opt-in apim_probe_tcp_attempt_rtt_seconds histogram


@dataclass(frozen=True, slots=True)
class Config:
    agent: AgentConfig = field(default_factory=AgentConfig)
    dns: DnsConfig = field(default_factory=DnsConfig)
    targets: tuple[Target, ...] = ()
    source: str | None = None
    apim: ApimConfig | None = None
    metrics: MetricsConfig = field(default_factory=MetricsConfig)


# --------------------------------------------------------------------------
# small pure helpers


def system_resolvers(path: Path = SYSTEM_RESOLV_CONF) -> list[str]:
    """The nameservers of resolv.conf, through dnspython's own parser."""
    import dns.resolver

    try:
        return [str(ns) for ns in dns.resolver.Resolver(filename=str(path)).nameservers]
    except (dns.resolver.NoResolverConfiguration, OSError) as exc:
        raise ConfigError(f"'system' needs nameservers in {path}, but: {exc}",
                          key="dns.resolvers") from None


def parse_resolver(text: str, *, resolv_conf: Path = SYSTEM_RESOLV_CONF) -> list[Resolver]:
    """'system' expands to the nameservers of resolv.conf; else IP or IP:PORT."""
    if text == "system":
        return [Resolver(ns, 53, "system") for ns in system_resolvers(resolv_conf)]
    try:
        host, port = split_host_port(text)
    except ValueError as exc:
        raise ValueError(f"{exc}; expected 'system', an IP address or IP:PORT") from None
    if not is_ip(host):
        raise ValueError(f"{text!r} is not an IP address; expected 'system', an IP address "
                         "or IP:PORT (resolvers are queried directly, not by name)")
    return [Resolver(str(ipaddress.ip_address(host)), port or 53, text)]


_DEPENDENCY_SUFFIXES: tuple[tuple[str, str], ...] = (
    (".management.azure-api.", "management"),
    (".configuration.azure-api.", "configuration"),
    (".developer.azure-api.", "portal"),
    (".portal.azure-api.", "portal"),
    (".scm.azure-api.", "scm"),
    (".regional.azure-api.", "gateway"),
    (".azure-api.", "gateway"),
    (".blob.core.", "storage"),
    (".table.core.", "storage"),
    (".queue.core.", "storage"),
    (".file.core.", "storage"),
    (".database.", "sql"),
    (".vault.", "keyvault"),
    (".monitoring.", "monitor"),
    (".monitor.", "monitor"),
    (".servicebus.", "eventhub"),
    ("login.microsoftonline.", "entra"),
)

_DEPENDENCY_PORTS: dict[int, str] = {
    3443: "management",
    1433: "sql",
    1886: "monitor",
    5671: "eventhub",
    5672: "eventhub",
    6380: "cache",
    6381: "cache",
    6382: "cache",
    6383: "cache",
    53: "dns",
}


def infer_dependency(host: str, port: int) -> str:
    """Best guess at the APIM dependency group of an ad-hoc target."""
    lowered = "." + host.lower().rstrip(".") + "."
    for suffix, dependency in _DEPENDENCY_SUFFIXES:
        if suffix in lowered:
            return dependency
    return _DEPENDENCY_PORTS.get(port, "other")


def parse_target_spec(spec: str) -> Target:
    """'[NAME=]HOST:PORT' from the command line."""
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
    default_name = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    return Target(name=name or default_name, host=host, port=port,
                  dependency=infer_dependency(host, port))


# --------------------------------------------------------------------------
# TOML loading and validation


T = TypeVar("T")


class _Reader:
    """Validates one TOML document, remembering where each key stands."""

    def __init__(self, source: str, text: str) -> None:
        self.source = source
        self.lines = text.splitlines()

    def fail(self, key: str, message: str) -> ConfigError:
        # 'dns.resolvers[2]' is an element of an inline array: fall back to the array's line.
        line = self.locate(key) or self.locate(re.sub(r"\[\d+\]$", "", key))
        return ConfigError(message, source=self.source, key=key, line=line)

    def locate(self, key: str) -> int | None:
        """Best-effort line of a dotted key like 'target[2].port' or 'agent.timeout'."""
        parts = re.findall(r"[A-Za-z_][A-Za-z0-9_-]*|\[\d+\]", key)
        table: list[str] = []
        leaf = parts[-1] if parts else ""
        index = int(leaf[1:-1]) if leaf.startswith("[") else 0
        for part in parts[:-1]:
            if part.startswith("["):
                index = int(part[1:-1])
            else:
                table.append(part)
        header = ".".join(table)
        seen = -1
        inside = not header
        for number, raw in enumerate(self.lines, start=1):
            line = raw.strip()
            if line.startswith("["):
                name = line.split("#", 1)[0].strip().strip("[]").strip()
                if name == ".".join([*table, leaf]):
                    return number  # the key is a table of its own, e.g. an unknown [[tagret]]
                if name == header:
                    seen += 1
                    inside = seen == index if line.startswith("[[") else True
                else:
                    inside = False
                if inside and leaf.startswith("["):
                    return number
                continue
            if inside and re.match(rf"{re.escape(leaf)}\s*=", line):
                return number
        return None

    def check_keys(self, table: Mapping[str, Any], where: str, allowed: Sequence[str]) -> None:
        for key in table:
            if key not in allowed:
                full = f"{where}.{key}" if where else key
                raise self.fail(full, f"unknown key {key!r}; expected one of: "
                                      + ", ".join(allowed))

    def get(self, table: Mapping[str, Any], where: str, key: str, kind: type[T] | tuple[type, ...],
            default: T, check: Callable[[Any], str | None] | None = None) -> T:
        full = f"{where}.{key}" if where else key
        if key not in table:
            return default
        value = table[key]
        kinds = kind if isinstance(kind, tuple) else (kind,)
        if isinstance(value, bool) and bool not in kinds:
            raise self.fail(full, f"expected {_kind_name(kinds)}, got {value!r}")
        if not isinstance(value, kinds):
            raise self.fail(full, f"expected {_kind_name(kinds)}, got {type(value).__name__} "
                                  f"{value!r}")
        if check is not None:
            problem = check(value)
            if problem:
                raise self.fail(full, f"{problem}, got {value!r}")
        return value  # type: ignore[return-value]


def _kind_name(kinds: tuple[type, ...]) -> str:
    names = {bool: "true or false", int: "an integer", float: "a number", str: "a string",
             list: "a list", dict: "a table"}
    if set(kinds) == {int, float}:
        return "a number"
    return " or ".join(names.get(k, k.__name__) for k in kinds)


def _between(low: float, high: float, what: str = "a number") -> Callable[[Any], str | None]:
    def check(value: Any) -> str | None:
        return None if low <= value <= high else f"expected {what} from {low:g} to {high:g}"
    return check


def _one_of(choices: Sequence[str]) -> Callable[[Any], str | None]:
    def check(value: Any) -> str | None:
        return None if value in choices else "expected one of: " + ", ".join(choices)
    return check


def _listen(value: Any) -> str | None:
    try:
        host, port = split_host_port(value)
    except ValueError as exc:
        return f"expected HOST:PORT ({exc})"
    if port is None:
        return "expected HOST:PORT (the port is missing)"
    if host and not (is_ip(host) or is_hostname(host)):
        return "expected HOST:PORT with an IP address or hostname"
    return None


AGENT_KEYS = ("timeout", "interval", "listen", "method", "rate", "concurrency", "tls_cert",
              "tls_key", "basic_auth_user", "basic_auth_password_file")
DNS_KEYS = ("resolvers", "aaaa")
TARGET_KEYS = ("name", "host", "port", "dependency", "expect", "required", "count", "trace")
METRICS_KEYS = ("rtt_histogram",)
TOP_KEYS = ("agent", "dns", "target", "apim", "metrics")


def load(path: Path, *, resolv_conf: Path = SYSTEM_RESOLV_CONF) -> Config:
    """Read and validate a config file; every problem is a ConfigError."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot read: {exc.strerror}", source=path) from None
    except UnicodeDecodeError:
        raise ConfigError("not UTF-8 text", source=path) from None
    return parse(text, source=str(path), resolv_conf=resolv_conf)


def parse(text: str, *, source: str = "<config>",
          resolv_conf: Path = SYSTEM_RESOLV_CONF) -> Config:
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        match = re.search(r"\(at line (\d+), column \d+\)", str(exc))
        raise ConfigError(f"not valid TOML: {exc}", source=source,
                          line=int(match.group(1)) if match else None) from None
    reader = _Reader(source, text)
    reader.check_keys(raw, "", TOP_KEYS)

    agent_raw = reader.get(raw, "", "agent", dict, {})
    reader.check_keys(agent_raw, "agent", AGENT_KEYS)
    defaults = AgentConfig()
    agent = AgentConfig(
        timeout=float(reader.get(agent_raw, "agent", "timeout", (int, float), defaults.timeout,
                                 _between(0.01, 60, "seconds"))),
        interval=float(reader.get(agent_raw, "agent", "interval", (int, float),
                                  defaults.interval, _between(1, 86400, "seconds"))),
        listen=reader.get(agent_raw, "agent", "listen", str, defaults.listen, _listen),
        method=reader.get(agent_raw, "agent", "method", str, defaults.method, _one_of(METHODS)),
        rate=float(reader.get(agent_raw, "agent", "rate", (int, float), defaults.rate,
                              _between(1, 1_000_000, "packets per second"))),
        concurrency=reader.get(agent_raw, "agent", "concurrency", int, defaults.concurrency,
                               _between(1, 10_000, "an integer")),
        **_agent_security(reader, agent_raw),
    )

    dns_raw = reader.get(raw, "", "dns", dict, {})
    reader.check_keys(dns_raw, "dns", DNS_KEYS)
    resolvers: list[Resolver] = []
    resolver_specs = reader.get(dns_raw, "dns", "resolvers", list, ["system"])
    if not resolver_specs:
        raise reader.fail("dns.resolvers", "expected at least one resolver, got []")
    for i, spec in enumerate(resolver_specs):
        key = f"dns.resolvers[{i}]"
        if not isinstance(spec, str):
            raise reader.fail(key, f"expected a string ('system', an IP address or IP:PORT), "
                                   f"got {spec!r}")
        try:
            resolvers.extend(parse_resolver(spec, resolv_conf=resolv_conf))
        except ValueError as exc:
            raise reader.fail(key, str(exc)) from None
        except ConfigError as exc:
            raise reader.fail(key, exc.message) from None
    dns_config = DnsConfig(resolvers=_unique(resolvers),
                           aaaa=reader.get(dns_raw, "dns", "aaaa", bool, False))

    targets_raw = reader.get(raw, "", "target", list, [])
    targets: list[Target] = []
    seen: dict[str, int] = {}
    for i, entry in enumerate(targets_raw):
        where = f"target[{i}]"
        if not isinstance(entry, dict):
            raise reader.fail(where, "expected a [[target]] table")
        targets.append(_target(reader, entry, where))
        name = targets[-1].name
        if name in seen:
            raise reader.fail(f"{where}.name", f"duplicate target name {name!r} (also "
                                               f"target[{seen[name]}]); names must be unique")
        seen[name] = i
    # Lazy: probe.apim uses this module's _Reader (the [apim] section is config too).
    from probe.apim import parse_apim

    apim_raw = reader.get(raw, "", "apim", dict, None)
    apim = parse_apim(reader, apim_raw) if apim_raw is not None else None
    return Config(agent=agent, dns=dns_config, targets=tuple(targets), source=source,
                  apim=apim, metrics=_metrics(reader, raw))


def _metrics(reader: _Reader, raw: Mapping[str, Any]) -> MetricsConfig:
    """[metrics]: the opt-in RTT histogram."""
    metrics_raw = reader.get(raw, "", "metrics", dict, {})
    reader.check_keys(metrics_raw, "metrics", METRICS_KEYS)
    return MetricsConfig(rtt_histogram=reader.get(metrics_raw, "metrics", "rtt_histogram",
                                                  bool, False))


def _readable_file(value: Any) -> str | None:
    if not value.strip():
        return "expected the path of a readable file"
    path = Path(value)
    if not path.is_file():
        return "expected the path of a readable file (no such file)"
    try:
        with path.open("rb"):
            pass
    except OSError as exc:
        return f"expected the path of a readable file ({exc.strerror})"
    return None


def _agent_security(reader: _Reader, agent_raw: Mapping[str, Any]) -> dict[str, str | None]:
    """TLS and basic auth for /metrics: each a pair, both keys or neither."""
    def user_check(value: Any) -> str | None:
        ok = value and ":" not in value and value.isprintable()
        return None if ok else "expected a non-empty user name without ':'"

    values: dict[str, str | None] = {
        "tls_cert": reader.get(agent_raw, "agent", "tls_cert", str, None, _readable_file),
        "tls_key": reader.get(agent_raw, "agent", "tls_key", str, None, _readable_file),
        "basic_auth_user": reader.get(agent_raw, "agent", "basic_auth_user", str, None,
                                      user_check),
        "basic_auth_password_file": reader.get(agent_raw, "agent", "basic_auth_password_file",
                                               str, None, _readable_file),
    }
    for first, second in (("tls_cert", "tls_key"), ("basic_auth_user",
                                                    "basic_auth_password_file")):
        if (values[first] is None) != (values[second] is None):
            given, missing = (first, second) if values[first] is not None else (second, first)
            raise reader.fail(f"agent.{given}", f"'{given}' needs 'agent.{missing}' as well "
                                                "(both or neither)")
    return values


def _target(reader: _Reader, entry: Mapping[str, Any], where: str) -> Target:
    reader.check_keys(entry, where, TARGET_KEYS)
    for required in ("name", "host", "port"):
        if required not in entry:
            raise reader.fail(f"{where}.{required}" if required != "name" else where,
                              f"missing required key {required!r}")

    def host_check(value: Any) -> str | None:
        ok = is_ip(value) or is_hostname(value)
        return None if ok else "expected a hostname or an IP address"

    def name_check(value: Any) -> str | None:
        return None if value.strip() else "expected a non-empty label"

    name = reader.get(entry, where, "name", str, "", name_check)
    host = reader.get(entry, where, "host", str, "", host_check)
    port = reader.get(entry, where, "port", int, 0, _between(1, 65535, "a port"))
    expect = reader.get(entry, where, "expect", str, "open", _one_of(EXPECTATIONS))
    return Target(
        name=name,
        host=host,
        port=port,
        dependency=reader.get(entry, where, "dependency", str, infer_dependency(host, port),
                              name_check),
        expect=PortState(expect),
        required=reader.get(entry, where, "required", bool, True),
        count=reader.get(entry, where, "count", int, 3, _between(1, 100, "an integer")),
        trace=reader.get(entry, where, "trace", bool, False),
    )


def _unique(resolvers: Sequence[Resolver]) -> tuple[Resolver, ...]:
    seen: set[tuple[str, int]] = set()
    out: list[Resolver] = []
    for r in resolvers:
        if (r.address, r.port) not in seen:
            seen.add((r.address, r.port))
            out.append(r)
    return tuple(out)


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
        dns_config = replace(dns_config, resolvers=_unique(resolvers))
    chosen = tuple(targets) if targets is not None else config.targets
    if count is not None:
        chosen = tuple(replace(t, count=count) for t in chosen)
    names = [t.name for t in chosen]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise ConfigError(f"duplicate target names {duplicates}; give each --target a "
                          "unique NAME= prefix", key="--target")
    return replace(config, agent=agent, dns=dns_config, targets=chosen)
