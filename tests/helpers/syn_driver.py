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
import json
import sys
import time

START_NS = time.time_ns()

sys.path.insert(0, __file__.rsplit("/tests/", 1)[0])

from probe.probers.syn import SynProber  # noqa: E402
from probe.results import TcpJob  # noqa: E402


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
        results = asyncio.run(prober.probe(jobs, float(spec.get("timeout", 1.0))))
        out = {
            "attempts": [[{"state": str(a.state), "reason": a.reason, "rtt": a.rtt_seconds,
                           "responder": a.responder, "ttl": a.reply_ttl} for a in attempts]
                         for attempts in results],
            "unsolicited": prober.unsolicited,
            "late": prober.late,
            "kernel_tx_stamps": prober.kernel_tx_stamps,
            "ports": [prober.source_ports[0], prober.source_ports[-1]],
            "first_send_ns": prober.first_send_ns,
            "start_ns": START_NS,
        }
    print(json.dumps(out), flush=True)


if __name__ == "__main__":
    main()
