"""The real agent (``python -m probe -c FILE``) in a subprocess, for tests that
drive it from outside: its config, its stderr events, HTTP to it."""

from __future__ import annotations

import base64
import os
import queue
import socket
import ssl
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent.parent


def basic(text: str) -> str:
    """An Authorization header value for basic auth with 'user:password'."""
    return "Basic " + base64.b64encode(text.encode()).decode()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def write_config(path: Path, targets: dict[str, str], *, interval: float = 1,
                 resolver: str = "127.0.0.1:53", timeout: float = 0.5, extra: str = "",
                 method: str = "connect") -> Path:
    lines = ["[agent]", f"interval = {interval}", f"timeout = {timeout}", f'method = "{method}"',
             extra, "", "[dns]", f'resolvers = ["{resolver}"]', ""]
    for name, hostport in targets.items():
        host, port = hostport.rsplit(":", 1)
        lines += ["[[target]]", f'name = "{name}"', f'host = "{host}"', f"port = {port}",
                  "count = 1", ""]
    path.write_text("\n".join(lines), encoding="utf-8")
    return path


class Daemon:
    """``probe -c FILE`` in a subprocess; stderr lines are collected as they come."""

    def __init__(self, *args: str, prefix: Sequence[str] = (),
                 program: Sequence[str] = ("-m", "probe"),
                 env: dict[str, str] | None = None) -> None:
        """``prefix`` runs it under another command (``ip netns exec NS``);
        ``program`` is what python runs (a wrapper script instead of the CLI);
        ``env`` adds to the environment."""
        self.proc = subprocess.Popen(
            [*prefix, sys.executable, *program, *args], cwd=ROOT, stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
            env={**os.environ, **env} if env else None)
        self.lines: list[str] = []
        self._queue: queue.Queue[str | None] = queue.Queue()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        self.port = 0

    def _read(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            self._queue.put(line.rstrip("\n"))
        self._queue.put(None)

    def wait_for(self, needle: str, timeout: float = 15.0, after: int = 0) -> str:
        """The first stderr line (from index ``after``) containing ``needle``."""
        deadline = time.monotonic() + timeout
        while True:
            for line in self.lines[after:]:
                if needle in line:
                    return line
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise AssertionError(f"no {needle!r} in stderr: {self.lines}")
            try:
                line = self._queue.get(timeout=remaining)
            except queue.Empty:
                continue
            if line is None:
                raise AssertionError(f"daemon exited ({self.proc.wait()}) without {needle!r}: "
                                     f"{self.lines}")
            self.lines.append(line)

    def started(self) -> Daemon:
        line = self.wait_for("event=listening")
        self.port = int(line.split("port=")[1].split()[0])
        return self

    def url(self, path: str, scheme: str = "http") -> str:
        return f"{scheme}://127.0.0.1:{self.port}{path}"

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(5)


def get(url: str, *, headers: dict[str, str] | None = None, method: str = "GET",
        context: ssl.SSLContext | None = None) -> tuple[int, str]:
    request = urllib.request.Request(url, headers=headers or {}, method=method)
    try:
        with urllib.request.urlopen(request, timeout=10, context=context) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


def sample(text: str, name: str, **labels: str) -> float | None:
    from prometheus_client.parser import text_string_to_metric_families
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            if s.name == name and all(s.labels.get(k) == v for k, v in labels.items()):
                return float(s.value)
    return None


def rounds_after(d: Daemon, count: int, after: int = 0) -> None:
    for _ in range(count):
        d.wait_for("event=round ", after=after)
        after = len(d.lines)


