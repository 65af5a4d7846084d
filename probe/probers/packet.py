"""Pure IPv4/TCP packet building and parsing for the SYN engine: no sockets here.

The hot path builds one SYN per call with a single ``struct.pack`` and an
incremental checksum (the constant part of the TCP checksum is summed once per
source/destination pair), and parses answers with ``struct`` only: scapy costs
~1 ms per packet and half a second to import, both far over budget.

Matching is by key: ``(target+ours as 8 raw address bytes, target port, our
port, our sequence number)``. A SYN-ACK or RST yields it from its header (its
ack number minus one), an ICMP error from the IP/TCP header it quotes, and the
sender registers the same key for each SYN it sends. Only exact matches count,
so an answer must carry the keyed cookie we put in the SYN.
"""

from __future__ import annotations

import hashlib
import os
import struct
from dataclasses import dataclass
from typing import NamedTuple

IPPROTO_TCP = 6
IPPROTO_ICMP = 1

TCP_SYN_FLAG = 0x02
# Same choices as nmap -sS: window 1024, one MSS option (some middleboxes drop
# SYNs without options), TTL 64, no DF.
SYN_WINDOW = 1024
SYN_MSS = 1460
SYN_TTL = 64
_OPTIONS = struct.pack("!BBH", 2, 4, SYN_MSS)
TCP_HEADER_LEN = 20 + len(_OPTIONS)
PACKET_LEN = 20 + TCP_HEADER_LEN
_DATA_OFFSET_FLAGS = ((TCP_HEADER_LEN // 4) << 12) | TCP_SYN_FLAG

# IPv4 header + TCP header with the MSS option, in one go. The IP checksum and
# id are left at zero: with IP_HDRINCL the kernel fills both.
_SYN = struct.Struct("!BBHHHBBH4s4sHHIIHHHH4s")

# Answer parsing.
_TCP_ANSWER = struct.Struct("!HHII")  # sport, dport, seq, ack
_QUOTED_PORTS_SEQ = struct.Struct("!HHI")  # sport, dport, seq of the quoted SYN

_COOKIE_FIELDS = struct.Struct("!HHQ")

Key = tuple[bytes, int, int, int]


def _sum16(data: bytes) -> int:
    if len(data) % 2:
        data += b"\0"
    return sum(struct.unpack(f"!{len(data) // 2}H", data))


def _fold(total: int) -> int:
    total = (total & 0xFFFF) + (total >> 16)
    total = (total & 0xFFFF) + (total >> 16)
    return total


def checksum(data: bytes) -> int:
    """Internet checksum (RFC 1071) of data; the reference for the fast path."""
    return ~_fold(_sum16(data)) & 0xFFFF


@dataclass(frozen=True, slots=True)
class SynTemplate:
    """Everything about a SYN to one (source, destination) pair except the
    ports and the sequence number.

    ``partial`` is the one's-complement sum of the pseudo-header and of the
    constant TCP fields, so the per-packet checksum only adds four words.
    """

    source: bytes
    destination: bytes
    partial: int
    addresses: bytes  # destination + source: the key's and the cookie's first field

    @classmethod
    def for_pair(cls, source: bytes, destination: bytes) -> SynTemplate:
        pseudo = source + destination + struct.pack("!BBH", 0, IPPROTO_TCP, TCP_HEADER_LEN)
        constant = struct.pack("!HHH", _DATA_OFFSET_FLAGS, SYN_WINDOW, 0) + _OPTIONS
        return cls(source, destination, _sum16(pseudo) + _sum16(constant),
                   destination + source)

    def build(self, sport: int, dport: int, seq: int) -> bytes:
        """One complete IPv4+TCP SYN, ready for an IP_HDRINCL raw socket."""
        total = self.partial + sport + dport + (seq >> 16) + (seq & 0xFFFF)
        total = (total & 0xFFFF) + (total >> 16)
        total = (total & 0xFFFF) + (total >> 16)
        return _SYN.pack(0x45, 0, PACKET_LEN, 0, 0, SYN_TTL, IPPROTO_TCP, 0,
                         self.source, self.destination,
                         sport, dport, seq, 0, _DATA_OFFSET_FLAGS, SYN_WINDOW,
                         ~total & 0xFFFF, 0, _OPTIONS)

    def key(self, sport: int, dport: int, seq: int) -> Key:
        """The key an answer to this SYN must reproduce (see module doc)."""
        return (self.addresses, dport, sport, seq)


class Cookie:
    """Keyed sequence numbers: unpredictable without the per-process secret.

    The cookie covers both addresses, both ports and a per-attempt id, so a
    spoofer who cannot see our SYNs cannot forge an answer, and an answer to
    one attempt cannot be taken for an answer to another one.
    """

    __slots__ = ("_hasher",)

    def __init__(self, secret: bytes | None = None) -> None:
        # Copying a keyed hasher is ~2x cheaper than keying a new one per packet.
        self._hasher = hashlib.blake2b(key=secret or os.urandom(32), digest_size=4)

    def __call__(self, addresses: bytes, sport: int, dport: int, attempt_id: int) -> int:
        h = self._hasher.copy()
        h.update(addresses + _COOKIE_FIELDS.pack(sport, dport, attempt_id))
        return int.from_bytes(h.digest(), "big")


class Answer(NamedTuple):
    """What one received packet says, once parsed.

    ``key`` is the matching key, ``kind`` is "tcp" (``value`` = TCP flags) or
    "icmp" (``value`` = type << 8 | code). ``responder`` is the raw 4-byte
    source address of the answer, ``ttl`` its IP TTL.
    """

    key: Key
    kind: str
    value: int
    responder: bytes
    ttl: int


def parse_tcp(packet: bytes) -> Answer | None:
    """A TCP segment as delivered by a raw IPv4 socket (IP header first)."""
    if len(packet) < 20:
        return None
    ihl = (packet[0] & 0x0F) * 4
    if packet[0] >> 4 != 4 or packet[9] != IPPROTO_TCP or len(packet) < ihl + 20:
        return None
    if struct.unpack_from("!H", packet, 6)[0] & 0x1FFF:
        return None  # a non-first fragment carries no TCP header
    sport, dport, _seq, ack = _TCP_ANSWER.unpack_from(packet, ihl)
    flags = packet[ihl + 13]
    # The answer acknowledges our cookie + 1; undo that to rebuild the key.
    key = (packet[12:20], sport, dport, (ack - 1) & 0xFFFFFFFF)
    return Answer(key, "tcp", flags, packet[12:16], packet[8])


def parse_icmp(packet: bytes) -> Answer | None:
    """An ICMP error quoting a TCP segment, as delivered by a raw IPv4 socket.

    RFC 792 guarantees 8 bytes of the quoted transport header: exactly the
    ports and the sequence number we need.
    """
    if len(packet) < 20:
        return None
    ihl = (packet[0] & 0x0F) * 4
    if packet[0] >> 4 != 4 or packet[9] != IPPROTO_ICMP or len(packet) < ihl + 8 + 20:
        return None
    icmp_type, icmp_code = packet[ihl], packet[ihl + 1]
    quoted = ihl + 8
    if packet[quoted] >> 4 != 4 or packet[quoted + 9] != IPPROTO_TCP:
        return None
    qihl = (packet[quoted] & 0x0F) * 4
    if len(packet) < quoted + qihl + 8:
        return None
    sport, dport, seq = _QUOTED_PORTS_SEQ.unpack_from(packet, quoted + qihl)
    # Quoted header: source = us, destination = target. Key is target+ours.
    addresses = packet[quoted + 16:quoted + 20] + packet[quoted + 12:quoted + 16]
    key = (addresses, dport, sport, seq)
    return Answer(key, "icmp", (icmp_type << 8) | icmp_code, packet[12:16], packet[8])


# Classic BPF, so that the kernel hands us only packets addressed to our
# source ports instead of every TCP segment and ICMP message of the host.
_BPF_LDXB_MSH = 0xB1  # X = 4 * (pkt[k] & 0xf)
_BPF_LDH_IND = 0x48  # A = half-word at X + k
_BPF_LDB_IND = 0x50  # A = byte at X + k
_BPF_JEQ_K = 0x15
_BPF_JGT_K = 0x25
_BPF_JGE_K = 0x35
_BPF_AND_K = 0x54
_BPF_LSH_K = 0x64
_BPF_ADD_X = 0x0C
_BPF_TAX = 0x07
_BPF_RET_K = 0x06
_ACCEPT = 0xFFFF

Insn = tuple[int, int, int, int]


def bpf_tcp_dport_range(low: int, high: int) -> list[Insn]:
    """Accept IPv4 TCP segments whose destination port is in [low, high]."""
    return [
        (_BPF_LDXB_MSH, 0, 0, 0),
        (_BPF_LDH_IND, 0, 0, 2),
        (_BPF_JGE_K, 0, 2, low),
        (_BPF_JGT_K, 1, 0, high),
        (_BPF_RET_K, 0, 0, _ACCEPT),
        (_BPF_RET_K, 0, 0, 0),
    ]


def bpf_icmp_quoting_sport_range(low: int, high: int) -> list[Insn]:
    """Accept ICMP unreachable / time exceeded quoting TCP from a port in [low, high]."""
    return [
        (_BPF_LDXB_MSH, 0, 0, 0),  # X = outer IHL
        (_BPF_LDB_IND, 0, 0, 0),  # ICMP type
        (_BPF_JEQ_K, 1, 0, 3),
        (_BPF_JEQ_K, 0, 11, 11),
        (_BPF_LDB_IND, 0, 0, 8 + 9),  # quoted protocol
        (_BPF_JEQ_K, 0, 9, IPPROTO_TCP),
        (_BPF_LDB_IND, 0, 0, 8),  # quoted version/IHL
        (_BPF_AND_K, 0, 0, 0x0F),
        (_BPF_LSH_K, 0, 0, 2),
        (_BPF_ADD_X, 0, 0, 0),
        (_BPF_TAX, 0, 0, 0),  # X = outer IHL + quoted IHL
        (_BPF_LDH_IND, 0, 0, 8),  # quoted source port
        (_BPF_JGE_K, 0, 2, low),
        (_BPF_JGT_K, 1, 0, high),
        (_BPF_RET_K, 0, 0, _ACCEPT),
        (_BPF_RET_K, 0, 0, 0),
    ]


def bpf_bytes(program: list[Insn]) -> bytes:
    """The program as an array of struct sock_filter."""
    return b"".join(struct.pack("HBBI", *insn) for insn in program)


def parse_tx_echo(data: bytes) -> Key | None:
    """The key of one of our SYNs as the kernel echoes it with its send timestamp.

    The error queue returns the packet as it left, link-layer header first
    (Ethernet: 14 bytes; none on an IP tunnel): our SYN has no payload, so the
    IP header is the last PACKET_LEN bytes whatever the link.
    """
    if len(data) < PACKET_LEN:
        return None
    ip = data[-PACKET_LEN:]
    if ip[0] != 0x45 or ip[9] != IPPROTO_TCP or ip[33] != TCP_SYN_FLAG:
        return None
    sport, dport, seq = _QUOTED_PORTS_SEQ.unpack_from(ip, 20)
    return (ip[16:20] + ip[12:16], dport, sport, seq)
