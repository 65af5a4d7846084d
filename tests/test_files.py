"""probe.files: only regular files of a sane size are read, and nothing blocks.

Each special file is made in a temporary directory (a FIFO with os.mkfifo, a
symlink to /dev/zero); a refusal names the file and says what it is.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path

import pytest

from probe.errors import ConfigError, InputError
from probe.files import CONFIG_LIMIT, read_regular_file, read_utf8, size_text


def _no_hang(call: object) -> BaseException | None:
    """Run ``call`` in a thread; a read that blocks is a failure, not a stuck suite."""
    outcome: list[BaseException | None] = []

    def run() -> None:
        try:
            call()  # type: ignore[operator]
            outcome.append(None)
        except BaseException as exc:  # noqa: BLE001 - handed back to the test
            outcome.append(exc)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(20)
    assert not thread.is_alive(), "the read blocked"
    return outcome[0]


def test_regular_file_is_read(tmp_path: Path) -> None:
    path = tmp_path / "probe.toml"
    path.write_bytes(b"x" * CONFIG_LIMIT)  # exactly the limit is fine
    assert read_regular_file(path) == b"x" * CONFIG_LIMIT


def test_fifo_is_refused_at_once(tmp_path: Path) -> None:
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    error = _no_hang(lambda: read_regular_file(fifo, error=ConfigError))
    assert isinstance(error, ConfigError)
    assert str(error) == f"{fifo}: cannot read: a FIFO (named pipe), not a regular file"


@pytest.mark.parametrize(("target", "what"), [
    ("/dev/zero", "a character device"),
    ("/dev/null", "a character device"),
    ("fifo", "a FIFO (named pipe)"),
    ("directory", "a directory"),
])
def test_symlink_is_judged_by_its_target(tmp_path: Path, target: str, what: str) -> None:
    if target == "fifo":
        os.mkfifo(tmp_path / "fifo")
    elif target == "directory":
        (tmp_path / "directory").mkdir()
    link = tmp_path / "probe.toml"
    link.symlink_to(target if target.startswith("/") else tmp_path / target)
    error = _no_hang(lambda: read_regular_file(link))
    assert isinstance(error, InputError)
    assert error.message == f"cannot read: {what}, not a regular file"
    assert error.source == str(link)


def test_directory_is_refused(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="cannot read: a directory, not a regular file"):
        read_regular_file(tmp_path)


def test_huge_file_is_refused_without_reading_it(tmp_path: Path) -> None:
    path = tmp_path / "huge.toml"
    with path.open("wb") as handle:
        handle.truncate(5 << 30)  # 5 GiB, sparse: nothing is written, nothing must be read
    with pytest.raises(ConfigError) as info:
        read_regular_file(path, error=ConfigError, key="agent.tls_cert", source="probe.toml")
    assert str(info.value) == ("probe.toml: agent.tls_cert: cannot read: 5368709120 bytes, "
                               "over the limit of 1 MiB")


def test_missing_and_unreadable(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="cannot read: No such file or directory"):
        read_regular_file(tmp_path / "absent")
    with pytest.raises(InputError, match="cannot read: embedded null byte"):
        read_regular_file("a\0b")


def test_read_utf8(tmp_path: Path) -> None:
    path = tmp_path / "a.toml"
    path.write_bytes("name = 'é'\n".encode())
    assert read_utf8(path) == "name = 'é'\n"
    path.write_bytes(b"\xff\xfe")
    with pytest.raises(ConfigError, match="not UTF-8 text"):
        read_utf8(path, error=ConfigError)


@pytest.mark.parametrize(("size", "text"), [(1 << 20, "1 MiB"), (16 << 20, "16 MiB"),
                                            (64 << 10, "64 KiB"), (1000, "1000 bytes")])
def test_size_text(size: int, text: str) -> None:
    assert size_text(size) == text
