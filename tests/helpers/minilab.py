"""A two-namespace lab of the deploy tests' own (names apd-*): a server with
one open port and one closed port, and a client namespace a container or an
nspawn machine joins. 198.19.251.0/24 only, a veth between the two, no
default route, no link to the host namespace; always torn down.

    with minilab("ctr") as lab:   # namespaces apd-ctr-srv, apd-ctr-cli
        podman run --network ns:/run/netns/apd-ctr-cli ...
"""

from __future__ import annotations

import re
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path

LISTENER = Path(__file__).resolve().parent / "listener.py"
SERVER_ADDR = "198.19.251.1"
CLIENT_ADDR = "198.19.251.2"
OPEN_PORT = 443
CLOSED_PORT = 8081
DROPPED_PORT = 7001   # the server's nftables drops SYNs to it (an NSG deny)
REJECTED_PORT = 7002  # and rejects these with ICMP admin-prohibited (a firewall)


@dataclass(frozen=True)
class MiniLab:
    server_ns: str
    client_ns: str

    @property
    def client_netns_path(self) -> str:
        return f"/run/netns/{self.client_ns}"

    def toml(self, *, interval: float = 2, listen: str = "0.0.0.0:9839",
             trace: bool = False, failing: bool = False) -> str:
        """A config probing the open and the closed port (IP targets: no DNS
        question); `trace` traces the open one every round; `failing` adds a
        refused, a dropped and a rejected target that expect `open` (failing
        targets are traced every round when raw sockets are allowed)."""
        text = (f'[agent]\ninterval = {interval}\ntimeout = 1.0\nlisten = "{listen}"\n\n'
                f'[dns]\nresolvers = ["{SERVER_ADDR}"]\n\n'
                f'[[target]]\nname = "open"\nhost = "{SERVER_ADDR}"\nport = {OPEN_PORT}\n'
                f'count = 1\ntrace = {str(trace).lower()}\n\n'
                f'[[target]]\nname = "closed"\nhost = "{SERVER_ADDR}"\nport = {CLOSED_PORT}\n'
                f'expect = "closed"\ncount = 1\n')
        for name, port in (("refused", CLOSED_PORT), ("dropped", DROPPED_PORT),
                           ("rejected", REJECTED_PORT)) if failing else ():
            text += (f'\n[[target]]\nname = "{name}"\nhost = "{SERVER_ADDR}"\nport = {port}\n'
                     f'count = 1\nrequired = false\n')
        return text


def _ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, capture_output=True, text=True, timeout=30)


def _in(ns: str, *args: str) -> None:
    _ip("netns", "exec", ns, *args)


@contextmanager
def minilab(tag: str) -> Iterator[MiniLab]:
    lab = MiniLab(server_ns=f"apd-{tag}-srv", client_ns=f"apd-{tag}-cli")
    _teardown(lab)  # leftovers of a killed run
    listener: subprocess.Popen[str] | None = None
    try:
        for ns in (lab.server_ns, lab.client_ns):
            _ip("netns", "add", ns)
            _in(ns, "ip", "link", "set", "lo", "up")
            _in(ns, "sysctl", "-qw", "net.ipv4.icmp_ratelimit=0")
        _ip("link", "add", f"apd-{tag}-s", "netns", lab.server_ns, "type", "veth",
            "peer", "name", f"apd-{tag}-c", "netns", lab.client_ns)
        _in(lab.server_ns, "ip", "addr", "add", f"{SERVER_ADDR}/24", "dev", f"apd-{tag}-s")
        _in(lab.server_ns, "ip", "link", "set", f"apd-{tag}-s", "up")
        _in(lab.client_ns, "ip", "addr", "add", f"{CLIENT_ADDR}/24", "dev", f"apd-{tag}-c")
        _in(lab.client_ns, "ip", "link", "set", f"apd-{tag}-c", "up")
        subprocess.run(["ip", "netns", "exec", lab.server_ns, "nft", "-f", "-"], check=True,
                       capture_output=True, text=True, timeout=30, input=(
                           "table inet apd {\n chain in {\n"
                           "  type filter hook input priority 0;\n"
                           f"  tcp dport {DROPPED_PORT} drop\n"
                           f"  tcp dport {REJECTED_PORT} reject with icmp type admin-prohibited\n"
                           " }\n}\n"))
        listener = subprocess.Popen(["ip", "netns", "exec", lab.server_ns, sys.executable,
                                     str(LISTENER), SERVER_ADDR, str(OPEN_PORT)],
                                    stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                                    stdin=subprocess.DEVNULL, text=True)
        assert listener.stdout is not None and listener.stdout.readline().strip() == "ready"
        yield lab
    finally:
        if listener is not None:
            listener.terminate()
            with suppress(subprocess.TimeoutExpired):
                listener.wait(5)
            if listener.poll() is None:
                listener.kill()
                listener.wait(5)
        _teardown(lab)


def _teardown(lab: MiniLab) -> None:
    # Deleting a namespace deletes its veth end, and with it the peer.
    for ns in (lab.server_ns, lab.client_ns):
        subprocess.run(["ip", "netns", "delete", ns], capture_output=True, check=False,
                       timeout=30)


def fetch(netns: str, url: str, *, timeout: float = 2) -> tuple[int, str]:
    """GET url from inside a namespace: (status, body); status 0 when nothing answered."""
    code = ("import sys, urllib.request as u, urllib.error as e\n"
            "try:\n r = u.urlopen(sys.argv[1], timeout=float(sys.argv[2]))\n"
            " print(r.status); print(r.read().decode())\n"
            "except e.HTTPError as x:\n print(x.code)\n"
            "except OSError:\n print(0)\n")
    proc = subprocess.run(["ip", "netns", "exec", netns, sys.executable, "-c", code, url,
                           str(timeout)], capture_output=True, text=True,
                          timeout=timeout + 10, check=False)
    status, _, body = proc.stdout.partition("\n")
    return int(status or 0), body


def wait_healthy(netns: str, *, within: float, base: str = "http://127.0.0.1:9839") -> float:
    """Seconds until /healthz answers 200 (fails after `within`)."""
    started = time.monotonic()
    while time.monotonic() - started < within:
        if fetch(netns, f"{base}/healthz", timeout=1)[0] == 200:
            return time.monotonic() - started
        time.sleep(0.1)
    raise AssertionError(f"/healthz did not answer 200 within {within} s")


def wait_metrics(netns: str, wanted: str, *, within: float = 20,
                 base: str = "http://127.0.0.1:9839") -> str:
    """/metrics once it contains `wanted` (fails after `within`)."""
    deadline = time.monotonic() + within
    body = ""
    while time.monotonic() < deadline:
        status, body = fetch(netns, f"{base}/metrics")
        if status == 200 and wanted in body:
            return body
        time.sleep(0.2)
    raise AssertionError(f"{wanted!r} not in /metrics within {within} s:\n{body[-2000:]}")


def verdicts(metrics: str) -> dict[str, tuple[str, str]]:
    """target -> (state, reason), from apim_probe_tcp_verdict_info lines."""
    out: dict[str, tuple[str, str]] = {}
    for line in metrics.splitlines():
        if line.startswith("apim_probe_tcp_verdict_info{") and line.endswith(" 1.0"):
            labels = dict(re.findall(r'(\w+)="([^"]*)"', line))
            out[labels["target"]] = (labels["state"], labels["reason"])
    return out
