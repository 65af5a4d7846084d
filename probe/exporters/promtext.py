"""The Prometheus text format (0.0.4), written by hand: label escaping, one
family's HELP/TYPE/sample lines, and reading a body back (names, series)."""

from __future__ import annotations

from collections.abc import Callable
from typing import cast

from prometheus_client.utils import floatToGoString

from probe.display import printable

PREFIX = "apim_probe"
# prometheus-client's own number format (Go's), typed for mypy.
num = cast(Callable[[float], str], floatToGoString)


def escape(value: str) -> str:
    """A label value as the text format wants it: backslash, quote, newline
    escaped; anything else not printable (a terminal escape, a lone surrogate
    that UTF-8 cannot carry) shown as ``\\uXXXX`` first (``printable``)."""
    if not value.isprintable():  # keep the newline for the format's own escape
        value = "\n".join(printable(part) for part in value.split("\n"))
    if "\\" in value or '"' in value or "\n" in value:
        return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
    return value


def labels(**pairs: str) -> str:
    """``{a="1",b="2"}`` in the order given; ``""`` for none."""
    if not pairs:
        return ""
    return "{" + ",".join(f'{k}="{escape(v)}"' for k, v in pairs.items()) + "}"



class Family:
    """One family's HELP, TYPE and sample lines; written only when it has samples."""

    __slots__ = ("help", "kind", "lines", "name")

    def __init__(self, short: str, kind: str, help_text: str) -> None:
        self.name = f"{PREFIX}_{short}{'_total' if kind == 'counter' else ''}"
        self.kind = kind
        self.help = help_text.replace("\\", "\\\\").replace("\n", "\\n")
        self.lines: list[str] = []

    def add(self, label_text: str, value: float, suffix: str = "") -> None:
        self.lines.append(f"{self.name}{suffix}{label_text} {num(value)}\n")

    def text(self) -> str:
        if not self.lines:
            return ""
        return (f"# HELP {self.name} {self.help}\n# TYPE {self.name} {self.kind}\n"
                + "".join(self.lines))


def family_names(body: bytes | str) -> list[str]:
    """The family names a body declares (``# TYPE`` lines), in order."""
    text = body.decode("utf-8") if isinstance(body, bytes) else body
    return [line.split(" ")[2] for line in text.splitlines() if line.startswith("# TYPE ")]


def series_count(body: bytes) -> int:
    """Samples in a body: lines that are not comments."""
    return sum(1 for line in body.splitlines() if line and not line.startswith(b"#"))

