"""Keeping tokens out of what the agent leaves behind.

ARM tokens live only inside azure-identity's and azure-core's objects; no
message, event, metric or report is built from a request (probe.azure.arm
builds its errors from the status and ARM's error body). What remains is
memory: with live ARM reads on, the process asks for no core dumps
(RLIMIT_CORE 0), so a crash leaves no token on disk.
"""

from __future__ import annotations

import resource

from probe.azure.settings import AzureConfig

__all__ = ["no_core_dumps"]


def no_core_dumps(config: AzureConfig | None) -> bool:
    """With ARM reads configured, no core file from this process; True when set."""
    if config is None or not config.apim or config.identity == "none":
        return False
    try:
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    except (ValueError, OSError):
        return False
    return True
