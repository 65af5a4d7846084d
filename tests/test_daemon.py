"""The real agent in a subprocess: real HTTP on 127.0.0.1, real signals,
real config reloads."""

from __future__ import annotations

import contextlib
import gzip
import json
import os
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from probe import httpserver
from tests.helpers.agent import (
    ROOT,
    Daemon,
    basic,
    free_port,
    get,
    rounds_after,
    sample,
    write_config,
)

# --------------------------------------------------------------------------
# the real daemon


@pytest.fixture(scope="module")
def listener() -> Iterator[int]:
    """An open port on 127.0.0.1 (accepts and closes)."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(64)
    stop = threading.Event()

    def accept() -> None:
        server.settimeout(0.2)
        while not stop.is_set():
            try:
                conn, _ = server.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            conn.close()

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield server.getsockname()[1]
    stop.set()
    thread.join(2)
    server.close()


@pytest.fixture
def run_daemon() -> Iterator[type[Daemon]]:
    started: list[Daemon] = []

    class Tracked(Daemon):
        def __init__(self, *args: str) -> None:
            super().__init__(*args)
            started.append(self)

    yield Tracked
    for d in started:
        d.stop()


def open_and_closed_after_a_round(tmp_path: Path, listener: int,
                                  run_daemon: type[Daemon]) -> tuple[Daemon, Path]:
    """A daemon probing the listener ("web", open) and a closed port ("shut"),
    on a port of its own choosing, once its first round is done; and its config."""
    closed = free_port()
    config = write_config(tmp_path / "probe.toml", {"web": f"127.0.0.1:{listener}",
                                                    "shut": f"127.0.0.1:{closed}"})
    d = run_daemon("-c", str(config), "--listen", "127.0.0.1:0").started()
    d.wait_for("event=round ")
    return d, config


def test_serves_metrics_and_health(tmp_path: Path, listener: int,
                                   run_daemon: type[Daemon]) -> None:
    d, _ = open_and_closed_after_a_round(tmp_path, listener, run_daemon)
    status, text = get(d.url("/metrics"))
    assert status == 200
    web = {"target": "web", "address": "127.0.0.1"}
    assert sample(text, "apim_probe_tcp_success", **web) == 1
    assert sample(text, "apim_probe_tcp_verdict_info", **web, state="open") == 1
    assert sample(text, "apim_probe_tcp_verdict_info", target="shut", state="closed") == 1
    assert sample(text, "apim_probe_tcp_probe_method", method="connect") == 1
    assert sample(text, "apim_probe_config_last_reload_successful") == 1
    assert sample(text, "process_resident_memory_bytes") is not None
    assert sample(text, "apim_probe_host_interface_up", interface="lo") == 1
    for path in httpserver.HEALTH_PATHS:
        status, body = get(d.url(path))
        assert status == 200 and body.startswith("ok"), body
    # no endpoint takes a target from the request
    for path in ("/probe?target=127.0.0.1:22", "/probe", "/metrics/../probe"):
        status, _ = get(d.url(path))
        assert status == 404
    status, _ = get(d.url("/metrics"), method="POST")
    assert status == 405
    request = urllib.request.Request(d.url("/metrics"), headers={"Accept-Encoding": "gzip"})
    with urllib.request.urlopen(request, timeout=10) as response:
        assert response.headers["Content-Encoding"] == "gzip"
        assert response.headers["Content-Type"].startswith("text/plain; version=0.0.4")
        body = gzip.decompress(response.read()).decode()
    assert sample(body, "apim_probe_tcp_success", **web) == 1
    assert "event=started" in d.lines[0]


def test_listens_on_ipv6_loopback(tmp_path: Path, listener: int,
                                  run_daemon: type[Daemon]) -> None:
    try:
        with socket.socket(socket.AF_INET6) as probe_socket:
            probe_socket.bind(("::1", 0))
    except OSError:
        pytest.skip("no IPv6 loopback here")
    config = write_config(tmp_path / "probe.toml", {"web": f"127.0.0.1:{listener}"})
    d = run_daemon("-c", str(config), "--listen", "[::1]:0").started()
    status, body = get(f"http://[::1]:{d.port}/livez")
    assert status == 200, body


def test_counters_accumulate_over_rounds(tmp_path: Path, listener: int,
                                         run_daemon: type[Daemon]) -> None:
    config = write_config(tmp_path / "probe.toml", {"web": f"127.0.0.1:{listener}"})
    d = run_daemon("-c", str(config), "--listen", "127.0.0.1:0").started()
    rounds_after(d, 3)
    _, text = get(d.url("/metrics"))
    sent = sample(text, "apim_probe_tcp_packets_sent_total", target="web")
    assert sent is not None and sent >= 3
    assert sample(text, "apim_probe_rounds_total") == pytest.approx(sent)
    assert sample(text, "apim_probe_tcp_packets_received_total", target="web") == pytest.approx(
        sent)


def test_sighup_bad_config_keeps_the_old_one(tmp_path: Path, listener: int,
                                             run_daemon: type[Daemon]) -> None:
    config = write_config(tmp_path / "probe.toml", {"web": f"127.0.0.1:{listener}"})
    d = run_daemon("-c", str(config), "--listen", "127.0.0.1:0").started()
    d.wait_for("event=round ")
    config.write_text("[agent]\ninterval = 'soon'\n", encoding="utf-8")
    d.proc.send_signal(signal.SIGHUP)
    line = d.wait_for("event=reload_rejected")
    assert "level=error" in line and "agent.interval" in line and str(config) in line
    mark = len(d.lines)
    d.wait_for("event=round ", after=mark)  # still probing, with the old config
    _, text = get(d.url("/metrics"))
    assert sample(text, "apim_probe_config_last_reload_successful") == 0
    assert sample(text, "apim_probe_tcp_success", target="web") == 1
    assert d.proc.poll() is None


def test_sighup_with_an_import_over_its_limit_keeps_the_old_config(
        tmp_path: Path, listener: int, run_daemon: type[Daemon]) -> None:
    config = write_config(tmp_path / "probe.toml", {"web": f"127.0.0.1:{listener}"})
    d = run_daemon("-c", str(config), "--listen", "127.0.0.1:0").started()
    d.wait_for("event=round ")
    entries = [{"name": f"h{i}.example.test", "status": "success"} for i in range(30)]
    (tmp_path / "ns.json").write_text(json.dumps(
        {"dnsServers": [], "connectivityStatus": entries}), encoding="utf-8")
    config.write_text(config.read_text(encoding="utf-8") + '\n[apim]\nname = "c"\n'
                      'mode = "internal"\ndomain = "apim.test"\nimport = ["ns.json"]\n'
                      "import_limit = 20\n", encoding="utf-8")
    d.proc.send_signal(signal.SIGHUP)
    line = d.wait_for("event=reload_rejected")
    assert str(tmp_path / "ns.json") in line
    assert "30 entries, over the limit of 20 ([apim] import_limit)" in line
    mark = len(d.lines)
    d.wait_for("event=round ", after=mark)  # still probing, with the old config
    _, text = get(d.url("/metrics"))
    assert sample(text, "apim_probe_config_last_reload_successful") == 0
    assert d.proc.poll() is None


def test_sighup_with_the_config_replaced_by_a_fifo_keeps_probing(
        tmp_path: Path, listener: int, run_daemon: type[Daemon]) -> None:
    # Before: the reload opened the FIFO and waited for a writer, and rounds stalled.
    config = write_config(tmp_path / "probe.toml", {"web": f"127.0.0.1:{listener}"})
    d = run_daemon("-c", str(config), "--listen", "127.0.0.1:0").started()
    d.wait_for("event=round ")
    config.unlink()
    os.mkfifo(config)
    d.proc.send_signal(signal.SIGHUP)
    line = d.wait_for("event=reload_rejected")
    assert "not a regular file" in line and str(config) in line
    mark = len(d.lines)
    d.wait_for("event=round ", after=mark)  # still probing, with the old config
    assert d.proc.poll() is None


def test_sighup_good_config_replaces_targets(tmp_path: Path, listener: int,
                                             run_daemon: type[Daemon]) -> None:
    d, config = open_and_closed_after_a_round(tmp_path, listener, run_daemon)
    _, before = get(d.url("/metrics"))
    stamp = sample(before, "apim_probe_config_last_reload_success_timestamp_seconds")
    assert sample(before, "apim_probe_tcp_success", target="shut") == 0
    write_config(config, {"web": f"127.0.0.1:{listener}"})
    d.proc.send_signal(signal.SIGHUP)
    d.wait_for("event=reloaded")
    rounds_after(d, 2, after=len(d.lines))  # the first may have been in flight already
    _, text = get(d.url("/metrics"))
    assert sample(text, "apim_probe_tcp_success", target="shut") is None  # vanished
    assert sample(text, "apim_probe_tcp_packets_sent_total", target="shut") is None
    assert sample(text, "apim_probe_tcp_success", target="web") == 1
    assert sample(text, "apim_probe_config_last_reload_successful") == 1
    after = sample(text, "apim_probe_config_last_reload_success_timestamp_seconds")
    assert stamp is not None and after is not None and after > stamp


@pytest.mark.skipif(os.geteuid() != 0, reason="SYN probes need root or CAP_NET_RAW")
def test_sighup_can_change_the_probe_method(tmp_path: Path, listener: int,
                                           run_daemon: type[Daemon]) -> None:
    config = write_config(tmp_path / "probe.toml", {"web": f"127.0.0.1:{listener}"})
    d = run_daemon("-c", str(config), "--listen", "127.0.0.1:0").started()
    assert "method=connect" in d.wait_for("event=round ")
    write_config(config, {"web": f"127.0.0.1:{listener}"}, method="syn")
    d.proc.send_signal(signal.SIGHUP)
    d.wait_for("event=reloaded")
    d.wait_for("event=round ", after=len(d.lines))  # perhaps still the old prober's
    assert "method=syn" in d.wait_for("event=round ", after=len(d.lines))
    _, text = get(d.url("/metrics"))
    assert sample(text, "apim_probe_tcp_probe_method", method="syn") == 1
    assert sample(text, "apim_probe_tcp_probe_method", method="connect") is None
    assert sample(text, "apim_probe_tcp_verdict_info", target="web", state="open") == 1
    d.proc.send_signal(signal.SIGTERM)
    assert d.proc.wait(5) == 0


@pytest.fixture
def silent_dns() -> Iterator[int]:
    """A UDP port on 127.0.0.1 that takes DNS queries and never answers."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        yield sock.getsockname()[1]


def test_sigterm_cancels_the_round_in_flight_within_two_seconds(
        tmp_path: Path, silent_dns: int, run_daemon: type[Daemon]) -> None:
    config = write_config(tmp_path / "probe.toml", {"slow": "slow.test:443"},
                          resolver=f"127.0.0.1:{silent_dns}", timeout=30)
    d = run_daemon("-c", str(config), "--listen", "127.0.0.1:0").started()
    time.sleep(0.5)  # the round is waiting on the silent resolver
    began = time.monotonic()
    d.proc.send_signal(signal.SIGTERM)
    status = d.proc.wait(5)
    took = time.monotonic() - began
    assert status == 0
    assert took < 2.0
    d.wait_for("event=stopped")
    assert any("event=round_cancelled" in line for line in d.lines)


def test_health_goes_503_when_rounds_are_stale(tmp_path: Path, silent_dns: int,
                                               run_daemon: type[Daemon]) -> None:
    config = write_config(tmp_path / "probe.toml", {"slow": "slow.test:443"},
                          resolver=f"127.0.0.1:{silent_dns}", timeout=30)
    d = run_daemon("-c", str(config), "--listen", "127.0.0.1:0").started()
    status, body = get(d.url("/livez"))  # alive while starting
    assert status == 200 and body.startswith("starting")
    status, body = get(d.url("/healthz"))  # but not ready: no round to show yet
    assert status == 503 and body.startswith("starting")
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:  # interval 1 s: stale after 3 s with no round
        status, body = get(d.url("/livez"))
        if status == 503:
            break
        time.sleep(0.2)
    assert status == 503 and body.startswith("stale"), body


def test_a_port_still_taken_at_start_is_retried(tmp_path: Path, listener: int,
                                                run_daemon: type[Daemon]) -> None:
    """The previous agent still holds the port for a moment: retry, then serve."""
    config = write_config(tmp_path / "probe.toml", {"web": f"127.0.0.1:{listener}"})
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        d = run_daemon("-c", str(config), "--listen", f"127.0.0.1:{port}")
        first = d.wait_for("event=listen_retry")
    assert "attempt=1 " in first and "next_delay_seconds=" in first
    assert "Address already in use" in first
    d.started()
    assert d.port == port
    status, _ = get(d.url("/livez"))
    assert status == 200


def test_bad_config_at_start_exits_2(tmp_path: Path, run_daemon: type[Daemon]) -> None:
    config = tmp_path / "probe.toml"
    config.write_text("[agent]\nlisten = 'nowhere'\n", encoding="utf-8")
    d = run_daemon("-c", str(config))
    assert d.proc.wait(15) == 2
    assert "agent.listen" in d.wait_for("error")


def test_daemon_basic_auth(tmp_path: Path, listener: int, run_daemon: type[Daemon]) -> None:
    secret = tmp_path / "password"
    secret.write_text("s3cret\n", encoding="utf-8")
    config = write_config(tmp_path / "probe.toml", {"web": f"127.0.0.1:{listener}"},
                          extra=f'basic_auth_user = "prom"\n'
                                f'basic_auth_password_file = "{secret}"')
    d = run_daemon("-c", str(config), "--listen", "127.0.0.1:0").started()
    status, _ = get(d.url("/metrics"))
    assert status == 401
    status, _ = get(d.url("/metrics"), headers={"Authorization": basic("prom:wrong")})
    assert status == 401
    status, text = get(d.url("/metrics"), headers={"Authorization": basic("prom:s3cret")})
    assert status == 200 and "apim_probe_build_info" in text


def test_config_rejects_half_a_pair(tmp_path: Path, listener: int) -> None:
    from probe.config import parse
    from probe.errors import ConfigError
    text = f'[agent]\nbasic_auth_user = "prom"\n[[target]]\nname="w"\nhost="127.0.0.1"\n' \
           f"port={listener}\n"
    with pytest.raises(ConfigError, match="basic_auth_password_file") as info:
        parse(text, source="x.toml")
    assert info.value.key == "agent.basic_auth_user" and info.value.line == 2
    with pytest.raises(ConfigError, match="readable file"):
        parse('[agent]\ntls_cert = "/nonexistent/cert.pem"\ntls_key = "/nonexistent/k"\n')


@pytest.mark.skipif(shutil.which("openssl") is None, reason="needs the openssl command")
def test_tls(tmp_path: Path, listener: int, run_daemon: type[Daemon]) -> None:
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
                    "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
                    "-keyout", str(key), "-out", str(cert)], check=True, capture_output=True,
                   timeout=60)
    config = write_config(tmp_path / "probe.toml", {"web": f"127.0.0.1:{listener}"},
                          extra=f'tls_cert = "{cert}"\ntls_key = "{key}"')
    d = run_daemon("-c", str(config), "--listen", "127.0.0.1:0").started()
    assert "tls=true" in d.wait_for("event=listening")
    context = ssl.create_default_context(cafile=str(cert))
    status, text = get(d.url("/metrics", "https"), context=context)
    assert status == 200 and "apim_probe_build_info" in text
    with pytest.raises((urllib.error.URLError, ConnectionError)):
        get(d.url("/metrics"))  # plain HTTP gets no answer


def test_json_log_and_textfile(tmp_path: Path, listener: int,
                               run_daemon: type[Daemon]) -> None:
    textfile = tmp_path / "apim_probe.prom"
    config = write_config(tmp_path / "probe.toml", {"web": f"127.0.0.1:{listener}"})
    d = run_daemon("-c", str(config), "--listen", "127.0.0.1:0", "--log-format", "json",
                   "--textfile", str(textfile))
    line = d.wait_for('"event": "listening"')
    d.port = json.loads(line)["port"]
    d.wait_for('"event": "round"')
    events = [json.loads(x) for x in d.lines]
    assert all({"time", "level", "event"} <= set(e) for e in events)
    deadline = time.monotonic() + 10  # written off the event loop, after the round's line
    while not textfile.exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    text = textfile.read_text(encoding="utf-8")
    assert sample(text, "apim_probe_tcp_success", target="web") == 1
    assert "process_" not in text
    assert not [p for p in tmp_path.iterdir()  # no temporary left; the lock is expected
                if p.name.startswith(textfile.name + ".") and not p.name.endswith(".lock")]
    d.proc.send_signal(signal.SIGTERM)
    assert d.proc.wait(5) == 0


def test_daemon_does_not_leak_a_traceback_on_sigint(tmp_path: Path, listener: int,
                                                    run_daemon: type[Daemon]) -> None:
    config = write_config(tmp_path / "probe.toml", {"web": f"127.0.0.1:{listener}"})
    d = run_daemon("-c", str(config), "--listen", "127.0.0.1:0").started()
    d.wait_for("event=round ")
    d.proc.send_signal(signal.SIGINT)
    assert d.proc.wait(5) == 0
    d.wait_for("event=stopped")
    assert "Traceback" not in "\n".join(d.lines)
    assert os.path.exists(config)


def test_a_round_longer_than_the_interval_is_logged_as_an_overrun(
        tmp_path: Path, silent_dns: int, run_daemon: type[Daemon]) -> None:
    """interval 1 s, a resolver that never answers within the 2 s timeout."""
    config = write_config(tmp_path / "probe.toml", {"slow": "slow.test:443"},
                          resolver=f"127.0.0.1:{silent_dns}", timeout=2)
    d = run_daemon("-c", str(config), "--listen", "127.0.0.1:0").started()
    line = d.wait_for("event=round_overrun")
    fields = dict(part.split("=", 1) for part in line.split())
    assert fields["level"] == "warning" and fields["interval_seconds"] == "1"
    assert float(fields["overrun_seconds"]) > 0
    assert float(fields["elapsed_seconds"]) == pytest.approx(
        1 + float(fields["overrun_seconds"]), abs=0.01)
    second = d.wait_for("event=round ", after=d.lines.index(line))
    assert "gap_seconds=" in second and "elapsed_seconds=" in second


def test_start_up_and_serving_never_look_a_name_up(tmp_path: Path, listener: int) -> None:
    """Without /etc/hosts a reverse lookup at bind took 6 s (issue 12.12)."""
    config = write_config(tmp_path / "probe.toml", {"web": f"127.0.0.1:{listener}"})
    d = Daemon("-c", str(config), "--listen", "127.0.0.1:0",
               program=("tests/helpers/no_dns.py",))
    try:
        d.started()
        status, body = get(d.url("/livez"))
        assert status == 200, body
        d.wait_for("event=round ")
        status, _ = get(d.url("/metrics"))
        assert status == 200
        assert not [line for line in d.lines if "NAME LOOKUP" in line]
    finally:
        d.stop()


@pytest.mark.skipif(shutil.which("prlimit") is None, reason="needs prlimit (util-linux)")
def test_the_descriptor_limit_is_raised_and_split_once(tmp_path: Path) -> None:
    """Issue 16: with the default soft NOFILE of 1,024 the agent raises it to the
    hard limit and says once how it splits it (probes, HTTP connections)."""
    config = write_config(tmp_path / "probe.toml", {"x": f"127.0.0.1:{free_port()}"})
    d = Daemon("-c", str(config), "--listen", "127.0.0.1:0",
               prefix=["prlimit", "--nofile=1024:4096"]).started()
    try:
        line = d.wait_for("event=resources")
        assert "nofile_soft=4096" in line and "nofile_hard=4096" in line
        assert "probe_concurrency=256" in line and "http_connections=3776" in line
        d.wait_for("event=round ", after=len(d.lines))
        assert sum("event=resources" in entry for entry in d.lines) == 1
    finally:
        d.stop()


# --------------------------------------------------------------------------
# issue 16: signals and reloads never stall probing


def test_a_sighup_storm_is_coalesced_and_sigterm_wins_at_once(tmp_path: Path) -> None:
    config = write_config(tmp_path / "probe.toml", {"x": f"127.0.0.1:{free_port()}"})
    d = Daemon("-c", str(config), "--listen", "127.0.0.1:0").started()
    try:
        d.wait_for("event=round ")
        mark = len(d.lines)
        for _ in range(20):
            d.proc.send_signal(signal.SIGHUP)
        time.sleep(1.5)
        reloads = [line for line in d.lines[mark:] if "event=reloaded" in line]
        d.wait_for("event=reloaded", after=mark)
        assert 1 <= len([x for x in d.lines[mark:] if "event=reloaded" in x]) <= 3, reloads
        for _ in range(20):
            d.proc.send_signal(signal.SIGHUP)
        started = time.monotonic()
        d.proc.send_signal(signal.SIGTERM)
        assert d.proc.wait(5) == 0
        assert time.monotonic() - started < 2.0
    finally:
        d.stop()


def test_a_sighup_while_starting_is_never_fatal(tmp_path: Path) -> None:
    """From the moment our code runs (the interpreter's own start, some 50 ms,
    is before it), SIGHUPs until the agent listens are ignored, not fatal."""
    config = write_config(tmp_path / "probe.toml", {"x": f"127.0.0.1:{free_port()}"})
    d = Daemon("-c", str(config), "--listen", "127.0.0.1:0")
    try:
        time.sleep(0.3)  # python itself starting and importing the cli
        deadline = time.monotonic() + 3
        while time.monotonic() < deadline and not any("event=listening" in x for x in d.lines):
            d.proc.send_signal(signal.SIGHUP)
            time.sleep(0.01)
            with contextlib.suppress(AssertionError):
                d.wait_for("event=listening", timeout=0.01)
        d.started()
        d.wait_for("event=round ")
        assert d.proc.poll() is None
    finally:
        d.stop()


def test_a_changed_config_file_is_reloaded_without_a_signal(tmp_path: Path) -> None:
    """The kubelet swaps a ConfigMap's ..data symlink: the file the agent reads
    through its path changes; so does an editor's save. Both reload."""
    data = tmp_path / "..2026_01"
    data.mkdir()
    write_config(data / "probe.toml", {"x": f"127.0.0.1:{free_port()}"})
    (tmp_path / "..data").symlink_to(data.name)
    (tmp_path / "probe.toml").symlink_to("..data/probe.toml")
    d = Daemon("-c", str(tmp_path / "probe.toml"), "--listen", "127.0.0.1:0").started()
    try:
        d.wait_for("event=round ")
        fresh = tmp_path / "..2026_02"
        fresh.mkdir()
        write_config(fresh / "probe.toml", {"x": f"127.0.0.1:{free_port()}",
                                             "y": f"127.0.0.1:{free_port()}"}, interval=2)
        (tmp_path / "..data_tmp").symlink_to(fresh.name)
        os.replace(tmp_path / "..data_tmp", tmp_path / "..data")  # what the kubelet does
        d.wait_for("event=config_changed", timeout=10)
        line = d.wait_for("event=reloaded", timeout=10)
        assert "targets=2" in line
    finally:
        d.stop()


def test_a_second_agent_on_the_same_textfile_is_refused(tmp_path: Path) -> None:
    config = write_config(tmp_path / "probe.toml", {"x": f"127.0.0.1:{free_port()}"})
    target = tmp_path / "apim_probe.prom"
    first = Daemon("-c", str(config), "--listen", "127.0.0.1:0", "--textfile",
                   str(target)).started()
    try:
        second = subprocess.run([sys.executable, "-m", "probe", "-c", str(config), "--listen",
                                 "127.0.0.1:0", "--textfile", str(target)],
                                capture_output=True, text=True, timeout=30, check=False)
        assert second.returncode == 2
        assert "another apim-probe is writing it" in second.stderr
        assert first.proc.poll() is None
    finally:
        first.stop()


def test_json_logs_hold_only_json_even_for_a_fatal_error(tmp_path: Path) -> None:
    config = write_config(tmp_path / "probe.toml", {"x": f"127.0.0.1:{free_port()}"})
    d = Daemon("-c", str(config), "--listen", "127.0.0.1:0", "--log-format", "json")
    try:
        d.wait_for('"event": "listening"')
        d.wait_for('"event": "round"')
    finally:
        d.stop()
    assert all(json.loads(line)["event"] for line in d.lines)
    bad = tmp_path / "bad.toml"
    bad.write_text("[agent]\ninterval = 0\n", encoding="utf-8")
    proc = subprocess.run([sys.executable, "-m", "probe", "-c", str(bad), "--log-format", "json"],
                          capture_output=True, text=True, timeout=30, check=False)
    assert proc.returncode == 2
    [line] = proc.stderr.splitlines()
    fatal = json.loads(line)
    assert (fatal["level"], fatal["event"], fatal["exit_status"]) == ("error", "fatal", 2)
    assert "agent.interval" in fatal["error"]


def _hostile_reloads(tmp_path: Path) -> dict[str, tuple[str, str]]:
    """name -> (config text, what reload_rejected must say); imports beside it."""
    status = (ROOT / "tests" / "data" / "azure" / "networkstatus.json").read_text("utf-8")
    imports = {"surrogate": ('"error": ""', '"error": "\\ud800"'),
               "digits": ('"isOptional": false', '"isOptional": ' + "9" * 5000),
               "nan": ('"isOptional": false', '"isOptional": NaN')}
    apim = ('[apim]\nname = "contoso"\nmode = "internal"\nregion = "eastus"\n'
            'import = ["{}.json"]\n')
    cases = {"toml-digits": ("[agent]\ninterval = " + "9" * 5000 + "\n", "too long to read"),
             "toml-65-bits": ("[agent]\ncount = 18446744073709551616\n", "beyond 64 bits")}
    for name, (old, new) in imports.items():
        (tmp_path / f"{name}.json").write_text(status.replace(old, new, 1), encoding="utf-8")
        cases[name] = (apim.format(name), f"{name}.json")
    return cases


def test_every_rejected_reload_says_so_and_sets_the_metric_to_0(
        tmp_path: Path, listener: int, run_daemon: type[Daemon]) -> None:
    """Hostile configs and imports given to a running agent: each reload is
    rejected with an event naming the file, the metric goes to 0, probing goes
    on with the old config, and a good reload in between sets it back to 1."""
    config = write_config(tmp_path / "probe.toml", {"web": f"127.0.0.1:{listener}"})
    good = config.read_text(encoding="utf-8")
    d = run_daemon("-c", str(config), "--listen", "127.0.0.1:0").started()
    d.wait_for("event=round ")
    for name, (text, what) in _hostile_reloads(tmp_path).items():
        mark = len(d.lines)
        config.write_text(text, encoding="utf-8")
        d.proc.send_signal(signal.SIGHUP)
        line = d.wait_for("event=reload_rejected", after=mark)
        assert what in line and line.isprintable(), (name, line)
        d.wait_for("event=round ", after=len(d.lines))
        _, metrics = get(d.url("/metrics"))
        assert sample(metrics, "apim_probe_config_last_reload_successful") == 0, name
        assert sample(metrics, "apim_probe_tcp_success", target="web") == 1, name
        mark = len(d.lines)
        config.write_text(good, encoding="utf-8")
        d.proc.send_signal(signal.SIGHUP)
        d.wait_for("event=reloaded", after=mark)
        _, metrics = get(d.url("/metrics"))
        assert sample(metrics, "apim_probe_config_last_reload_successful") == 1, name
    assert d.proc.poll() is None
