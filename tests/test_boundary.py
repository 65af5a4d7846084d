"""The one input boundary (probe/boundary.py): what it refuses, naming the file
and the path, and what it lets through; then hostile documents through every
reader (``[apim] import``, ``probe lint``) and every output format.

The fuzz oracle: a reader either gives a result or one clear error line that
names the file (exit 2); an accepted document's outputs are all valid: the
table and lint's table carry no control character but line ends (and the
colour codes we add), the JSON report round-trips, prometheus-client parses
the exposition (and promtool, where installed, checks a sample of them).
"""

from __future__ import annotations

import contextlib
import io
import json
import re
import shutil
import subprocess
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from prometheus_client.parser import text_string_to_metric_families

from probe import apim_reports
from probe.boundary import ascii_int, decode, load_json, unsafe_character
from probe.cli import main
from probe.diagnosis import Context, diagnose
from probe.errors import ConfigError, ExportError, InputError
from probe.exporters import jsonreport, table
from probe.exporters.prometheus import one_round
from probe.lint.command import run as lint_run
from probe.results import DnsResult, DnsStatus, PortState, RoundResult
from tests.helpers.report_rounds import STARTED, tcp

AZURE = Path(__file__).parent / "data" / "azure"
SGR = re.compile(r"\x1b\[[0-9;]*m")


def _load(text: str | bytes) -> Any:
    data = text.encode("utf-8") if isinstance(text, str) else text
    return load_json(data, "f.json", error=ExportError, expected="az's JSON output")


# --------------------------------------------------------------------------
# what the boundary refuses, and where it says it is

@pytest.mark.parametrize(("text", "where", "what"), [
    ('{"a": [1, "\\ud800"]}', "a[1]", "U+D800 (a lone surrogate)"),
    ('{"a": {"b": "x\\udfff"}}', "a.b", "U+DFFF (a lone surrogate)"),
    ('{"a": "red\\u001b[31m"}', "a", "U+001B (a control character)"),
    ('{"a": "nul\\u0000"}', "a", "U+0000 (a control character)"),
    ('{"a": "c1\\u009b"}', "a", "U+009B (a control character)"),
    ('{"a": "ls\\u2028"}', "a", "U+2028 (a line separator)"),
    ('{"k\\u001b": 1}', "(top level)", "in a key"),
    ('{"a": NaN}', "a", "NaN, which JSON does not allow"),
    ('{"a": [Infinity]}', "a[0]", "Infinity, which JSON does not allow"),
    ('{"a": -Infinity}', "a", "-Infinity, which JSON does not allow"),
    ('{"a": 1e999}', "a", "1e999, which is not finite"),
    ('{"a": -1e999}', "a", "not finite"),
    ('{"a": ' + "9" * 5000 + "}", "a", "an integer of 5000 digits"),
    ('{"a": -' + "9" * 5000 + "}", "a", "an integer of 5000 digits"),
    ('{"a": 9223372036854775808}', "a", "the integer 9223372036854775808"),
    ('{"a": -9223372036854775809}', "a", "the integer -9223372036854775809"),
    ('{"x y": [{"z": NaN}]}', '["x y"][0].z', "NaN"),
])
def test_refused_with_the_path(text: str, where: str, what: str) -> None:
    with pytest.raises(ExportError) as info:
        _load(text)
    assert info.value.source == "f.json"
    assert info.value.key == where
    assert what in info.value.message
    assert str(info.value).isprintable()


@pytest.mark.parametrize(("text", "value"), [
    ('{"a": "tab\\tand\\nlines\\r"}', {"a": "tab\tand\nlines\r"}),  # free text may wrap
    ('{"a": 9223372036854775807}', {"a": 2**63 - 1}),
    ('{"a": -9223372036854775808}', {"a": -(2**63)}),
    ('{"a": 1.5e300, "b": -0.0}', {"a": 1.5e300, "b": -0.0}),
    ('{"a": "b\\u00fccher \\ud83d\\ude00 \\u0661"}', {"a": "bücher \U0001f600 \u0661"}),
    ('["²", "٣"]', ["²", "٣"]),  # text, not numbers: the readers that want ports refuse them
])
def test_accepted(text: str, value: Any) -> None:
    assert _load(text) == value


@pytest.mark.parametrize("codec", ["utf-8", "utf-8-sig", "utf-16", "utf-16-le", "utf-16-be",
                                   "utf-32", "utf-32-le", "utf-32-be"])
def test_every_unicode_encoding_with_or_without_a_byte_order_mark(codec: str) -> None:
    doc = {"name": "bücher", "ports": ["443", "6381-6383"], "n": [1, 2.5]}
    assert _load(json.dumps(doc, ensure_ascii=False).encode(codec)) == doc
    assert decode(json.dumps(doc).encode(codec))[0].lstrip("\ufeff") == json.dumps(doc)


@pytest.mark.parametrize(("data", "what"), [
    (b'{"a": "r\xe9seau"}', "not UTF-8 text (nor UTF-16 or UTF-32): cannot decode byte 8"),
    (b'{"a": 1,}', "not valid JSON at line 1 column 9"),
    (b"[" * 100_000 + b"]" * 100_000, "nested too deeply"),
    (b"", "not valid JSON at line 1 column 1"),
])
def test_unreadable(data: bytes, what: str) -> None:
    with pytest.raises(ExportError, match=re.escape(what)) as info:
        _load(data)
    assert "expected az's JSON output" in info.value.message


@pytest.mark.parametrize(("text", "value"), [
    ("443", 443), (" 443 ", 443), ("0", 0), ("65535", 65535), ("65536", None), ("-1", None),
    ("²", None), ("٣", None), ("\uff11\uff12", None), ("4²", None), ("", None), ("0x1bb", None),
    ("9" * 5000, None), ("+1", None), ("1_000", None), ("443\n", 443),
])
def test_ascii_int(text: str, value: int | None) -> None:
    assert ascii_int(text) == value


@pytest.mark.parametrize(("text", "char"), [
    ("plain", None), ("bücher \U0001f600", None), ("a\tb", "\t"), ("\x1b[0m", "\x1b"),
    ("\ud800", "\ud800"), ("\u2029", "\u2029"), ("\x85", "\x85"), ("\u202e", None),
])
def test_unsafe_character(text: str, char: str | None) -> None:
    assert unsafe_character(text) == char


# --------------------------------------------------------------------------
# the readers, through the command line: exit 2 and one line naming the file

def _toml(tmp_path: Path, body: str) -> Path:
    path = tmp_path / "probe.toml"
    path.write_text(body, encoding="utf-8")
    return path


def _apim(imports: str) -> str:
    return ('[apim]\nname = "contoso"\nmode = "internal"\nregion = "eastus"\n'
            f"import = [{imports}]\n")


@pytest.mark.parametrize(("body", "what"), [
    ("[agent]\ninterval = " + "9" * 5000 + "\n", ":2: an integer too long to read"),
    ("[agent]\ninterval = 99999999999999999999\n", "agent.interval: an integer beyond 64 bits"),
])
def test_check_config_refuses_huge_toml_integers(tmp_path: Path, body: str, what: str,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    path = _toml(tmp_path, body)
    assert main(["--check-config", "-c", str(path)]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"probe: error: {path}") and what in err and err.count("\n") == 1


HOSTILE_IMPORTS = {
    "surrogate": ('"error": ""', '"error": "\\ud800"', "U+D800 (a lone surrogate)"),
    "escape": ('"error": ""', '"error": "\\u001b[2J"', "U+001B (a control character)"),
    "huge": ('"isOptional": false', '"isOptional": ' + "9" * 5000, "integer of 5000 digits"),
    "nan": ('"isOptional": false', '"isOptional": NaN', "NaN, which JSON does not allow"),
}


@pytest.mark.parametrize("case", sorted(HOSTILE_IMPORTS))
def test_check_config_names_the_import_and_the_path(
        tmp_path: Path, case: str, capsys: pytest.CaptureFixture[str]) -> None:
    old, new, what = HOSTILE_IMPORTS[case]
    text = (AZURE / "networkstatus.json").read_text(encoding="utf-8")
    assert old in text
    (tmp_path / "ns.json").write_text(text.replace(old, new, 1), encoding="utf-8")
    path = _toml(tmp_path, _apim('"ns.json"'))
    assert main(["--check-config", "-c", str(path)]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"probe: error: {tmp_path / 'ns.json'}: [0].networkStatus.")
    assert what in err and err.count("\n") == 1 and err[:-1].isprintable()


@pytest.mark.parametrize("codec", ["utf-16", "utf-16-le", "utf-32", "utf-8-sig"])
def test_imports_read_the_encodings_lint_reads(tmp_path: Path, codec: str,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    """PowerShell 5's `>` writes UTF-16: `[apim] import` refused it, lint read it."""
    text = (AZURE / "networkstatus.json").read_text(encoding="utf-8")
    (tmp_path / "ns.json").write_bytes(text.encode(codec))
    utf8 = apim_reports.load(AZURE / "networkstatus.json", ("East US",))
    other = apim_reports.load(tmp_path / "ns.json", ("East US",))
    assert other.targets == utf8.targets and utf8.targets
    assert [replace(c, source="") for c in other.checks] == \
        [replace(c, source="") for c in utf8.checks]
    path = _toml(tmp_path, _apim('"ns.json"'))
    assert main(["--check-config", "-c", str(path)]) == 0, capsys.readouterr().err


@pytest.mark.parametrize(("port", "ok"), [('"443"', True), ('"²"', False), ('"٣"', False),
                                          ('"443-٤٤٣"', False), ('"' + "9" * 5000 + '"', False),
                                          ("1e999", False), ("443", True)])
def test_lint_ports_are_ascii_integers(tmp_path: Path, port: str, ok: bool,
                                       capsys: pytest.CaptureFixture[str]) -> None:
    text = (AZURE / "nsg-internal-ok.json").read_text(encoding="utf-8")
    first = re.search(r'"destinationPortRange": "[^"]*"', text)
    assert first is not None
    (tmp_path / "nsg.json").write_text(
        text[:first.start()] + f'"destinationPortRange": {port}' + text[first.end():],
        encoding="utf-8")
    status = lint_run([str(tmp_path / "nsg.json")])
    err = capsys.readouterr().err
    if ok:
        assert status in (0, 1) and err == ""
    else:
        assert status == 2 and err.startswith(f"probe lint: error: {tmp_path / 'nsg.json'}")
        assert "destinationPortRange" in err and err.count("\n") == 1


# --------------------------------------------------------------------------
# fuzz: hostile values anywhere in real samples, through every reader and output

HOSTILE_LITERALS = [
    '"\\ud800"', '"x\\udc80y"', '"\\u001b[31mRED"', '"\\u0000"', '"\\u009b2J"', '"\\u2028"',
    '"a\\nINJECTED 1"', '"tab\\there"', '"²"', '"٣٤"', "\"\uff11\"", '"443-²"', '"\\u202eevil"',
    "NaN", "Infinity", "-Infinity", "1e999", "9" * 5000, "18446744073709551616",
    "-9223372036854775809", "9223372036854775807", "0.5", "-1", '""', "null", "true", "[]",
    "{}", '"443"', '"*"', '"10.0.0.0/8"', '"bücher.example"',
]
MARK = "@@hostile@@"
ENCODINGS = ["utf-8", "utf-8-sig", "utf-16", "utf-16-le", "utf-32"]


def _leaves(doc: Any, path: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    if isinstance(doc, dict):
        return [p for k, v in doc.items() for p in _leaves(v, (*path, k))] or [path]
    if isinstance(doc, list):
        return [p for i, v in enumerate(doc) for p in _leaves(v, (*path, i))] or [path]
    return [path]


def _set(doc: Any, path: tuple[Any, ...], value: Any) -> Any:
    if not path:
        return value
    copy = dict(doc) if isinstance(doc, dict) else list(doc)
    copy[path[0]] = _set(doc[path[0]], path[1:], value)
    return copy


@st.composite
def hostile_documents(draw: st.DrawFn, samples: tuple[str, ...]) -> tuple[str, bytes]:
    name = draw(st.sampled_from(samples))
    doc = json.loads((AZURE / name).read_text(encoding="utf-8"))
    leaves = _leaves(doc)
    literals = []
    for _ in range(draw(st.integers(1, 3))):
        path = draw(st.sampled_from(leaves))
        doc = _set(doc, path, f"{MARK}{len(literals)}")
        literals.append(draw(st.sampled_from(HOSTILE_LITERALS)))
    text = json.dumps(doc, indent=1, ensure_ascii=False)
    for i, literal in enumerate(literals):
        text = text.replace(f'"{MARK}{i}"', literal)
    return name, text.encode(draw(st.sampled_from(ENCODINGS)))


def _assert_clean_text(text: str) -> None:
    """No control character but line ends and our own colour codes."""
    bare = SGR.sub("", text)
    assert all(line.isprintable() for line in bare.split("\n")), ascii(bare)[:400]


def _assert_one_error_line(exc: InputError, path: Path) -> None:
    message = str(exc)
    assert message.startswith(str(path)) and message.isprintable(), ascii(message)
    assert len(message) < 2000 and exc.exit_status == 2


EXPOSITIONS: list[bytes] = []


def _assert_outputs_valid(result: RoundResult) -> None:
    for colour in (False, True):
        _assert_clean_text(table.render(result, colour=colour, exit_status=1))
    report = jsonreport.render(result, exit_status=1)
    assert json.loads(report) == json.loads(json.dumps(json.loads(report)))
    assert report.isascii()
    body, failed = one_round(result)
    assert failed == ()
    families = list(text_string_to_metric_families(body.decode("utf-8")))
    assert families
    if len(EXPOSITIONS) < 50:
        EXPOSITIONS.append(body)


_FUZZ = settings(max_examples=400, deadline=None, derandomize=True, database=None,
                 suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                        HealthCheck.function_scoped_fixture])


@_FUZZ
@given(case=hostile_documents(("networkstatus.json", "networkstatus-location.json",
                               "outbound-dependencies.json")))
def test_fuzz_imports_through_every_output(tmp_path: Path, case: tuple[str, bytes]) -> None:
    _, data = case
    path = tmp_path / "import.json"
    path.write_bytes(data)
    try:
        imported = apim_reports.load(path, ("East US", "West Europe"))
    except ConfigError as exc:
        _assert_one_error_line(exc, path)
        return
    # accepted: a round over what it yields, with APIM's view beside it
    rows = tuple(tcp(t.name, "198.18.0.5" if i % 2 else None, t.port,
                     PortState.OPEN if i % 2 else PortState.UNRESOLVED,
                     "syn-ack" if i % 2 else "nxdomain", host=t.host, dependency=t.dependency,
                     required=t.required)
                 for i, t in enumerate(imported.targets))
    dns = tuple(DnsResult(t.host, "198.18.2.53", DnsStatus.NXDOMAIN, "NXDOMAIN", (), (), 0.001)
                for t in imported.targets if not t.host[0].isdigit())
    bare = RoundResult(STARTED, 0.5, ("198.18.2.53",), dns, rows, (), method="syn")
    findings = diagnose(bare, Context(mode="internal", reports=imported.checks))
    _assert_outputs_valid(RoundResult(STARTED, 0.5, ("198.18.2.53",), dns, rows,
                                      tuple(findings), method="syn"))


LINT_SAMPLES = ("nsg-broken.json", "nsg-external-arm.json", "nsg-internal-ok.json",
                "route-table-forced.json", "route-table-ok.json",
                "effective-routes-bgp-default.json", "route-table-control-plane-to-fw.json")


@_FUZZ
@given(case=hostile_documents(LINT_SAMPLES), fmt=st.sampled_from(["table", "json"]))
def test_fuzz_lint_through_both_formats(tmp_path: Path, case: tuple[str, bytes],
                                        fmt: str) -> None:
    path = tmp_path / "export.json"
    path.write_bytes(case[1])
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        status = lint_run([str(path), "--format", fmt])
    if status == 2:
        assert out.getvalue() == ""
        line = err.getvalue()
        assert line.startswith(f"probe lint: error: {path}") and line.count("\n") == 1
        assert line[:-1].isprintable(), ascii(line)
        return
    assert status in (0, 1) and err.getvalue() == ""
    if fmt == "json":
        doc = json.loads(out.getvalue())
        assert doc["exit_status"] == status and out.getvalue().isascii()
    else:
        _assert_clean_text(out.getvalue())


@pytest.mark.skipif(shutil.which("promtool") is None,
                    reason="promtool not installed (apt-get install prometheus)")
def test_promtool_reads_the_expositions_of_hostile_imports() -> None:
    """Runs after the import fuzz (same module, file order): promtool's parser
    on a sample of the expositions it produced."""
    if not EXPOSITIONS:
        pytest.skip("the import fuzz did not run in this session")
    for body in EXPOSITIONS:
        proc = subprocess.run(["promtool", "check", "metrics"], input=body, capture_output=True,
                              timeout=30, check=False)
        # lint findings (naming advice) are exit 1 with text; a parse error names the line
        assert b"error while linting" not in proc.stderr + proc.stdout, proc.stderr
        assert proc.returncode in (0, 1), proc.stderr
