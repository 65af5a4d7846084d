"""The image's base without a registry: Debian made with debootstrap, slimmed,
`podman import`ed under the name the Containerfile's FROM uses.

    make base        # = python3 -m deploy.container.base (as root)

One implementation for `make base` and the deploy tests (tests/helpers/rootfs.py
and podman.py use it): `debootstrap --variant=minbase --include=python3` from
the Debian mirror apt already uses (or APIM_BASE_MIRROR), the suite of this
host when it is Debian (or APIM_BASE_SUITE, else bookworm), then what Debian's
*-slim images leave out is removed (SLIM_PRUNE). A rootfs is cached under
/var/cache/apim-probe/rootfs-<key> (APIM_PROBE_CACHE), the key being a hash of
everything that shapes it, so a rerun reuses it; concurrent runs take turns
with a lock file and a half-made rootfs never carries the completion mark. The
imported image is labelled with the key: a changed package list re-imports it.
Standard library only.
"""

from __future__ import annotations

import argparse
import fcntl
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
CACHE = Path(os.environ.get("APIM_PROBE_CACHE", "/var/cache/apim-probe"))
DONE = ".apim-probe-rootfs-complete"
BASE_PACKAGES = ("python3",)
KEY_LABEL = "org.apim-probe.rootfs-key"
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
    if os.environ.get("APIM_BASE_SUITE"):
        return os.environ["APIM_BASE_SUITE"]
    release = os_release()
    return release.get("VERSION_CODENAME", "bookworm") if release.get("ID") == "debian" \
        else "bookworm"


def debian_mirror(sources_dir: Path = Path("/etc/apt")) -> str:
    """The Debian archive apt uses (deb822 .sources or one-line .list), not security."""
    if sources_dir == Path("/etc/apt") and os.environ.get("APIM_BASE_MIRROR"):
        return os.environ["APIM_BASE_MIRROR"]
    texts = [p.read_text(encoding="utf-8", errors="replace")
             for p in [sources_dir / "sources.list",
                       *sorted((sources_dir / "sources.list.d").glob("*.sources")),
                       *sorted((sources_dir / "sources.list.d").glob("*.list"))]
             if p.is_file()]
    for text in texts:
        for uri in re.findall(r"^URIs:\s*(\S+)", text, re.MULTILINE):
            if "/debian" in uri and "security" not in uri:
                return str(uri)
        for uri in re.findall(r"^deb\s+(?:\[[^]]*\]\s+)?(\S+)\s", text, re.MULTILINE):
            if "/debian" in uri and "security" not in uri:
                return str(uri)
    raise RuntimeError(f"no Debian mirror in {sources_dir}/sources.list* "
                       "(set APIM_BASE_MIRROR=http://deb.debian.org/debian)")


def rootfs_key(packages: Sequence[str], *, slim: bool, variant: str = "minbase") -> str:
    spec = "\n".join([suite(), debian_mirror(), variant, "slim" if slim else "full",
                      *sorted(packages), "v1"])
    return hashlib.sha256(spec.encode()).hexdigest()[:16]


def rootfs(packages: Sequence[str], *, slim: bool = False) -> Path:
    """A cached debootstrap'd rootfs with these packages (made on first use)."""
    if shutil.which("debootstrap") is None:
        raise RuntimeError("needs debootstrap (make deploy-deps)")
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


def containerfile_base() -> str:
    """The image name the Containerfile's FROM uses by default (ARG BASE=...)."""
    text = (ROOT / "Containerfile").read_text(encoding="utf-8")
    match = re.search(r"^ARG BASE=(\S+)$", text, re.MULTILINE)
    if not match:
        raise RuntimeError("Containerfile: no ARG BASE=<image> default")
    return match.group(1)


def _label(engine: str, env: Mapping[str, str], image: str) -> str | None:
    proc = subprocess.run([engine, "image", "inspect", "--format", "{{json .Config.Labels}}",
                           image], capture_output=True, text=True, env=env, check=False)
    if proc.returncode != 0:
        return None
    labels = json.loads(proc.stdout or "null") or {}
    value = labels.get(KEY_LABEL)
    return value if isinstance(value, str) else None


def base_image(engine: str = "podman", env: Mapping[str, str] | None = None) -> str:
    """The Containerfile's base, imported from the cached slim rootfs unless an
    image of that name with the same rootfs key is there already."""
    env = dict(os.environ if env is None else env)
    name = containerfile_base()
    key = rootfs_key(BASE_PACKAGES, slim=True)
    if _label(engine, env, name) == key:
        return name
    tree = rootfs(BASE_PACKAGES, slim=True)
    tar = subprocess.Popen(["tar", "-C", str(tree), "--exclude", f"./{DONE}", "-c", "."],
                           stdout=subprocess.PIPE)
    proc = subprocess.run([engine, "import", "--change", f"LABEL {KEY_LABEL}={key}",
                           "--change", 'CMD ["bash"]', "-", name], stdin=tar.stdout,
                          capture_output=True, text=True, timeout=300, env=env, check=False)
    tar.wait()
    if proc.returncode != 0:
        raise RuntimeError(f"{engine} import: {proc.stderr}")
    return name


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="make base", description=__doc__.split("\n\n")[0])
    parser.add_argument("--engine", default="podman", help="podman (default) or docker")
    args = parser.parse_args(argv)
    if os.geteuid() != 0:
        print("make base: run as root (debootstrap)", file=sys.stderr)
        return 2
    name = base_image(args.engine)
    size = subprocess.run([args.engine, "image", "inspect", "--format", "{{.Size}}", name],
                          capture_output=True, text=True, check=True).stdout.strip()
    print(f"base image {name}: {int(size) / 1e6:.1f} MB (rootfs key "
          f"{rootfs_key(BASE_PACKAGES, slim=True)})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
