"""Debian root filesystems made with debootstrap, cached between runs.

No image registry is reachable from this machine, so the deploy tests make
Debian themselves. The one implementation is deploy/container/base.py (also
`make base`): `debootstrap --variant=minbase` from the mirror apt already uses,
cached under /var/cache/apim-probe/rootfs-<key> by a hash of everything that
shapes it, the slim variant pruned as Debian's *-slim images are.
"""

from __future__ import annotations

from deploy.container.base import (
    CACHE,
    DONE,
    SLIM_PRUNE,
    debian_mirror,
    os_release,
    rootfs,
    rootfs_key,
    suite,
)

__all__ = ["CACHE", "DONE", "SLIM_PRUNE", "debian_mirror", "os_release", "rootfs", "rootfs_key",
           "suite"]
