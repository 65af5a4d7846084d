"""Build and tear down the apim-probe network lab (Linux network namespaces).

Public API::

    up(*, deterministic_route_errors=None, timeout=10.0) -> None
    down() -> None
    is_up() -> bool
    running(**kwargs)  # context manager: up(), yield, ALWAYS down()
    status() -> LabStatus
    check(*, full=True) -> list[CheckResult]

Needs root, ``ip`` (iproute2), ``nft`` (nftables) and ``dnsmasq``
(dnsmasq-base).  Nothing is ever created in the host namespace except the
namespace mounts under /run/netns, /etc/netns/apl-client and the state
directory /run/apim-probe-lab; every lab address is in 198.18.0.0/15 and no
lab namespace has a default route.
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import signal
import socket
import struct
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from lab import topology as t

STATE_DIR = Path("/run/apim-probe-lab")
STATE_FILE = STATE_DIR / "state.json"
NETNS_RUN_DIR = Path("/run/netns")
NETNS_ETC_DIR = Path("/etc/netns")
LAB_DIR = Path(__file__).resolve().parent
LISTENER_SCRIPT = LAB_DIR / "listener.py"
TLS_DIR = LAB_DIR / "tls"  # the gateway's self-signed certificate (lab only, never a secret)
SELFCHECK_SCRIPT = LAB_DIR / "selfcheck.py"
READY_FILE = STATE_DIR / "listener.ready"
# Serialises the up()/down() operations between processes; kept (empty) beside the
# state directory.  Deliberately not /run/apim-probe-lab.lock, the session lock that
# tests/conftest.py holds around running() (flock locks of two open files conflict
# even inside one process, so sharing the file would deadlock the session).
LOCK_FILE = Path("/run/apim-probe-lab.op.lock")
LOCK_TIMEOUT_S = 60.0

ENV_DETERMINISTIC = "APL_DETERMINISTIC_ROUTE_ERRORS"

# tool -> Debian package that provides it
REQUIRED_TOOLS: dict[str, str] = {"ip": "iproute2", "nft": "nftables", "dnsmasq": "dnsmasq-base"}

# Sysctls written inside every lab namespace ("?" prefix: only if the file exists there;
# icmp_msgs_* are per-namespace only on recent kernels, and are then absent from
# non-initial namespaces on older ones, so the host's values are never touched).
_COMMON_SYSCTLS: dict[str, str] = {
    "?net.ipv6.conf.all.disable_ipv6": "1",  # IPv4-only lab: no link-local chatter
    "?net.ipv6.conf.default.disable_ipv6": "1",
    "net.ipv4.icmp_ratelimit": "0",
    # 0: no ICMP type is subject to the per-peer limiter.  Needed on top of
    # icmp_ratelimit=0: with the default mask an nft reject resets the per-peer
    # token bucket that the route errors (unreachable/prohibit) share, which
    # silences those for ~1 s after any reject.
    "net.ipv4.icmp_ratemask": "0",
    "?net.ipv4.icmp_msgs_per_sec": "1000000",
    "?net.ipv4.icmp_msgs_burst": "1000000",
}
_SYSCTLS: dict[str, dict[str, str]] = {
    t.CLIENT_NS: dict(_COMMON_SYSCTLS),
    t.ROUTER_NS: {**_COMMON_SYSCTLS, "net.ipv4.ip_forward": "1"},
    t.SVC_NS: dict(_COMMON_SYSCTLS),
}

_SYSCTL_SNIPPET = r"""
import json, os, sys
for key, value in json.loads(sys.argv[1]).items():
    optional = key.startswith("?")
    path = "/proc/sys/" + key.lstrip("?").replace(".", "/")
    if optional and not os.path.exists(path):
        continue
    with open(path, "w") as fh:
        fh.write(value)
"""


class LabError(RuntimeError):
    """The lab could not be brought up, checked or torn down (one-line message)."""


@dataclass
class ProcInfo:
    name: str
    ns: str
    pid: int
    starttime: int
    argv: list[str]
    log: str
    # (proto, address, port) sockets that must exist before the process counts as ready
    sockets: list[tuple[str, str, int]] = field(default_factory=list)


@dataclass(frozen=True)
class CheckResult:
    label: str
    ok: bool
    expected: str
    got: str


@dataclass
class LabStatus:
    namespaces: dict[str, bool]
    processes: list[tuple[str, int, bool]]  # (name, pid, alive)
    etc_netns: bool
    up: bool
    checks: list[CheckResult] = field(default_factory=list)


# Popen objects of the processes this Python process started (for reaping).
_CHILDREN: dict[int, subprocess.Popen[bytes]] = {}
_LOCK_DEPTH = [0]  # re-entrancy of _locked() in this process


# --------------------------------------------------------------------------
# small helpers
# --------------------------------------------------------------------------


def _first_line(text: str) -> str:
    for line in text.splitlines():
        if line.strip():
            return line.strip()
    return ""


def _run(args: Sequence[str], *, stdin: str | None = None, timeout: float = 30.0,
         what: str | None = None) -> subprocess.CompletedProcess[str]:
    try:
        proc = subprocess.run(list(args), input=stdin, capture_output=True, text=True,
                              timeout=timeout, check=False)
    except FileNotFoundError as exc:
        raise LabError(f"{args[0]} not found ({exc})") from exc
    except subprocess.TimeoutExpired as exc:
        raise LabError(f"{what or ' '.join(args)}: timed out after {timeout:g} s") from exc
    if proc.returncode != 0:
        detail = _first_line(proc.stderr) or _first_line(proc.stdout) or f"exit {proc.returncode}"
        raise LabError(f"{what or ' '.join(args)}: {detail}")
    return proc


def _ns_exec(ns: str, args: Sequence[str]) -> list[str]:
    return ["ip", "netns", "exec", ns, *args]


def _ns_exists(ns: str) -> bool:
    return (NETNS_RUN_DIR / ns).exists()


def preflight() -> None:
    """Raise LabError (one line, naming the apt package) if the lab cannot run here."""
    if os.geteuid() != 0:
        raise LabError("the lab needs root (network namespaces, nftables)")
    for tool, package in REQUIRED_TOOLS.items():
        if shutil.which(tool) is None:
            raise LabError(f"'{tool}' not found: apt-get install {package}")
    if not Path("/proc/self/ns/net").exists():
        raise LabError("this kernel has no network namespaces")


def _proc_starttime(pid: int) -> int | None:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # field 22 (starttime); skip "pid (comm)" which may contain spaces
    return int(stat.rsplit(")", 1)[1].split()[19])


def _proc_state(pid: int) -> str | None:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return stat.rsplit(")", 1)[1].split()[0]


def _proc_cmdline(pid: int) -> list[str]:
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return []
    return [a.decode(errors="replace") for a in raw.split(b"\0") if a]


def _alive(pid: int) -> bool:
    """True if pid runs (a zombie, or a process of ours already reaped, is not alive)."""
    child = _CHILDREN.get(pid)
    if child is not None and child.poll() is not None:
        return False
    state = _proc_state(pid)
    return state is not None and state not in ("Z", "X")


def _is_ours(pid: int) -> bool:
    """A dnsmasq or lab listener whose command line names our state directory.

    Only the lab puts STATE_DIR on a command line, so this is the ownership mark;
    ``ip netns exec`` (before it execs) counts too.
    """
    argv = _proc_cmdline(pid)
    if not argv or not any(f"{STATE_DIR}/" in a for a in argv):
        return False
    if argv[:3] == ["ip", "netns", "exec"]:
        argv = argv[4:]
    if not argv:
        return False
    prog = os.path.basename(argv[0])
    if prog == "dnsmasq":
        return True
    return prog.startswith("python") and any(a.endswith("/lab/listener.py") for a in argv)


def _our_pids() -> list[int]:
    """Every process of ours that exists: state file, lab namespaces, /proc scan."""
    pids: set[int] = set()
    for info in _load_state().get("processes", []):
        pids.add(int(info["pid"]))
    for pid_dir in Path("/proc").iterdir():
        if pid_dir.name.isdigit():
            pids.add(int(pid_dir.name))
    return sorted(pid for pid in pids if pid != os.getpid() and _is_ours(pid) and _alive(pid))


def _reap(pid: int) -> None:
    child = _CHILDREN.get(pid)
    if child is not None:
        if child.poll() is not None:
            _CHILDREN.pop(pid, None)
        return
    with suppress(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)


def _stop_processes(pids: Sequence[int], grace: float = 3.0) -> list[int]:
    """SIGTERM, then SIGKILL, the given processes of ours; returns survivors."""
    for sig, wait in ((signal.SIGTERM, grace), (signal.SIGKILL, 2.0)):
        targets = [pid for pid in pids if _alive(pid) and _is_ours(pid)]
        if not targets:
            return []
        for pid in targets:
            with suppress(ProcessLookupError):
                os.kill(pid, sig)
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            for pid in targets:
                _reap(pid)
            if not any(_alive(pid) for pid in targets):
                break
            time.sleep(0.02)
    for pid in pids:
        _reap(pid)
    return [pid for pid in pids if _alive(pid)]


@contextmanager
def _locked() -> Iterator[None]:
    """Hold the lab lock (re-entrant within this process)."""
    if _LOCK_DEPTH[0]:
        _LOCK_DEPTH[0] += 1
        try:
            yield
        finally:
            _LOCK_DEPTH[0] -= 1
        return
    fd = os.open(LOCK_FILE, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
    try:
        deadline = time.monotonic() + LOCK_TIMEOUT_S
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise LabError(f"another lab up/down holds {LOCK_FILE}") from None
                time.sleep(0.05)
        _LOCK_DEPTH[0] = 1
        try:
            yield
        finally:
            _LOCK_DEPTH[0] = 0
    finally:
        os.close(fd)


def _load_state() -> dict[str, Any]:
    try:
        data = json.loads(STATE_FILE.read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _save_state(procs: Sequence[ProcInfo], deterministic: bool, seconds: float) -> None:
    state = {
        "created": time.time(),
        # The process that brought the lab up: while it lives (running() in a
        # test session), another up() refuses to tear its lab down.
        "owner": {"pid": os.getpid(), "starttime": _proc_starttime(os.getpid()),
                  "cmd": " ".join(_proc_cmdline(os.getpid()))[:200]},
        "up_seconds": round(seconds, 3),
        "deterministic_route_errors": deterministic,
        "processes": [asdict(p) for p in procs],
    }
    tmp = STATE_FILE.with_suffix(".tmp")
    tmp.write_text(json.dumps(state, indent=2) + "\n")
    tmp.replace(STATE_FILE)


def _live_owner() -> str | None:
    """Describe the live process (not this one) that brought the current lab up, if any."""
    owner = _load_state().get("owner")
    if not isinstance(owner, dict):
        return None
    pid = int(owner.get("pid", 0))
    if pid <= 0 or pid == os.getpid() or not _alive(pid):
        return None
    if _proc_starttime(pid) != owner.get("starttime"):
        return None
    return f"pid {pid} ({owner.get('cmd', '?')})"


def _leftovers() -> bool:
    return (
        any(_ns_exists(ns) for ns in t.NAMESPACES)
        or any((NETNS_ETC_DIR / ns).exists() for ns in t.NAMESPACES)
        or STATE_DIR.exists()
        or bool(_our_pids())
    )


def _deterministic_default() -> bool:
    return os.environ.get(ENV_DETERMINISTIC, "").strip().lower() in ("1", "true", "yes", "on")


# --------------------------------------------------------------------------
# rendering: ip batches, nftables, dnsmasq
# --------------------------------------------------------------------------


def _ip_batches() -> list[tuple[str, list[str]]]:
    """(namespace, ip -batch lines) in order; veths are created inside the namespaces."""
    client = [
        "link set lo up",
        f"link add {t.CLIENT_IF} type veth peer name {t.ROUTER_CLIENT_IF} netns {t.ROUTER_NS}",
        f"addr add {t.CLIENT_ADDR}/24 dev {t.CLIENT_IF}",
        f"link set {t.CLIENT_IF} up",
    ]
    router = [
        "link set lo up",
        f"link add {t.ROUTER_SVC_IF} type veth peer name {t.SVC_IF} netns {t.SVC_NS}",
        f"addr add {t.ROUTER_CLIENT_ADDR}/24 dev {t.ROUTER_CLIENT_IF}",
        f"addr add {t.ROUTER_SVC_ADDR}/24 dev {t.ROUTER_SVC_IF}",
        f"link set {t.ROUTER_CLIENT_IF} up",
        f"link set {t.ROUTER_SVC_IF} up",
        f"route add unreachable {t.UNREACH_NET}",
        f"route add prohibit {t.PROHIBIT_NET}",
        f"route add blackhole {t.BLACKHOLE_NET}",
    ]
    svc = [
        "link set lo up",
        f"addr add {t.SVC_ADDR}/24 dev {t.SVC_IF}",
        *(f"addr add {a}/32 dev {t.SVC_IF}" for a in t.SVC_HOST_ADDRS),
        f"link set {t.SVC_IF} up",
        f"route add {t.LAB_NET} via {t.ROUTER_SVC_ADDR}",
    ]
    client_route = [f"route add {t.LAB_NET} via {t.ROUTER_CLIENT_ADDR}"]
    return [(t.CLIENT_NS, client), (t.ROUTER_NS, router), (t.SVC_NS, svc),
            (t.CLIENT_NS, client_route)]


def router_ruleset(*, deterministic_route_errors: bool = False) -> str:
    lines = [
        "table inet apl {",
        "  chain forward {",
        "    type filter hook forward priority filter; policy accept;",
    ]
    for addr, port in t.ROUTER_DROPS:
        match = f"tcp dport {port}" if port is not None else "meta l4proto tcp"
        lines.append(f"    ip daddr {addr} {match} counter drop")
    for addr, port, code in t.ROUTER_REJECTS:
        lines.append(f"    ip daddr {addr} tcp dport {port} counter reject with icmp {code}")
    for port, (code, *_rest) in t.ZOO_PORTS.items():
        lines.append(f"    ip daddr {t.ZOO_ADDR} tcp dport {port} counter reject with icmp {code}")
    lines.append("  }")
    if deterministic_route_errors:
        # Same ICMP type/code/source as the routes, but from nft: not rate-limited.
        lines += [
            "  chain prerouting {",
            "    type filter hook prerouting priority filter; policy accept;",
            f"    ip daddr {t.UNREACH_NET} counter reject with icmp host-unreachable",
            f"    ip daddr {t.PROHIBIT_NET} counter reject with icmp admin-prohibited",
            "  }",
        ]
    lines.append("}")
    return "\n".join(lines) + "\n"


def svc_ruleset() -> str:
    lines = [
        "table inet apl {",
        "  chain input {",
        "    type filter hook input priority filter; policy accept;",
    ]
    for addr, port, code in t.SVC_REJECTS:
        lines.append(f"    ip daddr {addr} tcp dport {port} counter reject with icmp {code}")
    for addr, proto, port in t.SVC_DROPS:
        lines.append(f"    ip daddr {addr} {proto} dport {port} counter drop")
    lines += ["  }", "}"]
    return "\n".join(lines) + "\n"


def _dnsmasq_common(listen: str, tag: str) -> list[str]:
    return [
        f"# apim-probe lab resolver {listen} (generated; never forwards outside the lab)",
        "no-resolv",
        "no-hosts",
        "no-poll",
        "bind-interfaces",
        f"listen-address={listen}",
        "port=53",
        "user=nobody",
        "group=nogroup",
        f"pid-file={STATE_DIR / f'dnsmasq-{tag}.pid'}",
        f"log-facility={STATE_DIR / f'dnsmasq-{tag}.log'}",
        "log-queries",
        "local-ttl=60",
        "no-negcache",
    ]


def reference_dnsmasq_conf() -> str:
    lines = _dnsmasq_common(t.REFERENCE_DNS, "53")
    for name, addrs in t.REFERENCE_A.items():
        lines += [f"host-record={name},{a}" for a in addrs]
    lines += [f"cname={alias},{target}" for alias, target in t.REFERENCE_CNAME.items()]
    lines += [f'txt-record={name},"{t.NODATA_TXT}"' for name in t.NODATA_NAMES]
    lines.append("local=/#/")  # every other name: NXDOMAIN, never forwarded
    return "\n".join(lines) + "\n"


def _in_zone(name: str, zone: str) -> bool:
    return name == zone or name.endswith("." + zone)


def custom_dnsmasq_conf() -> str:
    lines = _dnsmasq_common(t.CUSTOM_DNS, "54")
    zones = t.CUSTOM_LOCAL_ZONES
    for name, ref_addrs in t.REFERENCE_A.items():
        if any(_in_zone(name, z) for z in zones):
            addrs = t.CUSTOM_OVERRIDES.get(name, ref_addrs)
            lines += [f"host-record={name},{a}" for a in addrs]
    lines += [f'txt-record={name},"{t.NODATA_TXT}"' for name in t.NODATA_NAMES
              if any(_in_zone(name, z) for z in zones)]
    lines += [f"local=/{z}/" for z in zones]  # unknown names there: NXDOMAIN
    sf_addr, sf_port = t.SERVFAIL_UPSTREAM
    for zone, outcome in t.CUSTOM_ZONE_FAILURES.items():
        if outcome == "NXDOMAIN":
            lines.append(f"address=/{zone}/")
        elif outcome == "SERVFAIL":
            lines.append(f"server=/{zone}/{sf_addr}#{sf_port}")
        elif outcome == "TIMEOUT":
            lines.append(f"server=/{zone}/{t.DEAD_DNS}")
        elif outcome == "REFUSED":
            lines.append(f"# {zone}: no server: REFUSED")
        else:
            raise LabError(f"unsupported custom DNS outcome {outcome} for {zone}")
    # No default upstream at all: any other name is REFUSED.
    return "\n".join(lines) + "\n"


def _listener_argv() -> list[str]:
    argv = [sys.executable, "-I", str(LISTENER_SCRIPT)]
    for lst in t.LISTENERS:
        argv += [f"--{lst.kind}", f"{lst.address}:{lst.port}"]
    sf_addr, sf_port = t.SERVFAIL_UPSTREAM
    argv += ["--dns-servfail", f"{sf_addr}:{sf_port}", "--status-path", t.STATUS_PATH,
             "--tls-cert", str(TLS_DIR / "gateway.crt"), "--tls-key", str(TLS_DIR / "gateway.key"),
             "--ready-file", str(READY_FILE)]
    return argv


# --------------------------------------------------------------------------
# processes
# --------------------------------------------------------------------------


def _spawn(name: str, ns: str, argv: list[str], sockets: list[tuple[str, str, int]]) -> ProcInfo:
    log = STATE_DIR / f"{name}.out"
    with open(log, "ab") as logf:
        proc = subprocess.Popen(_ns_exec(ns, argv), stdin=subprocess.DEVNULL, stdout=logf,
                                stderr=subprocess.STDOUT, start_new_session=True, close_fds=True)
    _CHILDREN[proc.pid] = proc
    starttime = _proc_starttime(proc.pid) or 0
    return ProcInfo(name, ns, proc.pid, starttime, argv, str(log), sockets)


def _proc_sockets(pid: int, proto: str) -> set[tuple[str, int]]:
    """Bound sockets (address, port) in pid's namespace: TCP in LISTEN, UDP unconnected."""
    want_state = "0A" if proto == "tcp" else "07"
    found: set[tuple[str, int]] = set()
    try:
        lines = Path(f"/proc/{pid}/net/{proto}").read_text().splitlines()[1:]
    except OSError:
        return found
    for line in lines:
        fields = line.split()
        if len(fields) < 4 or fields[3] != want_state:
            continue
        hexaddr, hexport = fields[1].split(":")
        addr = socket.inet_ntoa(struct.pack("=I", int(hexaddr, 16)))
        found.add((addr, int(hexport, 16)))
    return found


def _log_tail(info: ProcInfo) -> str:
    texts = []
    for path in (Path(info.log), STATE_DIR / f"{info.name}.log"):
        with suppress(OSError):
            texts.append(path.read_text(errors="replace"))
    lines = [ln for text in texts for ln in text.splitlines() if ln.strip()]
    return lines[-1].strip() if lines else "no output"


def _wait_ready(procs: Sequence[ProcInfo], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    pending = list(procs)
    while pending:
        still: list[ProcInfo] = []
        for info in pending:
            if not _alive(info.pid):
                raise LabError(f"{info.name} exited at start: {_log_tail(info)}")
            have = {"tcp": _proc_sockets(info.pid, "tcp"), "udp": _proc_sockets(info.pid, "udp")}
            missing = [s for s in info.sockets if (s[1], s[2]) not in have[s[0]]]
            if missing or (info.name == "listener" and not READY_FILE.exists()):
                still.append(info)
        pending = still
        if not pending:
            return
        if time.monotonic() > deadline:
            names = ", ".join(p.name for p in pending)
            raise LabError(f"not ready after {timeout:g} s: {names} ({_log_tail(pending[0])})")
        time.sleep(0.02)


def _start_services() -> list[ProcInfo]:
    dnsmasq = shutil.which("dnsmasq") or "dnsmasq"
    procs: list[ProcInfo] = []
    for tag, addr, conf in (("53", t.REFERENCE_DNS, reference_dnsmasq_conf()),
                            ("54", t.CUSTOM_DNS, custom_dnsmasq_conf())):
        path = STATE_DIR / f"dnsmasq-{tag}.conf"
        path.write_text(conf)
        argv = [dnsmasq, f"--conf-file={path}", "--keep-in-foreground"]
        procs.append(_spawn(f"dnsmasq-{tag}", t.SVC_NS, argv,
                            [("udp", addr, 53), ("tcp", addr, 53)]))
    sf_addr, sf_port = t.SERVFAIL_UPSTREAM
    sockets = [("tcp", lst.address, lst.port) for lst in t.LISTENERS]
    sockets += [("udp", sf_addr, sf_port), ("tcp", sf_addr, sf_port)]
    procs.append(_spawn("listener", t.SVC_NS, _listener_argv(), sockets))
    return procs


# --------------------------------------------------------------------------
# public API
# --------------------------------------------------------------------------


def up(*, deterministic_route_errors: bool | None = None, timeout: float = 10.0) -> None:
    """Bring the lab up (cleaning leftovers of a crashed run first).

    ``deterministic_route_errors`` (default: env APL_DETERMINISTIC_ROUTE_ERRORS)
    makes nft answer for the unreachable/prohibit networks so that their ICMP
    errors are not rate-limited by the kernel (see topology.ROUTE_ERROR_BURST).
    On any failure the lab is torn down again and LabError is raised.
    """
    preflight()
    deterministic = (_deterministic_default() if deterministic_route_errors is None
                     else deterministic_route_errors)
    with _locked():
        _up(deterministic, timeout)


def _up(deterministic: bool, timeout: float) -> None:
    owner = _live_owner()
    if owner is not None and is_up():
        raise LabError(f"the lab is in use by {owner}; `python -m lab down` to take it")
    if _leftovers():
        down()
    start = time.monotonic()
    try:
        STATE_DIR.mkdir(mode=0o755, parents=True, exist_ok=True)
        for ns in t.NAMESPACES:  # not in one `ip -batch`: each add unshares ip itself
            _run(["ip", "netns", "add", ns], what=f"ip netns add {ns}")
        for ns in t.NAMESPACES:
            _run(_ns_exec(ns, [sys.executable, "-I", "-c", _SYSCTL_SNIPPET,
                               json.dumps(_SYSCTLS[ns])]), what=f"sysctls in {ns}")
        for ns, batch in _ip_batches():
            _run(["ip", "-n", ns, "-batch", "-"], stdin="\n".join(batch) + "\n",
                 what=f"ip in {ns}")
        _run(_ns_exec(t.ROUTER_NS, ["nft", "-f", "-"]),
             stdin=router_ruleset(deterministic_route_errors=deterministic),
             what=f"nft in {t.ROUTER_NS}")
        _run(_ns_exec(t.SVC_NS, ["nft", "-f", "-"]), stdin=svc_ruleset(),
             what=f"nft in {t.SVC_NS}")
        etc = NETNS_ETC_DIR / t.CLIENT_NS
        etc.mkdir(parents=True, exist_ok=True)
        (etc / "resolv.conf").write_text(t.CLIENT_RESOLV_CONF)
        (etc / "hosts").write_text(t.CLIENT_HOSTS)
        procs = _start_services()
        _save_state(procs, deterministic, 0.0)  # record PIDs before waiting
        _wait_ready(procs, timeout)
        _save_state(procs, deterministic, time.monotonic() - start)
    except BaseException:
        try:
            down()
        except LabError as exc:
            print(f"lab: cleanup after failed up: {exc}", file=sys.stderr)
        raise


def down() -> None:
    """Tear everything down; safe when nothing is up.  Raises LabError if something stays."""
    if os.geteuid() != 0:
        raise LabError("the lab needs root (network namespaces, nftables)")
    with _locked():
        _down()


def _down() -> None:
    problems: list[str] = []
    survivors = _stop_processes(_our_pids())
    if survivors:
        problems.append(f"processes still alive: {survivors}")
    for ns in t.NAMESPACES:
        if not _ns_exists(ns):
            continue
        try:
            _run(["ip", "netns", "del", ns], what=f"ip netns del {ns}")
        except LabError as exc:
            problems.append(str(exc))
    for ns in t.NAMESPACES:
        shutil.rmtree(NETNS_ETC_DIR / ns, ignore_errors=True)
        if (NETNS_ETC_DIR / ns).exists():
            problems.append(f"cannot remove {NETNS_ETC_DIR / ns}")
    with suppress(OSError):
        NETNS_ETC_DIR.rmdir()  # only if empty
    shutil.rmtree(STATE_DIR, ignore_errors=True)
    for pid in list(_CHILDREN):
        _reap(pid)
    if problems:
        raise LabError("; ".join(problems))


def is_up() -> bool:
    """All namespaces exist and every recorded process of ours is alive."""
    if not all(_ns_exists(ns) for ns in t.NAMESPACES):
        return False
    procs = _load_state().get("processes", [])
    if not procs:
        return False
    for info in procs:
        pid = int(info["pid"])
        if not (_alive(pid) and _is_ours(pid) and _proc_starttime(pid) == info["starttime"]):
            return False
    return True


@contextmanager
def running(*, deterministic_route_errors: bool | None = None,
            timeout: float = 10.0) -> Iterator[None]:
    """The lab, up for the body of the with-block and always torn down afterwards.

    (A failing up() has already cleaned up after itself.  If another live process
    has since replaced the lab with its own, that lab is left to its owner.)
    """
    up(deterministic_route_errors=deterministic_route_errors, timeout=timeout)
    try:
        yield
    finally:
        with _locked():
            owner = _live_owner()
            if owner is None:
                _down()
            else:
                print(f"lab: not tearing down the lab of {owner}", file=sys.stderr)


# --------------------------------------------------------------------------
# checks (stdlib probes from inside apl-client)
# --------------------------------------------------------------------------


def run_in_client(checks: list[dict[str, Any]], timeout: float = 30.0) -> list[dict[str, Any]]:
    """Run lab/selfcheck.py inside apl-client with the given checks."""
    proc = _run(_ns_exec(t.CLIENT_NS, [sys.executable, "-I", str(SELFCHECK_SCRIPT)]),
                stdin=json.dumps(checks), timeout=timeout, what="self-check in apl-client")
    results = json.loads(proc.stdout)
    assert isinstance(results, list)
    return results


def _dns_checks(full: bool) -> list[tuple[str, dict[str, Any], t.DnsExpectation]]:
    out: list[tuple[str, dict[str, Any], t.DnsExpectation]] = []
    if full:
        table = [(r, n, e) for r, names in t.DNS_EXPECTED.items() for n, e in names.items()]
        table += [(r, t.OUTSIDE_NAME, e) for r, e in t.OUTSIDE_EXPECTED.items()]
    else:
        name = "apimlab.azure-api.test"
        table = [(r, name, t.DNS_EXPECTED[r][name]) for r in t.RESOLVERS]
    for resolver, name, exp in table:
        check = {"kind": "dns", "server": resolver, "name": name, "timeout": 1.5}
        out.append((f"dns {name} @{resolver}", check, exp))
    return out


def _tcp_rows(full: bool) -> list[t.TcpExpectation]:
    if full:
        return list(t.TCP_EXPECTED)
    quick = {(t.GATEWAY_ADDR, 3443), (t.BACKEND_ADDR, 8080), (t.KEYVAULT_ADDR, 443)}
    return [row for row in t.TCP_EXPECTED if (row.address, row.port) in quick]


def check(*, full: bool = True) -> list[CheckResult]:
    """Probe the lab from apl-client (stdlib only) and compare with topology.

    full=False is the quick check of ``status``; full=True covers every row of
    TCP_EXPECTED (connect() errno) and DNS_EXPECTED (rcode, addresses, CNAMEs).
    Probing the unreachable/prohibit rows spends the kernel's route-error budget.
    """
    dns = _dns_checks(full)
    tcp = _tcp_rows(full)
    checks = [c for _l, c, _e in dns]
    checks += [{"kind": "tcp", "address": r.address, "port": r.port, "timeout": 1.5} for r in tcp]
    checks.append({"kind": "http", "address": t.GATEWAY_ADDR, "port": 443,
                   "path": t.STATUS_PATH, "timeout": 3, "tls": True})
    results = run_in_client(checks)
    out: list[CheckResult] = []
    for (label, _c, exp), res in zip(dns, results[:len(dns)], strict=True):
        got = f"{res['rcode']} {','.join(res['addresses'])}".strip()
        want = f"{exp.rcode} {','.join(exp.addresses)}".strip()
        ok = (res["rcode"] == exp.rcode and sorted(res["addresses"]) == sorted(exp.addresses)
              and tuple(res["cnames"]) == exp.cnames)
        if exp.cnames:
            got += f" via {','.join(res['cnames'])}"
            want += f" via {','.join(exp.cnames)}"
        out.append(CheckResult(label, ok, want, got))
    for row, res in zip(tcp, results[len(dns):len(dns) + len(tcp)], strict=True):
        out.append(CheckResult(f"tcp {row.address}:{row.port} ({row.state}/{row.reason})",
                               res["errno"] == row.errno, _errno_text(row.errno),
                               _errno_text(res["errno"])))
    http = results[-1]
    out.append(CheckResult(f"http GET {t.GATEWAY_ADDR}:443{t.STATUS_PATH}",
                           http["status"] == "HTTP/1.1 200 OK", "HTTP/1.1 200 OK",
                           str(http["status"] or http["error"])))
    return out


def _errno_text(code: int | None) -> str:
    if code is None:
        return "timeout"
    if code == 0:
        return "connected"
    import errno as _errno

    return f"{_errno.errorcode.get(code, str(code))} ({code})"


def status(*, with_checks: bool = True) -> LabStatus:
    namespaces = {ns: _ns_exists(ns) for ns in t.NAMESPACES}
    procs = [(str(p["name"]), int(p["pid"]), _alive(int(p["pid"])) and _is_ours(int(p["pid"])))
             for p in _load_state().get("processes", [])]
    lab_up = is_up()
    st = LabStatus(namespaces, procs, (NETNS_ETC_DIR / t.CLIENT_NS).exists(), lab_up)
    if lab_up and with_checks:
        st.checks = check(full=False)
    return st
