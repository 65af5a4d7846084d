"""The complete round's pure choices: what to trace, where to check health."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path

from probe.config import Config, Target, parse
from probe.fullround import MAX_TRACES, _health, gateway_addresses, to_trace
from probe.results import Attempt, PortState, RoundResult, TcpResult


def row(target: str, address: str | None, state: PortState, reason: str, *,
        dependency: str = "storage", responder: str | None = None, ok: bool = False,
        port: int = 443) -> TcpResult:
    attempts = (Attempt(state, reason, None, responder),) if address else ()
    return TcpResult(target, dependency, f"{target}.test", address, port, state, reason,
                     PortState.OPEN, ok, True, "syn", attempts, responder)


def config_with(*targets: Target) -> Config:
    return Config(targets=targets)


def test_silence_and_foreign_answers_are_traced_a_host_reset_is_not() -> None:
    results = (
        row("dropped", "198.18.2.12", PortState.FILTERED, "no-response"),
        row("rejected", "198.18.2.13", PortState.FILTERED, "admin-prohibited",
            responder="198.18.1.1"),
        row("reset", "198.18.2.14", PortState.CLOSED, "reset", responder="198.18.2.14"),
        row("fine", "198.18.2.10", PortState.OPEN, "syn-ack", ok=True),
    )
    chosen = to_trace(config_with(), results)
    assert [r.target for r in chosen] == ["dropped", "rejected"]


def test_a_target_that_asks_is_traced_even_when_fine_and_tracing_is_bounded() -> None:
    asking = Target("fine", "fine.test", 443, trace=True)
    results = (row("fine", "198.18.2.10", PortState.OPEN, "syn-ack", ok=True),
               *(row(f"d{i}", f"198.18.3.{i}", PortState.FILTERED, "no-response")
                 for i in range(20)))
    chosen = to_trace(config_with(asking), results)
    assert len(chosen) == MAX_TRACES
    assert "fine" in {r.target for r in to_trace(config_with(asking), results[:2])}


def test_gateway_addresses_are_distinct_and_only_the_gateways() -> None:
    results = (row("gw", "198.18.2.10", PortState.OPEN, "syn-ack", dependency="gateway"),
               row("gw80", "198.18.2.10", PortState.OPEN, "syn-ack", dependency="gateway",
                   port=80),
               row("st", "198.18.2.11", PortState.OPEN, "syn-ack"),
               row("gw-unres", None, PortState.UNRESOLVED, "nxdomain", dependency="gateway"))
    assert gateway_addresses(results) == ["198.18.2.10"]


def test_no_health_check_through_libc_when_the_gateway_did_not_resolve(tmp_path: Path) -> None:
    config = parse('[dns]\nresolvers = ["127.0.0.1"]\n[apim]\nname = "x"\nmode = "internal"\n',
                   source=str(tmp_path / "c.toml"))
    unresolved = RoundResult(datetime.now(UTC), 0.1, ("127.0.0.1",), (), (
        row("gateway", None, PortState.UNRESOLVED, "nxdomain", dependency="gateway"),))
    assert asyncio.run(_health(config, unresolved)) == ()
