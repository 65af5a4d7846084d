"""probe.preflight: what the agent checks before it starts (and --check-config with it)."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from probe.config import Config, Target, parse
from probe.errors import ConfigError, UsageError
from probe.preflight import access_from, preflight

TARGET = ("[[target]]\nname = 'gw'\nhost = '192.0.2.1'\nport = 443\n"
          "[dns]\nresolvers = ['192.0.2.53']\n")


def test_no_targets() -> None:
    with pytest.raises(UsageError, match="no targets"):
        preflight(Config())
    with pytest.raises(UsageError) as info:
        preflight(Config(source="probe.toml"))
    assert str(info.value).startswith("edit probe.toml: no instance or targets yet")
    assert preflight(Config(targets=(Target("gw", "192.0.2.1", 443),))).tls is None


def _with(agent: str) -> Config:
    return parse(f"[agent]\n{agent}\n" + TARGET, source="p.toml")


def test_password(tmp_path: Path) -> None:
    secret = tmp_path / "password"
    secret.write_text("s3cret\r\n")
    config = _with(f"basic_auth_user = 'prom'\nbasic_auth_password_file = '{secret}'")
    access = access_from(config)
    assert (access.user, access.password) == ("prom", b"s3cret")
    secret.write_text("\n")
    with pytest.raises(ConfigError, match="got an empty file"):
        access_from(config)
    secret.unlink()
    os.mkfifo(secret)  # swapped for a FIFO after the config was read: refused, not waited on
    with pytest.raises(ConfigError) as info:
        access_from(config)
    assert info.value.key == "agent.basic_auth_password_file"
    assert "a FIFO (named pipe), not a regular file" in info.value.message


def test_certificate_that_is_not_pem(tmp_path: Path) -> None:
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert.write_text("hello\n")
    key.write_text("world\n")
    with pytest.raises(ConfigError) as info:
        preflight(_with(f"tls_cert = '{cert}'\ntls_key = '{key}'"))
    assert str(info.value).startswith("p.toml: agent.tls_cert: cannot load the certificate")


@pytest.mark.skipif(shutil.which("openssl") is None, reason="needs the openssl command")
def test_certificate_pair_loads(tmp_path: Path) -> None:
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                    "ec_paramgen_curve:prime256v1", "-nodes", "-days", "1", "-subj", "/CN=t",
                    "-keyout", str(key), "-out", str(cert)], check=True, capture_output=True,
                   timeout=60)
    assert preflight(_with(f"tls_cert = '{cert}'\ntls_key = '{key}'")).tls is not None
    # a pair that does not match
    other = tmp_path / "other.pem"
    subprocess.run(["openssl", "ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out",
                    str(other)], check=True, capture_output=True, timeout=60)
    with pytest.raises(ConfigError, match="cannot load the certificate and key"):
        preflight(_with(f"tls_cert = '{cert}'\ntls_key = '{other}'"))
