"""A small YAML writer for the generated alerting files (plain and block scalars only).

Scalars are written as JSON strings (valid YAML double-quoted scalars),
multi-line strings as ``|-`` blocks: one plain style that promtool, Grafana
and the tests' text readers all read.
"""

from __future__ import annotations

import json


def _scalar(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return json.dumps(value)
    text = str(value)
    # JSON's double-quoted strings are valid YAML double-quoted scalars.
    return json.dumps(text, ensure_ascii=False)


def _yaml(value: object, indent: int = 0) -> list[str]:
    pad = " " * indent
    lines: list[str] = []
    if isinstance(value, dict):
        for key, item in value.items():
            if isinstance(item, str) and "\n" in item:
                lines.append(f"{pad}{key}: |-")
                lines.extend(f"{pad}  {line}" if line else "" for line in item.split("\n"))
            elif isinstance(item, dict | list) and item:
                lines.append(f"{pad}{key}:")
                lines.extend(_yaml(item, indent + 2))
            elif isinstance(item, dict):
                lines.append(f"{pad}{key}: {{}}")
            elif isinstance(item, list):
                lines.append(f"{pad}{key}: []")
            else:
                lines.append(f"{pad}{key}: {_scalar(item)}")
    elif isinstance(value, list):
        for item in value:
            inner = _yaml(item, indent + 2)
            first = inner[0].lstrip() if inner else _scalar(item)
            lines.append(f"{pad}- {first}")
            lines.extend(inner[1:])
    else:
        lines.append(pad + _scalar(value))
    return lines


def yaml_document(header: str, data: object) -> str:
    return header + "\n".join(_yaml(data)) + "\n"
