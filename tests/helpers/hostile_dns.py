"""A DNS server under test control that misbehaves on purpose (UDP and TCP, one port).

It binds 127.0.0.1 on a free non-53 port (the prober's resolver config takes
``IP:PORT``) and answers each question by the behaviour registered for the
question's name, so one server plays every hostile case of a test at once.
A behaviour is a function ``(query, transport) -> Reply``:

* over UDP, ``Reply.wire`` is sent as one datagram (None: silence);
* over TCP, ``Reply.wire`` is written as it is, length prefix included when
  the behaviour wants one (``framed``), then the connection is closed; a
  behaviour can thus close without a byte, cut the prefix or the message, or
  send garbage.

``served[name]`` keeps every address the server put in an answer section for
that name, so a test can check that the prober never invents one.

Every address in these answers is loopback (127/8) or in 198.18/15: a test
that lets the agent probe them sends packets nowhere else.
"""

from __future__ import annotations

import contextlib
import itertools
import random
import socket
import struct
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Literal

import dns.exception
import dns.flags
import dns.message
import dns.name
import dns.rcode
import dns.rdataclass
import dns.rdatatype
import dns.rrset

Transport = Literal["udp", "tcp"]


@dataclass(frozen=True)
class Reply:
    wire: bytes | None


Behaviour = Callable[[dns.message.QueryMessage, Transport], Reply]


def framed(wire: bytes) -> bytes:
    """A DNS message as TCP carries it: two-byte length, then the message."""
    return struct.pack("!H", len(wire)) + wire


def response(query: dns.message.QueryMessage, *, rcode: int = dns.rcode.NOERROR,
             answer: Iterable[tuple[str, str, Iterable[str]]] = (),
             authority: Iterable[tuple[str, str, Iterable[str]]] = (),
             ttl: int = 300, tc: bool = False) -> dns.message.Message:
    """A reply to ``query`` with (owner, type, rdatas) rrsets in its sections."""
    reply = dns.message.make_response(query)
    reply.set_rcode(rcode)
    for section, rrsets in ((reply.answer, answer), (reply.authority, authority)):
        for owner, rdtype, rdatas in rrsets:
            absolute = owner if owner.endswith(".") else owner + "."
            section.append(dns.rrset.from_text_list(absolute, ttl, "IN", rdtype, list(rdatas)))
    if tc:
        reply.flags |= dns.flags.TC
    return reply


def to_wire(message: dns.message.Message, transport: Transport) -> bytes:
    """Over TCP (65,535 bytes): no truncation; over UDP as it is, however large."""
    wire = message.to_wire(max_size=65535)
    return framed(wire) if transport == "tcp" else wire


def qname(query: dns.message.QueryMessage) -> str:
    return query.question[0].name.to_text(omit_final_dot=True).lower()


# --------------------------------------------------------------------------
# the catalogue of hostile behaviours


def truncated_then(tcp: Callable[[dns.message.QueryMessage], bytes]) -> Behaviour:
    """TC set on UDP (no answer there), then ``tcp(query)`` written raw over TCP."""
    def behave(query: dns.message.QueryMessage, transport: Transport) -> Reply:
        if transport == "udp":
            return Reply(to_wire(response(query, tc=True), "udp"))
        return Reply(tcp(query))
    return behave


def answer_with(build: Callable[[dns.message.QueryMessage], dns.message.Message],
                *, tcp_only: bool = False) -> Behaviour:
    """The same message on both transports (or TC on UDP when it is TCP-only)."""
    def behave(query: dns.message.QueryMessage, transport: Transport) -> Reply:
        if tcp_only and transport == "udp":
            return Reply(to_wire(response(query, tc=True), "udp"))
        return Reply(to_wire(build(query), transport))
    return behave


def chain(length: int) -> Behaviour:
    """NAME -> c1 -> ... -> c<length> (CNAMEs), then an A record for the last."""
    def build(query: dns.message.QueryMessage) -> dns.message.Message:
        name = qname(query)
        links = [f"c{i}.{name}" for i in range(1, length + 1)]
        owners = [name, *links]
        rrsets: list[tuple[str, str, Iterable[str]]] = [
            (owner, "CNAME", [target + "."]) for owner, target in zip(owners, links,
                                                                      strict=False)]
        rrsets.append((owners[-1], "A", ["198.18.9.16"]))
        return response(query, answer=rrsets)
    return answer_with(build)


def many_a(count: int) -> Behaviour:
    """``count`` distinct A records (TC on UDP, all of them over TCP).

    The 64 KiB answer is built once per name (~0.1 s of dnspython) and only
    its ID is patched per question.
    """
    addresses = [f"127.{1 + i // 65536}.{i // 256 % 256}.{i % 256}" for i in range(count)]
    built: dict[str, bytes] = {}

    def behave(query: dns.message.QueryMessage, transport: Transport) -> Reply:
        if transport == "udp":
            return Reply(to_wire(response(query, tc=True), "udp"))
        name = qname(query)
        if name not in built:
            built[name] = response(query, answer=[(name, "A", addresses)]).to_wire(
                max_size=65535)
        return Reply(framed(struct.pack("!H", query.id) + built[name][2:]))
    return behave


def _with_id(query: dns.message.QueryMessage, delta: int) -> bytes:
    reply = response(query, answer=[(qname(query), "A", ["198.18.9.1"])])
    reply.id = (query.id + delta) % 65536
    return reply.to_wire()


def _other_question(query: dns.message.QueryMessage) -> bytes:
    other = dns.message.make_query("elsewhere.hostile.test", dns.rdatatype.A)
    other.id = query.id
    reply = response(other, answer=[("elsewhere.hostile.test", "A", ["198.18.9.2"])])
    return reply.to_wire()


def _garbage(seed: int, size: int) -> bytes:
    return random.Random(seed).randbytes(size)


def _weird_labels(query: dns.message.QueryMessage) -> dns.message.Message:
    name = qname(query)
    # a control character, a DEL and two non-ASCII bytes, escaped as master-file text
    odd = f"bell\\007del\\127caf\\195\\169.{name}."
    return response(query, answer=[(name, "CNAME", [odd]), (odd, "A", ["198.18.9.3"])])


BEHAVIOURS: dict[str, Behaviour] = {
    "tc-tcp-closed": truncated_then(lambda q: b""),
    "tc-tcp-half-prefix": truncated_then(lambda q: b"\x01"),
    "tc-tcp-cut-message": truncated_then(
        lambda q: framed(to_wire(response(q, answer=[(qname(q), "A", ["198.18.9.4"])]),
                                 "udp"))[:20]),
    "tc-tcp-garbage": truncated_then(lambda q: framed(_garbage(1, 300))),
    "tc-tcp-wrong-question": truncated_then(lambda q: framed(_other_question(q))),
    "tc-tcp-wrong-id": truncated_then(lambda q: framed(_with_id(q, 1))),
    "garbage": lambda q, t: Reply(_garbage(2, 64) if t == "udp" else framed(_garbage(3, 64))),
    "wrong-id": lambda q, t: Reply(_with_id(q, 1) if t == "udp" else framed(_with_id(q, 1))),
    "wrong-question": lambda q, t: Reply(_other_question(q) if t == "udp"
                                         else framed(_other_question(q))),
    "chain-15": chain(15),
    "chain-16": chain(16),
    "chain-17": chain(17),
    "chain-40": chain(40),
    "loop-self": answer_with(lambda q: response(q, answer=[
        (qname(q), "CNAME", [qname(q) + "."])])),
    "loop-two": answer_with(lambda q: response(q, answer=[
        (qname(q), "CNAME", ["b." + qname(q) + "."]),
        ("b." + qname(q), "CNAME", [qname(q) + "."])])),
    "many-a": many_a(4090),
    "nodata": answer_with(response),
    "huge-ttl": answer_with(lambda q: response(q, answer=[(qname(q), "A", ["198.18.9.5"])],
                                               ttl=0xFFFFFFFF)),
    "weird-labels": answer_with(_weird_labels),
    "other-name": answer_with(lambda q: response(q, answer=[
        ("somebody-else.hostile.test", "A", ["198.18.9.6"])])),
    "referral": answer_with(lambda q: response(q, authority=[
        ("hostile.test", "NS", ["ns1.elsewhere.test."])])),
    "soa-only": answer_with(lambda q: response(q, authority=[
        ("hostile.test", "SOA", ["ns1.hostile.test. admin.hostile.test. 1 2 3 4 5"])])),
    "silence": lambda q, t: Reply(None),
}


# --------------------------------------------------------------------------
# fuzzed answers: one seed, one deterministic hostile behaviour

_RCODES = [dns.rcode.NOERROR] * 6 + [dns.rcode.NXDOMAIN, dns.rcode.SERVFAIL,
                                     dns.rcode.REFUSED, dns.rcode.FORMERR, dns.rcode.NOTIMP,
                                     dns.rcode.YXDOMAIN]
_TTLS = [0, 1, 300, 0x7FFFFFFF, 0xFFFFFFFF]


def _random_rrset(rng: random.Random, names: list[str]) -> tuple[str, str, list[str]]:
    owner = rng.choice(names)
    kind = rng.choice(["A", "A", "A", "AAAA", "CNAME", "CNAME", "NS", "TXT", "SOA"])
    count = rng.choice([1, 1, 2, 3, rng.randint(4, 40)])
    if kind == "A":
        values = [rng.choice([f"198.18.{rng.randint(0, 255)}.{rng.randint(0, 255)}",
                              f"127.9.{rng.randint(0, 255)}.{rng.randint(1, 254)}"])
                  for _ in range(count)]
    elif kind == "AAAA":
        values = [f"2001:db8::{rng.randint(1, 0xFFFF):x}" for _ in range(count)]
    elif kind == "CNAME":
        values = [rng.choice(names) + "."]  # one target: more is malformed, not interesting
    elif kind == "NS":
        values = [f"ns{i}.elsewhere.test." for i in range(count)]
    elif kind == "TXT":
        values = ['"' + "x" * rng.randint(0, 200) + '"']
    else:
        values = ["ns1.hostile.test. admin.hostile.test. 1 2 3 4 5"]
    return owner, kind, values


def _fuzzed_message(rng: random.Random, query: dns.message.QueryMessage) -> bytes:
    name = qname(query)
    depth = rng.choice([0, 1, 2, 5, 16, 17, 30])
    names = [name, *(f"c{i}.{name}" for i in range(1, depth + 1)),
             "elsewhere.hostile.test", "hostile.test"]
    answer: list[tuple[str, str, Iterable[str]]] = []
    if depth and rng.random() < 0.7:  # a proper chain, perhaps looped back
        chain = names[:depth + 1]
        answer += [(a, "CNAME", [b + "."]) for a, b in itertools.pairwise(chain)]
        if rng.random() < 0.2:
            answer.append((chain[-1], "CNAME", [rng.choice(chain) + "."]))
        else:
            answer.append((chain[-1], "A", [f"198.18.77.{rng.randint(1, 254)}"]))
    answer += [_random_rrset(rng, names) for _ in range(rng.randint(0, 6))]
    # one rrset per (owner, type): a CNAME beside other data is as hostile as it gets
    unique: dict[tuple[str, str], tuple[str, str, Iterable[str]]] = {}
    for rrset in answer:
        unique.setdefault((rrset[0], rrset[1]), rrset)
    authority = [_random_rrset(rng, names) for _ in range(rng.randint(0, 2))]
    reply = response(query, rcode=rng.choice(_RCODES), answer=unique.values(),
                     authority=authority, ttl=rng.choice(_TTLS), tc=rng.random() < 0.15)
    if rng.random() < 0.05:
        reply.id = (query.id + 1) % 65536
    wire = bytearray(reply.to_wire(max_size=65535))
    if rng.random() < 0.2:  # flip a few bytes after the header
        for _ in range(rng.randint(1, 4)):
            if len(wire) > 12:
                wire[rng.randrange(12, len(wire))] = rng.randrange(256)
    return bytes(wire)


def fuzzed(seed: int) -> Behaviour:
    """A hostile behaviour drawn from ``seed``: the same answer every time it is asked
    the same question over the same transport."""
    def behave(query: dns.message.QueryMessage, transport: Transport) -> Reply:
        rng = random.Random(f"{seed}/{transport}/{query.question[0].rdtype}")
        roll = rng.random()
        if roll < 0.08:
            return Reply(None)  # silence (UDP) or a close without a byte (TCP)
        if roll < 0.14:
            garbage = rng.randbytes(rng.randint(0, 80))
            return Reply(garbage if transport == "udp" else framed(garbage))
        if transport == "udp" and roll < 0.30:
            return Reply(to_wire(response(query, tc=True), "udp"))  # go to TCP
        wire = _fuzzed_message(rng, query)
        if transport == "udp":
            return Reply(wire)
        out = framed(wire)
        cut = rng.random()
        if cut < 0.1:
            return Reply(out[:rng.randrange(0, len(out))])  # cut anywhere
        if cut < 0.15:
            return Reply(struct.pack("!H", min(len(wire) + 50, 65535)) + wire)  # promises more
        return Reply(out)
    return behave


def behaviour_for(name: str) -> Behaviour | None:
    """The behaviour named by the first label (``chain-16.hostile.test``)."""
    return BEHAVIOURS.get(name.split(".", 1)[0])


# --------------------------------------------------------------------------
# the server


class HostileDns:
    """UDP and TCP on one loopback port, threads, until ``close``.

    ``behaviours`` maps a full name to its behaviour; a name not in it falls
    back to ``behaviour_for`` (the first label), then to silence.
    """

    def __init__(self, behaviours: dict[str, Behaviour] | None = None) -> None:
        self.behaviours = dict(behaviours or {})
        self.served: dict[str, set[str]] = {}
        self.lock = threading.Lock()
        self.udp, self.tcp = _bind_pair()
        self.port: int = self.udp.getsockname()[1]
        self.address = f"127.0.0.1:{self.port}"
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._serve_udp, daemon=True),
                         threading.Thread(target=self._serve_tcp, daemon=True)]
        for thread in self._threads:
            thread.start()

    def __enter__(self) -> HostileDns:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._stop.set()
        for sock in (self.udp, self.tcp):
            with contextlib.suppress(OSError):  # wakes the thread blocked in recv/accept
                sock.shutdown(socket.SHUT_RDWR)
            sock.close()
        for thread in self._threads:
            thread.join(timeout=2)

    def _reply(self, wire: bytes, transport: Transport) -> bytes | None:
        try:
            query = dns.message.from_wire(wire)
        except Exception:  # noqa: BLE001 -- not a question; a hostile server does not care
            return None
        if not isinstance(query, dns.message.QueryMessage) or not query.question:
            return None
        name = qname(query)
        behave = self.behaviours.get(name) or behaviour_for(name) or BEHAVIOURS["silence"]
        return behave(query, transport).wire

    def _record(self, question: bytes, reply: bytes, transport: Transport) -> None:
        """Every A/AAAA address of the answer section, for the oracle (after
        the reply went out, so that its cost is not the client's wait)."""
        wire = reply
        if transport == "tcp":  # exactly what the client reads: the framed length
            size = struct.unpack("!H", reply[:2])[0] if len(reply) >= 2 else 0
            wire = reply[2:2 + size]
        try:
            name = qname(dns.message.from_wire(question))  # type: ignore[arg-type]
            message = dns.message.from_wire(wire)
        except Exception:  # noqa: BLE001 -- garbage or cut short: no address in it
            return
        with self.lock:
            seen = self.served.setdefault(name, set())
            for rrset in message.answer:
                if rrset.rdtype in (dns.rdatatype.A, dns.rdatatype.AAAA) and \
                        rrset.rdclass == dns.rdataclass.IN:
                    seen.update(rdata.address for rdata in rrset)

    def _serve_udp(self) -> None:
        while not self._stop.is_set():
            try:
                wire, peer = self.udp.recvfrom(65535)
            except OSError:
                return
            reply = self._reply(wire, "udp")
            if reply is not None:
                with contextlib.suppress(OSError):  # too large for a datagram: lost
                    self.udp.sendto(reply, peer)
                self._record(wire, reply, "udp")

    def _serve_tcp(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _peer = self.tcp.accept()
            except OSError:
                return
            threading.Thread(target=self._one_tcp, args=(conn,), daemon=True).start()

    def _one_tcp(self, conn: socket.socket) -> None:
        with conn:
            conn.settimeout(5)
            try:
                size = struct.unpack("!H", _read(conn, 2))[0]
                question = _read(conn, size)
                reply = self._reply(question, "tcp")
                if reply:
                    conn.sendall(reply)
                    conn.shutdown(socket.SHUT_WR)
                    self._record(question, reply, "tcp")
            except (OSError, struct.error):
                return


def _read(conn: socket.socket, size: int) -> bytes:
    data = b""
    while len(data) < size:
        chunk = conn.recv(size - len(data))
        if not chunk:
            break
        data += chunk
    return data


def _bind_pair() -> tuple[socket.socket, socket.socket]:
    """A UDP and a TCP socket on the same free loopback port (never 53)."""
    for _ in range(50):
        udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        udp.bind(("127.0.0.1", 0))
        port = udp.getsockname()[1]
        tcp = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            tcp.bind(("127.0.0.1", port))
        except OSError:
            udp.close()
            tcp.close()
            continue
        tcp.listen(64)
        return udp, tcp
    raise OSError("no free loopback port for both UDP and TCP")


def name_of(behaviour: str) -> str:
    """The name that selects a behaviour of the catalogue."""
    return f"{behaviour}.hostile.test"

