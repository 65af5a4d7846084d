"""The agent's textfile writer: retries on a full or read-only disk.

The disk faults themselves are real in tests/exporters/test_textfile_lab.py
(a full tmpfs); here the writer's decisions, with the write replaced.
"""

from __future__ import annotations

import asyncio
import errno
from pathlib import Path

import pytest
from tenacity import wait_fixed, wait_none

from probe.exporters import textfile
from tests.helpers.events import Events


def failing(monkeypatch: pytest.MonkeyPatch, errors: list[int]) -> list[bytes]:
    """write_textfile fails with these errnos first, then writes; returns what landed."""
    landed: list[bytes] = []

    def write(path: Path, data: bytes) -> None:
        if errors:
            code = errors.pop(0)
            raise OSError(code, f"{errno.errorcode[code]} (test)")
        landed.append(data)

    monkeypatch.setattr(textfile, "write_textfile", write)
    return landed


async def _submit(writer: textfile.TextfileWriter, data: bytes) -> None:
    writer.submit(data)
    await writer.wait_written()


@pytest.mark.parametrize("code", [errno.ENOSPC, errno.EROFS])
def test_a_full_or_read_only_disk_is_retried_and_each_retry_logged(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path, code: int) -> None:
    landed = failing(monkeypatch, [code, code])
    log = Events()
    writer = textfile.TextfileWriter(tmp_path / "x.prom", log, wait=wait_none())
    asyncio.run(_submit(writer, b"a 1\n"))
    assert landed == [b"a 1\n"]
    assert log.names() == ["textfile_retry", "textfile_retry", "textfile_recovered"]
    first = log.seen[0]
    assert first[1] == "warning"
    assert first[2]["attempt"] == 1 and first[2]["next_delay_seconds"] == 0
    assert "(test)" in first[2]["error"]
    assert log.seen[1][2]["attempt"] == 2
    assert log.seen[2][2]["attempts"] == 3


def test_other_errors_are_not_retried(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    landed = failing(monkeypatch, [errno.EACCES])
    log = Events()
    writer = textfile.TextfileWriter(tmp_path / "x.prom", log, wait=wait_none())
    asyncio.run(_submit(writer, b"a 1\n"))
    assert landed == []
    assert log.names() == ["textfile_failed"]
    assert log.seen[0][1] == "error"


def test_the_backoff_doubles_up_to_30_s(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    failing(monkeypatch, [errno.ENOSPC] * 7)
    log = Events()
    slept: list[float] = []

    async def run() -> None:
        async def no_sleep(delay: float) -> None:
            slept.append(delay)

        writer = textfile.TextfileWriter(tmp_path / "x.prom", log)
        writer.submit(b"a 1\n")
        await asyncio.sleep(0)
        monkeypatch.setattr(asyncio, "sleep", no_sleep)
        await writer.wait_written()

    asyncio.run(run())
    delays = [f["next_delay_seconds"] for e, _, f in log.seen if e == "textfile_retry"]
    assert delays == [1, 2, 4, 8, 16, 30, 30]


def test_a_newer_round_replaces_the_text_of_a_write_still_retrying(monkeypatch: pytest.MonkeyPatch,
                                                       tmp_path: Path) -> None:
    landed = failing(monkeypatch, [errno.ENOSPC])
    log = Events()

    async def run() -> None:
        writer = textfile.TextfileWriter(tmp_path / "x.prom", log, wait=wait_fixed(0.5))
        writer.submit(b"old\n")
        while "textfile_retry" not in log.names():
            await asyncio.sleep(0.01)
        writer.submit(b"new\n")  # the retry, 0.5 s later, writes this
        await asyncio.wait_for(writer.wait_written(), timeout=30)

    asyncio.run(run())
    assert landed == [b"new\n"]
    assert log.names() == ["textfile_retry", "textfile_recovered"]
