"""The textfile for node_exporter's textfile collector, written atomically.

``write_atomic`` writes a temporary file beside the target, syncs it and
renames it over the target: a reader sees the old file or the new one, never
half of one, and a failed write (a full disk) leaves the old file intact.

``TextfileWriter`` is the agent's: after each round it writes the round's
exposition off the event loop; on a full or read-only disk it retries with
backoff (one ``textfile_retry`` event per retry, ``textfile_recovered`` when
it lands), writing the newest round's text at each attempt.
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
    """Writes the latest round's text to ``path``, retrying on a full or read-only disk.

    One write at a time, off the event loop. While a write waits to retry,
    newer rounds only replace the text it will write: the backoff goes on
    (1 s, 2 s, 4 s ... 30 s) rather than starting over with every round.
    """

    def __init__(self, path: Path, log: Log, *, wait: wait_base | None = None) -> None:
        self.path = path
        self.log = log
        self.wait = wait if wait is not None else backoff(1.0, 30.0)
        self._render: Callable[[], bytes] | None = None  # the newest text not yet written
        self._task: asyncio.Task[None] | None = None

    def submit(self, render: Callable[[], bytes]) -> None:
        """Write what ``render`` returns (called in a thread, when its turn comes)."""
        self._render = render
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
        while self._render is not None:
            await self._write_latest()

    def _latest(self) -> Callable[[], bytes]:
        render, self._render = self._render, None
        assert render is not None
        return render

    async def _write_latest(self) -> None:
        retrying = AsyncRetrying(retry=on_errnos(DISK_ERRNOS), wait=self.wait, stop=stop_never,
                                 before_sleep=announce(self.log, "textfile_retry",
                                                       path=str(self.path)),
                                 reraise=True)
        render = self._latest()
        attempts = 0
        try:
            async for attempt in retrying:
                with attempt:
                    attempts += 1
                    if self._render is not None:  # a newer round's text came meanwhile
                        render = self._latest()
                    data = await asyncio.to_thread(render)
                    await asyncio.to_thread(write_atomic, self.path, data)
        except OSError as exc:
            self.log("textfile_failed", "error", path=str(self.path), error=describe(exc))
            return
        if attempts > 1:
            self.log("textfile_recovered", path=str(self.path), attempts=attempts)
