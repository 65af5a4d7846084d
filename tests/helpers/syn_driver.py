"""Run SynProber once inside a namespace and print its attempts as JSON.

    syn_driver.py '{"jobs": [["198.18.2.10", 443, 3], ...], "timeout": 1.0,
                    "rate": 200, "spacing": 0.1, "pause": 0}'

Prints {"attempts": [[{state, reason, rtt, responder, ttl}, ...], ...],
"unsolicited": n, "late": n, "ports": [low, high], "first_send_ns": t,
"start_ns": t}. With "pause" > 0, the ports are reserved first, "ports"
printed on a line of its own and the driver sleeps that long before probing
(so a test can aim spoofed packets at the right ports).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import sys
import time

START_NS = time.monotonic_ns()  # CLOCK_MONOTONIC: the SYN stamps' clock, system-wide

# Imported after START_NS on purpose (start-up is measured). Run by the venv's
# interpreter (sys.executable), where probe is installed: no path to patch.
from probe.probers.syn import SynProber  # noqa: E402
from probe.results import Attempt, TcpJob  # noqa: E402


def attempts_json(results: list[tuple[Attempt, ...]]) -> list[list[dict[str, object]]]:
    return [[{"state": str(a.state), "reason": a.reason, "rtt": a.rtt_seconds,
              "responder": a.responder, "ttl": a.reply_ttl} for a in attempts]
            for attempts in results]


async def cancel_then_probe(prober: SynProber, jobs: list[TcpJob], timeout: float,
                            after: float) -> dict[str, object]:
    """Cancel a batch after `after` s; say how long the event loop waited and
    how long until the prober was free for the next batch."""
    task = asyncio.ensure_future(prober.probe(jobs, timeout))
    await asyncio.sleep(after)
    t0 = time.monotonic()
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
    cancelled_in = time.monotonic() - t0
    await prober.probe([TcpJob(jobs[0].address, jobs[0].port, 1)], 0.05)
    return {"cancelled_in": cancelled_in, "free_in": time.monotonic() - t0}


async def concurrently(prober: SynProber, jobs: list[TcpJob], timeout: float,
                       n: int) -> dict[str, object]:
    """n batches at once on one prober (they take turns on the sockets)."""
    results = await asyncio.gather(*(prober.probe(jobs, timeout) for _ in range(n)))
    return {"concurrent": [attempts_json(r) for r in results]}


def main() -> None:
    spec = json.loads(sys.argv[1])
    jobs = [TcpJob(a, int(p), int(c)) for a, p, c in spec["jobs"]]
    prober = SynProber(rate=float(spec.get("rate", 200)), source=spec.get("source"),
                       spacing=float(spec.get("spacing", 0.1)), ports=int(spec.get("ports", 256)))
    with prober:
        if spec.get("pause"):
            prober.open()
            print(json.dumps({"ports": [prober.source_ports[0], prober.source_ports[-1]]}),
                  flush=True)
            time.sleep(float(spec["pause"]))
        timeout = float(spec.get("timeout", 1.0))
        extra: dict[str, object] = {}
        if spec.get("cancel_after"):
            extra = asyncio.run(cancel_then_probe(prober, jobs, timeout,
                                                  float(spec["cancel_after"])))
        if spec.get("concurrent"):
            extra = asyncio.run(concurrently(prober, jobs, timeout, int(spec["concurrent"])))
        results = asyncio.run(prober.probe(jobs, timeout))
        out = {
            **extra,
            "attempts": attempts_json(results),
            "unsolicited": prober.unsolicited,
            "late": prober.late,
            "kernel_tx_stamps": prober.kernel_tx_stamps,
            "ports": [prober.source_ports[0], prober.source_ports[-1]],
            "first_send_ns": prober.first_send_ns,
            "last_send_ns": prober.last_send_ns,
            "start_ns": START_NS,
        }
    print(json.dumps(out), flush=True)


if __name__ == "__main__":
    main()
