"""The [azure] keys and --apim (issue 18): what is accepted, what is refused and
how (the file, the key, what was expected; exit 2), the extra that ARM needs, and
the identity chain built from them. No network."""

from __future__ import annotations

import resource
import subprocess
import sys
from pathlib import Path

import pytest

from probe import cli
from probe.azure import settings
from probe.azure.credential import credential, describe
from probe.azure.settings import AzureConfig, apim_ref
from probe.config import load
from probe.errors import ConfigError, ProbeError

ID = ("/subscriptions/6b1a9c2e-0f3d-4e5a-9b7c-1d2e3f4a5b6c/resourceGroups/rg-apim/providers/"
      "Microsoft.ApiManagement/service/contoso")


def write(tmp_path: Path, body: str) -> Path:
    path = tmp_path / "probe.toml"
    path.write_text(body, encoding="utf-8")
    return path


@pytest.mark.parametrize(("text", "expected"), [
    (ID, ("6b1a9c2e-0f3d-4e5a-9b7c-1d2e3f4a5b6c", "rg-apim", "contoso")),
    (ID + "/", ("6b1a9c2e-0f3d-4e5a-9b7c-1d2e3f4a5b6c", "rg-apim", "contoso")),
    (ID.replace("resourceGroups", "resourcegroups"),
     ("6b1a9c2e-0f3d-4e5a-9b7c-1d2e3f4a5b6c", "rg-apim", "contoso")),
    ("contoso", ("", "", "contoso")),
    ("contoso-api-01", ("", "", "contoso-api-01")),
    ("1contoso", None), ("contoso-", None), ("a" * 51, None), ("contoso.azure-api.net", None),
    (ID.replace("ApiManagement", "Web"), None), ("/subscriptions/x/resourceGroups/y", None),
])
def test_an_instance_is_a_resource_id_or_a_name(text: str,
                                                expected: tuple[str, str, str] | None) -> None:
    assert apim_ref(text) == expected


@pytest.mark.parametrize(("body", "key", "expected"), [
    ('identity = "password"', "azure.identity", "one of: auto, managed, workload, cli, none"),
    ('client_id = "not-a-guid"', "azure.client_id", "a client ID (a GUID)"),
    ('arm = "http://management.azure.com"', "azure.arm", "https://"),
    ('arm = "https://management.azure.com/subscriptions"', "azure.arm", "no path"),
    ('apim = "contoso.azure-api.net"', "azure.apim", "resource ID"),
    ("refresh = 5", "azure.refresh", "from 60 to 86400"),
    ('ca_file = "missing.pem"', "azure.ca_file", "readable PEM file"),
    ('effective = "yes"', "azure.effective", "true or false"),
])
def test_a_bad_key_names_the_file_the_key_and_what_was_expected(
        tmp_path: Path, body: str, key: str, expected: str) -> None:
    path = write(tmp_path, f"[azure]\n{body}\n")
    with pytest.raises(ConfigError) as caught:
        load(path)
    message = str(caught.value)
    assert str(path) in message and key in message and expected in message
    assert caught.value.exit_status == 2


def test_without_the_extra_the_arm_keys_say_what_to_install(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(settings, "extra_missing", lambda: True)
    monkeypatch.setattr("probe.config.extra_missing", lambda: True)
    with pytest.raises(ConfigError, match=r"pip install 'apim-probe\[azure\]'") as caught:
        load(write(tmp_path, f'[azure]\napim = "{ID}"\n'))
    assert "azure.apim" in str(caught.value)
    # IMDS alone needs no extra; identity = "none" turns ARM off
    assert load(write(tmp_path, '[azure]\nrefresh = 600\n')).azure is not None
    assert load(write(tmp_path, f'[azure]\nidentity = "none"\napim = "{ID}"\n')).azure
    with pytest.raises(ProbeError, match=r"pip install 'apim-probe\[azure\]'"):
        cli._with_apim(load(write(tmp_path, "")), "contoso")


@pytest.mark.parametrize("argv", [["--once", "--apim", "contoso.azure-api.net"],
                                  ["--check-config", "--apim", "/subscriptions/x"]])
def test_a_bad_apim_flag_is_a_usage_error(argv: list[str],
                                          capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(argv) == 2
    err = capsys.readouterr().err
    assert "--apim" in err and "resource ID" in err and "Traceback" not in err


def test_check_config_accepts_an_instance_as_the_only_target(tmp_path: Path,
                                                             capsys: pytest.CaptureFixture[str],
                                                             ) -> None:
    assert cli.main(["--check-config", "-c", str(write(tmp_path, "")), "--apim", ID,
                     "--resolver", "198.18.2.53"]) == 0
    assert "valid" in capsys.readouterr().out


def test_the_identity_chain_never_falls_back_to_a_developer_login(
        monkeypatch: pytest.MonkeyPatch) -> None:
    from azure.identity import (
        AzureCliCredential,
        ChainedTokenCredential,
        ManagedIdentityCredential,
    )

    for name in ("AZURE_FEDERATED_TOKEN_FILE", "AZURE_TENANT_ID", "AZURE_CLIENT_ID",
                 "AZURE_POD_IDENTITY_AUTHORITY_HOST"):
        monkeypatch.delenv(name, raising=False)
    assert isinstance(credential(AzureConfig()), ManagedIdentityCredential)
    assert credential(AzureConfig(identity="none")) is None
    assert isinstance(credential(AzureConfig(identity="cli")), AzureCliCredential)
    with pytest.raises(ProbeError, match="workload identity is not set up"):
        credential(AzureConfig(identity="workload"))
    for name, value in (("AZURE_FEDERATED_TOKEN_FILE", "/var/run/token"),
                        ("AZURE_TENANT_ID", "00000000-0000-0000-0000-000000000001"),
                        ("AZURE_CLIENT_ID", "00000000-0000-0000-0000-000000000002")):
        monkeypatch.setenv(name, value)
    chained = credential(AzureConfig())
    assert isinstance(chained, ChainedTokenCredential)
    assert [type(c).__name__ for c in chained.credentials] == [
        "WorkloadIdentityCredential", "ManagedIdentityCredential"]
    assert describe(AzureConfig()) == "workload identity (AKS), then managed identity"


def test_a_process_with_arm_reads_leaves_no_core_dump() -> None:
    code = ("import resource; from probe.azure.settings import AzureConfig; "
            "from probe.azure.tokens import no_core_dumps; "
            f"print(no_core_dumps(AzureConfig(apim={ID!r})), "
            "resource.getrlimit(resource.RLIMIT_CORE))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=30, check=True).stdout
    assert out.strip() == "True (0, 0)"
    assert resource.getrlimit(resource.RLIMIT_CORE) is not None


def test_once_probes_when_the_azure_context_itself_breaks(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    def broken(config: AzureConfig, **_: object) -> None:
        raise RuntimeError("a bug in the context")

    monkeypatch.setattr("probe.azure.context.read_once", broken)
    path = write(tmp_path, '[azure]\nimds = "http://127.0.0.1:9"\n')
    status = cli.main(["--once", "-c", str(path), "--target", "lo=127.0.0.1:9",
                       "--method", "connect", "--timeout", "0.5", "--count", "1",
                       "--format", "json"])
    captured = capsys.readouterr()
    assert status == 1  # the target's verdict (closed), not a crash (70)
    assert "the Azure context failed: RuntimeError: a bug in the context" in captured.err
    assert '"state": "closed"' in captured.out
