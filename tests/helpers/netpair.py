"""Two network namespaces joined by one veth pair, addressed from 198.18.0.0/15.

    with netpair.running("apd") as pair:      # namespaces apd-c and apd-s
        pair.client("ip", "addr")             # runs inside apd-c

For tests and benchmarks of the agent itself (fault injection, soak) that
need a link of their own to take down, fill or re-address without touching
the shared lab. No namespace gets a default route or a link to the host.

    <prefix>-c  CLIENT (dev c0) ---- SERVICE (dev s0)  <prefix>-s
"""

from __future__ import annotations

import contextlib
import subprocess
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

CLIENT = "198.18.128.1"
SERVICE = "198.18.128.2"
PREFIX_LEN = 24


def _run(args: Sequence[str], *, check: bool = True,
         input: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(list(args), capture_output=True, text=True, check=check, input=input)


@dataclass(frozen=True)
class Pair:
    prefix: str

    @property
    def client_ns(self) -> str:
        return f"{self.prefix}-c"

    @property
    def service_ns(self) -> str:
        return f"{self.prefix}-s"

    def client(self, *args: str, check: bool = True,
               input: str | None = None) -> subprocess.CompletedProcess[str]:
        return _run(["ip", "netns", "exec", self.client_ns, *args], check=check, input=input)

    def service(self, *args: str, check: bool = True,
                input: str | None = None) -> subprocess.CompletedProcess[str]:
        return _run(["ip", "netns", "exec", self.service_ns, *args], check=check, input=input)

    def exec_prefix(self, side: str = "c") -> list[str]:
        """The command prefix that runs a program inside one side (``c`` or ``s``)."""
        return ["ip", "netns", "exec", f"{self.prefix}-{side}"]

    def link(self, up: bool) -> None:
        """Take the client's link down or bring it up again (routes restored)."""
        self.client("ip", "link", "set", "c0", "up" if up else "down")
        if up:
            self.client("ip", "addr", "replace", f"{CLIENT}/{PREFIX_LEN}", "dev", "c0")


def down(prefix: str) -> None:
    names = _run(["ip", "netns", "list"], check=False).stdout.split()
    for ns in (f"{prefix}-c", f"{prefix}-s"):
        if ns in names:
            _run(["ip", "netns", "del", ns], check=False)


def up(prefix: str) -> Pair:
    down(prefix)
    pair = Pair(prefix)
    for ns in (pair.client_ns, pair.service_ns):
        _run(["ip", "netns", "add", ns])
        _run(["ip", "netns", "exec", ns, "ip", "link", "set", "lo", "up"])
        for key in ("net.ipv4.icmp_ratelimit=0", "net.core.somaxconn=65535",
                    "net.ipv4.tcp_max_syn_backlog=65536"):
            _run(["ip", "netns", "exec", ns, "sysctl", "-qw", key], check=False)
    _run(["ip", "link", "add", "c0", "netns", pair.client_ns, "type", "veth", "peer", "s0",
          "netns", pair.service_ns])
    pair.client("ip", "addr", "add", f"{CLIENT}/{PREFIX_LEN}", "dev", "c0")
    pair.service("ip", "addr", "add", f"{SERVICE}/{PREFIX_LEN}", "dev", "s0")
    pair.client("ip", "link", "set", "c0", "up")
    pair.service("ip", "link", "set", "s0", "up")
    return pair


@contextlib.contextmanager
def running(prefix: str) -> Iterator[Pair]:
    pair = up(prefix)
    try:
        yield pair
    finally:
        down(prefix)
