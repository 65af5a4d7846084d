"""The README's config key tables, generated from the schema.

    .venv/bin/python -m tests.helpers.readme_keys   # rewrite README.md's tables

``tests/test_config.py`` fails when README.md differs from what this writes.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

from probe.apimmodel import markdown_profiles
from probe.config import SECTIONS
from probe.schema import markdown_table

README = Path(__file__).resolve().parents[2] / "README.md"
_BLOCK = re.compile(r"(<!-- keys:(\w+) -->\n)(.*?)(<!-- /keys -->)", re.S)
_MODES = re.compile(r"(<!-- modes -->\n)(.*?)(<!-- /modes -->)", re.S)


def filled(text: str) -> str:
    """``text`` with every ``<!-- keys:SECTION -->`` block holding the schema's table."""
    text = _BLOCK.sub(lambda m: m.group(1) + markdown_table(SECTIONS[m.group(2)], m.group(2))
                      + m.group(4), text)
    # and the APIM modes' tables, from the model
    return _MODES.sub(lambda m: m.group(1) + markdown_profiles() + "\n" + m.group(3), text)


def sections_in(text: str) -> list[str]:
    return [m.group(2) for m in _BLOCK.finditer(text)]


if __name__ == "__main__":
    README.write_text(filled(README.read_text(encoding="utf-8")), encoding="utf-8")
    sys.exit(0)
