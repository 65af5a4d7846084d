"""Ending the processes a test or benchmark started itself, by their handle."""

from __future__ import annotations

import subprocess
from typing import Any


def stop(proc: subprocess.Popen[Any] | None, timeout: float = 5) -> None:
    """Stop one process we started, by its PID (ip netns exec execs the command):
    SIGTERM, then SIGKILL when it has not gone within ``timeout`` seconds."""
    if proc is None or proc.poll() is not None:
        return
    proc.terminate()
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=timeout)
