"""Kernel timestamps (SO_TIMESTAMPNS, SO_TIMESTAMPING): when a packet really
arrived or left, not when our event loop or thread got round to reading it.

The kernel stamps packets with CLOCK_REALTIME, which NTP (or an operator) can
step by any amount at any time. Every time the probers compare is monotonic
instead (``time.monotonic_ns``): a kernel stamp is turned into a monotonic one
the moment it is read, from its *age* on the wall clock (``to_monotonic``).
The age is clamped to what it can be (not negative, not older than the last
moment the packet could not yet have been there), so a wall-clock step between
the stamp and its reading costs at most that window, never a wrong verdict.
"""

from __future__ import annotations

import socket
import struct
import time
from collections.abc import Callable, Iterable

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


def to_monotonic(stamp_ns: int, real_now_ns: int, mono_now_ns: int, bound_ns: int) -> int:
    """Pure: a CLOCK_REALTIME kernel stamp as a monotonic time.

    ``real_now_ns`` and ``mono_now_ns`` are read together, now; the stamp's age
    is ``real_now_ns - stamp_ns``, clamped to ``[0, bound_ns]``: a stamp "from
    the future" (the wall clock stepped back since) is taken as now, one older
    than ``bound_ns`` (stepped forward, or a bound the caller knows: the packet
    cannot predate its question) as ``bound_ns`` old.
    """
    age = real_now_ns - stamp_ns
    if age < 0:
        age = 0
    elif age > bound_ns:
        age = max(bound_ns, 0)
    return mono_now_ns - age


class StampClock:
    """Reads both clocks and converts kernel stamps with ``to_monotonic``.

    The clock functions are injectable, so a test can step the wall clock.
    """

    __slots__ = ("monotonic", "realtime")

    def __init__(self, realtime: Callable[[], int] = time.time_ns,
                 monotonic: Callable[[], int] = time.monotonic_ns) -> None:
        self.realtime = realtime
        self.monotonic = monotonic

    def convert(self, stamp_ns: int | None, not_before_ns: int) -> int:
        """The monotonic time of a kernel stamp read now (now, without a stamp).

        ``not_before_ns`` (monotonic): the packet cannot be older than this,
        e.g. its question's send time, or the previous drain of its socket.
        """
        real = self.realtime()
        mono = self.monotonic()
        if stamp_ns is None:
            return mono
        return to_monotonic(stamp_ns, real, mono, mono - not_before_ns)


STAMPS = StampClock()
"""The process's stamp clock (tests swap its clock functions)."""
