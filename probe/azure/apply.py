"""The Azure context applied to a config: once per refresh (or reload), not per round.

``apply`` folds what ARM said into the targets (probe.targets.with_live: the
config wins) and parses the live facts for the diagnosis
(probe.azure.facts); ``Applied.view`` is what one round carries: the facts
and the summary on the round result (``RoundResult.azure``) with its age.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, replace

from probe.azure.context import AzureState
from probe.azure.facts import Facts, facts_from
from probe.config import Config
from probe.errors import describe_error
from probe.results import AzureContext
from probe.targets import with_live

__all__ = ["Applied", "Applier", "apply"]

_EXPANDED = ("service", "networkstatus", "outbound")


@dataclass(frozen=True, slots=True)
class Applied:
    config: Config
    facts: Facts | None
    state: AzureState

    def view(self, now: float | None = None) -> tuple[Facts | None, AzureContext]:
        """The facts and the round's summary, aged to ``now`` (monotonic)."""
        state, facts = self.state, self.facts
        live = state.live
        at = state.live_at
        age = None if at is None else round((now if now is not None else time.monotonic())
                                            - at, 3)
        read_at = "" if live is None or at is None else \
            live.read_at.isoformat(timespec="seconds").replace("+00:00", "Z")
        updated = "" if facts is None or facts.status_updated is None else \
            facts.status_updated.isoformat(timespec="seconds").replace("+00:00", "Z")
        nsg = facts.nsg.name if facts is not None and facts.nsg is not None else ""
        summary = AzureContext(
            agent=tuple(sorted(state.labels.items())), apim=live.apim_id if live else "",
            read_at=read_at, age_seconds=age, errors=live.errors if live else (),
            error_counts=state.counts, requests=live.requests if live else 0,
            status_updated=updated, nsg=nsg, route_table=facts.route_table if facts else "")
        return facts, summary


def apply(config: Config, state: AzureState) -> Applied:
    """``config`` with the live context folded in, and the parsed facts."""
    instance = state.instance
    if config.apim is not None and not config.apim.region and instance is not None \
            and instance.location:
        # IMDS says where the agent runs: the default region (whose networkstatus is read)
        config = replace(config, apim=replace(config.apim, region=instance.location))
    live = state.live
    if live is None:
        return Applied(config, None, state)
    documents = [d for d in live.documents if d[0] in _EXPANDED]
    sources = [(call, f"ARM {call} {path}", doc) for call, path, doc in documents]
    expanded, notes = with_live(config, sources)
    mode = expanded.apim.mode if expanded.apim is not None else None
    return Applied(expanded, facts_from(live, mode, state.arm, notes), state)


class Applier:
    """``apply``, again only when the config or the context changed (a reload, a
    refresh): the daemon's rounds reuse the last result. A failure keeps the
    config as it is and is logged; the rounds go on."""

    def __init__(self, log: Callable[..., None]) -> None:
        self.log = log
        self._last: tuple[Config, int, Applied] | None = None

    def __call__(self, config: Config, state: AzureState) -> Applied:
        last = self._last
        if last is not None and last[0] is config and last[1] == state.version:
            return last[2]
        try:
            applied = apply(config, state)
        except Exception as exc:  # noqa: BLE001 -- the context fails alone
            self.log("azure_context_failed", "error", error=describe_error(exc))
            applied = Applied(config, None, state)
        self._last = (config, state.version, applied)
        return applied
