"""Run the CLI with one stage of the round broken on purpose.

    APIM_PROBE_FAULT=trace python tests/helpers/faults.py --once -c FILE

The stage named by ``APIM_PROBE_FAULT`` (one of ``probe.results.STAGES``)
raises ``RuntimeError("injected <stage> fault")`` from inside its own code, as
a bug or a library's surprise would; the rest of the agent is the real one.
Tests use it to show that a stage fails alone (issue 16).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from typing import Any


def _boom(stage: str) -> Any:
    def fail(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError(f"injected {stage} fault")
    return fail


def _async_boom(stage: str) -> Any:
    async def fail(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError(f"injected {stage} fault")
    return fail


def inject(stage: str) -> None:
    from probe import fullround, hostinfo
    from probe.exporters import prometheus, table
    from probe.probers import connect, dns

    if stage == "dns":
        dns.DnsProber.resolve_all = _async_boom(stage)  # type: ignore[method-assign]
    elif stage == "tcp":
        connect.ConnectProber.probe = _async_boom(stage)  # type: ignore[method-assign]
    elif stage == "trace":
        fullround.trace_all = _async_boom(stage)  # type: ignore[assignment]
        fullround.to_trace = lambda config, results: list(results)[:1]  # type: ignore[assignment]
    elif stage == "health":
        fullround._health = _async_boom(stage)  # type: ignore[assignment]
    elif stage == "host":
        hostinfo.gather = _boom(stage)  # type: ignore[assignment]
    elif stage == "diagnosis":
        real = fullround.diagnose

        def with_a_broken_rule(round_: Any, context: Any, **kwargs: Any) -> Any:
            from probe.diagnosis import RULES
            return real(round_, context, (*RULES, _boom(stage)), **kwargs)
        fullround.diagnose = with_a_broken_rule  # type: ignore[assignment]
    elif stage == "export":
        table.render = _boom(stage)  # the table of --once
        prometheus._finding_family = _boom(stage)  # one part of the metrics
    else:
        raise SystemExit(f"unknown stage {stage!r}")


def main(argv: Sequence[str]) -> int:
    inject(os.environ["APIM_PROBE_FAULT"])
    from probe.cli import main as cli_main

    return cli_main(list(argv))


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
