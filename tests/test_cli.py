"""The command line's error paths: exit 2, one 'probe: error:' line on
stderr, never a traceback. Nothing here resolves or probes: every call
stops at validation (--check-config, or an error before the round)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from probe import cli
from probe.cli import main
from probe.config import load
from probe.errors import ConfigError

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "tests" / "data"
INVALID = sorted((DATA / "invalid").glob("*.toml"))
RESOLVER = ["--resolver", "192.0.2.53"]  # never the real resolv.conf


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    status = main(list(argv))
    out, err = capsys.readouterr()
    return status, out, err


def assert_error(err: str, fragment: str) -> None:
    assert err.startswith("probe: error: ")
    assert fragment in err
    assert "Traceback" not in err
    assert err.count("\n") == 1, "one line"


@pytest.mark.parametrize("path", INVALID, ids=[p.name for p in INVALID])
def test_invalid_config_file(capsys: pytest.CaptureFixture[str], path: Path) -> None:
    with pytest.raises(ConfigError) as info:
        load(path)
    status, out, err = run(capsys, "--check-config", "-c", str(path))
    assert status == 2
    assert out == ""
    # exactly what the config loader says (its messages are held by test_config.py)
    assert err == f"probe: error: {info.value}\n"
    assert_error(err, str(path))


@pytest.mark.parametrize("argv", [
    ("--check-config", "-c", "{invalid}/port-out-of-range.toml"),
    ("--once", "-c", "{invalid}/port-out-of-range.toml", "--resolver", "192.0.2.53"),
    ("--once", "-c", "{invalid}/port-out-of-range.toml", "--target", "10.0.0.5:443"),
])
def test_a_bad_file_is_an_error_whatever_the_flags(capsys: pytest.CaptureFixture[str],
                                                   argv: tuple[str, ...]) -> None:
    args = [a.format(invalid=DATA / "invalid") for a in argv]
    status, _, err = run(capsys, *args)
    assert status == 2
    assert_error(err, "port-out-of-range.toml:12: target[1].port: expected a port from 1 to "
                      "65535, got 70000")


def test_missing_config_file(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    path = tmp_path / "probe.toml"
    status, _, err = run(capsys, "--check-config", "-c", str(path))
    assert status == 2
    assert_error(err, f"{path}: cannot read: No such file or directory")


def test_non_utf8_config_file(capsys: pytest.CaptureFixture[str]) -> None:
    path = DATA / "invalid" / "not-utf8.toml"
    status, _, err = run(capsys, "--check-config", "-c", str(path))
    assert status == 2
    assert_error(err, f"{path}: not UTF-8 text")


def test_bad_toml_syntax_reports_the_line(capsys: pytest.CaptureFixture[str]) -> None:
    path = DATA / "invalid" / "bad-syntax.toml"
    status, _, err = run(capsys, "--check-config", "-c", str(path))
    assert status == 2
    assert_error(err, f"{path}:4: not valid TOML")


def test_valid_config(capsys: pytest.CaptureFixture[str]) -> None:
    path = DATA / "valid" / "custom.toml"
    status, out, err = run(capsys, "--check-config", "-c", str(path))
    assert (status, err) == (0, "")
    assert out == (f"{path}: valid, 4 target(s), resolvers 10.0.0.4, 168.63.129.16, "
                   "[2001:db8::53]:5353\n")


def test_check_config_lists_every_error_in_file_order(capsys: pytest.CaptureFixture[str],
                                                       tmp_path: Path) -> None:
    # one run tells the user everything to fix, not one error per edit
    path = tmp_path / "probe.toml"
    path.write_text("[dns]\nresolvers = ['192.0.2.53']\naaaa = 'yes'\n"
                    "[agent]\ntimeout = -1\n"
                    "[[target]]\nname = 'a'\nhost = '192.0.2.1'\nport = 0\n"
                    "[[target]]\nname = 'a'\nhost = '192.0.2.2'\nport = 443\n")
    status, out, err = run(capsys, "--check-config", "-c", str(path))
    assert status == 2 and out == "" and "Traceback" not in err
    lines = err.splitlines()
    assert all(line.startswith(f"probe: error: {path}:") for line in lines), err
    assert [int(line.split(":")[3]) for line in lines] == [3, 5, 9, 11], err
    assert "dns.aaaa" in lines[0] and "agent.timeout" in lines[1]
    assert "target[0].port" in lines[2] and "'a'" in lines[3]
    # the JSON log of the agent carries the same list in its fatal event
    status = main(["-c", str(path), "--log-format", "json"])
    event = json.loads(capsys.readouterr().err.splitlines()[-1])
    assert status == 2 and event["event"] == "fatal"
    assert [e.split(":")[1] for e in event["errors"]] == ["3", "5", "9", "11"]


def test_flags_override_the_file_in_check_config(capsys: pytest.CaptureFixture[str]) -> None:
    path = DATA / "valid" / "custom.toml"
    status, out, _ = run(capsys, "--check-config", "-c", str(path), "--resolver", "192.0.2.1",
                         "--resolver", "[2001:db8::1]:5353", "--target", "10.0.0.5:443")
    assert status == 0
    assert out == f"{path}: valid, 1 target(s), resolvers 192.0.2.1, [2001:db8::1]:5353\n"


# --------------------------------------------------------------------------
# --target and --resolver

@pytest.mark.parametrize(("spec", "fragment"), [
    ("contoso.azure-api.net", "--target 'contoso.azure-api.net': expected [NAME=]HOST:PORT "
                              "(the port is missing)"),
    ("gw=contoso.azure-api.net", "(the port is missing)"),
    ("contoso.azure-api.net:0", "port must be a number from 1 to 65535"),
    ("contoso.azure-api.net:70000", "port must be a number from 1 to 65535"),
    ("contoso.azure-api.net:https", "port must be a number from 1 to 65535"),
    ("2001:db8::5:443", "(the port is missing)"),
    ("[2001:db8::5:443", "unclosed '['"),
    ("bad host:443", "'bad host' is neither a hostname nor an IP address"),
    ("", "(the port is missing)"),
])
def test_bad_target_spec(capsys: pytest.CaptureFixture[str], spec: str, fragment: str) -> None:
    status, out, err = run(capsys, "--once", "--target", spec, *RESOLVER)
    assert (status, out) == (2, "")
    assert_error(err, fragment)
    assert f"--target {spec!r}" in err


def test_a_bad_target_among_good_ones(capsys: pytest.CaptureFixture[str]) -> None:
    status, _, err = run(capsys, "--once", "--target", "10.0.0.5:443", "--target", "x:99999",
                         *RESOLVER)
    assert status == 2
    assert_error(err, "--target 'x:99999'")


def test_duplicate_target_names(capsys: pytest.CaptureFixture[str]) -> None:
    status, _, err = run(capsys, "--check-config", "--target", "gw=10.0.0.5:443",
                         "--target", "10.0.0.6:443", "--target", "gw=10.0.0.7:443", *RESOLVER)
    assert status == 2
    assert_error(err, "duplicate target names ['gw']")


def test_same_target_twice_is_a_duplicate(capsys: pytest.CaptureFixture[str]) -> None:
    status, _, err = run(capsys, "--check-config", "--target", "10.0.0.5:443",
                         "--target", "10.0.0.5:443", *RESOLVER)
    assert status == 2
    assert_error(err, "duplicate target names ['10.0.0.5:443']")


@pytest.mark.parametrize(("spec", "fragment"), [
    ("dns.google", "'dns.google' is not an IP address"),
    ("localhost:53", "'localhost:53' is not an IP address"),
    ("not an address!", "is not an IP address"),
    ("192.0.2.53:70000", "port must be a number from 1 to 65535"),
    ("192.0.2.53:0", "port must be a number from 1 to 65535"),
    ("[2001:db8::53]:99999", "port must be a number from 1 to 65535"),
    ("[2001:db8::53", "unclosed '['"),
])
def test_bad_resolver(capsys: pytest.CaptureFixture[str], spec: str, fragment: str) -> None:
    status, out, err = run(capsys, "--check-config", "--target", "10.0.0.5:443",
                           "--resolver", "192.0.2.53", "--resolver", spec)
    assert (status, out) == (2, "")
    assert_error(err, f"--resolver {spec!r}: ")
    assert fragment in err


def test_no_targets(capsys: pytest.CaptureFixture[str]) -> None:
    status, out, err = run(capsys, "--once", *RESOLVER)
    assert (status, out) == (2, "")
    assert_error(err, "no targets: give --target [NAME=]HOST:PORT")


def test_check_config_without_targets_is_refused(capsys: pytest.CaptureFixture[str]) -> None:
    # the agent would refuse to start: so does the check
    status, out, err = run(capsys, "--check-config", *RESOLVER)
    assert (status, out) == (2, "")
    assert_error(err, "no targets: give --target [NAME=]HOST:PORT")


def test_check_config_with_a_target_is_valid(capsys: pytest.CaptureFixture[str]) -> None:
    status, out, _ = run(capsys, "--check-config", *RESOLVER, "--target", "192.0.2.1:443")
    assert status == 0
    assert out == "<command line>: valid, 1 target(s), resolvers 192.0.2.53\n"


@pytest.mark.parametrize("text", ["", "# only a comment\n", "[agent]\ntimeout = 1\n"])
def test_check_config_refuses_a_file_without_targets(
        capsys: pytest.CaptureFixture[str], tmp_path: Path, text: str,
        monkeypatch: pytest.MonkeyPatch) -> None:
    # no [dns]: 'system' is implied; point it at a resolv.conf of our own
    resolv_conf = tmp_path / "resolv.conf"
    resolv_conf.write_text("nameserver 192.0.2.53\n")
    monkeypatch.setattr("probe.config.SYSTEM_RESOLV_CONF", resolv_conf)
    path = tmp_path / "probe.toml"
    path.write_text(text)
    status, out, err = run(capsys, "--check-config", "-c", str(path), *RESOLVER)
    assert (status, out) == (2, "")
    assert_error(err, f"edit {path}: no instance or targets yet")


def _agent_config(tmp_path: Path, agent: str) -> Path:
    path = tmp_path / "probe.toml"
    path.write_text(f"[agent]\n{agent}\n[dns]\nresolvers = ['192.0.2.53']\n"
                    "[[target]]\nname = 'gw'\nhost = '192.0.2.1'\nport = 443\n")
    return path


def test_check_config_loads_the_certificate(capsys: pytest.CaptureFixture[str],
                                            tmp_path: Path) -> None:
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert.write_text("not a certificate\n")
    key.write_text("not a key\n")
    path = _agent_config(tmp_path, f"tls_cert = '{cert}'\ntls_key = '{key}'")
    status, out, err = run(capsys, "--check-config", "-c", str(path))
    assert (status, out) == (2, "")
    assert_error(err, f"{path}: agent.tls_cert: cannot load the certificate and key")


def test_check_config_reads_the_password_file(capsys: pytest.CaptureFixture[str],
                                              tmp_path: Path) -> None:
    secret = tmp_path / "password"
    secret.write_text("\n")
    path = _agent_config(tmp_path, f"basic_auth_user = 'prom'\n"
                                   f"basic_auth_password_file = '{secret}'")
    status, out, err = run(capsys, "--check-config", "-c", str(path))
    assert (status, out) == (2, "")
    assert_error(err, f"{path}: agent.basic_auth_password_file: expected a file holding the "
                      "password, got an empty file")
    secret.write_text("s3cret\n")
    assert run(capsys, "--check-config", "-c", str(path))[0] == 0


def test_check_config_checks_listen(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    path = _agent_config(tmp_path, "")
    status, _, err = run(capsys, "--check-config", "-c", str(path), "--listen", "nope")
    assert status == 2
    assert_error(err, "--listen 'nope': expected HOST:PORT")


# --------------------------------------------------------------------------
# flags argparse refuses itself: exit 2 with usage

@pytest.mark.parametrize(("argv", "fragment"), [
    (["--timeout", "abc"], "argument --timeout: expected seconds, got 'abc'"),
    (["--timeout", "0"], "argument --timeout: expected seconds from 0.01 to 60, got '0'"),
    (["--timeout", "-1"], "argument --timeout: expected seconds from 0.01 to 60"),
    (["--timeout", "61"], "argument --timeout: expected seconds from 0.01 to 60, got '61'"),
    (["--timeout", "nan"], "argument --timeout: expected seconds"),
    (["--timeout", "inf"], "argument --timeout: expected seconds from 0.01 to 60"),
    (["--count", "0"], "argument --count: expected an integer from 1 to 100, got '0'"),
    (["--count", "101"], "argument --count: expected an integer from 1 to 100, got '101'"),
    (["--count", "1.5"], "argument --count: expected an integer, got '1.5'"),
    (["--count", "true"], "argument --count: expected an integer, got 'true'"),
    (["--count", ""], "argument --count: expected an integer, got ''"),
    (["--rate", "0"], "argument --rate: expected packets per second from 1 to 1e+06"),
    (["--method", "udp"], "argument --method: invalid choice: 'udp'"),
    (["--format", "xml"], "argument --format: invalid choice: 'xml'"),
    (["--timeout"], "argument --timeout: expected one argument"),
    (["--no-such-flag"], "unrecognized arguments: --no-such-flag"),
])
def test_bad_flags(capsys: pytest.CaptureFixture[str], argv: list[str], fragment: str) -> None:
    with pytest.raises(SystemExit) as info:
        main(["--once", "--target", "10.0.0.5:443", *RESOLVER, *argv])
    assert info.value.code == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert err.startswith("usage: probe")
    assert fragment in err
    assert "Traceback" not in err


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main(["--version"])
    assert info.value.code == 0
    assert capsys.readouterr().out.startswith("probe ")


# --------------------------------------------------------------------------
# colour: only on a terminal, never with NO_COLOR, unless asked for

@pytest.mark.parametrize(("choice", "tty", "env", "expected"), [
    ("auto", True, {}, True),
    ("auto", False, {}, False),
    ("auto", True, {"NO_COLOR": "1"}, False),
    ("auto", True, {"NO_COLOR": ""}, True),  # no-color.org: only a non-empty value counts
    ("auto", True, {"TERM": "dumb"}, False),
    ("never", True, {}, False),
    ("always", False, {}, True),
    ("always", True, {"NO_COLOR": "1"}, True),  # an explicit flag wins over the environment
])
def test_colour_choice(monkeypatch: pytest.MonkeyPatch, choice: str, tty: bool,
                       env: dict[str, str], expected: bool) -> None:
    monkeypatch.delenv("NO_COLOR", raising=False)
    monkeypatch.setenv("TERM", "xterm-256color")
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    monkeypatch.setattr(sys.stdout, "isatty", lambda: tty)
    assert cli._colour(choice) is expected


@pytest.mark.parametrize("special", ["/dev/zero", "/dev/null", "fifo", "directory"])
def test_check_config_refuses_special_files_at_once(capsys: pytest.CaptureFixture[str],
                                                   tmp_path: Path, special: str) -> None:
    path = Path(special)
    if special == "fifo":
        path = tmp_path / "fifo"
        os.mkfifo(path)  # before: --check-config waited for a writer forever
    elif special == "directory":
        path = tmp_path
    status, out, err = run(capsys, "--check-config", "-c", str(path))
    assert (status, out) == (2, "")
    assert_error(err, f"probe: error: {path}: cannot read: ")
    assert "not a regular file" in err


def test_check_config_warns_when_syn_cannot_be_used_here(
        capsys: pytest.CaptureFixture[str], tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    # the check may run as another user than the agent: a warning, not a refusal
    monkeypatch.setattr(cli, "raw_allowed", lambda: False)
    path = _agent_config(tmp_path, "method = 'syn'")
    status, out, err = run(capsys, "--check-config", "-c", str(path))
    assert status == 0 and out.startswith(f"{path}: valid, 1 target(s)")
    assert err.startswith("probe: warning: method = 'syn' needs raw sockets")


# --------------------------------------------------------------------------
# subcommands: `probe targets` and `probe lint` through the real entry point

AZURE = DATA / "azure"


def test_targets_lists_the_preset_with_where_each_came_from(capsys: pytest.CaptureFixture[str],
                                                             ) -> None:
    assert main(["targets", "-c", str(ROOT / "examples" / "apim.toml")]) == 0
    out = capsys.readouterr().out
    rows = {line.split()[0]: line for line in out.splitlines() if line and " " in line}
    assert re.search(r"management\s+management\s+\S+\.management\.azure-api\.net:3443", out)
    # generated by the preset, not claimed by the config file
    assert rows["management"].rstrip().endswith("apim")
    assert rows["orders-backend"].rstrip().endswith("config")


def test_targets_bad_config_is_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text("[apim]\nname = 'x'\nmode = 'sideways'\n")
    assert main(["targets", "-c", str(bad)]) == 2
    err = capsys.readouterr().err
    assert "bad.toml" in err and "apim.mode" in err and "Traceback" not in err


def test_lint_finds_the_shadowed_management_rule(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["lint", str(AZURE / "nsg-broken.json"), "--mode", "internal"]) == 1
    out = capsys.readouterr().out
    assert "nsg-rule-shadowed" in out and "3443" in out


def test_lint_clean_export_is_exit_0(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["lint", str(AZURE / "nsg-internal-ok.json"), "--mode", "internal"]) == 0


def test_lint_malformed_export_is_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["lint", str(AZURE / "malformed-nsg-port.json")]) == 2
    err = capsys.readouterr().err
    assert "malformed-nsg-port.json" in err and "destinationPortRange" in err
    assert "Traceback" not in err


def test_an_internal_error_is_one_line_and_exit_70(monkeypatch: pytest.MonkeyPatch,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    """Issue 16: a crash must never look like 'a target failed' (exit 1, which the
    textfile unit counts as success) or like a config error (2)."""
    from probe import cli

    def boom(argv: list[str]) -> int:
        raise RuntimeError("something nobody expected")

    monkeypatch.setattr(cli, "_main", boom)
    monkeypatch.delenv("APIM_PROBE_DEBUG", raising=False)
    assert cli.main(["--once"]) == cli.EXIT_CRASH == 70
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err
    assert "internal error: RuntimeError: something nobody expected" in err
    monkeypatch.setenv("APIM_PROBE_DEBUG", "1")
    assert cli.main([]) == 70
    assert "Traceback" in capsys.readouterr().err


def test_two_writers_on_one_textfile_are_refused(tmp_path: Path) -> None:
    """Issue 16: an agent holds its textfile's lock; a second writer (another
    agent, a timer run) gets a clear error and exit 2, never a silent overwrite."""
    from probe.exporters import textfile

    target = tmp_path / "apim_probe.prom"
    with textfile.locked(target):
        proc = subprocess.run([sys.executable, "-m", "probe", "--once", "--method", "connect",
                               "--target", "127.0.0.1:1", "--resolver", "127.0.0.1:1",
                               "--timeout", "0.2", "--count", "1", "--textfile", str(target)],
                              capture_output=True, text=True, timeout=60, check=False)
        assert proc.returncode == 2, proc.stderr
        assert "another apim-probe is writing it" in proc.stderr
        assert str(textfile.lock_path(target)) in proc.stderr
        assert not target.exists()
    proc = subprocess.run([sys.executable, "-m", "probe", "--once", "--method", "connect",
                           "--target", "127.0.0.1:1", "--resolver", "127.0.0.1:1",
                           "--timeout", "0.2", "--count", "1", "--textfile", str(target)],
                          capture_output=True, text=True, timeout=60, check=False)
    assert proc.returncode == 1 and target.exists(), proc.stderr  # the lock is free again
