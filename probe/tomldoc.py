"""One document the user gave us, read with errors that say where.

``TomlDoc`` knows its source name and (for TOML) its text, finds the line of
a dotted key (``target[2].port``) or of a table header (``[apim]``, the third
``[[target]]``), and builds errors of the ``InputError`` subclass it was given
(``ConfigError`` for the config; a JSON reader passes its own and no text).
``get`` and ``check_keys`` are the typed look-ups every section uses; a
string never carries a control character (a newline in a name would forge a
log line or a table row).

``parse_toml`` turns tomllib's errors (and its ``RecursionError`` on deeply
nested arrays) into the same error type, with the parser's line.

Bottom layer: imports nothing of ours but the error tree.
"""

from __future__ import annotations

import re
import reprlib
import tomllib
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, TypeVar

from probe.boundary import unsafe_character
from probe.errors import ErrorSite, InputError

__all__ = ["Check", "TomlDoc", "control_character", "kind_name", "parse_toml", "show"]

T = TypeVar("T")
Check = Callable[[Any], "str | None"]  # None when the value is fine, else what was expected

# Unicode line and paragraph separators end a line for many readers too.


_REPR = reprlib.Repr()
_REPR.maxstring = _REPR.maxother = _REPR.maxlong = 80
_REPR.maxlist = _REPR.maxdict = 6
_REPR.maxlevel = 3


def show(value: Any) -> str:
    """repr() for an error message: a 1 MiB string or a deep list stays one short line."""
    return _REPR.repr(value)


def control_character(text: str) -> str | None:
    """The first C0/DEL/C1 control character, line separator or lone surrogate
    in ``text``, if any (``probe.boundary`` decides for every reader)."""
    return unsafe_character(text)


def kind_name(kinds: tuple[type, ...]) -> str:
    """'an integer', 'a number', 'a list or a string' ..."""
    names = {bool: "true or false", int: "an integer", float: "a number", str: "a string",
             list: "a list", dict: "a table"}
    if set(kinds) == {int, float}:
        return "a number"
    return " or ".join(names.get(k, k.__name__) for k in kinds)


def parse_toml(text: str, *, source: Path | str,
               error: type[InputError] = InputError) -> dict[str, Any]:
    """tomllib.loads, with its failures as ``error`` naming the source and line."""
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        match = re.search(r"\(at line (\d+), column \d+\)", str(exc))
        raise error(f"not valid TOML: {exc}", source=source,
                    line=int(match.group(1)) if match else None) from None
    except RecursionError:
        raise error("arrays or inline tables nested too deeply to read",
                    source=source) from None
    except ValueError:  # Python's int digit limit, hit inside tomllib
        long = re.search(r"\d{4000,}", text)
        raise error("an integer too long to read; expected an integer within 64 bits (TOML's "
                    "range)", source=source,
                    line=text.count("\n", 0, long.start()) + 1 if long else None) from None
    big = _big_integer(doc, "")
    if big:
        raise error("an integer beyond 64 bits; expected an integer within 64 bits (TOML's "
                    "range)", source=source, key=big)
    return doc


def _big_integer(value: Any, where: str) -> str | None:
    """The key path of the first integer TOML's 64 bits cannot hold, if any."""
    if isinstance(value, int) and not isinstance(value, bool):
        return where if not -(1 << 63) <= value < (1 << 63) else None
    items = value.items() if isinstance(value, dict) else \
        enumerate(value) if isinstance(value, list) else ()
    for k, v in items:
        found = _big_integer(v, f"{where}.{k}" if isinstance(k, str) and where else
                             k if isinstance(k, str) else f"{where}[{k}]")
        if found:
            return found
    return None


class TomlDoc(ErrorSite):
    """Validates one document, remembering where each key stands."""

    def __init__(self, source: str, text: str = "",
                 error: type[InputError] = InputError) -> None:
        super().__init__(source, error)
        self.lines = text.splitlines()

    def fail(self, key: str, message: str, line: int | None = None) -> InputError:
        """An error at ``key``; its line found in the text unless given."""
        if line is None:
            # 'dns.resolvers[2]' is an element of an inline array: fall back to the array's line.
            line = self.locate(key) or self.locate(re.sub(r"\[\d+\]$", "", key))
        return super().fail(key, message, line)

    def header_line(self, table: str, index: int = 0) -> int | None:
        """The line of ``[table]``, or of the ``index``-th ``[[table]]``."""
        seen = -1
        for number, raw in enumerate(self.lines, start=1):
            line = raw.strip()
            if line.startswith("[") and _header_name(line) == table:
                seen += 1
                if not line.startswith("[[") or seen == index:
                    return number
        return None

    def locate(self, key: str) -> int | None:
        """Best-effort line of a dotted key like 'target[2].port' or 'agent.timeout'."""
        parts = re.findall(r"[A-Za-z_][A-Za-z0-9_-]*|\[\d+\]", key)
        table: list[str] = []
        leaf = parts[-1] if parts else ""
        index = int(leaf[1:-1]) if leaf.startswith("[") else 0
        for part in parts[:-1]:
            if part.startswith("["):
                index = int(part[1:-1])
            else:
                table.append(part)
        header = ".".join(table)
        seen = -1
        inside = not header
        for number, raw in enumerate(self.lines, start=1):
            line = raw.strip()
            if line.startswith("["):
                name = _header_name(line)
                if name == ".".join([*table, leaf]):
                    return number  # the key is a table of its own, e.g. an unknown [[tagret]]
                if name == header:
                    seen += 1
                    inside = seen == index if line.startswith("[[") else True
                else:
                    inside = False
                if inside and leaf.startswith("["):
                    return number
                continue
            if inside and re.match(rf"{re.escape(leaf)}\s*=", line):
                return number
        return None

    def check_keys(self, table: Mapping[str, Any], where: str, allowed: Sequence[str]) -> None:
        for key in table:
            if key not in allowed:
                full = f"{where}.{key}" if where else key
                raise self.fail(full, f"unknown key {key!r}; expected one of: "
                                      + ", ".join(allowed))

    def get(self, table: Mapping[str, Any], where: str, key: str, kind: type[T] | tuple[type, ...],
            default: T, check: Check | None = None) -> T:
        full = f"{where}.{key}" if where else key
        if key not in table:
            return default
        value = table[key]
        kinds = kind if isinstance(kind, tuple) else (kind,)
        if isinstance(value, bool) and bool not in kinds:
            raise self.fail(full, f"expected {kind_name(kinds)}, got {value!r}")
        if not isinstance(value, kinds):
            raise self.fail(full, f"expected {kind_name(kinds)}, got {type(value).__name__} "
                                  f"{show(value)}")
        if isinstance(value, str):
            self.check_text(full, value)
        if check is not None:
            problem = check(value)
            if problem:
                raise self.fail(full, f"{problem}, got {show(value)}")
        return value  # type: ignore[return-value]

    def check_text(self, key: str, value: str) -> None:
        """Refuse a string with a control character or line separator in it."""
        char = control_character(value)
        if char is not None:
            raise self.fail(key, f"expected text without control characters, got {show(value)} "
                                 f"(U+{ord(char):04X})")


def _header_name(line: str) -> str:
    """'[[target]]  # comment' -> 'target'; '[ apim ]' -> 'apim'."""
    return line.split("#", 1)[0].strip().strip("[]").strip()
