"""The agent as an unprivileged user whose only capability is CAP_NET_RAW
(what the systemd unit grants), inside the lab's jump box: it SYN-probes;
without the capability it falls back to connect() and says so once."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import pytest

from tests.conftest import CLIENT_NS, ROOT, in_client

pytestmark = pytest.mark.lab

AZURE_DNS = "198.18.2.53"
TARGETS = ["--target", "mgmt=198.18.2.10:3443", "--target", "orders=198.18.2.14:8080",
           "--resolver", AZURE_DNS, "--timeout", "1"]
WITH_NET_RAW = ["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups",
                "--inh-caps=-all,+net_raw", "--ambient-caps=+net_raw",
                "--bounding-set=-all,+net_raw"]
WITHOUT = ["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups",
           "--inh-caps=-all", "--bounding-set=-all"]


def needs_setpriv() -> None:
    if shutil.which("setpriv") is None:
        pytest.skip("needs setpriv (util-linux)")


def once_json(prefix: Sequence[str]) -> tuple[dict[str, object], str]:
    proc = in_client([*prefix, sys.executable, "-m", "probe", "--once", *TARGETS,
                      "--format", "json"])
    assert proc.stdout, proc.stderr
    return json.loads(proc.stdout), proc.stderr


def test_only_cap_net_raw_is_enough_for_syn_probes(lab: None) -> None:
    needs_setpriv()
    report, stderr = once_json(WITH_NET_RAW)
    rows = {row["target"]: row for row in report["tcp"]}  # type: ignore[attr-defined]
    assert {row["method"] for row in rows.values()} == {"syn"}, stderr
    assert (rows["mgmt"]["state"], rows["mgmt"]["reason"]) == ("open", "syn-ack")
    assert (rows["orders"]["state"], rows["orders"]["reason"]) == ("closed", "reset")
    assert "warning" not in stderr


def test_without_the_capability_it_falls_back_to_connect_and_says_so(lab: None) -> None:
    needs_setpriv()
    report, stderr = once_json(WITHOUT)
    rows = {row["target"]: row for row in report["tcp"]}  # type: ignore[attr-defined]
    assert {row["method"] for row in rows.values()} == {"connect"}
    assert rows["mgmt"]["state"] == "open" and rows["orders"]["state"] == "closed"
    warnings = [line for line in stderr.splitlines() if "warning" in line]
    assert len(warnings) == 1 and "CAP_NET_RAW" in warnings[0], stderr


def test_the_daemon_as_nobody_with_cap_net_raw(lab: None, tmp_path: Path) -> None:
    needs_setpriv()
    log = tmp_path / "agent.log"
    with log.open("w") as err:
        agent = subprocess.Popen(["ip", "netns", "exec", CLIENT_NS, *WITH_NET_RAW,
                                  sys.executable, "-m", "probe", *TARGETS,
                                  "--listen", "127.0.0.1:0"], cwd=ROOT,
                                 stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                 stderr=err)
        try:
            deadline = time.monotonic() + 20
            while "event=round " not in log.read_text() and time.monotonic() < deadline:
                assert agent.poll() is None, log.read_text()
                time.sleep(0.1)
            text = log.read_text()
            assert "event=started" in text and "method=syn" in text, text
            round_line = next(line for line in text.splitlines() if "event=round " in line)
            assert "method=syn" in round_line and "failing=1" in round_line
            assert "level=warning" not in text
        finally:
            agent.terminate()
            status = agent.wait(5)
    assert status == 0
    assert "event=stopped" in log.read_text()
