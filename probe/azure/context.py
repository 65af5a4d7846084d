"""The agent's Azure context, kept fresh off the event loop.

``ImdsWatch`` reads IMDS in a thread of its own at start and every
``[azure] refresh`` seconds after, and keeps the last good answer with its
age; a failed read keeps the previous one. Probing never waits for it: a round
reads ``labels()``, one reference, whatever state the read is in.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from probe.azure import imds
from probe.azure.settings import AzureConfig
from probe.errors import ProbeError

Log = Callable[..., None]


class ImdsWatch:
    def __init__(self, log: Log, read: Callable[[str], imds.Instance] | None = None) -> None:
        self.log = log
        self.read = read or imds.read
        self.instance: imds.Instance | None = None
        self.read_at: float | None = None  # monotonic time of the last good read
        self._due = 0.0
        self._busy = threading.Lock()

    def labels(self) -> dict[str, str]:
        instance = self.instance
        return imds.labels(instance) if instance is not None else {}

    def tick(self, config: AzureConfig | None) -> None:
        """Start a read when one is due (never two at once); returns at once."""
        now = time.monotonic()
        if config is None or now < self._due or not self._busy.acquire(blocking=False):
            return
        self._due = now + config.refresh
        threading.Thread(target=self._read, args=(config.imds,), daemon=True,
                         name="imds").start()

    def _read(self, base: str) -> None:
        try:
            instance = self.read(base)
        except imds.NotOnAzure as exc:
            if self.instance is None:
                self.log("azure_context", "info", message=f"not on Azure: {exc}")
            else:
                self.log("azure_context_failed", "warning", error=str(exc),
                         keeping_age_seconds=round(time.monotonic() - (self.read_at or 0)))
        except ProbeError as exc:
            self.log("azure_context_failed", "warning", error=str(exc))
        else:
            first = self.instance is None
            self.instance, self.read_at = instance, time.monotonic()
            if first:
                self.log("azure_context", region=instance.location, vm=instance.name,
                         subnet=instance.subnet, aks=instance.aks or "-")
        finally:
            self._busy.release()
