"""podman for the deploy tests, set up for this machine class.

* podman 4.3's crun refuses hybrid cgroups: runc.
* root lacks CAP_SYS_RESOURCE and the hard limits are low (nofile 20000), so
  podman's default ulimits fail with EPERM: explicit ones under them.
* containers get no network unless a test puts them in a lab namespace.
* PID 1 is not systemd: cgroupfs, and events to a file.

The file given through CONTAINERS_CONF replaces Debian's defaults entirely,
so the default capability list is restated (podman's own default).

The base image is made locally (no registry) as `make base` makes it
(deploy/container/base.py): a slim debootstrap rootfs with Debian's python3,
`podman import`ed under exactly the name the Containerfile's FROM uses, and
labelled with the rootfs key so a changed package list re-imports it. It is the
one image the tests leave behind (a cache).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Sequence
from pathlib import Path

from deploy.container import base
from deploy.container.base import containerfile_base

__all__ = ["Podman", "base_image", "containerfile_base", "missing_tools"]

CONTAINERS_CONF = """\
[containers]
default_ulimits = ["nofile=20000:20000", "nproc=32768:32768"]
netns = "none"
default_capabilities = ["CHOWN", "DAC_OVERRIDE", "FOWNER", "FSETID", "KILL",
  "NET_BIND_SERVICE", "SETFCAP", "SETGID", "SETPCAP", "SETUID", "SYS_CHROOT"]
[engine]
runtime = "runc"
cgroup_manager = "cgroupfs"
events_logger = "file"
"""


def missing_tools() -> str | None:
    if os.geteuid() != 0:
        return "needs root"
    for tool in ("podman", "runc", "debootstrap", "ip"):
        if shutil.which(tool) is None:
            return f"needs {tool} (make deploy-deps)"
    return None


class Podman:
    """podman with the tests' containers.conf."""

    def __init__(self, conf_dir: Path) -> None:
        self.conf = conf_dir / "containers.conf"
        self.conf.write_text(CONTAINERS_CONF, encoding="utf-8")
        self.env = {**os.environ, "CONTAINERS_CONF": str(self.conf)}

    def run(self, args: Sequence[str], *, timeout: float = 120, check: bool = True,
            ) -> subprocess.CompletedProcess[str]:
        proc = subprocess.run(["podman", *args], capture_output=True, text=True,
                              timeout=timeout, env=self.env, check=False)
        if check and proc.returncode != 0:
            raise AssertionError(f"podman {' '.join(args)}: exit {proc.returncode}\n"
                                 f"{proc.stdout}\n{proc.stderr}")
        return proc

    def popen(self, args: Sequence[str], **kwargs: object) -> subprocess.Popen[str]:
        return subprocess.Popen(["podman", *args], env=self.env, text=True,  # type: ignore[call-overload, no-any-return]
                                **kwargs)

    def exists(self, image: str) -> bool:
        return self.run(["image", "exists", image], check=False).returncode == 0

    def label(self, image: str, name: str) -> str | None:
        out = self.run(["image", "inspect", "--format", "{{json .Labels}}", image]).stdout
        labels = json.loads(out) or {}
        value = labels.get(name)
        return value if isinstance(value, str) else None


def base_image(podman: Podman) -> str:
    """The Containerfile's base, made from a cached slim debootstrap rootfs
    (deploy/container/base.py, what `make base` runs)."""
    return base.base_image("podman", podman.env)
