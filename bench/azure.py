"""What the live Azure context costs (issue 18): `probe --once` with the
instance's resource ID against the same round with the same targets typed, and
the agent's CPU per round with and without it, in the shared lab with the fake
IMDS and ARM of tests/helpers/fake_azure.py serving the recorded story
(tests/helpers/azure_story.py; its effective route table answers as recorded:
202, then the final answer at the first poll). Writes bench/AZURE.md and
bench/azure.json.

    python -m bench.azure [--runs 5] [--seconds 24]
"""

from __future__ import annotations

import argparse
import fcntl
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
CLIENT = "apl-client"
COMMON = """[agent]
timeout = 1.0
method = "connect"
interval = 2
listen = "127.0.0.1:19840"
[dns]
resolvers = ["198.18.2.53"]
"""


def _once(config: Path) -> tuple[float, dict[str, Any]]:
    began = time.monotonic()
    proc = subprocess.run(["ip", "netns", "exec", CLIENT, sys.executable, "-m", "probe",
                           "--once", "-c", str(config), "--format", "json"],
                          capture_output=True, text=True, timeout=300, check=False, cwd=ROOT)
    elapsed = time.monotonic() - began
    return elapsed, json.loads(proc.stdout)


def _plain(directory: Path) -> Path:
    """The same instance as a user types and saves it without [azure]: [apim] and
    the three documents ARM answered, saved as files and imported."""
    from tests.helpers import azure_story as story

    docs = story.documents()
    names = []
    for call in ("service", "networkstatus", "outbound"):
        (directory / f"{call}.json").write_text(json.dumps(docs[call]), encoding="utf-8")
        names.append(f'"{call}.json"')
    path = directory / "plain.toml"
    path.write_text(COMMON + '[apim]\nname = "apimlab"\nmode = "external"\n'
                    'domain = "azure-api.test"\nregion = "eastus"\n'
                    f'import = [{", ".join(names)}]\n', encoding="utf-8")
    return path


def _cpu_per_round(config: Path, seconds: float) -> dict[str, float]:
    """The agent for ``seconds``: CPU seconds per round after its first two rounds."""
    import psutil

    proc = subprocess.Popen(["ip", "netns", "exec", CLIENT, sys.executable, "-m", "probe",
                             "-c", str(config), "--log-format", "json"], cwd=ROOT,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    assert proc.stderr is not None
    rounds: list[tuple[float, float]] = []
    agent: psutil.Process | None = None
    deadline = time.monotonic() + seconds
    try:
        for line in proc.stderr:
            if '"event": "round"' in line:
                agent = agent or psutil.Process(proc.pid)  # `ip netns exec` execs python
                times = agent.cpu_times()
                rounds.append((time.monotonic(), times.user + times.system))
            if time.monotonic() > deadline:
                break
    finally:
        proc.terminate()
        proc.wait(10)
    steady = rounds[2:]
    per_round = (steady[-1][1] - steady[0][1]) / (len(steady) - 1) if len(steady) > 1 else 0.0
    return {"rounds": len(rounds), "cpu_per_round": per_round}


def run(runs: int, seconds: float) -> dict[str, Any]:
    from tests.helpers import azure_story as story
    from tests.helpers.fake_azure import LAB_ARM

    directory = Path(tempfile.mkdtemp(prefix="bench-azure-"))
    arm_url = f"https://{LAB_ARM}"
    recorded_poll = {"api": story.NETWORK_API, "responses": [
        {"status": 200, "body": story.documents()["effective_routes"]}]}
    scenario = story.scenario(arm_url, operation=recorded_poll)
    # the lab is the machine's: take turns with test sessions (tests/conftest.py)
    with Path("/run/apim-probe-lab.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        out = _measure(scenario, directory, arm_url, runs, seconds)
    out["runs"] = runs
    return out


def _measure(scenario: Any, directory: Path, arm_url: str, runs: int,
             seconds: float) -> dict[str, Any]:
    from lab import netlab
    from tests.helpers import azure_story as story
    from tests.helpers.fake_azure import LAB_IMDS, in_lab

    out: dict[str, Any] = {}
    with netlab.running(), in_lab(scenario, directory) as (ca, log):
        live = directory / "live.toml"
        live.write_text(COMMON + f'[azure]\nimds = "http://{LAB_IMDS}"\narm = "{arm_url}"\n'
                        f'ca_file = "{ca}"\napim = "{story.APIM}"\n', encoding="utf-8")
        _, report = _once(live)  # warm: page cache, the first interpreter start
        plain = _plain(directory)
        _, typed = _once(plain)
        out["same_targets"] = sorted((r["host"], r["port"]) for r in report["tcp"]) == sorted(
            (r["host"], r["port"]) for r in typed["tcp"])
        times: dict[str, list[float]] = {"live": [], "plain": []}
        requests: list[int] = []
        for _ in range(runs):
            for name, config in (("live", live), ("plain", plain)):
                elapsed, report = _once(config)
                times[name].append(elapsed)
                if name == "live":
                    requests.append(report["azure"]["requests"])
        out["once"] = {k: statistics.median(v) for k, v in times.items()}
        out["once"]["extra"] = out["once"]["live"] - out["once"]["plain"]
        out["targets"] = len(report["tcp"])
        out["requests_per_refresh"] = statistics.median(requests)
        agents: dict[str, list[dict[str, float]]] = {"live": [], "plain": []}
        for _ in range(3):  # alternating: this machine's load drifts
            for name, config in (("live", live), ("plain", plain)):
                agents[name].append(_cpu_per_round(config, seconds))
        out["agent"] = {name: {"rounds": sum(r["rounds"] for r in runs_),
                               "cpu_per_round": statistics.median(
                                   r["cpu_per_round"] for r in runs_)}
                        for name, runs_ in agents.items()}
        out["log_lines"] = len(log.read_text().splitlines())
    return out


def write(results: dict[str, Any]) -> str:
    once, agent = results["once"], results["agent"]
    ratio = agent["live"]["cpu_per_round"] / agent["plain"]["cpu_per_round"] \
        if agent["plain"]["cpu_per_round"] else float("nan")
    live_ms = agent["live"]["cpu_per_round"] * 1000
    plain_ms = agent["plain"]["cpu_per_round"] * 1000
    text = f"""# The live Azure context: what it costs

`python -m bench.azure` (part of `make bench`): the shared lab, a fake IMDS and
ARM in apl-svc serving recorded answers (tests/helpers/azure_story.py), the CLI
and the agent in apl-client. Medians of {results['runs']} runs, the two variants
alternating in the same run. The peer is the same instance without `[azure]`:
`[apim]` typed, and the three documents ARM answered (the APIM resource, its
networkstatus and outbound dependencies) saved and imported; both probe the same
{results['targets']} targets (same: {results['same_targets']}).

| | with `[azure] apim` (live) | typed and saved by hand | difference |
|---|---|---|---|
| `probe --once`, warm, wall | {once['live']:.2f} s | {once['plain']:.2f} s \
| {once['extra']:+.2f} s (goal: at most +1 s) |
| agent CPU per round (steady, interval 2 s; median of 3 runs each) \
| {live_ms:.1f} ms | {plain_ms:.1f} ms | ratio {ratio:.2f} \
(goal: no growth; ARM work is per refresh) |

ARM requests per refresh: {results['requests_per_refresh']:.0f} (IMDS's token once an hour
aside; goal: at most 10): the service, networkstatus, outbound dependencies, the
VNet, NSG and route table, the agent's VM (once per process), and the two
effective-* operations with one poll each. `--once` pays IMDS, the token and
these reads, side by side where they can be (the effective-* operations' first
poll waits 0.5 s, or the `Retry-After` ARM gives).
"""
    (ROOT / "bench" / "AZURE.md").write_text(text, encoding="utf-8")
    (ROOT / "bench" / "azure.json").write_text(json.dumps(results, indent=2) + "\n",
                                               encoding="utf-8")
    return text


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--seconds", type=float, default=30.0)
    args = parser.parse_args()
    sys.stdout.write(write(run(args.runs, args.seconds)))


if __name__ == "__main__":
    main()
