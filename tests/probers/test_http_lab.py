"""HTTP(S) health check of the lab's gateway, from the lab's jump box."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from tests.conftest import in_client

STATUS = "/status-0123456789abcdef"


_SNIPPET = """
import dataclasses, json, sys
from probe.probers.http import check
cafile = sys.argv[3] if len(sys.argv) > 3 else None
print(json.dumps(dataclasses.asdict(check(sys.argv[1], address=sys.argv[2], timeout=3,
                                          cafile=cafile))))
"""


@pytest.mark.lab
@pytest.mark.usefixtures("lab")
def test_lab_gateway_health_path() -> None:
    # The lab's gateway serves TLS with a self-signed lab certificate: trusted
    # through its CA file it is healthy, untrusted it is a certificate failure.
    url = f"https://apimlab.azure-api.test{STATUS}"
    ca = str(Path(__file__).resolve().parents[2] / "lab" / "tls" / "gateway.crt")
    trusted = in_client([sys.executable, "-c", _SNIPPET, url, "198.18.2.10", ca])
    assert trusted.returncode == 0, trusted.stderr
    result = json.loads(trusted.stdout)
    assert (result["status"], result["ok"], result["tls"]) == (200, True, "TLSv1.3")
    untrusted = in_client([sys.executable, "-c", _SNIPPET, url, "198.18.2.10"])
    result = json.loads(untrusted.stdout)
    assert not result["ok"] and result["reason"].startswith("certificate")
