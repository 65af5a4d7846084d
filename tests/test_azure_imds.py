"""Where the agent runs, from IMDS (issue 18, first step): the documented
instance answer parsed (a real sample with provenance), a fake IMDS on loopback
that checks the Metadata header and misbehaves on purpose (410 while starting,
404, garbage, silence), `probe context`, and the daemon's agent_info carrying
IMDS's labels under the configured ones. Nothing is sent to 169.254.169.254:
the tests set `[azure] imds` / `--imds` to loopback, and no config without an
[azure] section reads IMDS at all."""

from __future__ import annotations

import http.server
import json
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import ClassVar

import pytest

from probe.azure import imds
from probe.errors import ProbeError
from tests.helpers.agent import Daemon, free_port, get, sample, write_config

SAMPLE = Path(__file__).parent / "data" / "azure" / "imds" / "instance-docs-linux.json"


def test_the_documented_answer() -> None:
    instance = imds.parse(json.loads(SAMPLE.read_text(encoding="utf-8")))
    assert (instance.location, instance.subscription, instance.resource_group, instance.name,
            instance.vmss, instance.zone) == ("westus", "xxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxx",
                                              "macikgo-test-may-23", "examplevmname",
                                              "crpteste9vflji9", "")
    assert (instance.private_ip, instance.subnet) == ("10.144.133.132", "10.144.133.128/26")
    assert instance.tags == {"baz": "bash", "foo": "bar"}
    assert instance.arm == "https://management.azure.com"
    assert instance.aks == ""
    assert imds.labels(instance) == {
        "region": "westus", "subscription": "xxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxx",
        "resource_group": "macikgo-test-may-23", "vm": "examplevmname",
        "vmss": "crpteste9vflji9", "subnet": "10.144.133.128/26"}


def test_an_aks_node_by_its_tags_and_interfaces_in_any_order() -> None:
    doc = json.loads(SAMPLE.read_text(encoding="utf-8"))
    doc["compute"]["tagsList"] = [{"name": "aks-managed-cluster-name", "value": "aks-weu"},
                                  {"name": "aks-managed-poolName", "value": "nodepool1"}]
    first = doc["network"]["interface"][0]
    second = json.loads(json.dumps(first))
    second["macAddress"] = "0011AAFFBB00"  # lower MAC: the stable pick, whatever the order
    second["ipv4"]["ipAddress"][0]["privateIpAddress"] = "10.2.0.4"
    second["ipv4"]["subnet"][0] = {"address": "10.2.0.0", "prefix": "24"}
    for order in ([first, second], [second, first]):
        doc["network"]["interface"] = order
        instance = imds.parse(doc)
        assert (instance.private_ip, instance.subnet) == ("10.2.0.4", "10.2.0.0/24")
        assert instance.aks == "aks-weu"


@pytest.mark.parametrize("answer", [[], {"network": {}}, {"compute": "x"}, None])
def test_not_an_instance_document(answer: object) -> None:
    with pytest.raises(ProbeError, match="not an instance document"):
        imds.parse(answer)


def test_fields_azure_adds_or_leaves_out_are_tolerated() -> None:
    instance = imds.parse({"compute": {"location": "westeurope", "zone": 2, "newField": {}},
                           "network": {"interface": [{"ipv4": "?"}, 7]}})
    assert (instance.location, instance.zone, instance.subnet) == ("westeurope", "", "")


# --------------------------------------------------------------------------
# a fake IMDS on loopback


class FakeImds(http.server.BaseHTTPRequestHandler):
    script: ClassVar[list[tuple[int, bytes]]] = []
    seen: ClassVar[list[tuple[str, str | None]]] = []

    def do_GET(self) -> None:
        self.seen.append((self.path, self.headers.get("Metadata")))
        if self.headers.get("Metadata") != "true":
            status, body = 400, b'{"error": "Bad request. Required metadata header not specified"}'
        elif not self.path.startswith(f"/metadata/instance?api-version={imds.API_VERSION}"):
            status, body = 400, b'{"error": "Bad request"}'
        else:
            status, body = self.script.pop(0) if len(self.script) > 1 else self.script[0]
        self.send_response(status)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def fake_imds() -> Iterator[tuple[str, type[FakeImds]]]:
    handler = type("Handler", (FakeImds,), {"script": [(200, SAMPLE.read_bytes())],
                                            "seen": []})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", handler
    finally:
        server.shutdown()
        server.server_close()


def test_read_sends_the_metadata_header_and_the_api_version(
        fake_imds: tuple[str, type[FakeImds]]) -> None:
    base, handler = fake_imds
    assert imds.read(base).name == "examplevmname"
    assert handler.seen == [(f"/metadata/instance?api-version={imds.API_VERSION}", "true")]


def test_410_while_imds_starts_is_retried(fake_imds: tuple[str, type[FakeImds]]) -> None:
    base, handler = fake_imds
    handler.script[:] = [(410, b"Gone"), (429, b"Too many"), (200, SAMPLE.read_bytes())]
    assert imds.read(base, retry_for=20).location == "westus"
    assert len(handler.seen) == 3
    handler.script[:] = [(410, b"Gone")]
    with pytest.raises(imds.NotOnAzure, match="kept answering HTTP 410 for 2 s"):
        imds.read(base, retry_for=2)


def test_not_on_azure_and_garbage_say_what_happened(
        fake_imds: tuple[str, type[FakeImds]]) -> None:
    base, handler = fake_imds
    handler.script[:] = [(404, b"no")]
    with pytest.raises(imds.NotOnAzure, match="answered HTTP 404"):
        imds.read(base)
    handler.script[:] = [(200, b"<html>captive portal</html>")]
    with pytest.raises(ProbeError, match="not valid JSON"):
        imds.read(base)
    with pytest.raises(imds.NotOnAzure, match=r"no IMDS at http://127\.0\.0\.1:"):
        imds.read(f"http://127.0.0.1:{free_port()}")


def test_imds_is_never_asked_through_a_proxy(fake_imds: tuple[str, type[FakeImds]]) -> None:
    base, _ = fake_imds
    code = f"from probe.azure import imds; print(imds.read({base!r}).name)"
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=30, check=False,
                          env={"PATH": "/usr/bin:/bin", "http_proxy": f"http://127.0.0.1:"
                               f"{free_port()}", "HTTP_PROXY": "http://127.0.0.1:9",
                               "no_proxy": "", "PYTHONPATH": str(Path(__file__).parents[1])})
    assert proc.stdout.strip() == "examplevmname", proc.stderr


def test_probe_context(fake_imds: tuple[str, type[FakeImds]], tmp_path: Path) -> None:
    base, _ = fake_imds
    config = tmp_path / "probe.toml"
    config.write_text(f'[agent]\nlabels = {{ vnet = "hub", region = "mine" }}\n'
                      f'[azure]\nimds = "{base}"\n', encoding="utf-8")
    proc = subprocess.run([sys.executable, "-m", "probe", "context", "-c", str(config),
                           "--format", "json"], capture_output=True, text=True, timeout=60,
                          check=False)
    assert proc.returncode == 0, proc.stderr
    body = json.loads(proc.stdout)
    assert body["instance"]["subnet"] == "10.144.133.128/26"
    assert body["agent_labels"]["region"] == "mine"  # the config wins
    assert body["agent_labels"]["vm"] == "examplevmname"
    table = subprocess.run([sys.executable, "-m", "probe", "context", "--imds", base],
                           capture_output=True, text=True, timeout=60, check=False)
    assert "subnet        10.144.133.128/26" in table.stdout
    gone = subprocess.run([sys.executable, "-m", "probe", "context", "--imds",
                           f"http://127.0.0.1:{free_port()}"], capture_output=True, text=True,
                          timeout=60, check=False)
    assert gone.returncode == 1 and "no answer: no IMDS at" in gone.stdout
    bad = tmp_path / "bad.toml"
    bad.write_text('[azure]\nimds = "169.254.169.254"\nrefresh = 5\n', encoding="utf-8")
    proc = subprocess.run([sys.executable, "-m", "probe", "context", "-c", str(bad)],
                          capture_output=True, text=True, timeout=60, check=False)
    assert proc.returncode == 2
    assert "azure.imds: expected an http:// or https:// base URL" in proc.stderr


def test_daemon_agent_info_carries_imds_labels(fake_imds: tuple[str, type[FakeImds]],
                                                tmp_path: Path) -> None:
    base, _ = fake_imds
    config = write_config(tmp_path / "probe.toml", {"x": f"127.0.0.1:{free_port()}"},
                          extra=f'labels = {{ vnet = "hub" }}\n\n[azure]\nimds = "{base}"')
    daemon = Daemon("-c", str(config), "--listen", "127.0.0.1:0").started()
    try:
        daemon.wait_for("event=azure_context")
        for _ in range(2):
            daemon.wait_for("event=round ", after=len(daemon.lines))
        _, body = get(daemon.url("/metrics"))
        assert sample(body, "apim_probe_agent_info", vnet="hub", region="westus",
                      vm="examplevmname", subnet="10.144.133.128/26") == 1
    finally:
        daemon.stop()


def test_daemon_not_on_azure_says_one_line_and_probes(tmp_path: Path) -> None:
    config = write_config(tmp_path / "probe.toml", {"x": f"127.0.0.1:{free_port()}"},
                          extra=f'\n[azure]\nimds = "http://127.0.0.1:{free_port()}"')
    daemon = Daemon("-c", str(config), "--listen", "127.0.0.1:0").started()
    try:
        line = daemon.wait_for("event=azure_context", timeout=20)
        assert "not on Azure" in line
        daemon.wait_for("event=round ", after=len(daemon.lines))
    finally:
        daemon.stop()
