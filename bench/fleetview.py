"""`probe fleet` against a local Prometheus holding 50 agents (issue 19 goal: <= 1 s).

    python -m bench.fleetview [--agents 50] [--runs 7]

A Prometheus on this host's loopback scrapes ``--agents`` expositions
rendered by the agent's own exporter (a lab-sized round each: 4 targets,
DNS on two resolvers, findings), served by one HTTP server in this process,
each relabelled as remote_write would leave it: instance="127.0.0.1:9839",
told apart by vnet and region. Then `probe fleet --prometheus URL`, run as a
user runs it (a new interpreter each time), ``--runs`` times: the median and
worst wall time, beside the time of one bare ``python -c pass`` (the
interpreter's own start, which the command cannot avoid). Run by
`make bench-alert` after bench/alerting.py; appends to bench/ALERTING.md.
"""

from __future__ import annotations

import argparse
import http.server
import json
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
import urllib.request
from pathlib import Path
from typing import ClassVar

from probe.exporters import prometheus as prom
from tests.helpers.metrics_data import sample_round
from tests.helpers.processes import stop

ROOT = Path(__file__).resolve().parent.parent


class _Serve(http.server.BaseHTTPRequestHandler):
    bodies: ClassVar[dict[str, bytes]] = {}

    def do_GET(self) -> None:
        body = self.bodies.get(self.path, b"")
        self.send_response(200 if body else 404)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _timed(args: list[str]) -> tuple[float, int]:
    start = time.perf_counter()
    proc = subprocess.run(args, capture_output=True, text=True, timeout=120, check=False)
    return time.perf_counter() - start, proc.returncode


def measure(agents: int, runs: int) -> dict[str, float | int]:
    prometheus = shutil.which("prometheus")
    if prometheus is None:
        raise SystemExit("needs Debian's prometheus")
    first, _ = prom.one_round(sample_round())
    body = prom.one_round(sample_round(), previous=first.decode())[0]
    handler = type("Handler", (_Serve,), {"bodies": {f"/a{i}": body for i in range(agents)}})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    port = _free_port()
    with tempfile.TemporaryDirectory(prefix="apim-probe-bench-fleet-") as tmp_name:
        tmp = Path(tmp_name)
        jobs = [{"job_name": f"a{i}", "metrics_path": f"/a{i}",
                 "static_configs": [{"targets": [f"127.0.0.1:{server.server_address[1]}"],
                                     "labels": {"vnet": f"vnet-{i:02d}",
                                                "region": ("westeurope", "northeurope")[i % 2]}}],
                 "relabel_configs": [
                     {"target_label": "instance", "replacement": "127.0.0.1:9839"},
                     {"target_label": "job", "replacement": "apim-probe"}]}
                for i in range(agents)]
        config = tmp / "prometheus.yml"
        config.write_text(json.dumps({"global": {"scrape_interval": "1s"},
                                      "scrape_configs": jobs}), encoding="utf-8")
        proc = subprocess.Popen([prometheus, f"--config.file={config}",
                                 f"--storage.tsdb.path={tmp / 'db'}",
                                 f"--web.listen-address=127.0.0.1:{port}", "--log.level=warn"],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        base = f"http://127.0.0.1:{port}"
        try:
            query = base + "/api/v1/query?" + urllib.parse.urlencode(
                {"query": "count(apim_probe_agent_info)"})
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                try:
                    with urllib.request.urlopen(query, timeout=2) as answer:
                        found = json.loads(answer.read())["data"]["result"]
                    if found and int(found[0]["value"][1]) == agents:
                        break
                except OSError:
                    pass
                time.sleep(0.3)
            fleet = [_timed([sys.executable, "-m", "probe", "fleet", "--prometheus", base])
                     for _ in range(runs)]
            bare = [_timed([sys.executable, "-c", "pass"])[0] for _ in range(runs)]
        finally:
            stop(proc)
            server.shutdown()
    times = [t for t, _ in fleet]
    return {"agents": agents, "runs": runs, "median_s": statistics.median(times),
            "worst_s": max(times), "python_start_s": statistics.median(bare),
            "exit_status": fleet[-1][1]}


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.fleetview")
    parser.add_argument("--agents", type=int, default=50)
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args(argv)
    result = measure(args.agents, args.runs)
    line = (f"\n`probe fleet` against a local Prometheus holding {result['agents']} agents "
            f"(bench/fleetview.py, {result['runs']} runs): median {result['median_s']:.2f} s, "
            f"worst {result['worst_s']:.2f} s (goal <= 1 s), of which the interpreter's own "
            f"start is {result['python_start_s']:.2f} s.\n")
    print(line)
    out = ROOT / "bench" / "ALERTING.md"
    if out.exists():
        text = out.read_text(encoding="utf-8").split("\n`probe fleet` against")[0].rstrip("\n")
        out.write_text(text + "\n" + line, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
