"""The one error tree of apim-probe.

    ProbeError                 anything we report to the user ourselves
    +-- UsageError             bad command line (exit 2)
    +-- InputError             a file the user gave us is not what it should be
    |   |                      (exit 2); names the source, the key or the path
    |   |                      inside the document, the line where known, and
    |   |                      what was expected
    |   +-- ConfigError        the TOML config (and its [apim] imports)
    |   +-- ExportError        a saved Azure export read by `probe lint`
    +-- UnsupportedAddress     an address a prober cannot probe (the SYN engine
                               speaks IPv4 only); callers route it elsewhere

Every input error is built by one ``ErrorSite.fail()`` (a document and its
error class): the TOML reader and the readers of saved Azure JSON extend it.

Library exceptions (tomllib, json, dnspython, socket) are translated into these
in the one place that calls the library; probe results carry failures as data,
never as exceptions. Callers catch one type and read its fields, not strings.
"""

from __future__ import annotations

from pathlib import Path


class ProbeError(Exception):
    """apim-probe failed."""

    exit_status = 1


class UsageError(ProbeError):
    """The command line is not valid."""

    exit_status = 2


class InputError(ProbeError):
    """A file or value the user gave us is not valid.

    ``source`` is the file (or ``<command line>``), ``key`` the TOML key or
    the path inside a JSON document (``value[2].properties.securityRules[0]``),
    ``line`` the line where known, ``message`` what is wrong and what was
    expected.
    """

    exit_status = 2
    errors: tuple[InputError, ...] = ()  # all of them, when this one stands for several

    def __init__(self, message: str, *, source: Path | str | None = None, key: str | None = None,
                 line: int | None = None) -> None:
        self.source = str(source) if source is not None else None
        self.key = key
        self.line = line
        self.message = message
        # A file name or TOML key with a newline in it must not split the one error line.
        where = _printable(self.source or "<command line>")
        if line is not None:
            where += f":{line}"
        if key:
            where += f": {_printable(key)}"
        super().__init__(f"{where}: {message}")

    @property
    def key_or_path(self) -> str | None:
        """The TOML key, or the path inside a JSON document."""
        return self.key


def _printable(text: str) -> str:
    return text if text.isprintable() else repr(text)


def describe_error(exc: BaseException, limit: int = 300) -> str:
    """An unexpected exception in one line for an event or a report:
    'TypeName: what it said', printable, at most ``limit`` characters."""
    text = _printable(f"{type(exc).__name__}: {exc}".rstrip(": "))
    return text if len(text) <= limit else text[:limit - 3] + "..."


class ErrorSite:
    """Where input errors come from: one document and the error class it raises.

    The one ``fail()`` builder of the project: the TOML reader
    (``probe.tomldoc.TomlDoc``) adds the line of a key, the readers of saved
    Azure JSON add the command that saves the expected document.
    """

    def __init__(self, source: str, error: type[InputError] = InputError) -> None:
        self.source = source
        self.error = error

    def fail(self, key: str, message: str, line: int | None = None) -> InputError:
        """An error at ``key`` (a TOML key or a JSON path; empty: the whole document)."""
        return self.error(message, source=self.source, key=key or None, line=line)


def several(errors: list[InputError]) -> InputError:
    """One error standing for ``errors`` (at least one): the first, saying how
    many more there are, with all of them in ``.errors`` (``error_lines``)."""
    if len(errors) == 1:
        return errors[0]
    # in file order (errors without a line last), whatever order they were found in
    errors = sorted((e for error in errors for e in (error.errors or (error,))),
                    key=lambda e: (e.line is None, e.line or 0))
    first = errors[0]
    combined = type(first)(f"{first.message} (and {len(errors) - 1} more error(s))",
                           source=first.source, key=first.key, line=first.line)
    combined.errors = tuple(errors)
    return combined


def error_list(exc: BaseException) -> tuple[BaseException, ...]:
    """The errors an exception stands for: its ``errors`` (``several``), or itself."""
    return getattr(exc, "errors", None) or (exc,)


def error_lines(exc: BaseException) -> list[str]:
    """One line per error an exception stands for, as ``str()`` gives each."""
    return [str(e) for e in error_list(exc)]


class ConfigError(InputError):
    """The configuration is not valid."""


class ExportError(InputError):
    """A saved Azure export cannot be read or is not what it should be."""


class UnsupportedAddress(ProbeError, ValueError):
    """An address this prober cannot probe (the SYN engine speaks IPv4 only)."""
