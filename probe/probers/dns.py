"""DNS prober: ask each resolver directly (dnspython, not libc) and keep the answer.

Each (name, resolver) pair yields one ``DnsResult`` whatever happens: a
resolver that never answers costs at most the timeout. The second UDP query
goes out halfway through the timeout while the first one keeps listening, so
one lost datagram does not read as a dead resolver, and a slow recursive
answer to the first query still counts. dnspython builds and parses the
messages; the UDP exchange is ours only to time it on the wire (kernel
receive timestamps, made monotonic as they are read), as the TCP probes are.
Timeouts go by the event loop's stall clock: a loop blocked by something else
(a large config parsed on it) does not turn an answer into ``timeout``.

A resolver may be hostile or broken, and nothing it sends ends a round:

* whatever an exchange raises (a TCP answer cut short after TC, garbage, a
  mismatched reply, ICMP errors) becomes a status and a detail in one place,
  ``translate``; datagrams that answer nothing are ignored (``timeout`` if
  nothing better comes);
* the CNAME chain is followed by ``read_response``, only from the question's
  name: up to ``MAX_CNAME_CHAIN`` links resolve, a longer chain or a loop is
  ``error`` with the chain so far as evidence;
* ``DnsProber(max_addresses=...)`` keeps at most that many addresses per name
  (the lowest in address order), so thousands of A records do not become
  thousands of probes; the result says how many it dropped.
"""

from __future__ import annotations

import asyncio
import ipaddress
import itertools
import socket
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Protocol

import dns.asyncquery
import dns.exception
import dns.flags
import dns.message
import dns.name
import dns.rcode
import dns.rdata
import dns.rdataclass
import dns.rdatatype

from probe.config import DEFAULT_MAX_ADDRESSES
from probe.errors import InputError
from probe.localnames import HOSTS_FILE, read_hosts, special_answer
from probe.probers import stallclock
from probe.probers.kerneltime import SO_TIMESTAMPNS, STAMPS, received_ns
from probe.probers.stallclock import StallClock
from probe.resolvers import Resolver
from probe.results import DnsResult, DnsStatus

# dnspython loads rdata classes on first use; doing it inside the first round
# blocks the event loop while every question is in flight and adds ~20 ms to
# every measured duration. Load them now, outside any measurement.
for _rdtype in (dns.rdatatype.A, dns.rdatatype.AAAA, dns.rdatatype.CNAME):
    dns.rdata.get_rdata_class(dns.rdataclass.IN, _rdtype)  # type: ignore[no-untyped-call]

_RCODE_STATUS: dict[int, DnsStatus] = {
    dns.rcode.NXDOMAIN: DnsStatus.NXDOMAIN,
    dns.rcode.SERVFAIL: DnsStatus.SERVFAIL,
    dns.rcode.REFUSED: DnsStatus.REFUSED,
}


MAX_CNAME_CHAIN = 16  # links; 16 is legal and seen with private endpoints and CDNs
REFERRAL = "a referral (NS records only): the server does not resolve recursively"


class _NoAnswer(Exception):
    """No usable answer before the deadline (our own, never shown)."""


def status_of(rcode: int | dns.rcode.Rcode, addresses: Sequence[str]) -> DnsStatus:
    """Pure: what a response means for reachability of the name."""
    if rcode == dns.rcode.NOERROR:
        return DnsStatus.OK if addresses else DnsStatus.NODATA
    return _RCODE_STATUS.get(rcode, DnsStatus.ERROR)


@dataclass(frozen=True, slots=True)
class Reading:
    """What one response says about one question: addresses, CNAME chain, and
    what is wrong with it (a loop, a chain too long) when something is."""

    addresses: tuple[str, ...] = ()
    chain: tuple[str, ...] = ()
    problem: str | None = None


def read_response(response: dns.message.Message, rdtype: int) -> Reading:
    """Pure: follow the CNAME chain from the question's name to its rdtype records.

    Only records on the chain count: an answer for another name is no answer.
    Chains up to ``MAX_CNAME_CHAIN`` links resolve; a longer one, or a name met
    twice, is a problem, with the chain so far kept as evidence.
    """
    if not isinstance(response, dns.message.QueryMessage) or len(response.question) != 1:
        return Reading()
    name = response.question[0].name
    seen = {name}
    chain: list[str] = []
    while True:
        found = response.get_rrset(response.answer, name, dns.rdataclass.IN,
                                   dns.rdatatype.RdataType.make(rdtype))
        if found is not None:
            return Reading(tuple(rdata.address for rdata in found), tuple(chain))
        cname = response.get_rrset(response.answer, name, dns.rdataclass.IN,
                                   dns.rdatatype.CNAME)
        if cname is None or not len(cname):
            return Reading((), tuple(chain), _referral(response))
        name = next(iter(cname)).target
        chain.append(_display(name))
        if name in seen:
            return Reading((), tuple(chain), f"CNAME loop at {_display(name)}")
        if len(chain) > MAX_CNAME_CHAIN:
            return Reading((), tuple(chain), f"CNAME chain longer than {MAX_CNAME_CHAIN}")
        seen.add(name)


def _referral(response: dns.message.Message) -> str | None:
    """A note (not a failure) for an empty answer that only points elsewhere."""
    if response.answer or response.rcode() != dns.rcode.NOERROR:
        return None
    if any(rrset.rdtype == dns.rdatatype.NS for rrset in response.authority):
        return REFERRAL
    return None


def _display(name: dns.name.Name) -> str:
    return name.to_text(omit_final_dot=True).lower()


async def _udp(query: dns.message.Message, resolver: Resolver, clock: StallClock,
               deadline: float, first_send_ns: list[int]) -> dns.message.Message:
    """One UDP exchange, timed on the wire: from just before send() to the
    kernel's receive timestamp, so that our own event loop, busy with the other
    questions in flight, does not count as the resolver's time. The reply's
    ``time`` is seconds since the *first* send of this question (monotonic).

    ``deadline`` is on the stall clock: time the loop was blocked does not
    count, and an answer read as the loop unblocks is taken whatever the
    time (TimeoutError only when none came in unblocked time).
    """
    ipv6 = ":" in resolver.address
    sock = socket.socket(socket.AF_INET6 if ipv6 else socket.AF_INET,
                         socket.SOCK_DGRAM | socket.SOCK_NONBLOCK)
    loop = asyncio.get_running_loop()
    answer: asyncio.Future[tuple[dns.message.Message, int]] = loop.create_future()
    sent = 0

    def readable() -> None:
        while not answer.done():
            try:
                wire, ancdata, _flags, _peer = sock.recvmsg(65535, 256)
            except (BlockingIOError, InterruptedError):
                return
            except OSError as exc:  # ICMP port unreachable and friends, via the connected socket
                answer.set_exception(exc)
                return
            # The kernel's CLOCK_REALTIME stamp, made monotonic now: an answer
            # cannot predate this socket's question.
            received = STAMPS.convert(received_ns(ancdata), sent)
            reply = _answer_to(query, wire)
            if reply is not None:
                answer.set_result((reply, received))

    try:
        sock.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
        # Connected: only the resolver's datagrams reach us, and its ICMP errors surface.
        sock.connect((resolver.address, resolver.port))
        loop.add_reader(sock.fileno(), readable)
        sent = STAMPS.monotonic()
        if not first_send_ns:
            first_send_ns.append(sent)
        sock.send(query.to_wire())
        if not await clock.wait_until(answer, deadline):
            raise TimeoutError
        reply, received = answer.result()
        reply.time = max(received - first_send_ns[0], 0) / 1e9
        return reply
    finally:
        loop.remove_reader(sock.fileno())
        sock.close()


def _answer_to(query: dns.message.Message, wire: bytes) -> dns.message.Message | None:
    """A datagram as the answer to ``query``, or None: garbage on our port, or
    a reply to another question (wrong ID, another name), answers nothing.

    dnspython raises its own errors for most malformed messages and a few
    plain ones (ValueError, IndexError, UnicodeError) for some; whatever it
    raises, the datagram is not an answer, and we keep listening.
    """
    try:
        reply = dns.message.from_wire(wire)
        return reply if query.is_response(reply) else None
    except Exception:  # noqa: BLE001 -- any parse failure means "not an answer"
        return None


Exchange = Callable[[dns.message.Message, Resolver, float], Awaitable[dns.message.Message]]
"""One question to one resolver within a timeout: the reply, or an exception."""


class NameResolver(Protocol):
    """What a round needs from DNS: every name through every resolver.

    ``run_round`` takes one as it takes its TCP prober; ``DnsProber`` is the
    real one, a test passes its own.
    """

    async def resolve_all(self, names: Sequence[str], resolvers: Sequence[Resolver],
                          timeout: float, *, aaaa: bool = False,
                          limit: asyncio.Semaphore | None = None) -> list[DnsResult]:
        """One result per (name, resolver), ordered name-major; never raises
        for what a network or a resolver does."""
        ...


async def exchange(query: dns.message.Message, resolver: Resolver,
                   timeout: float) -> dns.message.Message:
    """One question, UDP with one retransmission, TCP when truncated.

    The timeout and the retransmission go by the loop's stall clock
    (``probe.probers.stallclock``): time during which the event loop was
    blocked is not the resolver's, and does not turn an answer into a timeout.
    Each attempt ends by itself at the deadline; the answer of either wins.
    """
    clock = stallclock.for_running_loop()
    with clock.held():
        deadline = clock.now() + timeout
        first_send_ns: list[int] = []

        async def attempt() -> dns.message.Message:
            reply = await _udp(query, resolver, clock, deadline, first_send_ns)
            if reply.flags & dns.flags.TC:
                reply = await clock.wait_for(
                    dns.asyncquery.tcp(query, resolver.address, port=resolver.port),
                    deadline - clock.now())
                reply.time = (STAMPS.monotonic() - first_send_ns[0]) / 1e9
            return reply

        pending = {asyncio.ensure_future(attempt())}
        retransmit_at = clock.now() + timeout / 2
        retransmitted = False
        try:
            while pending:
                wait = None if retransmitted else max(retransmit_at - clock.now(), 0)
                done, pending = await asyncio.wait(pending, timeout=wait,
                                                   return_when=asyncio.FIRST_COMPLETED)
                # Read every outcome, so that no failure is left for asyncio to log.
                outcomes = [(task, task.exception()) for task in done]
                for task, exc in outcomes:
                    if exc is None:
                        return task.result()
                for _task, exc in outcomes:
                    if not isinstance(exc, dns.exception.Timeout | TimeoutError):
                        raise exc  # type: ignore[misc]
                now = clock.now()
                if not retransmitted and (now >= retransmit_at or not pending) \
                        and now < deadline:
                    retransmitted = True
                    pending.add(asyncio.ensure_future(attempt()))
            raise _NoAnswer
        finally:
            for task in pending:
                task.cancel()
                task.add_done_callback(_forget)


def _forget(task: asyncio.Future[dns.message.Message]) -> None:
    """Retrieve what a cancelled attempt ended with: it no longer matters, and
    unretrieved, asyncio would log it with a traceback."""
    if not task.cancelled():
        task.exception()


class DnsProber:
    """The real ``NameResolver``: dnspython's messages over our own UDP
    exchange (``exchange``), TCP when truncated.

    ``max_addresses`` caps the addresses kept (and so probed) per name: a
    name answering with thousands would make a round probe thousands. The
    lowest ones in address order are kept, so that every resolver and every
    round probe the same ones. ``exchange`` is the seam for tests that hand
    in replies or exceptions without a socket.
    """

    def __init__(self, *, max_addresses: int = DEFAULT_MAX_ADDRESSES,
                 exchange: Exchange = exchange, hosts_file: Path | str = HOSTS_FILE) -> None:
        if max_addresses < 1:
            raise ValueError(f"max_addresses must be >= 1, got {max_addresses}")
        self.max_addresses = max_addresses
        self._exchange = exchange
        self.hosts_file = hosts_file

    def _hosts(self) -> Mapping[str, tuple[str, ...]] | str:
        """The hosts file's names, or why it cannot be read (read once a round)."""
        try:
            return read_hosts(self.hosts_file)
        except InputError as exc:
            return str(exc)

    async def resolve(self, name: str, resolver: Resolver, timeout: float, *,
                      aaaa: bool = False,
                      hosts: Mapping[str, tuple[str, ...]] | str | None = None) -> DnsResult:
        """Ask one resolver about one name; never raises for what the network,
        the resolver or its answers do. Special names (RFC 6761) and the
        ``hosts`` resolver are answered here (``local_result``)."""
        if special_answer(name) is not None or resolver.is_hosts_file:
            local = local_result(name, resolver, aaaa=aaaa,
                                 hosts=self._hosts() if hosts is None else hosts)
            if local is not None:
                return cap(local, self.max_addresses)
        rdtypes = [dns.rdatatype.A, dns.rdatatype.AAAA] if aaaa else [dns.rdatatype.A]
        queries = [dns.message.make_query(name, rdtype) for rdtype in rdtypes]
        # Without a wire time (a timeout, an error), the duration is the time the
        # loop could see: a blocked loop does not make a timeout look longer.
        clock = stallclock.for_running_loop()
        with clock.held():
            start = clock.now()
            outcomes = await asyncio.gather(
                *(self._exchange(q, resolver, timeout) for q in queries), return_exceptions=True)
            duration = clock.now() - start
        result = _result(name, resolver, timeout, rdtypes, outcomes, duration)
        return cap(result, self.max_addresses)

    async def resolve_all(self, names: Sequence[str], resolvers: Sequence[Resolver],
                          timeout: float, *, aaaa: bool = False,
                          limit: asyncio.Semaphore | None = None) -> list[DnsResult]:
        """Every name through every resolver, concurrently; ordered name-major."""
        gate = limit or asyncio.Semaphore(256)
        hosts = self._hosts() if any(r.is_hosts_file for r in resolvers) else {}

        async def one(name: str, resolver: Resolver) -> DnsResult:
            async with gate:
                return await self.resolve(name, resolver, timeout, aaaa=aaaa, hosts=hosts)

        return list(await asyncio.gather(*(one(n, r) for n in names for r in resolvers)))


def local_result(name: str, resolver: Resolver, *, aaaa: bool,
                 hosts: Mapping[str, tuple[str, ...]] | str) -> DnsResult | None:
    """Pure: the answer this host gives itself, or None when ``resolver`` must be asked.

    An RFC 6761 special name is answered the same on every resolver (localhost
    names are loopback, ``.invalid`` names do not exist); the ``hosts``
    resolver answers from ``hosts`` (the parsed file, or why it could not be
    read): a name it does not list is NXDOMAIN there.
    """
    plain = _plain(name)
    special = special_answer(plain, aaaa=aaaa)
    if special is not None:
        found, detail = special.addresses, special.detail
    elif not resolver.is_hosts_file:
        return None
    elif isinstance(hosts, str):
        return DnsResult(plain, resolver.label, DnsStatus.ERROR, None, (), (), 0.0, hosts)
    else:
        listed = hosts.get(plain, ())
        found = tuple(a for a in listed if aaaa or ":" not in a)
        if listed and not found:
            return DnsResult(plain, resolver.label, DnsStatus.NODATA, "NOERROR", (), (), 0.0,
                             "only IPv6 addresses in the hosts file (aaaa = false)")
        detail = "" if found else "not in the hosts file"
    status = DnsStatus.OK if found else DnsStatus.NXDOMAIN
    rcode = "NOERROR" if found else "NXDOMAIN"
    return DnsResult(plain, resolver.label, status, rcode, found, (), 0.0, detail)


def cap(result: DnsResult, most: int) -> DnsResult:
    """Pure: keep the ``most`` lowest addresses, and say so in the detail.

    With IPv4 and IPv6 in one answer, the lowest of each family are taken in
    turn, so that a name with more IPv4 addresses than the cap still has its
    IPv6 side probed (``aaaa = true``).
    """
    if len(result.addresses) <= most:
        return result
    ordered = sorted(result.addresses, key=_address_order)
    families = [[a for a in ordered if ":" not in a], [a for a in ordered if ":" in a]]
    if all(families):
        turns = [a for pair in itertools.zip_longest(*families) for a in pair if a is not None]
        kept = tuple(sorted(turns[:most], key=_address_order))
        how = "the lowest of IPv4 and IPv6 in turn"
    else:
        kept = tuple(ordered[:most])
        how = "in address order"
    detail = (f"the answer holds {len(result.addresses)} addresses; probing the first "
              f"{most} {how} ([dns] max_addresses)")
    return replace(result, addresses=kept, addresses_dropped=len(result.addresses) - most,
                   detail=detail)


def _address_order(address: str) -> tuple[int, int]:
    ip = ipaddress.ip_address(address)
    return ip.version, int(ip)


def _result(name: str, resolver: Resolver, timeout: float, rdtypes: Sequence[int],
            outcomes: Sequence[dns.message.Message | BaseException],
            duration: float) -> DnsResult:
    """Pure: what the answers (or failures) to the A (and AAAA) questions add up to.

    The A question's rcode is the one reported, and only a name that
    resolves (``ok``) carries addresses; they count only from NOERROR
    answers. A broken chain (loop, too long) is an error unless the other
    question found addresses.
    """
    on_the_wire = [o.time for o in outcomes if isinstance(o, dns.message.Message) and o.time]
    if on_the_wire and len(on_the_wire) == len(outcomes):
        duration = max(on_the_wire)  # every question answered: the wire time is the truth

    addresses: list[str] = []
    chain: list[str] = []
    notes: list[str] = []
    rcode: dns.rcode.Rcode | None = None
    failure: tuple[DnsStatus, str] | None = None
    for rdtype, outcome in zip(rdtypes, outcomes, strict=True):
        if isinstance(outcome, dns.message.Message):
            reading = read_response(outcome, rdtype)
            if outcome.rcode() == dns.rcode.NOERROR:
                addresses.extend(a for a in reading.addresses if a not in addresses)
            chain.extend(c for c in reading.chain if c not in chain)
            if reading.problem and reading.problem not in notes:
                notes.append(reading.problem)
            if rcode is None or rdtype == dns.rdatatype.A:
                rcode = outcome.rcode()
        elif failure is None and rdtype == dns.rdatatype.A:
            failure = translate(outcome, timeout)

    plain = _plain(name)
    if rcode is None or (failure is not None and rcode == dns.rcode.NOERROR
                          and not addresses):
        status, detail = failure or (DnsStatus.ERROR, "no answer")
        return DnsResult(plain, resolver.label, status, None, (), (), duration, detail)
    status = status_of(rcode, addresses)
    broken = [n for n in notes if n != REFERRAL]
    if broken and not addresses:
        status = DnsStatus.ERROR
    detail = "; ".join(broken or notes) if not addresses else ""
    if status is not DnsStatus.OK:
        addresses = []  # AAAA records beside an A SERVFAIL say nothing we would probe
    return DnsResult(plain, resolver.label, status, dns.rcode.to_text(rcode),
                     tuple(addresses), tuple(chain), duration, detail)


def translate(exc: BaseException, timeout: float) -> tuple[DnsStatus, str]:
    """The one place where what an exchange raised becomes a DNS status and detail.

    Timeouts are ``timeout``; everything else a resolver, a network or a
    malformed answer can cause is ``error`` with what happened. An exception
    no branch knows is still an ``error`` (named by its type): one hostile
    answer must not end a round. Only cancellation and interpreter exits
    (not ``Exception``) pass through.
    """
    if not isinstance(exc, Exception):
        raise exc
    if isinstance(exc, _NoAnswer | dns.exception.Timeout | TimeoutError):
        return DnsStatus.TIMEOUT, f"no answer within {timeout:g} s"
    if isinstance(exc, ConnectionRefusedError):
        return DnsStatus.ERROR, "ICMP port unreachable: nothing listens on the resolver's port"
    if isinstance(exc, EOFError | ConnectionResetError | BrokenPipeError):
        return DnsStatus.ERROR, ("the resolver closed the TCP connection before a whole "
                                 "answer (after a truncated UDP answer)")
    if isinstance(exc, OSError):
        return DnsStatus.ERROR, exc.strerror or str(exc)
    if isinstance(exc, dns.exception.DNSException):
        return DnsStatus.ERROR, f"bad response: {exc}"
    return DnsStatus.ERROR, f"bad response: {type(exc).__name__}: {exc}"


def _plain(name: str) -> str:
    return name.rstrip(".").lower()
