"""Debian root filesystems made with debootstrap, cached between runs.

No image registry is reachable from this machine, so the deploy tests make
Debian themselves: `debootstrap --variant=minbase` from the mirror apt already
uses (read from /etc/apt/sources.list*). A rootfs is kept under
/var/cache/apim-probe/rootfs-<key>, the key being a hash of everything that
shapes it (suite, mirror, variant, package list, trimming), so a rerun reuses
it and a changed package list makes a new one. Concurrent sessions take turns
with a lock file; a half-made rootfs never carries the completion mark.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import re
import shutil
import subprocess
from collections.abc import Sequence
from pathlib import Path

CACHE = Path(os.environ.get("APIM_PROBE_CACHE", "/var/cache/apim-probe"))
DONE = ".apim-probe-rootfs-complete"
# What the slim trim removes (what Debian's *-slim images leave out, plus
# apt's caches): documentation, manuals, translations.
SLIM_PRUNE = ("var/cache/apt/archives/*.deb", "var/cache/apt/*.bin", "var/lib/apt/lists/*",
              "usr/share/doc/*", "usr/share/man/*", "usr/share/info/*", "usr/share/locale/*",
              "usr/share/lintian", "var/log/*")


def os_release() -> dict[str, str]:
    out: dict[str, str] = {}
    for line in Path("/etc/os-release").read_text(encoding="utf-8").splitlines():
        if "=" in line:
            key, value = line.split("=", 1)
            out[key] = value.strip().strip('"')
    return out


def suite() -> str:
    return os_release().get("VERSION_CODENAME", "bookworm")


def debian_mirror(sources_dir: Path = Path("/etc/apt")) -> str:
    """The Debian archive apt uses (deb822 .sources or one-line .list), not security."""
    texts = [p.read_text(encoding="utf-8", errors="replace")
             for p in [sources_dir / "sources.list",
                       *sorted((sources_dir / "sources.list.d").glob("*.sources")),
                       *sorted((sources_dir / "sources.list.d").glob("*.list"))]
             if p.is_file()]
    for text in texts:
        for uri in re.findall(r"^URIs:\s*(\S+)", text, re.MULTILINE):
            if "/debian" in uri and "security" not in uri:
                return uri
        for uri in re.findall(r"^deb\s+(?:\[[^]]*\]\s+)?(\S+)\s", text, re.MULTILINE):
            if "/debian" in uri and "security" not in uri:
                return uri
    raise RuntimeError(f"no Debian mirror in {sources_dir}/sources.list*")


def rootfs_key(packages: Sequence[str], *, slim: bool, variant: str = "minbase") -> str:
    spec = "\n".join([suite(), debian_mirror(), variant, "slim" if slim else "full",
                      *sorted(packages), "v1"])
    return hashlib.sha256(spec.encode()).hexdigest()[:16]


def rootfs(packages: Sequence[str], *, slim: bool = False) -> Path:
    """A cached debootstrap'd rootfs with these packages (made on first use)."""
    missing = [tool for tool in ("debootstrap",) if shutil.which(tool) is None]
    if missing:
        raise RuntimeError(f"needs {', '.join(missing)} (make deploy-deps)")
    key = rootfs_key(packages, slim=slim)
    target = CACHE / f"rootfs-{key}"
    CACHE.mkdir(parents=True, exist_ok=True)
    with (CACHE / "rootfs.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if (target / DONE).is_file():
            return target
        work = CACHE / f"rootfs-{key}.partial"
        shutil.rmtree(work, ignore_errors=True)
        cmd = ["debootstrap", "--variant=minbase", f"--include={','.join(packages)}",
               suite(), str(work), debian_mirror()]
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=900, check=False)
        if proc.returncode != 0:
            shutil.rmtree(work, ignore_errors=True)
            raise RuntimeError(f"debootstrap failed: {proc.stdout[-2000:]}{proc.stderr[-2000:]}")
        if slim:
            subprocess.run(["sh", "-c", "rm -rf " + " ".join(SLIM_PRUNE)], cwd=work, check=True)
        (work / DONE).write_text(" ".join(cmd) + "\n", encoding="utf-8")
        shutil.rmtree(target, ignore_errors=True)
        work.rename(target)
        return target
