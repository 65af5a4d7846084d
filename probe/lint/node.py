"""One object of a saved export, read the same way whatever wrote it.

``az ... show`` prints an object's properties flattened; ARM's REST bodies
(and ``az rest``) nest them under ``properties``; PowerShell's
``ConvertTo-Json`` spells every key in PascalCase. A ``Node`` looks a key up
in all three places and remembers where it found it, so an error names the
path as it is in the file (``value[0].properties.securityRules[3].priority``).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from probe.errors import ErrorSite, ExportError, InputError


def join(path: str, key: str | int) -> str:
    """``join("value", 0)`` -> ``value[0]``; ``join("", "routes")`` -> ``routes``."""
    if isinstance(key, int):
        return f"{path}[{key}]"
    return f"{path}.{key}" if path else key


def _kind(kind: type) -> str:
    return {str: "a string", int: "an integer", list: "a list", dict: "an object",
            bool: "true or false"}.get(kind, kind.__name__)


@dataclass(frozen=True, slots=True)
class Node:
    data: Mapping[str, Any]
    path: str
    source: str

    def _where(self, key: str) -> tuple[Any, str] | None:
        """The value of ``key`` and its path, or None when absent."""
        pascal = key[:1].upper() + key[1:]
        props = self.data.get("properties")
        places = [(self.data, self.path)]
        if isinstance(props, Mapping):
            places.append((props, join(self.path, "properties")))
        for obj, path in places:
            for spelling in (key, pascal):
                if spelling in obj:
                    return obj[spelling], join(path, spelling)
        return None

    def has(self, key: str) -> bool:
        return self._where(key) is not None

    def get(self, key: str) -> Any:
        found = self._where(key)
        return None if found is None else found[0]

    def at(self, key: str) -> str:
        """The path of ``key``, as spelt in the file where it is there."""
        found = self._where(key)
        return found[1] if found else join(self.path, key)

    def fail(self, key: str, message: str) -> InputError:
        return ErrorSite(self.source, ExportError).fail(self.at(key) if key else self.path,
                                                        message)

    def field(self, key: str, kind: type, required: bool = True) -> Any:
        value = self.get(key)
        if value is None:
            if required:
                raise self.fail(key, f"missing; expected {_kind(kind)}")
            return None
        if (isinstance(value, bool) and kind is not bool) or not isinstance(value, kind):
            raise self.fail(key, f"expected {_kind(kind)}, got {value!r}")
        return value

    def children(self, key: str, what: str, many: str) -> Iterator[Node]:
        """The objects of the list at ``key`` (missing or null: none)."""
        entries = self.get(key)
        if entries is None:
            return
        if not isinstance(entries, list):
            raise self.fail(key, f"expected a list of {many}, got {type(entries).__name__}")
        base = self.at(key)
        for i, entry in enumerate(entries):
            yield child(entry, join(base, i), self.source, what)


def child(entry: Any, path: str, source: str, what: str) -> Node:
    if isinstance(entry, Mapping):
        return Node(entry, path, source)
    hint = ""
    if isinstance(entry, str) and entry.startswith("Microsoft.Azure.Commands."):
        hint = ("; PowerShell's ConvertTo-Json cut the document at its depth limit: save it "
                "again with 'ConvertTo-Json -Depth 10'")
    raise ExportError(f"expected {'an' if what[0] in 'aeiou' else 'a'} {what} object, got "
                      f"{entry!r}{hint}", source=source, key=path)


def keys_of(data: Mapping[str, Any]) -> set[str]:
    """Every key of an object and of its ``properties``, lower case."""
    keys = {str(k).lower() for k in data}
    props = data.get("properties") or data.get("Properties")
    if isinstance(props, Mapping):
        keys |= {str(k).lower() for k in props}
    return keys
