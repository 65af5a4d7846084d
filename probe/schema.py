"""Config sections declared once: a dataclass field per key, with metadata.

    @dataclass(frozen=True, slots=True)
    class AgentConfig:
        timeout: float = key(2.0, float, "seconds one attempt may take",
                             check=Between(0.01, 60, "seconds"))

From that one declaration come the keys a section accepts (unknown ones are
errors), its defaults (the field's), the types and ranges checked
(``read_section``), and the README's key table (``markdown_table``; a test
holds the README to it). A key whose TOML name differs from the field
(``import`` -> ``imports``) says so with ``toml=``; a key that needs more than
a type and a check (a list of resolvers, a path relative to the config) gives
its own ``read``.
"""

from __future__ import annotations

import dataclasses
import enum
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from probe.errors import InputError, several
from probe.tomldoc import Check, TomlDoc, kind_name

__all__ = ["Between", "Key", "OneOf", "check_of", "key", "keys_of", "markdown_table",
           "read_section", "toml_names"]

# (doc, table, where, toml name) -> value; called whether or not the key is there
Reader = Callable[[TomlDoc, Mapping[str, Any], str, str], Any]

_KINDS: dict[type, tuple[type, ...]] = {float: (int, float), int: (int,), str: (str,),
                                        bool: (bool,), list: (list,), dict: (dict,)}


class Between:
    """A number from ``low`` to ``high``; says so in errors and in the README."""

    def __init__(self, low: float, high: float, what: str = "a number") -> None:
        self.low, self.high, self.what = low, high, what

    def __call__(self, value: Any) -> str | None:
        return None if self.low <= value <= self.high else f"expected {self}"

    def __str__(self) -> str:
        return f"{self.what} from {self.low:g} to {self.high:g}"


class OneOf:
    """One of a few words."""

    def __init__(self, choices: Sequence[str]) -> None:
        self.choices = tuple(str(c) for c in choices)

    def __call__(self, value: Any) -> str | None:
        return None if value in self.choices else f"expected {self}"

    def __str__(self) -> str:
        return "one of: " + ", ".join(self.choices)


@dataclass(frozen=True, slots=True)
class Key:
    """What one TOML key accepts, and what it means."""

    kind: tuple[type, ...]
    help: str
    check: Check | None = None
    toml: str = ""          # the TOML name, when it is not the field's
    required: bool = False
    expected: str = ""      # for the README, when ``check`` does not describe itself
    default_text: str = ""  # for the README, when the field's default does not show it
    convert: Callable[[Any], Any] | None = None
    read: Reader | None = None


def key(default: Any = dataclasses.MISSING, kind: type | tuple[type, ...] = str,
        help: str = "", **options: Any) -> Any:
    """A dataclass field that is also a config key (``options``: see ``Key``)."""
    kinds = _KINDS.get(kind, (kind,)) if isinstance(kind, type) else kind
    spec = Key(kinds, help, required=default is dataclasses.MISSING, **options)
    return dataclasses.field(default=default, metadata={"key": spec})


def keys_of(cls: type) -> list[tuple[str, Key]]:
    """(TOML name, Key) for every key field of a section, in declaration order."""
    out: list[tuple[str, Key]] = []
    for f in dataclasses.fields(cls):
        spec = f.metadata.get("key")
        if isinstance(spec, Key):
            out.append((spec.toml or f.name, spec))
    return out


def toml_names(cls: type) -> list[str]:
    return [name for name, _ in keys_of(cls)]


def check_of(cls: type, name: str) -> Check | None:
    """The check of one key (by TOML name), e.g. for a command-line flag with the same range."""
    return dict(keys_of(cls))[name].check


def _field_names(cls: type) -> dict[str, str]:
    return {(f.metadata["key"].toml or f.name): f.name for f in dataclasses.fields(cls)
            if "key" in f.metadata}


def read_section(doc: TomlDoc, table: Mapping[str, Any], where: str, cls: type,
                 header: Callable[[], int | None] | None = None) -> dict[str, Any]:
    """Validate one table against ``cls``'s keys: {field name: value} of the keys given.

    Absent keys are left out (the dataclass default applies) unless their
    ``Key`` has its own ``read``. ``header`` finds the table's line, for a
    missing required key (only then: a scan per table would make a file of
    many tables quadratic).
    """
    keys = keys_of(cls)
    problems: list[InputError] = []  # every key is read: all of a section's errors at once
    try:
        doc.check_keys(table, where, [name for name, _ in keys])
    except InputError as exc:
        problems.append(exc)
    for name, spec in keys:
        if spec.required and name not in table:
            problems.append(doc.fail(where, f"missing required key {name!r}",
                                     line=header() if header else None))
    fields = _field_names(cls)
    values: dict[str, Any] = {}
    for name, spec in keys:
        try:
            if spec.read is not None:
                values[fields[name]] = spec.read(doc, table, where, name)
            elif name in table:
                value = doc.get(table, where, name, spec.kind, None, spec.check)
                values[fields[name]] = spec.convert(value) if spec.convert else value
        except InputError as exc:
            problems.append(exc)
    if problems:
        raise several(problems)
    return values


# --------------------------------------------------------------------------
# documentation


def _toml_value(value: Any) -> str:
    if value is None:
        return "unset"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, enum.Enum):
        value = value.value
    if isinstance(value, str):
        return f'"{value}"'
    if isinstance(value, tuple | list):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    return str(value)


def _accepted(spec: Key) -> str:
    described = isinstance(spec.check, Between | OneOf)
    return spec.expected or (str(spec.check) if described else kind_name(spec.kind))


def markdown_table(cls: type, section: str) -> str:
    """The README's table of one section's keys: key, default, accepted values, meaning."""
    rows = ["| key | default | accepted | meaning |", "|---|---|---|---|"]
    for f in dataclasses.fields(cls):
        spec = f.metadata.get("key")
        if not isinstance(spec, Key):
            continue
        if spec.required:
            default = "required"
        elif f.default is None:
            default = "unset"
        else:
            default = spec.default_text or f"`{_toml_value(f.default)}`"
        name = f"`{section}.{spec.toml or f.name}`"
        rows.append(f"| {name} | {default} | {_accepted(spec)} | {spec.help} |")
    return "\n".join(rows) + "\n"
