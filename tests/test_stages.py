"""Each stage of a round fails alone (issue 16): an exception injected into
every stage in turn (tests/helpers/faults.py) becomes a status on that stage's
part of the result, a ``stage_failed`` event and a count in
``apim_probe_stage_errors_total{stage}``; the rest of the round is reported as
usual, for ``--once`` and for the daemon, which keeps running."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

import pytest

from probe.results import STAGES
from tests.helpers.agent import ROOT, Daemon, free_port, get, rounds_after, sample
from tests.helpers.hostile_dns import HostileDns, answer_with, response


@contextmanager
def listening() -> Iterator[int]:
    """An open port on 127.0.0.1 that accepts and closes."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(64)
    server.settimeout(0.2)
    stop = threading.Event()

    def accept() -> None:
        while not stop.is_set():
            with suppress(TimeoutError, OSError):
                server.accept()[0].close()

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        yield server.getsockname()[1]
    finally:
        stop.set()
        thread.join(2)
        server.close()

FAULTS = str(ROOT / "tests" / "helpers" / "faults.py")
NAME = "web.stages.test"


@pytest.fixture(scope="module")
def config(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """web: a name (asked of a DNS server under test control) on an open port;
    shut: a closed port that should be closed; gone: a closed port that should
    be open, optional (a backend-refused finding, exit status unaffected)."""
    answer = answer_with(lambda q: response(q, answer=[(NAME, "A", ["127.0.0.1"])]))
    with HostileDns({NAME: answer}) as server, listening() as web_port:
        path = tmp_path_factory.mktemp("stages") / "probe.toml"
        path.write_text(
            f'[agent]\ninterval = 1\ntimeout = 0.5\nmethod = "connect"\n\n'
            f'[dns]\nresolvers = ["{server.address}"]\nallow_answers = ["127.0.0.0/8"]\n\n'
            f'[[target]]\nname = "web"\nhost = "{NAME}"\nport = {web_port}\ncount = 1\n'
            f'trace = true\n\n'
            f'[[target]]\nname = "shut"\nhost = "127.0.0.1"\nport = {free_port()}\n'
            f'expect = "closed"\ncount = 1\n\n'
            f'[[target]]\nname = "gone"\nhost = "127.0.0.1"\nport = {free_port()}\n'
            f'required = false\ncount = 1\n', encoding="utf-8")
        yield path


def _skip_unreachable(stage: str) -> None:
    if stage == "trace" and os.geteuid() != 0:
        pytest.skip("the trace stage runs only with raw sockets (root)")


def _once(stage: str, config: Path, fmt: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, FAULTS, "--once", "-c", str(config), "--format", fmt],
                          capture_output=True, text=True, timeout=60, cwd=ROOT, check=False,
                          env={**os.environ, "APIM_PROBE_FAULT": stage})


def test_a_round_without_faults_is_clean(config: Path) -> None:
    proc = subprocess.run([sys.executable, "-m", "probe", "--once", "-c", str(config),
                           "--format", "json"], capture_output=True, text=True, timeout=60,
                          cwd=ROOT, check=False)
    report = json.loads(proc.stdout)
    assert proc.returncode == 0, proc.stderr
    assert report["stage_failures"] == []
    assert {r["target"]: r["state"] for r in report["tcp"]} == {
        "web": "open", "shut": "closed", "gone": "closed"}
    assert [f["id"] for f in report["findings"]] == ["backend-refused"]


@pytest.mark.parametrize("stage", STAGES)
def test_once_reports_the_rest_of_the_round(stage: str, config: Path) -> None:
    _skip_unreachable(stage)
    proc = _once(stage, config, "table" if stage == "export" else "json")
    assert f"the {stage} stage failed" in proc.stderr, proc.stderr
    assert "Traceback" not in proc.stderr
    report = json.loads(proc.stdout)  # the export stage falls back to JSON
    rows = {r["target"]: r for r in report["tcp"]}
    error = f"RuntimeError: injected {stage} fault"
    if stage != "export":
        failures = report["stage_failures"]
        assert len(failures) == 1 and failures[0]["stage"] == stage
        assert failures[0]["error"].endswith(error)
    # what the stage owns says it failed; everything else is as in a clean round
    if stage == "dns":
        assert [d["status"] for d in report["dns"]] == ["error"]
        assert error in report["dns"][0]["detail"]
        assert (rows["web"]["state"], rows["web"]["reason"]) == ("unresolved", "error")
    else:
        assert [d["status"] for d in report["dns"]] == ["ok"]
    if stage == "tcp":
        assert {r["state"] for r in rows.values()} == {"error"}
        assert {r["reason"] for r in rows.values()} == {"stage-failed"}
    else:
        assert (rows["shut"]["state"], rows["gone"]["state"]) == ("closed", "closed")
    assert (report["host"] is None) == (stage == "host")
    if os.geteuid() == 0:  # web asks for a trace: none when it failed or had no address
        assert (report["traces"] == []) == (stage in ("trace", "dns"))
    findings = [f["id"] for f in report["findings"]]
    assert findings == ([] if stage == "tcp" else ["backend-refused"])
    assert proc.returncode == (1 if stage in ("dns", "tcp") else 0)


@pytest.mark.parametrize("stage", STAGES)
def test_the_daemon_counts_it_and_keeps_probing(stage: str, config: Path) -> None:
    _skip_unreachable(stage)
    daemon = Daemon("-c", str(config), "--listen", "127.0.0.1:0", program=(FAULTS,),
                    env={"APIM_PROBE_FAULT": stage})
    try:
        daemon.started()
        rounds_after(daemon, 3)
        line = daemon.wait_for("event=stage_failed")
        assert f"stage={stage} " in line and f"injected {stage} fault" in line
        assert daemon.proc.poll() is None  # still running
        status, text = get(daemon.url("/metrics"))
        assert status == 200
        assert sample(text, "apim_probe_stage_errors_total", stage=stage) >= 2
        assert all(sample(text, "apim_probe_stage_errors_total", stage=other) == 0
                   for other in STAGES if other != stage)
        assert sample(text, "apim_probe_rounds_total") >= 3
        # the rest of the round is exposed as usual
        assert sample(text, "apim_probe_tcp_verdict_info", target="shut",
                      state="error" if stage == "tcp" else "closed") == 1
        refused = sample(text, "apim_probe_finding", id="backend-refused")
        assert refused == (None if stage in ("tcp", "export") else 1)
        assert "round_failed" not in "\n".join(daemon.lines)
    finally:
        daemon.stop()
