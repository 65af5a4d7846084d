"""apim-probe: watch the network dependencies of Azure API Management in a VNet."""

import signal as _signal
import sys as _sys

__version__ = "0.4.0"

# Everything below and every other module may use what Python 3.11 brought
# (tomllib, ExceptionGroup, ...). This file alone stays readable by an older
# interpreter (no annotations evaluated, no newer syntax), so `probe` and
# `python -m probe` from such a one say what to do instead of a traceback. The
# Makefile's venv and `make install` ask the same question (`import probe`).
MIN_PYTHON = (3, 11)


def python_too_old(version: "tuple[int, ...]") -> "str | None":
    """The message for an interpreter older than MIN_PYTHON, else None."""
    if tuple(version[:2]) >= MIN_PYTHON:
        return None
    need = ".".join(map(str, MIN_PYTHON))
    this = ".".join(map(str, version[:2]))
    return (f"apim-probe needs Python >= {need} (this is {this}): on Ubuntu 22.04 install "
            "python3.11 from the deadsnakes PPA or use pyenv, then APIM_PYTHON=python3.11 "
            "make install; or run the container image")


_TOO_OLD = python_too_old(_sys.version_info[:2])
if _TOO_OLD:
    _sys.stderr.write(_TOO_OLD + "\n")
    raise SystemExit(2)

# Run as the agent (`probe ...` or `python -m probe ...` without a one-shot
# command), a SIGHUP while it starts (`systemctl reload` right after `start`)
# must not end it: SIGHUP's default action would, before the event loop takes
# the signal over. So it is ignored from the first line of ours that runs,
# before the imports and the config (the interpreter's own start, some 50 ms,
# is the only window left). Imported as a library, nothing changes.
_ONE_SHOT = frozenset({"--once", "--check-config", "lint", "targets", "fleet", "context",
                       "-h", "--help", "--version"})
_AS_PROGRAM = ("-m", "/probe", "probe/__main__.py")  # -m: argv[0] while runpy imports us
if (_sys.argv and _sys.argv[0].endswith(_AS_PROGRAM)
        and not _ONE_SHOT & set(_sys.argv[1:])):
    _signal.signal(_signal.SIGHUP, _signal.SIG_IGN)
