"""The agent's textfile for node_exporter's textfile collector.

``prometheus.write_textfile`` writes a temporary file beside the target and
renames it over the target: a reader sees the old file or the new one, never
half of one, and a failed write (a full disk) leaves the old file intact.

``TextfileWriter``: after each round it writes the round's exposition off
the event loop; on a full or read-only disk it retries with
backoff (one ``textfile_retry`` event per retry, ``textfile_recovered`` when
it lands), writing the newest round's text at each attempt.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import os
from collections.abc import Iterator
from pathlib import Path

from tenacity import AsyncRetrying, stop_never
from tenacity.wait import wait_base

from probe.errors import UsageError
from probe.exporters.prometheus import write_textfile
from probe.retries import DISK_ERRNOS, Log, announce, backoff, describe, on_errnos


def lock_path(path: Path) -> Path:
    """The lock beside the textfile (the file itself is replaced by rename, so it
    cannot carry the lock; node_exporter reads only ``*.prom``)."""
    return path.with_name(path.name + ".lock")


def take_lock(path: Path) -> int:
    """An exclusive ``flock`` on the textfile's lock, or a UsageError naming the
    file: two writers on one file would overwrite each other silently."""
    lock = lock_path(path)
    try:
        # read-only: flock needs no write access, and a descriptor open for
        # writing would keep the file system from being remounted read-only
        fd = os.open(lock, os.O_RDONLY | os.O_CREAT | os.O_CLOEXEC, 0o644)
    except OSError as exc:
        raise UsageError(f"--textfile {str(path)!r}: cannot open its lock {str(lock)!r}: "
                         f"{exc.strerror or exc}") from None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        os.close(fd)
        raise UsageError(f"--textfile {str(path)!r}: another apim-probe is writing it (its "
                         f"lock {str(lock)!r} is held); run one writer per file") from None
    return fd


@contextlib.contextmanager
def locked(path: Path) -> Iterator[None]:
    fd = take_lock(path)
    try:
        yield
    finally:
        os.close(fd)  # releases the lock


class TextfileWriter:
    """Writes the latest round's text to ``path``, retrying on a full or read-only disk.

    One write at a time, off the event loop. While a write waits to retry,
    newer rounds only replace the text it will write: the backoff goes on
    (1 s, 2 s, 4 s ... 30 s) rather than starting over with every round.
    """

    def __init__(self, path: Path, log: Log, *, wait: wait_base | None = None) -> None:
        self.lock = take_lock(path)  # held for the agent's life; freed when it ends
        self.path = path
        self.log = log
        self.wait = wait if wait is not None else backoff(1.0, 30.0)
        self._body: bytes | None = None  # the newest text not yet written
        self._task: asyncio.Task[None] | None = None

    def submit(self, body: bytes) -> None:
        """Write ``body`` (a round's exposition) when its turn comes."""
        self._body = body
        if self._task is None or self._task.done():
            self._task = asyncio.ensure_future(self._run())

    def cancel(self) -> None:
        if self._task is not None and not self._task.done():
            self._task.cancel()
        self._task = None

    async def wait_written(self) -> None:
        """Until every submitted text has landed or given up (tests, shutdown)."""
        while self._task is not None and not self._task.done():
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _run(self) -> None:
        while self._body is not None:
            await self._write_latest()

    def _latest(self) -> bytes:
        body, self._body = self._body, None
        assert body is not None
        return body

    async def _write_latest(self) -> None:
        retrying = AsyncRetrying(retry=on_errnos(DISK_ERRNOS), wait=self.wait, stop=stop_never,
                                 before_sleep=announce(self.log, "textfile_retry",
                                                       path=str(self.path)),
                                 reraise=True)
        body = self._latest()
        attempts = 0
        try:
            async for attempt in retrying:
                with attempt:
                    attempts += 1
                    if self._body is not None:  # a newer round's text came meanwhile
                        body = self._latest()
                    await asyncio.to_thread(write_textfile, self.path, body)
        except OSError as exc:
            self.log("textfile_failed", "error", path=str(self.path), error=describe(exc))
            return
        if attempts > 1:
            self.log("textfile_recovered", path=str(self.path), attempts=attempts)
