"""The SO_TIMESTAMPNS control message, decoded without sockets."""

from __future__ import annotations

import socket
import struct

from probe.probers.kerneltime import SO_TIMESTAMPNS, received_ns


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
