"""Kernel timestamps without sockets: the SO_TIMESTAMPNS control message, and
CLOCK_REALTIME stamps made monotonic (``to_monotonic``) under a stepped wall clock."""

from __future__ import annotations

import socket
import struct

import pytest

from probe.probers.kerneltime import SO_TIMESTAMPNS, StampClock, received_ns, to_monotonic


def stamp(seconds: int, nanoseconds: int) -> tuple[int, int, bytes]:
    return (socket.SOL_SOCKET, SO_TIMESTAMPNS, struct.pack("@qq", seconds, nanoseconds))


def test_the_kernel_stamp_in_nanoseconds() -> None:
    assert received_ns([stamp(1_700_000_000, 123_456_789)]) == 1_700_000_000_123_456_789


def test_other_control_messages_are_skipped() -> None:
    ttl = (socket.IPPROTO_IP, 2, struct.pack("@i", 64))
    assert received_ns([ttl, stamp(5, 7)]) == 5_000_000_007


def test_no_stamp_or_a_truncated_one_is_none() -> None:
    assert received_ns([]) is None
    assert received_ns([(socket.SOL_SOCKET, SO_TIMESTAMPNS, b"\0" * 8)]) is None


# --------------------------------------------------------------------------
# kernel stamps (CLOCK_REALTIME) made monotonic as they are read

S = 1_000_000_000


@pytest.mark.parametrize(("stamp", "real_now", "mono_now", "bound", "expected"), [
    (100 * S, 100 * S + 300, 7 * S, 10 * S, 7 * S - 300),   # 300 ns old
    (100 * S, 100 * S, 7 * S, 10 * S, 7 * S),               # read the instant it came
    (100 * S + 5, 100 * S, 7 * S, 10 * S, 7 * S),           # wall stepped back: now
    (100 * S, 3700 * S, 7 * S, 2 * S, 5 * S),               # wall stepped forward: the bound
    (100 * S, 101 * S, 7 * S, 0, 7 * S),                    # nothing can be older than now
    (100 * S, 101 * S, 7 * S, -5, 7 * S),                   # a bound in the future is now
])
def test_to_monotonic(stamp: int, real_now: int, mono_now: int, bound: int,
                      expected: int) -> None:
    assert to_monotonic(stamp, real_now, mono_now, bound) == expected


class SteppedClocks:
    """A wall clock and a monotonic clock that tests move by hand."""

    def __init__(self) -> None:
        self.mono = 50 * S
        self.real = 1_700_000_000 * S

    def advance(self, ns: int) -> None:
        self.mono += ns
        self.real += ns

    def stamp_clock(self) -> StampClock:
        return StampClock(realtime=lambda: self.real, monotonic=lambda: self.mono)


@pytest.mark.parametrize("step", [3600 * S, -3600 * S])
def test_a_wall_clock_step_after_the_stamp_is_absorbed(step: int) -> None:
    clocks = SteppedClocks()
    sent = clocks.mono
    clocks.advance(200_000_000)
    kernel_stamp = clocks.real          # the answer arrives 200 ms after the send
    clocks.advance(1_000_000)           # and is read 1 ms later, after a step
    clocks.real += step
    received = clocks.stamp_clock().convert(kernel_stamp, not_before_ns=sent)
    # Forward: taken as old as it can be (the send); back: taken as now. Never garbage.
    assert sent <= received <= clocks.mono


def test_a_wall_clock_step_before_the_stamp_changes_nothing() -> None:
    clocks = SteppedClocks()
    sent = clocks.mono
    clocks.real -= 3600 * S             # NTP steps the wall clock just after the send
    clocks.advance(200_000_000)
    kernel_stamp = clocks.real
    clocks.advance(1_000_000)
    received = clocks.stamp_clock().convert(kernel_stamp, not_before_ns=sent)
    assert received - sent == 200_000_000


def test_no_stamp_is_now() -> None:
    clocks = SteppedClocks()
    assert clocks.stamp_clock().convert(None, not_before_ns=0) == clocks.mono
