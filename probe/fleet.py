"""``probe fleet --prometheus URL``: the fleet as one Prometheus-compatible
API sees it (a central Prometheus, Thanos, Mimir, Azure Monitor managed
Prometheus), for the incident call where nobody opens Grafana.

Three instant queries (probe/promql.py, the same PromQL as the alerts):
every agent's failing-round streak per target, the age of every agent's
last round, and ``apim_probe_agent_info``. From them, pure functions build
the grid (agent x dependency endpoint), the disagreements ("fails from
VNet B, works from A and C": local to B's NSG, routes or DNS) and the
endpoints that fail from every agent (the dependency itself, or Azure).

An agent is whatever the answers' labels say it is, minus the per-target
ones: ``instance`` under central scraping, external labels such as ``vnet``
and ``region`` under remote_write. Nothing is assumed about their names; the
display name prefers ``vnet`` and ``region`` when they are there.

Exit status: 0 nothing fails, 1 something fails from some agent, 2 usage
or the API could not be read (the message says which URL and what came back).
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from probe.boundary import load_json
from probe.display import printable
from probe.errors import InputError, ProbeError, UsageError
from probe.files import read_utf8
from probe.promql import AGE, PER_TARGET, ROUNDS, TARGET_FAILING

__all__ = ["Agent", "Endpoint", "Fleet", "build", "main", "render_json", "render_table"]

RESPONSE_LIMIT = 64 << 20  # bytes of one API answer
TOKEN_LIMIT = 64 << 10
Labels = Mapping[str, str]
AgentKey = tuple[tuple[str, str], ...]


class FleetError(ProbeError):
    """The API could not be read, or answered something that is not a vector."""


@dataclass(frozen=True, slots=True)
class Agent:
    key: AgentKey  # its identity labels, sorted
    name: str
    last_round_age: float | None = None  # seconds
    labels: Mapping[str, str] = field(default_factory=dict)  # from apim_probe_agent_info


@dataclass(frozen=True, slots=True)
class Endpoint:
    dependency: str
    host: str
    port: str
    streaks: Mapping[AgentKey, int]  # failing rounds per agent that probes it

    @property
    def label(self) -> str:
        return f"{self.dependency} {self.host}:{self.port}"

    def failing(self) -> list[AgentKey]:
        return [k for k, n in self.streaks.items() if n >= ROUNDS]

    def working(self) -> list[AgentKey]:
        return [k for k, n in self.streaks.items() if n == 0]


@dataclass(frozen=True, slots=True)
class Fleet:
    source: str
    agents: tuple[Agent, ...]
    endpoints: tuple[Endpoint, ...]

    def name(self, key: AgentKey) -> str:
        return next((a.name for a in self.agents if a.key == key), display_name(key))

    def names(self, keys: Sequence[AgentKey]) -> list[str]:
        return sorted(self.name(k) for k in keys)

    def disagreements(self) -> list[Endpoint]:
        """Fails from some agents while at least one other reaches it."""
        return [e for e in self.endpoints if e.failing() and e.working()]

    def everywhere(self) -> list[Endpoint]:
        """Probed by two or more agents and failing from each."""
        return [e for e in self.endpoints
                if len(e.streaks) >= 2 and len(e.failing()) == len(e.streaks)]


# --------------------------------------------------------------------------
# pure: answers -> fleet


_clean = printable  # a label value from someone else's server


def display_name(key: AgentKey) -> str:
    labels = dict(key)
    if "vnet" in labels:
        return labels["vnet"] + (f" ({labels['region']})" if "region" in labels else "")
    rest = [f"{k}={v}" for k, v in key if k not in ("job", "instance")]
    return ", ".join([labels.get("instance", "?"), *rest]) if rest else labels.get(
        "instance", "?")


def agent_key(labels: Labels, drop: Sequence[str] = ()) -> AgentKey:
    return tuple(sorted((k, v) for k, v in labels.items() if k != "__name__" and k not in drop))


def _number(value: str) -> float:
    number = float(value)
    return number if math.isfinite(number) else 0.0


def build(source: str, streaks: Sequence[tuple[Labels, str]],
          ages: Sequence[tuple[Labels, str]], infos: Sequence[tuple[Labels, str]]) -> Fleet:
    """The fleet from the three queries' answers (labels, value)."""
    keys: dict[AgentKey, None] = {}
    endpoints: dict[tuple[str, str, str], dict[AgentKey, int]] = {}
    for labels, value in streaks:
        key = agent_key(labels, PER_TARGET)
        keys[key] = None
        where = (labels.get("dependency", ""), labels.get("host", ""), labels.get("port", ""))
        runs = max(int(_number(value)), 0)
        per_agent = endpoints.setdefault(where, {})
        per_agent[key] = max(per_agent.get(key, 0), runs)  # two targets, one endpoint
    age_of: dict[AgentKey, float] = {}
    for labels, value in ages:
        key = agent_key(labels)
        keys.setdefault(key, None)
        age_of[key] = _number(value)
    agents = []
    for key in keys:
        identity = dict(key)
        # agent_info carries the agent's identity plus its [agent] labels.
        extra = next((dict(agent_key(labels)) for labels, _ in infos
                      if identity.items() <= dict(agent_key(labels)).items()), {})
        named = {**{k: v for k, v in extra.items() if k not in identity}, **identity}
        agents.append(Agent(key, display_name(agent_key(named)), age_of.get(key),
                            {k: v for k, v in extra.items() if k not in identity}))
    agents.sort(key=lambda a: a.name)
    return Fleet(source, tuple(agents), tuple(
        Endpoint(dep, host, port, per_agent)
        for (dep, host, port), per_agent in sorted(endpoints.items())))


# --------------------------------------------------------------------------
# pure: fleet -> text


def _cell(endpoint: Endpoint, key: AgentKey) -> str:
    if key not in endpoint.streaks:
        return "-"
    runs = endpoint.streaks[key]
    if runs >= ROUNDS:
        return f"FAIL {runs}"
    return "ok" if runs == 0 else f"ok? {runs}"  # one failing round: not yet a failure


def _age(seconds: float | None) -> str:
    return "never" if seconds is None else f"{seconds:.0f} s ago"


def render_table(fleet: Fleet) -> str:
    names = [_clean(a.name) for a in fleet.agents]
    lines = [f"FLEET  {len(fleet.agents)} agent(s), {len(fleet.endpoints)} endpoint(s), "
             f"from {_clean(fleet.source)}", "", "AGENT  LAST ROUND  LABELS"]
    lines += [f"  {name}  {_age(a.last_round_age)}  "
              + (", ".join(f"{_clean(k)}={_clean(v)}" for k, v in sorted(a.labels.items()))
                 or "-") for name, a in zip(names, fleet.agents, strict=True)]
    width = max([len(_clean(e.label)) for e in fleet.endpoints] + [8])
    cols = [max(len(n), 6) for n in names]
    lines += ["", "ENDPOINT".ljust(width) + "  " + "  ".join(
        n.ljust(w) for n, w in zip(names, cols, strict=True))]
    for e in fleet.endpoints:
        lines.append(_clean(e.label).ljust(width) + "  " + "  ".join(
            _cell(e, a.key).ljust(w) for a, w in zip(fleet.agents, cols, strict=True)))
    lines += ["", "FAILS HERE, WORKS ELSEWHERE"]
    lines += [f"  {_clean(e.label)} fails from "
              f"{', '.join(_clean(n) for n in fleet.names(e.failing()))}, works from "
              f"{', '.join(_clean(n) for n in fleet.names(e.working()))}: local to the failing "
              "VNet's NSG, routes or DNS" for e in fleet.disagreements()] or ["  none"]
    lines += ["", "FAILS FROM EVERY AGENT"]
    lines += [f"  {_clean(e.label)} fails from all {len(e.streaks)} agents: the dependency "
              "itself, a change made to every VNet, or Azure" for e in fleet.everywhere()] \
        or ["  none"]
    return "\n".join(lines) + "\n"


def to_dict(fleet: Fleet) -> dict[str, Any]:
    def agent_ref(key: AgentKey) -> str:
        return fleet.name(key)

    return {
        "source": fleet.source,
        "failing_after_rounds": ROUNDS,
        "agents": [{"name": a.name, "identity": dict(a.key), "labels": dict(a.labels),
                    "last_round_age_seconds": a.last_round_age} for a in fleet.agents],
        "endpoints": [{"dependency": e.dependency, "host": e.host, "port": e.port,
                       "failing_rounds": {agent_ref(k): n for k, n in e.streaks.items()}}
                      for e in fleet.endpoints],
        "fails_here_works_elsewhere": [
            {"dependency": e.dependency, "host": e.host, "port": e.port,
             "failing": fleet.names(e.failing()),
             "working": fleet.names(e.working())} for e in fleet.disagreements()],
        "fails_everywhere": [
            {"dependency": e.dependency, "host": e.host, "port": e.port,
             "agents": len(e.streaks)} for e in fleet.everywhere()],
    }


def render_json(fleet: Fleet) -> str:
    return json.dumps(to_dict(fleet), indent=2, ensure_ascii=True) + "\n"


def exit_status(fleet: Fleet) -> int:
    return 1 if any(e.failing() for e in fleet.endpoints) else 0


# --------------------------------------------------------------------------
# I/O: the Prometheus HTTP API


def _vector(base: str, query: str, token: str | None, timeout: float,
            ) -> list[tuple[dict[str, str], str]]:
    url = base.rstrip("/") + "/api/v1/query?" + urllib.parse.urlencode({"query": query})
    request = urllib.request.Request(url, headers={"Accept": "application/json"})
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            body = response.read(RESPONSE_LIMIT + 1)
    except urllib.error.HTTPError as exc:
        raise FleetError(f"{base}: the query API answered HTTP {exc.code} {exc.reason}"
                         + (" (check --bearer-token-file)" if exc.code in (401, 403) else ""),
                         ) from None
    except (urllib.error.URLError, OSError, ValueError) as exc:
        reason = getattr(exc, "reason", exc)
        raise FleetError(f"{base}: cannot query: {reason}") from None
    if len(body) > RESPONSE_LIMIT:
        raise FleetError(f"{base}: the answer is larger than {RESPONSE_LIMIT} bytes")
    try:
        answer = load_json(body, base, expected="a Prometheus query API answer")
        if answer.get("status") != "success" or answer["data"]["resultType"] != "vector":
            raise ValueError(answer.get("error") or "not a successful vector answer")
        return [({str(k): str(v) for k, v in item["metric"].items()}, str(item["value"][1]))
                for item in answer["data"]["result"]]
    except InputError as exc:
        raise FleetError(f"{base}: {printable(exc.message)[:200]}") from None
    except (ValueError, KeyError, TypeError, IndexError, AttributeError) as exc:
        raise FleetError(f"{base}: expected a Prometheus query API answer (status success, "
                         f"a vector), got: {str(exc)[:200]}") from None


def read(base: str, token: str | None = None, timeout: float = 10.0) -> Fleet:
    return build(base, _vector(base, TARGET_FAILING, token, timeout),
                 _vector(base, AGE, token, timeout),
                 _vector(base, "apim_probe_agent_info", token, timeout))


def _url(text: str) -> str:
    parts = urllib.parse.urlsplit(text)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise argparse.ArgumentTypeError(f"expected an http:// or https:// URL, got {text!r}")
    return text


def main(argv: Sequence[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="probe fleet",
        description="The fleet from a Prometheus-compatible query API: agent x dependency "
                    "grid, where it fails here but works elsewhere, what fails everywhere, "
                    "each agent's last round. Exit 0 nothing fails, 1 something fails, 2 "
                    "usage or the API could not be read.")
    parser.add_argument("--prometheus", type=_url, required=True, metavar="URL",
                        help="the query API's base URL (Prometheus, Thanos, Mimir's "
                             "/prometheus, Azure Monitor managed Prometheus' query endpoint)")
    parser.add_argument("--bearer-token-file", type=Path, metavar="PATH",
                        help="a file holding a bearer token (Azure Monitor: an Entra ID token "
                             "for https://prometheus.monitor.azure.com)")
    parser.add_argument("--format", choices=("table", "json"), default="table")
    parser.add_argument("--timeout", type=float, default=10.0, metavar="S",
                        help="seconds per query (default 10)")
    args = parser.parse_args(argv)
    try:
        token = None
        if args.bearer_token_file:
            token = read_utf8(args.bearer_token_file, TOKEN_LIMIT, error=InputError).strip()
            if not token or any(not c.isprintable() or c.isspace() for c in token):
                raise UsageError(f"{args.bearer_token_file}: expected one bearer token "
                                 "(printable, no spaces)")
        fleet = read(args.prometheus, token, args.timeout)
    except ProbeError as exc:
        print(f"probe fleet: error: {exc}", file=sys.stderr)
        return 2
    sys.stdout.write(render_json(fleet) if args.format == "json" else render_table(fleet))
    return exit_status(fleet)
