"""The agent in daemon mode and Debian's ``prometheus`` scraping it, in the lab's jump box.

Both run inside ``apl-client`` on its own 127.0.0.1: the agent on a port it
picks itself (read back from its ``event=listening ... port=N`` line),
Prometheus on a port the namespace's kernel just handed out, with a generated
config that scrapes the agent (and loads rule files, if any). Everything is
written to ``tmp_path``: probe.toml, agent.log, prometheus.yml,
prometheus.log, tsdb/. Only the two processes started here are stopped, by
PID, when the ``with`` block ends.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import CLIENT_NS, ROOT, in_client
from tests.helpers.processes import stop

JOB = "apim-probe"
LISTEN_TIMEOUT = 10.0  # seconds for the agent to log event=listening


@dataclass(frozen=True)
class PromLab:
    prom_port: int
    agent_port: int
    agent: subprocess.Popen[bytes]
    prom: subprocess.Popen[bytes]

    @property
    def base(self) -> str:
        """Prometheus' HTTP API, as seen from inside the namespace."""
        return f"http://127.0.0.1:{self.prom_port}"


def free_port_in_client() -> int:
    """A port nobody listens on in the (fresh) namespace: ask its kernel."""
    code = ("import socket; s = socket.socket(); s.bind(('127.0.0.1', 0)); "
            "print(s.getsockname()[1])")
    return int(in_client([sys.executable, "-c", code]).stdout)


def listening_port(log: Path, agent: subprocess.Popen[bytes],
                   timeout: float = LISTEN_TIMEOUT) -> int:
    """The port from the agent's ``event=listening`` line, once it is in the log."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for line in log.read_text(errors="replace").splitlines():
            if "event=listening" in line:
                return int(line.split("port=")[1].split()[0])
        if agent.poll() is not None:
            break
        time.sleep(0.1)
    raise AssertionError(f"the agent never logged event=listening "
                         f"(exit {agent.poll()}):\n{log.read_text(errors='replace')}")


def prometheus_config(agent_port: int, *, rule_files: Sequence[Path | str],
                      scrape_interval: str, scrape_timeout: str) -> str:
    """prometheus.yml (JSON is YAML); rules are evaluated as often as the agent is scraped."""
    config: dict[str, Any] = {
        "global": {"scrape_interval": scrape_interval, "scrape_timeout": scrape_timeout},
        "scrape_configs": [{"job_name": JOB,
                            "static_configs": [{"targets": [f"127.0.0.1:{agent_port}"]}]}],
    }
    if rule_files:
        config["global"]["evaluation_interval"] = scrape_interval
        config["rule_files"] = [str(path) for path in rule_files]
    return json.dumps(config)


@contextmanager
def agent_and_prometheus(tmp_path: Path, config_text: str, *,
                         rule_files: Sequence[Path | str] = (), scrape_interval: str = "1s",
                         scrape_timeout: str = "1s") -> Iterator[PromLab]:
    """Start the agent with ``config_text``, then Prometheus scraping it; stop both after.

    Needs the lab (take the ``lab`` fixture first); skips without Debian's prometheus.
    """
    prometheus = shutil.which("prometheus")
    if prometheus is None:
        pytest.skip("Debian's prometheus server is not installed (apt-get install prometheus)")
    config = tmp_path / "probe.toml"
    config.write_text(config_text, encoding="utf-8")
    agent_log = (tmp_path / "agent.log").open("wb")
    prom_log = (tmp_path / "prometheus.log").open("wb")
    agent: subprocess.Popen[bytes] | None = None
    prom: subprocess.Popen[bytes] | None = None
    try:
        agent = subprocess.Popen(
            ["ip", "netns", "exec", CLIENT_NS, sys.executable, "-m", "probe", "-c", str(config),
             "--listen", "127.0.0.1:0"],
            cwd=ROOT, stdin=subprocess.DEVNULL, stdout=agent_log, stderr=subprocess.STDOUT)
        agent_port = listening_port(tmp_path / "agent.log", agent)
        prom_port = free_port_in_client()
        prom_config = tmp_path / "prometheus.yml"
        prom_config.write_text(prometheus_config(
            agent_port, rule_files=rule_files, scrape_interval=scrape_interval,
            scrape_timeout=scrape_timeout), encoding="utf-8")
        prom = subprocess.Popen(
            ["ip", "netns", "exec", CLIENT_NS, prometheus, f"--config.file={prom_config}",
             f"--storage.tsdb.path={tmp_path / 'tsdb'}",
             f"--web.listen-address=127.0.0.1:{prom_port}", "--log.level=warn"],
            cwd=tmp_path, stdin=subprocess.DEVNULL, stdout=prom_log, stderr=subprocess.STDOUT)
        yield PromLab(prom_port, agent_port, agent, prom)
    finally:
        stop(prom)
        stop(agent)
        agent_log.close()
        prom_log.close()
