"""The audit hook behind tests/guard/sitecustomize.py (importable on its own)."""

from __future__ import annotations

import os
import re
import sys
from typing import Any

ENV = "APIM_PROBE_AZURE_GUARD"
# Azure's names (ARM, IMDS, Entra sign-in, APIM, Storage, SQL, Key Vault, Monitor)
# in every cloud, and the addresses Azure gives a VM: IMDS and Azure DNS.
NAMES = re.compile(r"(^|\.)(azure\.com|azure\.net|azure-api\.net|windows\.net|"
                   r"microsoftonline\.com|microsoft\.com|usgovcloudapi\.net|"
                   r"chinacloudapi\.cn|microsoftmetrics\.com|azure\.cn)\.?$", re.IGNORECASE)
ADDRESSES = frozenset({"169.254.169.254", "168.63.129.16"})
_installed: list[bool] = []


def forbidden(host: Any) -> bool:
    if isinstance(host, bytes):
        host = host.decode("ascii", "replace")
    return isinstance(host, str) and (host in ADDRESSES or bool(NAMES.search(host)))


def _host(event: str, args: tuple[Any, ...]) -> Any:
    if event in ("socket.getaddrinfo", "socket.gethostbyname", "socket.gethostbyname_ex"):
        return args[0] if args else None
    if event in ("socket.connect", "socket.sendto", "socket.sendmsg") and len(args) > 1:
        address = args[1]
        return address[0] if isinstance(address, tuple) and address else None
    return None


def _hook(event: str, args: tuple[Any, ...]) -> None:
    if not event.startswith("socket."):
        return
    host = _host(event, args)
    if host is None or not forbidden(host):
        return
    path = os.environ.get(ENV)
    if path:
        with open(path, "a", encoding="utf-8") as out:
            out.write(f"{os.getpid()} {event} {host!r} {' '.join(sys.argv)[:200]}\n")
    raise PermissionError(f"test guard: {event} to {host!r} refused (a real Azure host)")


def install() -> None:
    if not _installed:
        sys.addaudithook(_hook)
        _installed.append(True)
