"""The agent's textfile on a disk that fills up or turns read-only (a real,
small tmpfs mounted for the test): the old file stays whole, each retry is
logged, and the file is written again once there is room."""

from __future__ import annotations

import contextlib
import os
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.helpers.agent import Daemon, free_port, sample, write_config

pytestmark = pytest.mark.lab


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root")
    mount = tmp_path / "textfile"
    mount.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=256k", "tmpfs", str(mount)], check=True)
    try:
        yield mount
    finally:
        subprocess.run(["umount", str(mount)], check=False)


def fill(disk: Path) -> Callable[[], None]:
    """Fill the disk to the last byte; returns what makes room again."""
    filler = disk / "filler"
    with filler.open("wb", buffering=0) as f:
        for chunk in (4096, 1):  # then the last partial page
            with contextlib.suppress(OSError):
                while True:
                    f.write(b"\0" * chunk)
    return filler.unlink


def read_only(disk: Path) -> Callable[[], None]:
    subprocess.run(["mount", "-o", "remount,ro", str(disk)], check=True)
    return lambda: subprocess.run(["mount", "-o", "remount,rw", str(disk)], check=True)


@pytest.mark.parametrize(("fault", "words"), [(fill, "No space left on device"),
                                              (read_only, "Read-only file system")])
def test_textfile_survives_a_full_or_read_only_disk(
        tmp_path: Path, small_disk: Path, fault: Callable[[Path], Callable[[], None]],
        words: str) -> None:
    path = small_disk / "apim_probe.prom"
    config = write_config(tmp_path / "probe.toml", {"shut": f"127.0.0.1:{free_port()}"})
    d = Daemon("-c", str(config), "--listen", "127.0.0.1:0", "--textfile", str(path))
    try:
        d.started()
        d.wait_for("event=round ")
        deadline = time.monotonic() + 10
        while not path.exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        mark = len(d.lines)
        undo = fault(small_disk)
        first = d.wait_for("event=textfile_retry", after=mark)
        assert "attempt=1 " in first and "next_delay_seconds=1 " in first and words in first
        second = d.wait_for("event=textfile_retry", after=d.lines.index(first) + 1)
        assert "attempt=2 " in second and "next_delay_seconds=2 " in second
        old = path.read_text(encoding="utf-8")  # whole: the last good round's
        assert sample(old, "apim_probe_tcp_verdict_info", target="shut", state="closed") == 1
        assert sorted(p.name for p in small_disk.iterdir()
                      if p.name != "apim_probe.prom.lock") in (
            ["apim_probe.prom"], ["apim_probe.prom", "filler"])  # no temporary left
        rounds_before = sample(old, "apim_probe_rounds_total")
        undo()
        recovered = d.wait_for("event=textfile_recovered", after=mark, timeout=30)
        assert "attempts=" in recovered
        new = path.read_text(encoding="utf-8")
        assert rounds_before is not None
        assert (sample(new, "apim_probe_rounds_total") or 0) > rounds_before
        assert d.proc.poll() is None  # the agent went on probing
    finally:
        d.stop()
