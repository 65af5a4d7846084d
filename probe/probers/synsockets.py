"""The SYN engine's sockets: opened once, kept for the life of the prober.

* one ``SOCK_RAW/IPPROTO_RAW`` socket (IP_HDRINCL) sends the SYNs: we write
  the whole IP+TCP header, the kernel fills the IP checksum and id;
* one ``SOCK_RAW/IPPROTO_TCP`` and one ``SOCK_RAW/IPPROTO_ICMP`` socket receive
  copies of the answers, each with a classic BPF filter so the kernel hands us
  only segments to our source ports and ICMP errors quoting them, and with
  SO_TIMESTAMPNS so the receive time is the kernel's, not ours;
* every time handed to the ``Batch`` is monotonic: sends are stamped with
  ``time.monotonic_ns()``, and each kernel stamp (CLOCK_REALTIME) is made
  monotonic as it is read (``probe.probers.kerneltime``), so an NTP step
  during a batch changes no verdict and no RTT;
* a block of contiguous TCP source ports, each held by a bound but never
  listening TCP socket: nobody else can take those ports, and since no socket
  listens or is connected on them the kernel answers every SYN-ACK with a RST,
  so the targets keep no half-open connection from us.

``RawSockets`` sends one SYN (``send_syn``, the hot path) and reads what came
back into a ``Batch`` (``drain``); which SYN goes out when is
``probe.probers.synbatch``'s business.
"""

from __future__ import annotations

import array
import contextlib
import errno
import random
import select
import socket
import struct

from probe.probers.classify import classify_connect_errno
from probe.probers.kerneltime import ANC_SPACE, SO_TIMESTAMPNS, STAMPS, StampClock, received_ns
from probe.probers.packet import (
    Cookie,
    Key,
    bpf_bytes,
    bpf_icmp_quoting_sport_range,
    bpf_tcp_dport_range,
    parse_icmp,
    parse_tcp,
    parse_tx_echo,
)
from probe.probers.synbatch import Batch, Plan

# Not all of these are exported by the socket module on every Python.
_SO_ATTACH_FILTER = getattr(socket, "SO_ATTACH_FILTER", 26)
_SO_RCVBUFFORCE = getattr(socket, "SO_RCVBUFFORCE", 33)
_SO_TIMESTAMPING = getattr(socket, "SO_TIMESTAMPING", 37)
# Software send timestamps, reported through the error queue with the packet.
_SOF_TX_SOFTWARE = (1 << 1) | (1 << 4)  # SOF_TIMESTAMPING_TX_SOFTWARE | _SOFTWARE
_TX_ANC_SPACE = 256  # SCM_TIMESTAMPING (3 timespecs) + IP_RECVERR (sock_extended_err)
_TIMESPEC = struct.Struct("qq")  # SCM_TIMESTAMPING's software send stamp

_RECV_BUFFER = 8 << 20  # ~10k answers: room for a burst while Python is busy
_RETRY_ERRNOS = frozenset({errno.ENOBUFS, errno.EAGAIN})


class RawSockets:
    """The send socket, the two filtered receivers and the held source ports.

    Not thread-safe on its own: ``SynProber`` holds its lock around every use.
    ``first_send_ns``/``last_send_ns`` are the monotonic clock of the first and
    the latest SYN (benchmarks read them). ``stamps`` reads the clocks (a test
    steps the wall clock through it).
    """

    def __init__(self, *, ports: int, tx_timestamps: bool, secret: bytes | None,
                 stamps: StampClock = STAMPS) -> None:
        self.tx_timestamps = tx_timestamps
        self.stamps = stamps
        # A stamp read by a drain is no older than the start of the drain before it:
        # that drain emptied the socket.
        self._rx_floor_ns = 0
        self._tx_floor_ns = 0
        self.first_send_ns: int | None = None
        self.last_send_ns: int | None = None
        self.ports: list[int] = []
        self._cookie = Cookie(secret)
        self._n_ports = ports
        self._holders: list[socket.socket] = []
        self._send: socket.socket | None = None
        self._recv_tcp: socket.socket | None = None
        self._recv_icmp: socket.socket | None = None
        self._attempt_id = 0
        self._port_index = 0
        self._tx_stamps = False

    def close(self) -> None:
        for sock in (self._send, self._recv_tcp, self._recv_icmp, *self._holders):
            if sock is not None:
                sock.close()
        self._send = self._recv_tcp = self._recv_icmp = None
        self._holders = []
        self.ports = []

    def poller(self) -> select.poll:
        """A poll object that wakes on answers (and on send stamps, when asked for)."""
        assert self._send is not None and self._recv_tcp and self._recv_icmp
        poller = select.poll()
        poller.register(self._recv_tcp, select.POLLIN)
        poller.register(self._recv_icmp, select.POLLIN)
        if self._tx_stamps:
            poller.register(self._send, select.POLLERR)  # send stamps wait in the error queue
        return poller

    def open(self) -> None:
        if self._send is not None:
            return
        send = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_RAW)
        try:
            self._tx_stamps = self.tx_timestamps and self._enable_tx_stamps(send)
            low, high = self._reserve_ports()
            self._recv_tcp = self._receiver(socket.IPPROTO_TCP, bpf_tcp_dport_range(low, high))
            self._recv_icmp = self._receiver(socket.IPPROTO_ICMP,
                                             bpf_icmp_quoting_sport_range(low, high))
        except OSError:
            send.close()
            for sock in (self._recv_tcp, *self._holders):
                if sock is not None:
                    sock.close()
            self._recv_tcp, self._holders, self.ports = None, [], []
            raise
        self._send = send
        self._rx_floor_ns = self._tx_floor_ns = self.stamps.monotonic()

    @staticmethod
    def _enable_tx_stamps(sock: socket.socket) -> bool:
        """Ask for the kernel's software send timestamp of every SYN.

        Taken by the driver as the packet leaves (skb_tx_timestamp), ~10 us
        after Python's clock read before sendto(). Drivers that do not stamp
        leave us with Python's time; so do kernels that refuse the option.
        """
        try:
            sock.setsockopt(socket.SOL_SOCKET, _SO_TIMESTAMPING, _SOF_TX_SOFTWARE)
        except OSError:
            return False
        # The echoed SYNs wait in the error queue, charged to the receive buffer.
        try:
            sock.setsockopt(socket.SOL_SOCKET, _SO_RCVBUFFORCE, _RECV_BUFFER)
        except PermissionError:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, _RECV_BUFFER)
        return True

    def _reserve_ports(self) -> tuple[int, int]:
        """Hold a contiguous block of ephemeral ports (contiguous: one BPF range).

        Taken from the ephemeral range, where no service listens; bound to the
        wildcard address so the ports are ours on every local address, and
        without SO_REUSEADDR so that nobody can share them.
        """
        try:
            with open("/proc/sys/net/ipv4/ip_local_port_range") as f:
                first, last = (int(v) for v in f.read().split())
        except (OSError, ValueError):
            first, last = 32768, 60999
        n = self._n_ports
        rng = random.SystemRandom()
        for _ in range(64):
            base = rng.randint(first, max(first, last - n + 1))
            held: list[socket.socket] = []
            try:
                for port in range(base, base + n):
                    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
                    held.append(sock)
                    sock.bind(("0.0.0.0", port))
            except OSError as exc:
                for sock in held:
                    sock.close()
                if exc.errno != errno.EADDRINUSE:
                    raise
                continue
            self._holders = held
            self.ports = list(range(base, base + n))
            return base, base + n - 1
        raise OSError(errno.EADDRINUSE, f"no free block of {n} source ports")

    @staticmethod
    def _receiver(proto: int, program: list[tuple[int, int, int, int]]) -> socket.socket:
        sock = socket.socket(socket.AF_INET, socket.SOCK_RAW, proto)
        try:
            code = array.array("B", bpf_bytes(program))
            address, _ = code.buffer_info()
            # struct sock_fprog {unsigned short len; struct sock_filter *filter;}
            sock.setsockopt(socket.SOL_SOCKET, _SO_ATTACH_FILTER,
                            struct.pack("HL", len(program), address))
            sock.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
            try:
                sock.setsockopt(socket.SOL_SOCKET, _SO_RCVBUFFORCE, _RECV_BUFFER)
            except PermissionError:  # without CAP_NET_ADMIN: up to rmem_max
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, _RECV_BUFFER)
            sock.setblocking(False)
            # Whatever arrived before the filter was attached is not ours.
            with contextlib.suppress(BlockingIOError):
                while True:
                    sock.recv(65535)
        except OSError:
            sock.close()
            raise
        return sock

    def send_syn(self, batch: Batch, slot: int, plan: Plan) -> int | None:
        """Send one SYN for slot; the errno to retry on, else None. The hot path."""
        template = plan.template
        assert template is not None and self._send is not None
        ports = self.ports
        sport = ports[self._port_index]
        dport = plan.job.port
        self._attempt_id += 1
        seq = self._cookie(template.addresses, sport, dport, self._attempt_id)
        packet = template.build(sport, dport, seq)
        tx_ns = self.stamps.monotonic()  # as close before the syscall as Python gets
        try:
            self._send.sendto(packet, (plan.job.address, 0))
        except OSError as exc:
            if exc.errno in _RETRY_ERRNOS:
                return exc.errno
            # A local verdict (own firewall, no route): nothing left the host.
            batch.settle(slot, classify_connect_errno(exc.errno or 0, local=True))
        else:
            batch.sent(slot, (template.addresses, dport, sport, seq), tx_ns)
            self.last_send_ns = tx_ns
            if self.first_send_ns is None:
                self.first_send_ns = tx_ns
        self._port_index = (self._port_index + 1) % len(ports)
        return None

    def drain_tx(self, batch: Batch) -> None:
        """Read the kernel's send timestamps waiting in the send socket's error queue."""
        if not self._tx_stamps:
            return
        assert self._send is not None
        floor = self._tx_floor_ns
        self._tx_floor_ns = self.stamps.monotonic()
        convert = self.stamps.convert
        recvmsg = self._send.recvmsg
        flags = socket.MSG_ERRQUEUE | socket.MSG_DONTWAIT
        while True:
            try:
                data, ancdata, _flags, _addr = recvmsg(128, _TX_ANC_SPACE, flags)
            except BlockingIOError:
                break
            key = parse_tx_echo(data)
            if key is None:
                continue
            for level, kind, value in ancdata:
                if level == socket.SOL_SOCKET and kind == _SO_TIMESTAMPING:
                    sec, nsec = _TIMESPEC.unpack_from(value)  # [0]: the software stamp
                    if sec:
                        batch.sent_at(key, convert(sec * 1_000_000_000 + nsec, floor))
                    break

    def drain(self, batch: Batch, expired: dict[Key, int]) -> None:
        """Read every send stamp and answer waiting (non-blocking)."""
        self.drain_tx(batch)
        floor = self._rx_floor_ns
        self._rx_floor_ns = self.stamps.monotonic()
        convert = self.stamps.convert
        for sock, parse in ((self._recv_tcp, parse_tcp), (self._recv_icmp, parse_icmp)):
            assert sock is not None
            recvmsg = sock.recvmsg
            while True:
                try:
                    data, ancdata, _flags, _addr = recvmsg(2048, ANC_SPACE)
                except BlockingIOError:
                    break
                answer = parse(data)
                if answer is None:
                    continue
                batch.receive(answer, convert(received_ns(ancdata), floor), expired)
