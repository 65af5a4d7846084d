"""tests/helpers/rootfs.py's pure parts: which mirror debootstrap uses, and
that the cache key follows everything that shapes a rootfs."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.helpers import rootfs


def sources(tmp_path: Path, files: dict[str, str]) -> Path:
    (tmp_path / "sources.list.d").mkdir()
    for name, text in files.items():
        (tmp_path / name).write_text(text, encoding="utf-8")
    return tmp_path


def test_mirror_from_deb822_sources_skips_security(tmp_path: Path) -> None:
    apt = sources(tmp_path, {"sources.list.d/debian.sources": (
        "Types: deb\nURIs: http://deb.debian.org/debian-security\nSuites: bookworm-security\n\n"
        "Types: deb\nURIs: http://mirror.example/debian\nSuites: bookworm\n")})
    assert rootfs.debian_mirror(apt) == "http://mirror.example/debian"


def test_mirror_from_one_line_list_with_options(tmp_path: Path) -> None:
    apt = sources(tmp_path, {"sources.list": (
        "# comment\ndeb [signed-by=/k.gpg] http://security.debian.org/debian-security "
        "bookworm-security main\n"
        "deb [arch=amd64] http://ftp.example/debian bookworm main\n")})
    assert rootfs.debian_mirror(apt) == "http://ftp.example/debian"


def test_no_debian_mirror_is_an_error_naming_the_place(tmp_path: Path) -> None:
    apt = sources(tmp_path, {"sources.list.d/other.list":
                             "deb https://packages.example/apt stable main\n"})
    with pytest.raises(RuntimeError, match=str(apt)):
        rootfs.debian_mirror(apt)


def test_cache_key_follows_packages_and_trim_but_not_their_order() -> None:
    key = rootfs.rootfs_key(("python3", "make"), slim=False)
    assert key == rootfs.rootfs_key(("make", "python3"), slim=False)
    assert key != rootfs.rootfs_key(("python3",), slim=False)
    assert key != rootfs.rootfs_key(("python3", "make"), slim=True)
