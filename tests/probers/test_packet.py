"""Pure tests of the SYN engine's packets: building, checksums, cookies, parsing, BPF.

No sockets. scapy is the independent reference here (off the hot path).
"""

from __future__ import annotations

import socket
import struct

import pytest

from probe.probers.packet import (
    PACKET_LEN,
    Cookie,
    SynTemplate,
    bpf_bytes,
    bpf_icmp_quoting_sport_range,
    bpf_tcp_dport_range,
    checksum,
    parse_icmp,
    parse_tcp,
    parse_tx_echo,
)

scapy_inet = pytest.importorskip("scapy.layers.inet")
IP, TCP, ICMP = scapy_inet.IP, scapy_inet.TCP, scapy_inet.ICMP

US, TARGET, ROUTER = "198.19.1.10", "198.19.2.10", "198.19.1.1"


def template() -> SynTemplate:
    return SynTemplate.for_pair(socket.inet_aton(US), socket.inet_aton(TARGET))


def syn_ack_for(syn: bytes, *, ack_delta: int = 1, flags: str = "SA") -> bytes:
    ip = IP(syn)
    answer = IP(src=ip.dst, dst=ip.src, ttl=61) / TCP(
        sport=ip[TCP].dport, dport=ip[TCP].sport, seq=12345, ack=(ip[TCP].seq + ack_delta) % 2**32,
        flags=flags)
    return bytes(answer)


def icmp_error_for(syn: bytes, icmp_type: int = 3, code: int = 13, *, quote: int = 8,
                   src: str = ROUTER) -> bytes:
    """An ICMP error as a router builds it: IP header + `quote` bytes of TCP."""
    ip = IP(syn)
    ip.ttl -= 1  # the quoted header is the one the router saw
    quoted = bytes(ip)[:20 + quote]
    return bytes(IP(src=src, dst=ip.src, ttl=64) / ICMP(type=icmp_type, code=code) / quoted)


@pytest.mark.parametrize(("sport", "dport", "seq"),
                         [(40000, 443, 0), (65535, 65535, 0xFFFFFFFF), (1, 1, 0x80000001),
                          (50123, 1433, 0xDEADBEEF)])
def test_syn_matches_scapy_and_checksums(sport: int, dport: int, seq: int) -> None:
    packet = template().build(sport, dport, seq)
    assert len(packet) == PACKET_LEN
    parsed = IP(packet)
    assert (parsed.src, parsed.dst, parsed.ttl, parsed.proto) == (US, TARGET, 64, 6)
    tcp = parsed[TCP]
    assert (tcp.sport, tcp.dport, tcp.seq, tcp.ack, tcp.flags) == (sport, dport, seq, 0, "S")
    assert tcp.options == [("MSS", 1460)]
    ours = tcp.chksum
    del tcp.chksum
    assert IP(bytes(parsed))[TCP].chksum == ours
    # And by the definition: the pseudo-header and segment sum to 0xffff.
    pseudo = socket.inet_aton(US) + socket.inet_aton(TARGET) + struct.pack(
        "!BBH", 0, 6, len(packet) - 20)
    assert checksum(pseudo + packet[20:]) == 0


def test_checksum_reference() -> None:
    # RFC 1071 example bytes.
    assert checksum(bytes.fromhex("0001f203f4f5f6f7")) == (~0xDDF2) & 0xFFFF
    assert checksum(b"\x01") == (~0x0100) & 0xFFFF


def test_cookie_is_keyed_and_covers_every_field() -> None:
    a, b = Cookie(b"k" * 32), Cookie(b"k" * 32)
    addr = socket.inet_aton(TARGET) + socket.inet_aton(US)
    assert a(addr, 1, 2, 3) == b(addr, 1, 2, 3)
    base = a(addr, 1, 2, 3)
    assert 0 <= base < 2**32
    others = {a(addr, 9, 2, 3), a(addr, 1, 9, 3), a(addr, 1, 2, 4),
              a(socket.inet_aton(ROUTER) + socket.inet_aton(US), 1, 2, 3),
              Cookie(b"x" * 32)(addr, 1, 2, 3)}
    assert base not in others
    assert Cookie()(addr, 1, 2, 3) != Cookie()(addr, 1, 2, 3)  # random secret per instance


@pytest.mark.parametrize(("flags", "value"), [("SA", 0x12), ("RA", 0x14), ("R", 0x04)])
def test_parse_tcp_answer_rebuilds_the_key(flags: str, value: int) -> None:
    t = template()
    syn = t.build(40001, 443, 0xFFFFFFFF)  # ack wraps to 0
    answer = parse_tcp(syn_ack_for(syn, flags=flags))
    assert answer is not None
    assert answer.key == t.key(40001, 443, 0xFFFFFFFF)
    assert (answer.kind, answer.value, answer.ttl) == ("tcp", value, 61)
    assert answer.responder == socket.inet_aton(TARGET)


def test_parse_tcp_wrong_ack_gives_another_key() -> None:
    t = template()
    syn = t.build(40001, 443, 777)
    answer = parse_tcp(syn_ack_for(syn, ack_delta=2))
    assert answer is not None and answer.key != t.key(40001, 443, 777)


@pytest.mark.parametrize("quote", [8, 24])
def test_parse_icmp_quote(quote: int) -> None:
    t = template()
    syn = t.build(40002, 1433, 0x01020304)
    answer = parse_icmp(icmp_error_for(syn, 3, 13, quote=quote))
    assert answer is not None
    assert answer.key == t.key(40002, 1433, 0x01020304)
    assert (answer.kind, answer.value >> 8, answer.value & 0xFF) == ("icmp", 3, 13)
    assert answer.responder == socket.inet_aton(ROUTER)
    assert answer.ttl == 64


def test_parse_icmp_ip_options_in_quote_and_outer() -> None:
    t = template()
    syn = t.build(40003, 80, 42)
    quoted_ip = IP(syn)
    quoted_ip.options = [scapy_inet.IPOption_NOP()] * 4
    quoted_ip.ihl = quoted_ip.len = quoted_ip.chksum = None  # recomputed with the options
    inner = bytes(quoted_ip)[:24 + 8]
    outer = IP(src=ROUTER, dst=US, options=[scapy_inet.IPOption_NOP()] * 4) / ICMP(type=11) / inner
    answer = parse_icmp(bytes(outer))
    assert answer is not None and answer.key == t.key(40003, 80, 42)
    assert answer.value >> 8 == 11


@pytest.mark.parametrize("packet", [
    b"", b"\x45" * 10,
    bytes(IP(src=TARGET, dst=US) / scapy_inet.UDP(sport=1, dport=2)),
    bytes(IP(src=TARGET, dst=US, frag=3) / TCP()),
])
def test_parse_tcp_rejects_junk(packet: bytes) -> None:
    assert parse_tcp(packet) is None


def test_parse_icmp_rejects_junk() -> None:
    syn = template().build(40004, 80, 1)
    assert parse_icmp(icmp_error_for(syn, quote=4)) is None  # ports but no sequence number
    udp = bytes(IP(src=US, dst=TARGET) / scapy_inet.UDP(sport=40004, dport=53))
    assert parse_icmp(bytes(IP(src=ROUTER, dst=US) / ICMP(type=3, code=3) / udp)) is None
    assert parse_icmp(bytes(IP(src=TARGET, dst=US) / TCP())) is None


def run_bpf(program: list[tuple[int, int, int, int]], packet: bytes) -> int:
    """A tiny classic-BPF interpreter for the opcodes our filters use."""
    assert len(bpf_bytes(program)) == 8 * len(program)
    a = x = pc = 0
    while True:
        code, jt, jf, k = program[pc]
        pc += 1
        try:
            if code == 0xB1:
                x = 4 * (packet[k] & 0xF)
            elif code == 0x48:
                a = struct.unpack_from("!H", packet, x + k)[0]
            elif code == 0x50:
                a = packet[x + k]
            elif code in (0x15, 0x25, 0x35):
                hit = {0x15: a == k, 0x25: a > k, 0x35: a >= k}[code]
                pc += jt if hit else jf
            elif code == 0x54:
                a &= k
            elif code == 0x64:
                a = (a << k) & 0xFFFFFFFF
            elif code == 0x0C:
                a = (a + x) & 0xFFFFFFFF
            elif code == 0x07:
                x = a
            elif code == 0x06:
                return k
            else:
                raise AssertionError(f"opcode {code:#x}")
        except (IndexError, struct.error):
            return 0  # the kernel drops a packet read out of bounds


def test_bpf_tcp_filter_passes_our_ports_only() -> None:
    prog = bpf_tcp_dport_range(40000, 40255)
    for dport, passes in ((39999, False), (40000, True), (40100, True), (40255, True),
                          (40256, False), (443, False)):
        pkt = bytes(IP(src=TARGET, dst=US) / TCP(sport=443, dport=dport, flags="SA"))
        assert bool(run_bpf(prog, pkt)) is passes, dport
    with_options = bytes(IP(src=TARGET, dst=US, options=[scapy_inet.IPOption_NOP()] * 4)
                         / TCP(sport=443, dport=40001))
    assert run_bpf(prog, with_options)


def test_bpf_icmp_filter() -> None:
    prog = bpf_icmp_quoting_sport_range(40000, 40255)
    ours = template().build(40010, 443, 1)
    theirs = template().build(50000, 443, 1)
    assert run_bpf(prog, icmp_error_for(ours, 3, 3))
    assert run_bpf(prog, icmp_error_for(ours, 11, 0))
    assert not run_bpf(prog, icmp_error_for(theirs, 3, 3))
    assert not run_bpf(prog, icmp_error_for(ours, 5, 1))  # redirect
    assert not run_bpf(prog, bytes(IP(src=TARGET, dst=US) / ICMP(type=0)))
    udp = bytes(IP(src=US, dst=TARGET) / scapy_inet.UDP(sport=40010, dport=53))
    assert not run_bpf(prog, bytes(IP(src=ROUTER, dst=US) / ICMP(type=3, code=3) / udp))


def test_tx_echo_gives_the_key_whatever_the_link_header() -> None:
    t = template()
    syn = t.build(40005, 443, 99)
    for link in (b"", b"\x00" * 14, b"\x00" * 16):
        assert parse_tx_echo(link + syn) == t.key(40005, 443, 99)
    assert parse_tx_echo(syn[:-1]) is None
    assert parse_tx_echo(bytes(IP(src=US, dst=TARGET) / TCP(flags="A") / (b"x" * 4))) is None
