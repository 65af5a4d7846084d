"""``probe --once --format prom`` and ``--textfile``: the real CLI on loopback."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def open_port() -> Iterator[int]:
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(16)
        yield server.getsockname()[1]


def probe(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "probe", "--once", "--method", "connect",
                           "--resolver", "127.0.0.1", *args], cwd=ROOT, capture_output=True,
                          text=True, timeout=60, check=False)


def samples(text: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    return {(s.name, frozenset(s.labels.items())): s.value
            for f in text_string_to_metric_families(text) for s in f.samples}


def test_format_prom_prints_the_exposition(open_port: int) -> None:
    proc = probe("--target", f"web=127.0.0.1:{open_port}", "--format", "prom")
    assert proc.returncode == 0, proc.stderr
    got = samples(proc.stdout)
    labels = frozenset({"target": "web", "address": "127.0.0.1"}.items())
    assert got[("apim_probe_tcp_success", labels)] == 1
    assert got[("apim_probe_tcp_packets_sent_total", labels)] == 3
    assert got[("apim_probe_tcp_verdict_info", labels | {("state", "open"),
                ("reason", "syn-ack"), ("responder", "127.0.0.1")})] == 1
    assert got[("apim_probe_target_info", frozenset({
        "target": "web", "dependency": "other", "host": "127.0.0.1", "port": str(open_port),
        "expected": "open", "required": "true"}.items()))] == 1
    assert ("apim_probe_last_round_timestamp_seconds", frozenset()) in got
    assert not any(name.startswith("process_") for name, _ in got)
    assert not any(name.startswith("apim_probe_tcp_attempt_rtt") for name, _ in got)


def test_prom_and_textfile_are_the_same_bytes_and_the_histogram_is_opt_in(
        tmp_path: Path, open_port: int) -> None:
    config = tmp_path / "probe.toml"
    config.write_text(f'[metrics]\nrtt_histogram = true\n[dns]\nresolvers = ["127.0.0.1"]\n'
                      f'[[target]]\nname = "web"\nhost = "127.0.0.1"\nport = {open_port}\n')
    path = tmp_path / "apim_probe.prom"
    proc = subprocess.run([sys.executable, "-m", "probe", "--once", "--method", "connect",
                           "-c", str(config), "--format", "prom", "--textfile", str(path)],
                          cwd=ROOT, capture_output=True, text=True, timeout=60, check=False)
    assert proc.returncode == 0, proc.stderr
    assert path.read_text(encoding="utf-8") == proc.stdout
    got = samples(proc.stdout)
    web = {("target", "web"), ("address", "127.0.0.1")}
    assert got[("apim_probe_tcp_attempt_rtt_seconds_count", frozenset(web))] == 3
    assert got[("apim_probe_tcp_attempt_rtt_seconds_bucket",
                frozenset(web | {("le", "+Inf")}))] == 3


def test_textfile_is_written_and_the_report_still_printed(tmp_path: Path,
                                                          open_port: int) -> None:
    path = tmp_path / "apim_probe.prom"
    proc = probe("--target", f"web=127.0.0.1:{open_port}", "--format", "json",
                 "--textfile", str(path))
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)
    assert report["tcp"][0]["state"] == "open"
    assert report["host"]["routes"][0] == {"address": "127.0.0.1", "source": "127.0.0.1",
                                           "interface": "lo", "error": ""}
    got = samples(path.read_text(encoding="utf-8"))
    assert any(name == "apim_probe_tcp_success" and value == 1 for (name, _), value in
               got.items())
    # no temporary left behind; the writers' lock (PATH.lock) stays, empty
    assert sorted(os.listdir(tmp_path)) == ["apim_probe.prom", "apim_probe.prom.lock"]


def test_textfile_in_a_missing_directory_is_a_clear_error(tmp_path: Path,
                                                          open_port: int) -> None:
    proc = probe("--target", f"web=127.0.0.1:{open_port}", "--textfile",
                 str(tmp_path / "nope" / "x.prom"))
    assert proc.returncode == 2
    assert "--textfile" in proc.stderr and "Traceback" not in proc.stderr


def test_table_has_a_host_section(open_port: int) -> None:
    proc = probe("--target", f"web=127.0.0.1:{open_port}", "--color", "never")
    assert proc.returncode == 0, proc.stderr
    assert "HOST (where the probes leave from)" in proc.stdout
    assert "127.0.0.1: via lo from 127.0.0.1" in proc.stdout
    assert proc.stdout.rstrip().splitlines()[-1].startswith("1/1 required")
