"""The one input boundary: text and numbers from outside become ours here.

Every document apim-probe reads from elsewhere (the TOML config goes through
``probe.tomldoc``, which uses ``unsafe_character`` from here; saved Azure JSON
for ``[apim] import`` and ``probe lint``; IMDS and Prometheus answers) is
decoded and parsed by ``load_json``, which refuses, naming the file and the
path inside the document:

- text that is not text: a lone surrogate (``"\\ud800"`` is valid JSON, but
  no UTF-8 can carry it: it would crash the exposition, a table or a log line
  later, far from its cause);
- control characters (terminal escapes, NUL, C1 controls) other than tab and
  line breaks, which a free-text field (a rule's description) may hold;
- numbers that are not bounded integers or finite numbers: ``NaN``,
  ``Infinity``, ``1e999`` and integers beyond 64 bits (a 5,000-digit literal
  otherwise ends in Python's ``int`` digit limit, a ``ValueError`` from deep
  inside the parser).

What it lets through can still hold a line break or a bidi control: where any
text is shown (table, error, log, label) it passes ``probe.display.printable``.
Strings that are numbers in Azure's exports (``"443"``, ``"1000-2000"``) go
through ``ascii_int``: ``"²"`` and ``"٣"`` are digits to ``str.isdigit`` and
``int``, and no port.

Bottom layer: imports nothing of ours but the error tree.
"""

from __future__ import annotations

import json
import math
import unicodedata
from pathlib import Path
from typing import Any

from probe.errors import InputError

__all__ = ["INT_BOUND", "ascii_int", "decode", "load_json", "unsafe_character"]

INT_BOUND = 1 << 63
_SEPARATORS = frozenset("\u2028\u2029")
_ALLOWED_IN_JSON = frozenset("\t\n\r")
# Codecs that consume their byte order mark.
_BOMS = ((b"\xef\xbb\xbf", "utf-8-sig"), (b"\xff\xfe\x00\x00", "utf-32"),
         (b"\x00\x00\xfe\xff", "utf-32"), (b"\xff\xfe", "utf-16"), (b"\xfe\xff", "utf-16"))


def unsafe_character(text: str, allowed: frozenset[str] = frozenset()) -> str | None:
    """The first character of ``text`` no reader may pass on: a control
    character (C0, DEL, C1), a line or paragraph separator, a lone surrogate;
    None when there is none (``allowed`` ones excepted)."""
    if text.isprintable():  # the common case, in C
        return None
    for char in text:
        if char in allowed:
            continue
        if char in _SEPARATORS or unicodedata.category(char) in ("Cc", "Cs"):
            return char
    return None


def describe_character(char: str) -> str:
    """'U+001B (a control character)', 'U+D800 (a lone surrogate)' ..."""
    kind = {"Cs": "a lone surrogate", "Cc": "a control character"}.get(
        unicodedata.category(char), "a line separator")
    return f"U+{ord(char):04X} ({kind})"


def ascii_int(text: str, low: int = 0, high: int = 65535) -> int | None:
    """``text`` as an integer from ``low`` to ``high`` when it is ASCII digits
    only (surrounding blanks allowed), else None."""
    text = text.strip()
    if not text or not text.isascii() or not text.isdigit() or len(text) > 20:
        return None
    value = int(text)
    return value if low <= value <= high else None


def decode(data: bytes) -> tuple[str, str]:
    """(text, codec): UTF-8, or UTF-16/32 with a byte order mark, or UTF-16/32
    without one (recognised by the NUL bytes an ASCII '{' or '[' gets).
    Raises UnicodeDecodeError."""
    codec = next((c for bom, c in _BOMS if data.startswith(bom)), None)
    if codec is None:
        head = data[:4]
        if len(head) == 4 and head[1:] == b"\0\0\0" and head[0]:
            codec = "utf-32-le"
        elif len(head) == 4 and head[:3] == b"\0\0\0" and head[3]:
            codec = "utf-32-be"
        elif data[1:2] == b"\0" and data[:1] != b"\0":
            codec = "utf-16-le"
        elif data[:1] == b"\0" and data[1:2] != b"\0":
            codec = "utf-16-be"
        else:
            codec = "utf-8"
    return data.decode(codec), codec


class _Refused:
    """A number the parser met that we refuse; found with its path afterwards."""

    __slots__ = ("why",)

    def __init__(self, why: str) -> None:
        self.why = why


def _int(text: str) -> int | _Refused:
    digits = len(text.lstrip("-"))
    if digits > 19:
        return _Refused(f"an integer of {digits} digits")
    value = int(text)
    return value if -INT_BOUND <= value < INT_BOUND else _Refused(f"the integer {text}")


def _float(text: str) -> float | _Refused:
    if len(text) > 400:
        return _Refused(f"a number of {len(text)} characters")
    value = float(text)
    return value if math.isfinite(value) else _Refused(f"{text[:40]}, which is not finite")


def _constant(name: str) -> _Refused:
    return _Refused(f"{name}, which JSON does not allow")


def _path(parent: str, key: str | int) -> str:
    if isinstance(key, int):
        return f"{parent}[{key}]"
    simple = key.isidentifier() and key.isascii()
    return (f"{parent}.{key}" if parent else key) if simple else f"{parent}[{json.dumps(key)}]"


def _refusal(value: Any) -> str | None:
    if isinstance(value, _Refused):
        return f"{value.why}; expected a finite number, an integer within 64 bits"
    if isinstance(value, str):
        char = unsafe_character(value, _ALLOWED_IN_JSON)
        if char is not None:
            return f"{describe_character(char)} in a string; expected text"
    return None


def _walk(doc: Any) -> tuple[str, str] | None:
    """The first (path, reason) of a refused value, depth-first; iterative, so
    a deeply nested document cannot exhaust the stack here."""
    stack: list[tuple[str, Any]] = [("", doc)]
    while stack:
        where, value = stack.pop()
        if isinstance(value, dict):
            items = list(value.items())
            for key, _ in items:
                char = unsafe_character(key, _ALLOWED_IN_JSON)
                if char is not None:
                    return where or "(top level)", (f"{describe_character(char)} in a key; "
                                                     "expected text")
            stack.extend((_path(where, k), v) for k, v in reversed(items))
        elif isinstance(value, list):
            stack.extend((_path(where, i), v) for i, v in reversed(list(enumerate(value))))
        else:
            why = _refusal(value)
            if why is not None:
                return where or "(top level)", why
    return None


def load_json(data: bytes, source: Path | str, *, error: type[InputError] = InputError,
              expected: str = "JSON") -> Any:
    """The JSON document in ``data`` (read from ``source``), or ``error``
    naming the source, the path inside the document where known, what is wrong
    and ``expected``."""
    try:
        text, codec = decode(data)
    except UnicodeDecodeError as exc:
        raise error(f"not UTF-8 text (nor UTF-16 or UTF-32): cannot decode byte {exc.start} "
                    f"as {exc.encoding}; expected {expected}", source=source) from None
    try:
        doc = json.loads(text, parse_int=_int, parse_float=_float, parse_constant=_constant)
    except json.JSONDecodeError as exc:
        raise error(f"not valid JSON at line {exc.lineno} column {exc.colno}: {exc.msg} "
                    f"(read as {codec}); expected {expected}", source=source,
                    line=exc.lineno) from None
    except RecursionError:
        raise error(f"JSON nested too deeply; expected {expected}", source=source) from None
    refused = _walk(doc)
    if refused is not None:
        where, why = refused
        raise error(why, source=source, key=where)
    return doc
