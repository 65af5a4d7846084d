"""A scratch lab for the SYN engine: three namespaces in 198.19.0.0/16.

Shaped like the shared lab (client, router, service) so that the engine can be
developed and benchmarked without it, and so bench/ can run on a lab whose
rules we control. Nothing here links to the root namespace and no namespace
has a default route.

    syn-c  198.19.1.10 --- 198.19.1.1 syn-r 198.19.2.1 --- syn-s 198.19.2.x

    198.19.2.10  ports 443, 3443 and 20000..20999 open (listener)
    198.19.2.14  every port closed (RST)
    198.19.2.12  tcp/1433 dropped by the router
    198.19.2.13  tcp/443 rejected by the router, admin-prohibited
    198.19.2.15  tcp/1886 rejected by the host itself, port-unreach
    198.19.2.20  tcp/7000..7006 rejected by the router, codes 0,1,2,3,9,10,13
    198.19.2.30  every tcp port dropped by the router
    198.19.4.0/24 unreachable, 198.19.5.0/24 prohibit, 198.19.6.0/24 blackhole (router)
    198.19.7.0/24 a routing loop between router and service: ICMP time exceeded

Usage: python synlab.py up|down
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

CLIENT, ROUTER, SERVICE = "syn-c", "syn-r", "syn-s"
CLIENT_ADDR = "198.19.1.10"
ROUTER_ADDR = "198.19.1.1"
OPEN_ADDR = "198.19.2.10"
CLOSED_ADDR = "198.19.2.14"
DROP_ADDR = "198.19.2.12"
ADMIN_ADDR = "198.19.2.13"
HOST_REJECT_ADDR = "198.19.2.15"
CODES_ADDR = "198.19.2.20"
ALL_DROP_ADDR = "198.19.2.30"
OPEN_PORTS = (443, 3443, *range(20000, 21000))
LOOP_ADDR = "198.19.7.10"
CODE_PORTS = {7000: "net-unreach", 7001: "host-unreach", 7002: "proto-unreach",
              7003: "port-unreach", 7004: "net-prohibited", 7005: "host-prohibited",
              7006: "admin-prohibited"}
_NFT_CODES = ["net-unreachable", "host-unreachable", "prot-unreachable", "port-unreachable",
              "net-prohibited", "host-prohibited", "admin-prohibited"]

_PIDFILE = Path("/tmp/syn-lab-listener.pid")
_LISTENER = Path(__file__).with_name("listener.py")


def _sh(*args: str, ns: str | None = None, check: bool = True) -> None:
    cmd = ["ip", "netns", "exec", ns, *args] if ns else list(args)
    subprocess.run(cmd, check=check, capture_output=True, text=True)


def _sysctls(ns: str) -> None:
    for key, value in (("net.ipv4.icmp_ratelimit", "0"), ("net.ipv4.icmp_msgs_per_sec", "1000000"),
                       ("net.ipv4.icmp_msgs_burst", "1000000"),
                       ("net.ipv4.tcp_max_syn_backlog", "65536"),
                       ("net.core.somaxconn", "65535")):
        _sh("sysctl", "-qw", f"{key}={value}", ns=ns, check=False)


def up() -> None:
    down()
    for ns in (CLIENT, ROUTER, SERVICE):
        _sh("ip", "netns", "add", ns)
        _sh("ip", "link", "set", "lo", "up", ns=ns)
        _sysctls(ns)
    _sh("ip", "link", "add", "c0", "netns", CLIENT, "type", "veth", "peer", "r0", "netns", ROUTER)
    _sh("ip", "link", "add", "s0", "netns", SERVICE, "type", "veth", "peer", "r1", "netns", ROUTER)
    _sh("ip", "addr", "add", f"{CLIENT_ADDR}/24", "dev", "c0", ns=CLIENT)
    _sh("ip", "link", "set", "c0", "up", ns=CLIENT)
    _sh("ip", "route", "add", "198.19.0.0/16", "via", ROUTER_ADDR, ns=CLIENT)
    _sh("ip", "addr", "add", f"{ROUTER_ADDR}/24", "dev", "r0", ns=ROUTER)
    _sh("ip", "addr", "add", "198.19.2.1/24", "dev", "r1", ns=ROUTER)
    _sh("ip", "link", "set", "r0", "up", ns=ROUTER)
    _sh("ip", "link", "set", "r1", "up", ns=ROUTER)
    _sh("sysctl", "-qw", "net.ipv4.ip_forward=1", ns=ROUTER)
    _sh("ip", "route", "add", "unreachable", "198.19.4.0/24", ns=ROUTER)
    _sh("ip", "route", "add", "prohibit", "198.19.5.0/24", ns=ROUTER)
    _sh("ip", "route", "add", "blackhole", "198.19.6.0/24", ns=ROUTER)
    for addr in (OPEN_ADDR, CLOSED_ADDR, DROP_ADDR, ADMIN_ADDR, HOST_REJECT_ADDR, CODES_ADDR,
                 ALL_DROP_ADDR):
        _sh("ip", "addr", "add", f"{addr}/24", "dev", "s0", ns=SERVICE)
    _sh("ip", "link", "set", "s0", "up", ns=SERVICE)
    _sh("ip", "route", "add", "198.19.1.0/24", "via", "198.19.2.1", ns=SERVICE)
    # A loop: each side sends 198.19.7.0/24 to the other until the TTL runs out.
    _sh("ip", "route", "add", "198.19.7.0/24", "via", OPEN_ADDR, ns=ROUTER)
    _sh("ip", "route", "add", "198.19.7.0/24", "via", "198.19.2.1", ns=SERVICE)
    _sh("sysctl", "-qw", "net.ipv4.ip_forward=1", ns=SERVICE)
    _sh("sysctl", "-qw", "net.ipv4.conf.all.send_redirects=0", ns=SERVICE)
    _sh("sysctl", "-qw", "net.ipv4.conf.s0.send_redirects=0", ns=SERVICE)
    _sh("sysctl", "-qw", "net.ipv4.conf.all.send_redirects=0", ns=ROUTER)
    _sh("sysctl", "-qw", "net.ipv4.conf.r1.send_redirects=0", ns=ROUTER)
    code_rules = "\n".join(
        f"    ip daddr {CODES_ADDR} tcp dport {port} reject with icmp type {name}"
        for port, name in zip(CODE_PORTS, _NFT_CODES, strict=True))
    router_rules = f"""
table inet synlab {{
  chain forward {{
    type filter hook forward priority 0; policy accept;
    ip daddr {DROP_ADDR} tcp dport 1433 drop
    ip daddr {ALL_DROP_ADDR} tcp dport 1-65535 drop
    ip daddr {ADMIN_ADDR} tcp dport 443 reject with icmp type admin-prohibited
{code_rules}
  }}
}}
"""
    service_rules = f"""
table inet synlab {{
  chain input {{
    type filter hook input priority 0; policy accept;
    ip daddr {HOST_REJECT_ADDR} tcp dport 1886 reject with icmp type port-unreachable
  }}
}}
"""
    subprocess.run(["ip", "netns", "exec", ROUTER, "nft", "-f", "-"], input=router_rules,
                   text=True, check=True)
    subprocess.run(["ip", "netns", "exec", SERVICE, "nft", "-f", "-"], input=service_rules,
                   text=True, check=True)
    proc = subprocess.Popen(["ip", "netns", "exec", SERVICE, sys.executable, str(_LISTENER),
                             OPEN_ADDR, *map(str, OPEN_PORTS)],
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    assert proc.stdout is not None
    proc.stdout.readline()  # "ready": every port is listening
    _PIDFILE.write_text(str(proc.pid))


def spread(on: bool) -> None:
    """Move the router's and the target's packet processing off CPU 0 (RPS).

    On one host, a SYN sent through veth is forwarded by the router and
    answered by the target in softirq context on the sender's CPU, inside its
    sendto(): the lab's work is then billed to the prober. With RPS on the
    router's and the service's veths, that work runs on the other CPUs, as it
    would on other machines; pin the prober to CPU 0 to keep them apart.
    """
    cpus = os.cpu_count() or 1
    mask = f"{((1 << cpus) - 1) & ~1:x}" if on and cpus > 1 else "0"
    for ns, dev in ((ROUTER, "r0"), (ROUTER, "r1"), (SERVICE, "s0")):
        _sh("sh", "-c", f"echo {mask} > /sys/class/net/{dev}/queues/rx-0/rps_cpus", ns=ns)


def down() -> None:
    if _PIDFILE.exists():
        with contextlib.suppress(ProcessLookupError, ValueError):
            os.kill(int(_PIDFILE.read_text()), signal.SIGTERM)
        _PIDFILE.unlink()
        time.sleep(0.1)
    existing = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True,
                              check=False).stdout
    for ns in (CLIENT, ROUTER, SERVICE):
        if any(line.split()[0] == ns for line in existing.splitlines() if line.strip()):
            _sh("ip", "netns", "del", ns, check=False)


@contextlib.contextmanager
def running() -> Iterator[None]:
    up()
    try:
        yield
    finally:
        down()


def in_ns(ns: str, args: list[str], timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["ip", "netns", "exec", ns, *args], capture_output=True, text=True,
                          timeout=timeout, check=False)


if __name__ == "__main__":
    {"up": up, "down": down}[sys.argv[1]]()
