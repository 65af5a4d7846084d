"""Kernel receive timestamps (SO_TIMESTAMPNS): when a packet really arrived,
not when our event loop or thread got round to reading it."""

from __future__ import annotations

import socket
import struct
from collections.abc import Iterable

SO_TIMESTAMPNS = getattr(socket, "SO_TIMESTAMPNS", 35)  # not exported on every Python
_TIMESPEC = struct.Struct("@qq")
ANC_SPACE = socket.CMSG_SPACE(_TIMESPEC.size)


def received_ns(ancdata: Iterable[tuple[int, int, bytes]]) -> int | None:
    """Pure: the SO_TIMESTAMPNS time (CLOCK_REALTIME, ns) from recvmsg's cmsgs."""
    for level, kind, data in ancdata:
        if level == socket.SOL_SOCKET and kind == SO_TIMESTAMPNS and len(data) >= _TIMESPEC.size:
            seconds, nanoseconds = _TIMESPEC.unpack_from(data)
            return int(seconds) * 1_000_000_000 + int(nanoseconds)
    return None
