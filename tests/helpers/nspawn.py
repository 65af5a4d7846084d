"""A real systemd as PID 1 in `systemd-nspawn -b`, for the live unit tests.

On this machine class PID 1 is not systemd and cgroups are hybrid, so
nspawn runs with --register=no --keep-unit (nothing to register with) and
machinectl cannot reach the container: commands go in with nsenter on the
container's init PID. The root is the cached debootstrap rootfs under a
tmpfs overlay (--volatile=overlay): each boot starts clean and the cache is
never written. The network is a lab namespace of the test's own
(--network-namespace-path): no link to the host namespace.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, suppress
from pathlib import Path

PACKAGES = ("systemd", "dbus", "libnss-systemd", "python3", "python3-venv", "make")
ENV = {"PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
       "LANG": "C.UTF-8", "SYSTEMD_PAGER": "", "SYSTEMD_COLORS": "0"}


class Machine:
    def __init__(self, process: subprocess.Popen[bytes], log: Path) -> None:
        self.process = process
        self.log = log
        self.init_pid = 0

    def run(self, args: Sequence[str], *, timeout: float = 60, input: str | None = None,
            check: bool = True) -> subprocess.CompletedProcess[str]:
        """A command inside the container (its mount, pid, net, uts and ipc namespaces)."""
        proc = subprocess.run(["nsenter", f"--target={self.init_pid}", "--mount", "--uts",
                               "--ipc", "--net", "--pid", "--", *args], input=input,
                              capture_output=True, text=True, timeout=timeout, env=ENV,
                              check=False)
        if check and proc.returncode != 0:
            raise AssertionError(f"in the container: {' '.join(args)}: exit "
                                 f"{proc.returncode}\n{proc.stdout}\n{proc.stderr}")
        return proc

    def write(self, path: str, text: str) -> None:
        self.run(["sh", "-c", f"mkdir -p \"$(dirname '{path}')\" && cat > '{path}'"],
                 input=text)

    def read_log(self) -> str:
        return self.log.read_text(encoding="utf-8", errors="replace")


def _container_init(nspawn_pid: int) -> int:
    """The descendant of nspawn that is PID 1 in its own PID namespace."""
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        with suppress(OSError):
            status = (entry / "status").read_text()
            fields = dict(line.split(":", 1) for line in status.splitlines() if ":" in line)
            nspid = fields.get("NSpid", "").split()
            if len(nspid) > 1 and nspid[-1] == "1" and _descends(int(entry.name), nspawn_pid):
                return int(entry.name)
    return 0


def _descends(pid: int, ancestor: int) -> bool:
    while pid > 1:
        if pid == ancestor:
            return True
        try:
            stat = Path(f"/proc/{pid}/stat").read_text()
        except OSError:
            return False
        pid = int(stat.rsplit(")", 1)[1].split()[1])
    return False


@contextmanager
def booted(root: Path, netns: str, log: Path, binds: Sequence[tuple[Path, str]] = (),
           name: str = "apd-nspawn", boot_timeout: float = 120) -> Iterator[Machine]:
    """Boot `root` with systemd as PID 1; always powered off and reaped."""
    cmd = ["systemd-nspawn", "--quiet", "--boot", f"--directory={root}",
           "--volatile=overlay", "--register=no", "--keep-unit", f"--machine={name}",
           f"--network-namespace-path=/run/netns/{netns}", "--resolv-conf=off",
           "--timezone=off", "--link-journal=no", "--console=pipe",
           *(f"--bind-ro={src}:{dst}" for src, dst in binds)]
    with log.open("wb") as out:
        process = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=out,
                                   stderr=subprocess.STDOUT, start_new_session=True)
    machine = Machine(process, log)
    try:
        deadline = time.monotonic() + boot_timeout
        while not machine.init_pid and time.monotonic() < deadline:
            assert process.poll() is None, f"nspawn exited: {machine.read_log()}"
            time.sleep(0.1)
            machine.init_pid = _container_init(process.pid)
        assert machine.init_pid, f"no init in the container: {machine.read_log()}"
        state = ""
        while time.monotonic() < deadline:
            state = machine.run(["systemctl", "is-system-running"], check=False).stdout.strip()
            if state in ("running", "degraded"):
                break
            time.sleep(0.2)
        assert state in ("running", "degraded"), f"boot: {state}\n{machine.read_log()}"
        yield machine
    finally:
        _power_off(process)


def _power_off(process: subprocess.Popen[bytes]) -> None:
    # SIGTERM makes nspawn ask the container's systemd for a clean halt.
    if process.poll() is None:
        with suppress(ProcessLookupError):
            os.kill(process.pid, signal.SIGTERM)
        with suppress(subprocess.TimeoutExpired):
            process.wait(30)
    if process.poll() is None:
        with suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(10)
