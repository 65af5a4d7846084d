"""Reading a file the user named, safely: regular files of a sane size only.

A path in a config can name anything: a FIFO (``open`` blocks until someone
writes, so ``--check-config`` or a SIGHUP reload would hang), ``/dev/zero``
(reading it never ends: ``MemoryError``), a directory, a log of gigabytes.
``read_regular_file`` opens without blocking, looks at what it opened
(``fstat``, so a symlink is judged by its target and nothing can be swapped in
between), and reads at most ``limit`` bytes. Every refusal is an
``InputError`` (or the subclass asked for) naming the file and the reason.

Bottom layer: imports nothing of ours but the error tree.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from probe.errors import InputError

__all__ = ["CONFIG_LIMIT", "EXPORT_LIMIT", "read_regular_file", "read_utf8", "size_text"]

CONFIG_LIMIT = 1 << 20  # 1 MiB: a config, resolv.conf, a PEM file, a password file
EXPORT_LIMIT = 32 << 20  # 32 MiB: a saved Azure export (lint's MAX_BYTES, [apim] imports)


def size_text(size: int) -> str:
    """'1 MiB', '64 KiB', '300 bytes'."""
    for unit, scale in (("MiB", 1 << 20), ("KiB", 1 << 10)):
        if size >= scale and size % scale == 0:
            return f"{size // scale} {unit}"
    return f"{size} bytes"


def _kind(mode: int) -> str:
    kinds = ((stat.S_ISDIR, "a directory"), (stat.S_ISFIFO, "a FIFO (named pipe)"),
             (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"),
             (stat.S_ISSOCK, "a socket"))
    return next((name for test, name in kinds if test(mode)), "not a file")


def read_regular_file(path: Path | str, limit: int = CONFIG_LIMIT, *,
                      error: type[InputError] = InputError, key: str | None = None,
                      source: Path | str | None = None) -> bytes:
    """The bytes of a regular file of at most ``limit`` bytes, or ``error``.

    The error names ``source`` (default: the file itself) and ``key`` (the
    config key that named the file, if any); its message starts with
    "cannot read" and says why.
    """
    where = path if source is None else source

    def refuse(reason: str) -> InputError:
        return error(f"cannot read: {reason}", source=where, key=key)

    try:
        # O_NONBLOCK: opening a FIFO for reading returns at once instead of
        # waiting for a writer; it changes nothing for a regular file.
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC)
    except OSError as exc:
        raise refuse(exc.strerror or str(exc)) from None
    except ValueError as exc:  # an embedded NUL byte
        raise refuse(str(exc)) from None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise refuse(f"{_kind(info.st_mode)}, not a regular file")
        if info.st_size > limit:
            raise refuse(f"{info.st_size} bytes, over the limit of {size_text(limit)}")
        with os.fdopen(fd, "rb", closefd=False) as handle:
            data = handle.read(limit + 1)  # the file may grow while we read
    except OSError as exc:
        raise refuse(exc.strerror or str(exc)) from None
    finally:
        os.close(fd)
    if len(data) > limit:
        raise refuse(f"over the limit of {size_text(limit)}")
    return data


def read_utf8(path: Path | str, limit: int = CONFIG_LIMIT, *,
              error: type[InputError] = InputError, encoding: str = "utf-8") -> str:
    """A regular file's text; 'not UTF-8 text' when it does not decode."""
    data = read_regular_file(path, limit, error=error)
    try:
        return data.decode(encoding)
    except UnicodeDecodeError:
        raise error("not UTF-8 text", source=path) from None
