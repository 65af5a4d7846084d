"""The textfile for node_exporter's textfile collector, written atomically.

``write_atomic`` writes a temporary file beside the target, syncs it and
renames it over the target: a reader sees the old file or the new one, never
half of one, and a failed write (a full disk) leaves the old file intact.

``TextfileWriter`` is the agent's: after each round it writes the round's
exposition off the event loop; on a full or read-only disk it retries with
backoff (one ``textfile_retry`` event per retry) until the write lands or the
next round's text replaces it.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import Callable
from pathlib import Path

from tenacity import AsyncRetrying, stop_never
from tenacity.wait import wait_base

from probe.retries import DISK_ERRNOS, Log, announce, backoff, describe, on_errnos


def write_atomic(path: Path, data: bytes) -> None:
    """Replace ``path`` with ``data`` in one rename (OSError when it cannot)."""
    temporary = path.with_name(f"{path.name}.{os.getpid()}.tmp")
    try:
        with temporary.open("wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())  # a full disk says so now, not after the rename
        temporary.replace(path)
    except BaseException:
        with contextlib.suppress(OSError):
            temporary.unlink()
        raise


class TextfileWriter:
    """Writes each round's text to ``path``, retrying on a full or read-only disk."""

    def __init__(self, path: Path, log: Log, *, wait: wait_base | None = None) -> None:
        self.path = path
        self.log = log
        self.wait = wait if wait is not None else backoff(1.0, 30.0)
        self._task: asyncio.Task[None] | None = None

    def submit(self, render: Callable[[], bytes]) -> None:
        """Write what ``render`` returns (called in a thread); replaces a write
        still retrying: the newer round's text is the one worth writing."""
        self.cancel()
        self._task = asyncio.ensure_future(self._write(render))

    def cancel(self) -> None:
        if self._task is not None and not self._task.done():
            self._task.cancel()
        self._task = None

    async def wait_written(self) -> None:
        """Until the pending write has landed or given up (tests, shutdown)."""
        if self._task is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _write(self, render: Callable[[], bytes]) -> None:
        data = await asyncio.to_thread(render)
        retrying = AsyncRetrying(retry=on_errnos(DISK_ERRNOS), wait=self.wait, stop=stop_never,
                                 before_sleep=announce(self.log, "textfile_retry",
                                                       path=str(self.path)),
                                 reraise=True)
        attempts = 0
        try:
            async for attempt in retrying:
                with attempt:
                    attempts += 1
                    await asyncio.to_thread(write_atomic, self.path, data)
        except OSError as exc:
            self.log("textfile_failed", "error", path=str(self.path), error=describe(exc))
            return
        if attempts > 1:
            self.log("textfile_recovered", path=str(self.path), attempts=attempts)
