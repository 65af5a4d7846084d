"""No test ever resolves or connects to a real Azure host (issue 18): the session's
guard (tests/guard/) refuses them in this process and in every Python the tests
start, and the session fails when one was asked for. Here the guard is shown to
hold, with its log pointed elsewhere so that these deliberate attempts do not
fail the session. Nothing is sent: the hook refuses before the socket call."""

from __future__ import annotations

import socket
import subprocess
import sys
from pathlib import Path

import pytest

from probe.azure import imds
from probe.azure.context import arm_base
from probe.azure.settings import AzureConfig
from tests.conftest import GUARD_DIR


@pytest.mark.parametrize(("host", "port"), [
    ("management.azure.com", 443), ("169.254.169.254", 80), ("login.microsoftonline.com", 443),
    ("contoso.azure-api.net", 3443), ("management.usgovcloudapi.net", 443)])
def test_the_guard_refuses_azure_here(host: str, port: int, tmp_path: Path,
                                      monkeypatch: pytest.MonkeyPatch) -> None:
    log = tmp_path / "guard.log"
    monkeypatch.setenv("APIM_PROBE_AZURE_GUARD", str(log))
    with pytest.raises(PermissionError, match="real Azure host"):
        socket.getaddrinfo(host, port)  # refused before any lookup
    if host[0].isdigit():  # connect() resolves a name before its audit event: numbers only
        with socket.socket() as sock, pytest.raises(PermissionError):
            sock.connect((host, port))
    assert host in log.read_text()


def test_the_guard_refuses_azure_in_the_pythons_tests_start(tmp_path: Path) -> None:
    log = tmp_path / "guard.log"
    code = "import socket; socket.getaddrinfo('management.azure.com', 443)"
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=30, env={"PYTHONPATH": str(GUARD_DIR),
                                           "APIM_PROBE_AZURE_GUARD": str(log)}, check=False)
    assert proc.returncode != 0 and "real Azure host" in proc.stderr
    assert "management.azure.com" in log.read_text()


def test_the_defaults_are_azures_and_no_test_config_reaches_them() -> None:
    # The defaults point at Azure (the guard refuses both); tests set them to the lab.
    assert AzureConfig().imds == imds.DEFAULT_BASE == "http://169.254.169.254"
    assert arm_base(AzureConfig(), None) == "https://management.azure.com"
