"""Build stage of the Containerfile: drop the scapy layers apim-probe never loads.

scapy ships dissectors for hundreds of protocols; apim-probe's TCP traceroute
(probe/probers/trace.py) uses IPv4/IPv6, TCP and ICMP from scapy.layers.inet
and inet6, and sr() from scapy.sendrecv, and never imports scapy.all or
load_layer(). This imports exactly that (and the agent's own modules), then
deletes every module under scapy/layers that did not load. A test traces
through the built image (tests/deploy/test_container_lab.py).

    PYTHONPATH=/opt/apim-probe python3 trim_scapy.py /opt/apim-probe
"""

from __future__ import annotations

import importlib
import shutil
import sys
from pathlib import Path

USED = ("probe.cli", "probe.daemon", "probe.probers.trace", "scapy.layers.inet",
        "scapy.layers.inet6", "scapy.packet", "scapy.sendrecv", "scapy.volatile")


def main() -> None:
    site = Path(sys.argv[1])
    for name in USED:
        importlib.import_module(name)
    from scapy.config import conf

    _ = conf.L3socket, conf.route  # the socket classes and routes sr() resolves lazily
    loaded = set(sys.modules)
    layers = site / "scapy" / "layers"
    dropped = 0
    for path in sorted(layers.iterdir()):
        if path.name in ("__init__.py", "__pycache__"):
            continue
        module = "scapy.layers." + path.name.removesuffix(".py")
        if module in loaded:
            continue
        if path.is_dir():
            shutil.rmtree(path)
        else:
            path.unlink()
        dropped += 1
    kept = sorted(m for m in loaded if m.startswith("scapy.layers."))
    print(f"scapy layers: kept {', '.join(kept)}; dropped {dropped} modules")


if __name__ == "__main__":
    main()
