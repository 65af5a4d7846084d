"""A real Prometheus (Debian's ``prometheus``) scrapes the agent in the lab.

Both run inside the lab's jump box (``apl-client``) on 127.0.0.1: the agent
on a port it picks itself, Prometheus with a generated config scraping it
every second (started and stopped by tests/helpers/promlab.py). The test
then asks Prometheus's HTTP API (``/api/v1/query``), from inside the
namespace, for the series of an open, a closed, a filtered and two
failing-DNS targets. Only the two processes started here are stopped, by
PID.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import in_client
from tests.helpers import promlab

pytestmark = pytest.mark.lab

AZURE_DNS = "198.18.2.53"
CUSTOM_DNS = "198.18.2.54"
MGMT = "apimlab.management.azure-api.test"
BLOB = "apimlabst.blob.core.windows.test"
CONFIG = f"""
[agent]
interval = 1
timeout = 0.5

[dns]
resolvers = ["{AZURE_DNS}", "{CUSTOM_DNS}"]

[[target]]
name = "management"
host = "{MGMT}"
port = 3443

[[target]]
name = "orders"
host = "orders.backend.test"
port = 8080
count = 1

[[target]]
name = "sql"
host = "apimlab-sql.database.windows.test"
port = 1433
count = 1

[[target]]
name = "storage"
host = "{BLOB}"
port = 443
count = 1

[[target]]
name = "missing"
host = "missing.lab.test"
port = 443
count = 1
"""

QUERY = """
import json, sys, urllib.parse, urllib.request
url = "http://127.0.0.1:%s/api/v1/query?" + urllib.parse.urlencode({"query": sys.argv[1]})
try:
    with urllib.request.urlopen(url, timeout=5) as response:
        print(response.read().decode())
except OSError as exc:
    print(json.dumps({"status": "down", "error": str(exc)}))
"""


@pytest.fixture
def agent_and_prometheus(lab: None, tmp_path: Path) -> Iterator[int]:
    with promlab.agent_and_prometheus(tmp_path, CONFIG) as running:
        yield running.prom_port


def query(prom_port: int, promql: str) -> dict[str, float]:
    """label set (as sorted JSON) -> value, for an instant query."""
    proc = in_client([sys.executable, "-c", QUERY % prom_port, promql], timeout=15)
    answer = json.loads(proc.stdout or "{}")
    if answer.get("status") != "success":
        return {}
    return {json.dumps({k: v for k, v in r["metric"].items()
                        if k not in ("instance", "job")}, sort_keys=True): float(r["value"][1])
            for r in answer["data"]["result"]}


def one(prom_port: int, promql: str) -> float | None:
    values = list(query(prom_port, promql).values())
    assert len(values) <= 1, f"{promql}: {values}"
    return values[0] if values else None


def test_prometheus_scrapes_the_agent(agent_and_prometheus: int) -> None:
    port = agent_and_prometheus
    deadline = time.monotonic() + 25
    while time.monotonic() < deadline:
        # Every target has been through a round and scraped after it.
        if len(query(port, "apim_probe_tcp_success")) >= 5 and one(
                port, 'up{job="apim-probe"}') == 1:
            break
        time.sleep(0.5)
    assert one(port, 'up{job="apim-probe"}') == 1

    # open
    assert one(port, 'apim_probe_tcp_verdict_info{target="management",state="open",'
                     'reason="syn-ack",responder="198.18.2.10"}') == 1
    assert one(port, 'apim_probe_tcp_success{target="management",address="198.18.2.10"}') == 1
    assert one(port, 'apim_probe_target_info{target="management",dependency="management",'
                     'port="3443",expected="open",required="true"}') == 1
    rtt = one(port, 'apim_probe_tcp_rtt_seconds{target="management"}')
    assert rtt is not None and 0 < rtt < 0.5
    # closed
    assert one(port, 'apim_probe_tcp_verdict_info{target="orders",state="closed",'
                     'reason="reset"}') == 1
    assert one(port, 'apim_probe_tcp_success{target="orders"}') == 0
    # filtered: dropped by the router, every probe unanswered
    assert one(port, 'apim_probe_tcp_verdict_info{target="sql",state="filtered",'
                     'reason="no-response",responder=""}') == 1
    assert one(port, 'apim_probe_tcp_packets_received_total{target="sql"}') == 0
    sent = one(port, 'apim_probe_tcp_packets_sent_total{target="sql"}')
    assert sent is not None and sent >= 1
    # failing DNS: the custom resolver REFUSES the blob zone that Azure DNS answers
    assert one(port, f'apim_probe_dns_success{{name="{BLOB}",resolver="{CUSTOM_DNS}"}}') == 0
    assert one(port, f'apim_probe_dns_status_info{{name="{BLOB}",resolver="{CUSTOM_DNS}",'
                     f'status="refused"}}') == 1
    assert one(port, f'apim_probe_dns_success{{name="{BLOB}",resolver="{AZURE_DNS}"}}') == 1
    assert one(port, f'apim_probe_finding{{id="dns-resolver-fails",subject="{BLOB}"}}') == 1
    # failing DNS on the primary: unresolved, address ""
    assert one(port, 'apim_probe_tcp_verdict_info{target="missing",address="",'
                     'state="unresolved",reason="nxdomain"}') == 1
    assert one(port, 'apim_probe_dns_status_info{name="missing.lab.test",status="nxdomain",'
                     f'resolver="{AZURE_DNS}"}}') == 1
    # the agent's own series
    assert one(port, "apim_probe_config_last_reload_successful") == 1
    assert one(port, "apim_probe_build_info") == 1
    age = one(port, "time() - apim_probe_last_round_timestamp_seconds")
    assert age is not None and age < 10
    assert one(port, 'apim_probe_host_interface_up{interface="eth0"}') == 1

