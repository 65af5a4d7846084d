"""Shared fixtures.

Lab tests (marked ``lab``) need root, iproute2, nftables and dnsmasq; they run
the real CLI inside the ``apl-client`` namespace of the project's own lab and
tear the lab down at the end of the session, even when tests fail.
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import IO, Any

import pytest

# The repository's root is on sys.path (pyproject: [tool.pytest.ini_options]
# pythonpath), so tests import probe, lab, grafana, prometheus and tests.helpers.
ROOT = Path(__file__).resolve().parent.parent

CLIENT_NS = "apl-client"
LAB_LOCK = Path("/run/apim-probe-lab.lock")

# No test reaches a real Azure host (issue 18): an audit hook in this process and,
# through PYTHONPATH, in every Python the tests start refuses the names and
# addresses and logs each attempt here; the session fails if the log is not empty.
GUARD_DIR = ROOT / "tests" / "guard"
GUARD_LOG = Path(os.environ.setdefault(
    "APIM_PROBE_AZURE_GUARD", f"/tmp/apim-probe-azure-guard-{os.getpid()}.log"))
GUARD_LOG.unlink(missing_ok=True)
os.environ["PYTHONPATH"] = os.pathsep.join(
    p for p in (str(GUARD_DIR), os.environ.get("PYTHONPATH", "")) if p)

def _install_guard() -> None:
    """This process's hook (child Pythons load it from PYTHONPATH's sitecustomize)."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("guard_azure", GUARD_DIR / "guard_azure.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["guard_azure"] = module
    spec.loader.exec_module(module)
    module.install()


_install_guard()


def lab_missing() -> str | None:
    if os.geteuid() != 0:
        return "lab tests need root (network namespaces)"
    for tool in ("ip", "nft", "dnsmasq"):
        if shutil.which(tool) is None:
            return f"lab tests need {tool}"
    return None


_LOCKS: list[IO[str]] = []  # the lab lock, while this session holds it


def pytest_collection_finish(session: pytest.Session) -> None:
    """A session that runs lab tests holds the machine's lab lock throughout.

    Namespaces are machine-wide and every lab helper (the shared lab, the
    deploy tests' minilab, the SYN scratch lab, netpair) has fixed names and
    removes a killed run's leftovers before it starts: two sessions at once
    (parallel checkouts, a demo, a bench) would tear each other's labs down.
    So they take turns, a whole session at a time.
    """
    if lab_missing() or not any(item.get_closest_marker("lab") for item in session.items):
        return
    LAB_LOCK.parent.mkdir(parents=True, exist_ok=True)
    lock = LAB_LOCK.open("w")
    _LOCKS.append(lock)
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        print(f"\nwaiting for {LAB_LOCK} (another session is using the lab)", file=sys.stderr)
        fcntl.flock(lock, fcntl.LOCK_EX)


def pytest_sessionfinish(session: pytest.Session) -> None:
    while _LOCKS:
        _LOCKS.pop().close()  # releases the lock
    if GUARD_LOG.exists() and GUARD_LOG.read_text(encoding="utf-8").strip():
        print(f"\nreal Azure hosts were asked for during the tests ({GUARD_LOG}):\n"
              + GUARD_LOG.read_text(encoding="utf-8"), file=sys.stderr)
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


@pytest.fixture(scope="session")
def lab() -> Iterator[None]:
    """The network lab, up for the whole session and always torn down (the
    session already holds the lab lock: ``pytest_collection_finish``)."""
    why = lab_missing()
    if why:
        pytest.skip(why)
    from lab import netlab

    # The kernel limits ICMP errors of unreachable/prohibit routes host-wide
    # (5, then 1 a second); nft answers first with the same type, code and
    # source, so every run sees every answer.
    with netlab.running(deterministic_route_errors=True):
        yield
    leftovers = [ns for ns in _namespaces() if ns.startswith("apl-")]
    assert not leftovers, f"the lab left namespaces behind: {leftovers}"


def _namespaces() -> list[str]:
    out = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True, check=False)
    return [line.split()[0] for line in out.stdout.splitlines() if line.strip()]


def in_client(args: Sequence[str], *, timeout: float = 60, env: dict[str, str] | None = None,
              ) -> subprocess.CompletedProcess[str]:
    """Run a command inside the lab's client namespace (the jump box)."""
    return subprocess.run(["ip", "netns", "exec", CLIENT_NS, *args], capture_output=True,
                          text=True, timeout=timeout, env=env, check=False)


def run_probe(args: Sequence[str], *, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    """The real CLI, as the installed console script would run it, in the client namespace."""
    return in_client([sys.executable, "-m", "probe", *args], timeout=timeout)


def findings_by_id(report: dict[str, Any]) -> dict[str, list[dict[str, Any]]]:
    """A JSON report's findings, grouped by id."""
    out: dict[str, list[dict[str, Any]]] = {}
    for finding in report["findings"]:
        out.setdefault(finding["id"], []).append(finding)
    return out


def probe_json(args: Sequence[str], *, timeout: float = 60) -> tuple[int, dict[str, Any]]:
    proc = run_probe([*args, "--format", "json"], timeout=timeout)
    assert proc.stdout, f"no JSON on stdout; stderr: {proc.stderr}"
    return proc.returncode, json.loads(proc.stdout)
