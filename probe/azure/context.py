"""The agent's Azure context, kept fresh off the event loop.

``AzureWatch`` reads IMDS (where the agent runs) and, with ``[azure] apim``,
ARM (what it guards: probe.azure.live) in a thread of its own, at start and
every ``[azure] refresh`` seconds after. It keeps the last good answer of
each read with its time: a read that fails keeps the previous answer (its
age grows, its error is counted). Probing never waits for it: a round reads
``state``, one reference, whatever a read is doing.

``read_once`` is the same reads for `probe --once` and `probe context`, in
the caller's thread.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

from tenacity import Retrying, retry_if_result, stop_after_attempt, wait_exponential

from probe.azure import imds
from probe.azure.live import Live, Memo, read_live
from probe.azure.settings import AzureConfig
from probe.errors import ProbeError
from probe.results import AzureReadError

__all__ = ["AzureState", "AzureWatch", "arm_base", "read_once"]

Log = Callable[..., None]
# Errors worth another try within the same refresh (the whole read failed with one).
TRANSIENT = frozenset({"connection", "timeout", "token", "429", "500", "502", "503", "504"})


@dataclass(frozen=True, slots=True)
class AzureState:
    """One consistent view: what IMDS and ARM last said, and how it went."""

    instance: imds.Instance | None = None
    live: Live | None = None       # the last reads, a failed one keeping its previous answer
    live_at: float | None = None   # monotonic time of the last refresh that read anything
    version: int = 0               # grows with every refresh that changed ``live``
    counts: tuple[tuple[str, str, int], ...] = ()  # every failed read since start
    arm: str = ""
    imds_error: str = ""

    @property
    def labels(self) -> dict[str, str]:
        return imds.labels(self.instance) if self.instance is not None else {}


def arm_base(config: AzureConfig, instance: imds.Instance | None) -> str:
    """``[azure] arm``, else the ARM endpoint of the cloud IMDS names, else public Azure's."""
    if config.arm:
        return config.arm.rstrip("/")
    return (instance.arm if instance is not None and instance.arm
            else imds.ARM_BY_ENVIRONMENT["azurepubliccloud"])


def _merge(previous: Live | None, new: Live) -> Live:
    """``new``, with the previous answer of every read it lacks when a read failed
    this time: the failed one, and those it leads to (a VNet that failed to read
    keeps the subnet, NSG and route table read through it last time)."""
    if previous is None or not new.errors:
        return new
    have = {c for c, _, _ in new.documents}
    kept = tuple(d for d in previous.documents if d[0] not in have)
    return replace(new, documents=(*new.documents, *kept),
                   ids={**{k: v for k, v in previous.ids.items() if k not in new.ids},
                        **new.ids})


def _count(counts: tuple[tuple[str, str, int], ...], errors: tuple[AzureReadError, ...],
           ) -> tuple[tuple[str, str, int], ...]:
    table = {(c, k): n for c, k, n in counts}
    for error in errors:
        table[(error.call, error.code)] = table.get((error.call, error.code), 0) + 1
    return tuple((c, k, n) for (c, k), n in sorted(table.items()))


def _all_transient(live: Live) -> bool:
    return not live.documents and bool(live.errors) and all(
        e.code in TRANSIENT for e in live.errors)


def _default_arm(base: str, config: AzureConfig) -> Any:
    from probe.azure.arm import Arm
    from probe.azure.credential import credential

    return Arm(base, credential(config), ca_file=config.ca_file)


def _read_arm(config: AzureConfig, instance: imds.Instance | None, memo: Memo,
              make_arm: Callable[[str, AzureConfig], Any], attempts: int) -> tuple[Live, str]:
    """The ARM reads, again (with backoff) while all of them fail for a passing reason;
    no credential to be had (no extra, no workload set-up) is one failed read."""
    base = arm_base(config, instance)
    try:
        arm = make_arm(base, config)
    except ProbeError as exc:
        return Live(apim_id="", read_at=datetime.now(UTC), errors=(
            AzureReadError("token", "token", str(exc)),)), base
    retrying = Retrying(retry=retry_if_result(_all_transient), stop=stop_after_attempt(attempts),
                        wait=wait_exponential(multiplier=2, max=30),
                        retry_error_callback=lambda state: state.outcome.result()
                        if state.outcome is not None else None)
    live: Live = retrying(read_live, arm, config.apim, instance, effective=config.effective,
                          memo=memo)
    return live, base


def _imds(config: AzureConfig, retry_for: float) -> tuple[imds.Instance | None, str]:
    try:
        return imds.read(config.imds, retry_for=retry_for), ""
    except ProbeError as exc:
        return None, str(exc)


def read_once(config: AzureConfig, *, retry_for: float = 5.0, attempts: int = 1,
              make_arm: Callable[[str, AzureConfig], Any] | None = None) -> AzureState:
    """IMDS, then (with ``apim``) ARM, here and now; failures are in the state."""
    instance, error = _imds(config, retry_for)
    if not config.apim or config.identity == "none":
        return AzureState(instance=instance, imds_error=error)
    live, base = _read_arm(config, instance, Memo(), make_arm or _default_arm, attempts)
    return AzureState(instance=instance, live=live,
                      live_at=time.monotonic() if live.documents else None, version=1,
                      counts=_count((), live.errors), arm=base, imds_error=error)


@dataclass
class AzureWatch:
    """The daemon's reader (see the module docstring)."""

    log: Log
    make_arm: Callable[[str, AzureConfig], Any] | None = None
    state: AzureState = field(default_factory=AzureState)
    _due: float = 0.0
    _busy: threading.Lock = field(default_factory=threading.Lock)
    _memo: Memo = field(default_factory=Memo)
    _apim: str = ""

    def labels(self) -> dict[str, str]:
        return self.state.labels

    def tick(self, config: AzureConfig | None) -> None:
        """Start a read when one is due (never two at once); returns at once."""
        now = time.monotonic()
        if config is None or now < self._due or not self._busy.acquire(blocking=False):
            return
        self._due = now + config.refresh
        threading.Thread(target=self._read, args=(config,), daemon=True,
                         name="azure-context").start()

    def _read(self, config: AzureConfig) -> None:
        try:
            self._refresh(config)
        except Exception as exc:  # noqa: BLE001 -- a reader bug must not end the context
            self.log("azure_context_failed", "error", error=f"{type(exc).__name__}: {exc}")
        finally:
            self._busy.release()

    def _refresh(self, config: AzureConfig) -> None:
        old = self.state
        instance, error = _imds(config, imds.RETRY_FOR)
        if instance is None:
            if old.instance is None and not old.imds_error:
                self.log("azure_context", "info", message=f"not on Azure: {error}")
            elif old.instance is not None:
                self.log("azure_context_failed", "warning", error=error, keeping="last IMDS")
            instance = old.instance
        elif old.instance is None:
            self.log("azure_context", region=instance.location, vm=instance.name,
                     subnet=instance.subnet, aks=instance.aks or "-")
        state = replace(old, instance=instance, imds_error=error)
        if config.apim and config.identity != "none":
            if config.apim != self._apim:
                self._memo, self._apim = Memo(), config.apim
            live, base = _read_arm(config, instance, self._memo,
                                   self.make_arm or _default_arm, 3)
            merged = _merge(old.live if old.live and old.live.apim_id == live.apim_id
                            else None, live)
            state = replace(state, live=merged, arm=base, version=old.version + 1,
                            live_at=time.monotonic() if live.documents else old.live_at,
                            counts=_count(old.counts, live.errors))
            self.log("azure_read", "warning" if live.errors else "info", apim=live.apim_id
                     or config.apim, reads=len(live.documents), failed=len(live.errors),
                     requests=live.requests)
        self.state = state
