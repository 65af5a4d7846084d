"""The agent under real faults, in a pair of namespaces of its own
(tests/helpers/netpair.py: apd-c, apd-s, 198.18.128.0/24): a listen address
that appears late, a NIC flap during rounds, raw sockets that cannot open."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

from tests.conftest import lab_missing
from tests.helpers import netpair
from tests.helpers.agent import Daemon, rounds_after, sample, write_config

pytestmark = pytest.mark.lab

OPEN_PORT, CLOSED_PORT = 8443, 8444


@pytest.fixture
def pair() -> Iterator[netpair.Pair]:
    why = lab_missing()
    if why:
        pytest.skip(why)
    with netpair.running("apd") as made:
        listener = subprocess.Popen(
            [*made.exec_prefix("s"), sys.executable, "tests/helpers/listener.py",
             netpair.SERVICE, str(OPEN_PORT)], stdout=subprocess.PIPE, text=True)
        assert listener.stdout is not None
        listener.stdout.readline()  # "ready"
        try:
            yield made
        finally:
            listener.terminate()
            listener.wait(10)


@pytest.fixture
def agents() -> Iterator[list[Daemon]]:
    started: list[Daemon] = []
    yield started
    for d in started:
        d.stop()


def scrape(pair: netpair.Pair, url: str) -> str:
    out = pair.client(sys.executable, "-c", "import sys, urllib.request; "
                      f"sys.stdout.write(urllib.request.urlopen({url!r}, timeout=10)"
                      ".read().decode())")
    return out.stdout


def targets() -> dict[str, str]:
    return {"web": f"{netpair.SERVICE}:{OPEN_PORT}", "shut": f"{netpair.SERVICE}:{CLOSED_PORT}"}


def test_a_listen_address_that_appears_after_two_seconds(pair: netpair.Pair, tmp_path: Path,
                                                         agents: list[Daemon]) -> None:
    late = "198.18.128.9"
    config = write_config(tmp_path / "probe.toml", targets())
    d = Daemon("-c", str(config), "--listen", f"{late}:9839", prefix=pair.exec_prefix("c"))
    agents.append(d)
    first = d.wait_for("event=listen_retry")
    assert "attempt=1 " in first and "Cannot assign requested address" in first
    time.sleep(2)
    pair.client("ip", "addr", "add", f"{late}/32", "dev", "c0")
    d.started()
    retries = [line for line in d.lines if "event=listen_retry" in line]
    assert [f"attempt={n} " in line for n, line in enumerate(retries, 1)] == [True] * len(retries)
    assert len(retries) >= 2
    assert scrape(pair, f"http://{late}:9839/livez").startswith(("ok", "starting"))
    d.wait_for("event=round ")
    text = scrape(pair, f"http://{late}:9839/metrics")
    assert sample(text, "apim_probe_tcp_success", target="web") == 1


def test_a_nic_flap_during_rounds(pair: netpair.Pair, tmp_path: Path, agents: list[Daemon]) -> None:
    """The link goes down for 1.5 s: no route meanwhile, SYN probes right after."""
    config = write_config(tmp_path / "probe.toml", targets(), method="syn",
                          extra="rate = 20")
    d = Daemon("-c", str(config), "--listen", "127.0.0.1:0", prefix=pair.exec_prefix("c"))
    agents.append(d)
    d.started()
    rounds_after(d, 2)
    fds = psutil.Process(d.proc.pid).num_fds()
    mark = len(d.lines)
    pair.link(up=False)
    time.sleep(1.5)
    pair.link(up=True)
    d.wait_for("event=target_changed", after=mark)
    again = d.wait_for("to=open", after=mark)
    assert "target=web" in again and "from=filtered" in again
    mark = len(d.lines)
    rounds_after(d, 2, after=mark)
    last = [line for line in d.lines if "event=round " in line][-1]
    assert "method=syn" in last and "failing=1" in last  # shut is closed, expected open
    text = scrape(pair, f"http://127.0.0.1:{d.port}/metrics")
    assert sample(text, "apim_probe_tcp_verdict_info", target="web", state="open") == 1
    assert sample(text, "apim_probe_tcp_verdict_info", target="shut", state="closed") == 1
    assert sample(text, "apim_probe_tcp_probe_method", method="syn") == 1
    assert psutil.Process(d.proc.pid).num_fds() == fds  # no socket left behind
    assert d.proc.poll() is None


def test_raw_sockets_that_cannot_open_fall_back_to_connect_then_reopen(
        pair: netpair.Pair, tmp_path: Path, agents: list[Daemon]) -> None:
    """64 descriptors: too few for the SYN engine's 256 reserved ports (EMFILE),
    enough for connect(). Raising the limit lets the reopen succeed."""
    config = write_config(tmp_path / "probe.toml", targets(), method="syn")
    d = Daemon("-c", str(config), "--listen", "127.0.0.1:0",
               prefix=[*pair.exec_prefix("c"), "prlimit", "--nofile=64:"],
               env={"APIM_PROBE_KEEP_NOFILE": "1"})  # else the agent raises it at once
    agents.append(d)
    d.started()
    failed = d.wait_for("event=raw_sockets_failed")
    assert "level=warning" in failed and "fallback=connect" in failed
    round_line = d.wait_for("event=round ")
    assert "method=connect" in round_line
    text = scrape(pair, f"http://127.0.0.1:{d.port}/metrics")
    assert sample(text, "apim_probe_tcp_probe_method", method="connect") == 1
    assert sample(text, "apim_probe_tcp_verdict_info", target="web", state="open") == 1
    retry = d.wait_for("event=raw_socket_retry")
    assert "attempt=1 " in retry and "next_delay_seconds=" in retry
    subprocess.run(["prlimit", "--pid", str(d.proc.pid), "--nofile=4096:"], check=True)
    reopened = d.wait_for("event=raw_sockets_reopened", timeout=30)
    mark = d.lines.index(reopened)
    d.wait_for("event=round ", after=mark)  # perhaps begun before the sockets reopened
    assert "method=syn" in d.wait_for("event=round ", after=len(d.lines))
    text = scrape(pair, f"http://127.0.0.1:{d.port}/metrics")
    assert sample(text, "apim_probe_tcp_probe_method", method="syn") == 1
    assert sample(text, "apim_probe_tcp_verdict_info", target="web", state="open") == 1
