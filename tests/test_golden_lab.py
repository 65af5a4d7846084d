"""The lab demo round, byte for byte (volatile fields masked), against tests/golden/.

A refactor must not change what a user sees: the JSON report, the table, the
Prometheus exposition and the exit status of `probe --once -c examples/lab.toml`
in the lab. Timings, timestamps, TTLs and the order in which a DNS server
hands out a name's addresses are masked; everything else must match.

A change that means to alter the output regenerates the files in the same
commit, so the diff shows what changed for users:

    GOLDEN_UPDATE=1 .venv/bin/python -m pytest -q tests/test_golden_lab.py
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import run_probe

pytestmark = pytest.mark.lab

GOLDEN = Path(__file__).parent / "golden"
CONFIG = Path(__file__).parents[1] / "examples" / "lab.toml"

# JSON keys whose values change from run to run.
_VOLATILE_KEYS = re.compile(r"(^started$|duration|rtt|timestamp|_ttl$|^ttl_|speed|errors_|drops_)")
_IPV4 = r"\d{1,3}(?:\.\d{1,3}){3}"
_MS = re.compile(r"\d+(?:\.\d+)? ms\b")
_TOOK = re.compile(r"took \d+(?:\.\d+)? s\b")
# Exposition samples whose value is a timing, a timestamp or host noise.
_VOLATILE_METRICS = re.compile(
    r"^apim_probe_(\w*duration\w*|\w*timestamp\w*|tcp_rtt\w*|host_interface\w*|build_info|"
    r"tcp_round_rtt\w*)")


def _mask_text(text: str) -> str:
    """Timings in prose, and runs of addresses in the order a server gave them."""
    text = _TOOK.sub("took N s", _MS.sub("N ms", text))
    for sep in (" ", ", "):
        text = re.sub(rf"{_IPV4}(?:{sep}{_IPV4})+",
                      lambda m, sep=sep: sep.join(sorted(m.group(0).split(sep))), text)
    return text


def _mask_json(value: Any, key: str = "") -> Any:
    if _VOLATILE_KEYS.search(key):
        return "<masked>"
    if isinstance(value, dict):
        return {k: _mask_json(v, k) for k, v in value.items()}
    if isinstance(value, list):
        items = [_mask_json(v, key) for v in value]
        if key == "addresses":
            return sorted(items)
        return items
    if isinstance(value, str):
        return _mask_text(value)
    return value


def _mask_table(text: str) -> str:
    lines = []
    for line in text.splitlines():
        masked = _mask_text(line)
        lines.append(re.sub(r" {2,}", "  ", masked).rstrip())
    return "\n".join(lines) + "\n"


def _mask_prom(text: str) -> str:
    out = []
    for line in text.splitlines():
        if line.startswith("#"):
            out.append(line)
            continue
        series, _, value = line.rpartition(" ")
        if _VOLATILE_METRICS.match(series):
            value = "<masked>"
        out.append(f"{_mask_text(series)} {value}")
    return "\n".join(out) + "\n"


def _compare(name: str, got: str) -> None:
    path = GOLDEN / name
    if os.environ.get("GOLDEN_UPDATE"):
        GOLDEN.mkdir(exist_ok=True)
        path.write_text(got)
        return
    assert path.exists(), f"{path} missing: run with GOLDEN_UPDATE=1 once"
    want = path.read_text()
    assert got == want, f"{name} differs from the golden file (GOLDEN_UPDATE=1 to accept)"


def _round(fmt: str) -> tuple[int, str]:
    proc = run_probe(["--once", "-c", str(CONFIG), "--format", fmt, "--color", "never"],
                     timeout=120)
    assert "Traceback" not in proc.stderr, proc.stderr
    return proc.returncode, proc.stdout


def test_lab_round_json_is_unchanged(lab: None) -> None:
    status, out = _round("json")
    report = _mask_json(json.loads(out))
    _compare("lab-round.json", json.dumps(report, indent=2, sort_keys=True) + "\n")
    _compare("lab-round.exit", f"{status}\n")


def test_lab_round_table_is_unchanged(lab: None) -> None:
    status, out = _round("table")
    _compare("lab-round.table", _mask_table(out))
    assert f"{status}\n" == (GOLDEN / "lab-round.exit").read_text()


def test_lab_round_metrics_are_unchanged(lab: None) -> None:
    status, out = _round("prom")
    _compare("lab-round.prom", _mask_prom(out))
    assert f"{status}\n" == (GOLDEN / "lab-round.exit").read_text()
