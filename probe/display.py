"""Text from elsewhere (a Prometheus server's label values, IMDS's answers)
made safe for a terminal: every character that is not printable is shown as
``\\uXXXX``, so a value can neither forge a line nor send an escape sequence."""

from __future__ import annotations

__all__ = ["printable"]


def printable(text: str) -> str:
    if text.isprintable():  # the common case, in C
        return text
    return "".join(c if c.isprintable() else f"\\u{ord(c):04x}" for c in text)
