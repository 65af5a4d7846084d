"""Generated configs for the config fuzz test, derived from the schema.

A valid document is drawn from the schema (``probe.schema.keys_of``: ranges,
choices, types; valid strings by key name), then up to three mutations break
it anywhere the schema reaches: a key given another type, an edge of its range,
NaN, an integer beyond 64 bits or 5,000 digits long, a nasty string (unicode,
IDN, huge), a control character slipped into a valid string, an unknown key,
a required key dropped, a section of the wrong
type. ``dump`` writes it as TOML (tomllib has no writer), with [table] and
[[target]] headers or all inline.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Sequence
from typing import Any

from hypothesis import strategies as st

from probe.config import SECTIONS
from probe.schema import Between, Key, OneOf, keys_of

NASTY_STRINGS = [
    "", " ", "host\n", "a\nb", "tab\there", "del\x7f", "c1\x85", "ls\u2028", "ps\u2029",
    "esc\x1b[31m", "nul\x00", "bücher.example", "xn--bcher-kva.example", "\u0661\u0662",
    "192.0.2.1", "2001:db8::1", "[2001:db8::1]:53", "192.0.2.53:5353", "1.2.3.999",
    "contoso.azure-api.net", "contoso.azure-api.net.", "-bad.example", "a..b", "system",
    "x" * 300, "a" * 64 + ".example", "host:99999", ":9839", "127.0.0.1:9839", "ok",
    "auto", "syn", "connect", "open", "closed", "filtered", "internal", "external",
    "\U0001f600", "\ufeffbom", "\u202eevil",
]

CONTROL = ["\n", "\r", "\t", "\x00", "\x1b", "\x7f", "\x85", "\x9b", "\u2028", "\u2029"]



class Literal(str):
    """TOML text written as it is: numbers Python would not print (5,000 digits)."""


# integers TOML's 64 bits cannot hold, and one beyond Python's digit limit
HUGE_INTEGERS = [2**63, -(2**63) - 1, 10**40, Literal("9" * 5000), Literal("-" + "9" * 4400)]

# anything at all, for a key that expects something else
_SCALARS = st.one_of(
    st.integers(min_value=-(2**63), max_value=2**63 - 1),
    st.sampled_from(HUGE_INTEGERS),
    st.floats(allow_nan=True, allow_infinity=True),
    st.booleans(),
    st.sampled_from(NASTY_STRINGS),
    st.text(max_size=12),
)
ANY_VALUE = st.recursive(_SCALARS, lambda inner: st.one_of(
    st.lists(inner, max_size=3),
    st.dictionaries(st.sampled_from(["a", "name", "x y", "port"]), inner, max_size=2)),
    max_leaves=6)


_LABEL = st.text(st.characters(blacklist_categories=("Cc", "Cs", "Zl", "Zp")), min_size=1,
                 max_size=20).filter(str.strip)
_HOSTS = st.sampled_from(["contoso.azure-api.net", "st.blob.core.windows.net", "192.0.2.1",
                          "2001:db8::1", "xn--bcher-kva.example", "h", "a-b.c_d.example."])
_IPS = st.sampled_from(["192.0.2.1", "198.18.0.5", "2001:db8::53", "2001:DB8:0::1"])
# valid values for string keys, by TOML name; everything else follows the schema's check
_VALID_STRINGS: dict[str, st.SearchStrategy[Any]] = {
    "name": _LABEL, "dependency": _LABEL, "region": st.one_of(st.just(""), _LABEL),
    "host": _HOSTS, "listen": st.sampled_from(["127.0.0.1:9839", ":0", "[::1]:1", "h:65535"]),
    "resolvers": st.lists(st.sampled_from(["system", "192.0.2.53", "192.0.2.53:5353",
                                           "[2001:db8::53]:53", "2001:db8::54"]),
                          min_size=1, max_size=3),
    "domain": st.sampled_from(["azure-api.net", "azure-api.test.", "x.y"]),
    "instance_address": st.one_of(_IPS, st.lists(_IPS, max_size=3)),
    "azure_dns": st.one_of(_IPS, st.lists(_IPS, max_size=3)),
    "forbidden_hops": st.lists(st.sampled_from(["198.18.3.4", "198.18.8.0/24", "10.0.0.1/8"]),
                               max_size=3),
    "storage": st.lists(_HOSTS, max_size=3), "sql": _HOSTS, "keyvault": st.lists(_HOSTS),
    "monitor": st.lists(_HOSTS, max_size=2),
}
_APIM_NAMES = st.sampled_from(["contoso", "c", "contoso-apim-01"])


def valid(name: str, spec: Key) -> st.SearchStrategy[Any] | None:
    """Values the schema accepts for one key (None: leave the key out when valid)."""
    check = spec.check
    if name in _VALID_STRINGS:
        return _VALID_STRINGS[name]
    if isinstance(check, Between):
        if float in spec.kind:
            return st.floats(min_value=check.low, max_value=check.high)
        return st.integers(min_value=int(check.low), max_value=int(check.high))
    if isinstance(check, OneOf):
        return st.sampled_from(check.choices)
    if spec.kind == (bool,):
        return st.booleans()
    return None  # files (pairs, paths relative to the config), imports: mutations only


def invalid(spec: Key, paths: Sequence[str]) -> st.SearchStrategy[Any]:
    """Values that are wrong for one key, or may be: other types, edges, nasty strings."""
    check = spec.check
    edges: list[Any] = [math.nan, math.inf, -math.inf, 2**63 - 1, -(2**63)]
    if isinstance(check, Between):
        edges += [check.low - 1, check.high + 1, check.low / 2, float(check.high) + 0.5]
    return st.one_of(ANY_VALUE, st.sampled_from(edges), st.sampled_from(NASTY_STRINGS),
                     st.sampled_from(list(paths)), st.lists(st.sampled_from(NASTY_STRINGS),
                                                           max_size=3))


def _valid_table(cls: type, required_only: bool = False) -> st.SearchStrategy[dict[str, Any]]:
    entries: dict[str, st.SearchStrategy[Any]] = {}
    optional: dict[str, st.SearchStrategy[Any]] = {}
    for name, spec in keys_of(cls):
        values = _APIM_NAMES if (cls is SECTIONS["apim"] and name == "name") else valid(
            name, spec)
        if values is None:
            continue
        (entries if spec.required else optional)[name] = values
    return st.fixed_dictionaries(entries, optional={} if required_only else optional)


def _mutate(doc: dict[str, Any], draw: st.DrawFn, paths: Sequence[str]) -> None:
    """One change that may make the document invalid, anywhere the schema reaches."""
    kind = draw(st.sampled_from(["value", "value", "control", "control", "unknown", "drop",
                                 "section"]))
    name = draw(st.sampled_from(list(SECTIONS)))
    if kind == "section":
        doc[name] = draw(ANY_VALUE)
        return
    table = doc.setdefault(name, [] if name == "target" else {})
    if name == "target":
        if not isinstance(table, list) or not table:
            return
        table = table[draw(st.integers(0, len(table) - 1))]
    if not isinstance(table, dict):
        return
    key_name, spec = draw(st.sampled_from(keys_of(SECTIONS[name])))
    if kind == "control":  # a valid string with a control character or separator in it
        if not isinstance(table.get(key_name), str):
            return
        text, char = table[key_name], draw(st.sampled_from(CONTROL))
        at = draw(st.integers(0, len(text)))
        table[key_name] = text[:at] + char + text[at:]
    elif kind == "unknown":
        table[draw(st.sampled_from(["tagret", "", "x y", "timeuot"]))] = 1
    elif kind == "drop":
        table.pop(key_name, None)
    else:
        table[key_name] = draw(invalid(spec, paths))


def configs(paths: Sequence[str]) -> st.SearchStrategy[dict[str, Any]]:
    """A valid document from the schema, then up to three mutations."""
    @st.composite
    def build(draw: st.DrawFn) -> dict[str, Any]:
        doc: dict[str, Any] = draw(st.fixed_dictionaries({}, optional={
            "agent": _valid_table(SECTIONS["agent"]),
            "dns": _valid_table(SECTIONS["dns"]),
            "target": st.lists(_valid_table(SECTIONS["target"]), min_size=1, max_size=3,
                               unique_by=lambda t: t["name"]),
            "apim": _valid_table(SECTIONS["apim"]),
            "metrics": _valid_table(SECTIONS["metrics"]),
        }))
        for _ in range(draw(st.integers(0, 3))):
            _mutate(doc, draw, paths)
        return doc
    return build()


# --------------------------------------------------------------------------
# a small TOML writer


def _string(text: str) -> str:
    # JSON escapes what TOML's basic strings need escaped, but DEL
    return json.dumps(text, ensure_ascii=False).replace("\x7f", "\\u007f")


def _key(name: str) -> str:
    return name if re.fullmatch(r"[A-Za-z0-9_-]+", name) else _string(name)


def value(v: Any) -> str:
    if isinstance(v, Literal):
        return str.__str__(v)
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        if math.isnan(v):
            return "nan"
        if math.isinf(v):
            return "inf" if v > 0 else "-inf"
        return repr(v)
    if isinstance(v, str):
        return _string(v)
    if isinstance(v, list):
        return "[" + ", ".join(value(x) for x in v) + "]"
    if isinstance(v, dict):
        return "{" + ", ".join(f"{_key(k)} = {value(x)}" for k, x in v.items()) + "}"
    raise TypeError(v)


def dump(doc: dict[str, Any], headers: bool = True) -> str:
    """TOML text: scalars first, then [tables] and [[arrays of tables]] (or all inline)."""
    lines = [f"{_key(k)} = {value(v)}" for k, v in doc.items()
             if not headers or (not _is_table(v) and not _is_table_array(v))]
    if headers:
        for k, v in doc.items():
            if _is_table(v):
                lines += ["", f"[{_key(k)}]", *(f"{_key(a)} = {value(b)}" for a, b in v.items())]
            elif _is_table_array(v):
                for item in v:
                    lines += ["", f"[[{_key(k)}]]",
                              *(f"{_key(a)} = {value(b)}" for a, b in item.items())]
    return "\n".join(lines) + "\n"


def _is_table(v: Any) -> bool:
    return isinstance(v, dict)


def _is_table_array(v: Any) -> bool:
    return isinstance(v, list) and bool(v) and all(isinstance(x, dict) for x in v)
