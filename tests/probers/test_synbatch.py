"""Pure tests of a SYN batch's matching, waves and pacing: no sockets."""

from __future__ import annotations

import itertools
import socket
import time

import pytest

from probe.probers.classify import classify_connect_errno
from probe.probers.packet import Answer, SynTemplate
from probe.probers.synbatch import Batch, Pacer, Plan, waves
from probe.results import NO_RESPONSE, PortState, TcpJob

US, TARGET, ROUTER = "198.19.1.10", "198.19.2.10", "198.19.1.1"
T = SynTemplate.for_pair(socket.inet_aton(US), socket.inet_aton(TARGET))
MS = 1_000_000


def tcp_answer(sport: int, dport: int, seq: int, flags: int, ttl: int = 61) -> Answer:
    return Answer(T.key(sport, dport, seq), "tcp", flags, socket.inet_aton(TARGET), ttl)


def icmp_answer(sport: int, dport: int, seq: int, icmp_type: int, code: int) -> Answer:
    return Answer(T.key(sport, dport, seq), "icmp", icmp_type << 8 | code,
                  socket.inet_aton(ROUTER), 64)


def test_syn_ack_rst_and_silence() -> None:
    batch = Batch(3, 1000 * MS)
    batch.sent(0, T.key(40000, 443, 11), 5_000 * MS)
    batch.sent(1, T.key(40001, 8080, 22), 5_000 * MS)
    batch.sent(2, T.key(40002, 1433, 33), 5_000 * MS)
    assert batch.receive(tcp_answer(40000, 443, 11, 0x12), 5_002 * MS) == "answer"
    assert batch.receive(tcp_answer(40001, 8080, 22, 0x14), 5_001 * MS) == "answer"
    opened, closed, silent = batch.attempts()
    assert (opened.state, opened.reason, opened.responder, opened.reply_ttl) == (
        PortState.OPEN, "syn-ack", TARGET, 61)
    assert opened.rtt_seconds == pytest.approx(0.002)
    assert (closed.state, closed.reason) == (PortState.CLOSED, "reset")
    assert (silent.state, silent.reason, silent.rtt_seconds) == (
        PortState.FILTERED, NO_RESPONSE, None)
    assert not batch.done


@pytest.mark.parametrize(("icmp_type", "code", "reason"), [
    (3, 0, "net-unreach"), (3, 1, "host-unreach"), (3, 2, "proto-unreach"),
    (3, 3, "port-unreach"), (3, 9, "net-prohibited"), (3, 10, "host-prohibited"),
    (3, 13, "admin-prohibited"), (11, 0, "time-exceeded")])
def test_icmp_errors_are_filtered_with_reason(icmp_type: int, code: int, reason: str) -> None:
    batch = Batch(1, 1000 * MS)
    batch.sent(0, T.key(40000, 7000, 5), 0)
    assert batch.receive(icmp_answer(40000, 7000, 5, icmp_type, code), 3 * MS) == "answer"
    (attempt,) = batch.attempts()
    assert (attempt.state, attempt.reason, attempt.responder, attempt.reply_ttl) == (
        PortState.FILTERED, reason, ROUTER, 64)
    assert batch.done


def test_spoofed_answers_change_nothing_and_are_counted() -> None:
    batch = Batch(1, 1000 * MS)
    batch.sent(0, T.key(40000, 1433, 1000), 0)
    spoofs = [
        tcp_answer(40000, 1433, 999, 0x12),  # wrong cookie
        tcp_answer(40000, 1433, 1001, 0x14),
        tcp_answer(40001, 1433, 1000, 0x12),  # wrong source port
        tcp_answer(40000, 1434, 1000, 0x14),  # wrong target port
        Answer((socket.inet_aton(ROUTER) + socket.inet_aton(US), 1433, 40000, 1000), "tcp",
               0x12, socket.inet_aton(ROUTER), 64),  # wrong target address
        icmp_answer(40000, 1433, 1234, 3, 3),  # ICMP quoting another sequence number
    ]
    for spoof in spoofs:
        assert batch.receive(spoof, 1 * MS) == "unsolicited"
    assert batch.unsolicited == len(spoofs)
    (attempt,) = batch.attempts()
    assert attempt.reason == NO_RESPONSE


def test_first_answer_wins_and_late_ones_do_not_count() -> None:
    batch = Batch(2, 100 * MS)
    batch.sent(0, T.key(40000, 443, 1), 0)
    batch.sent(1, T.key(40001, 443, 2), 0)
    assert batch.receive(tcp_answer(40000, 443, 1, 0x12), 1 * MS) == "answer"
    assert batch.receive(tcp_answer(40000, 443, 1, 0x14), 2 * MS) == "duplicate"
    assert batch.receive(tcp_answer(40001, 443, 2, 0x12), 101 * MS) == "late"
    first, second = batch.attempts()
    assert first.reason == "syn-ack"
    assert second.reason == NO_RESPONSE
    assert (batch.duplicates, batch.late, batch.unsolicited) == (1, 1, 0)


def test_previous_batch_answers_are_late_not_unsolicited() -> None:
    batch = Batch(1, 100 * MS)
    expired = {T.key(40000, 443, 1): 0}
    assert batch.receive(tcp_answer(40000, 443, 1, 0x12), 0, expired) == "late"
    assert batch.receive(tcp_answer(40000, 443, 9, 0x12), 0, expired) == "unsolicited"


def test_non_answers_are_ignored() -> None:
    batch = Batch(1, 100 * MS)
    batch.sent(0, T.key(40000, 443, 1), 0)
    assert batch.receive(tcp_answer(40000, 443, 1, 0x02), 0) == "ignored"  # a bare SYN
    assert batch.receive(tcp_answer(40000, 443, 1, 0x10), 0) == "ignored"  # a bare ACK
    assert batch.receive(icmp_answer(40000, 443, 1, 5, 1), 0) == "ignored"  # redirect
    assert batch.unsolicited == 0
    assert batch.attempts()[0].reason == NO_RESPONSE


def test_local_verdicts_settle_without_packet() -> None:
    batch = Batch(1, 100 * MS)
    batch.settle(0, classify_connect_errno(13, local=True))  # EACCES: prohibit route
    assert batch.done
    assert batch.attempts()[0].reason == "local-prohibited"


def plans(*counts: int) -> list[Plan]:
    out, slot = [], 0
    for i, count in enumerate(counts):
        out.append(Plan(TcpJob(TARGET, 1000 + i, count), slot, T, None))
        slot += count
    return out


def test_waves_put_attempt_k_of_every_job_in_wave_k() -> None:
    ps = plans(3, 1, 2)
    ps.append(Plan(TcpJob("198.19.5.1", 80, 2), 6, None, 13))  # no route: never sent
    assert [[slot for slot, _ in wave] for wave in waves(ps)] == [[0, 3, 4], [1, 5], [2]]


class Recorder:
    """Stands in for the raw socket's send: records when each slot would leave."""

    def __init__(self) -> None:
        self.sent: list[tuple[int, int]] = []

    def __call__(self, batch: Batch, slot: int, plan: Plan) -> int | None:
        self.sent.append((slot, time.monotonic_ns()))
        return None


def drive(pacer: Pacer) -> None:
    batch = Batch(100, MS)
    while pacer.sending:
        wait = pacer.step(batch)
        if wait:
            time.sleep(wait / 1e9)


def test_pacer_respects_rate_and_spacing() -> None:
    recorder = Recorder()
    start = time.monotonic_ns()
    drive(Pacer(waves(plans(*[3] * 10)), 500.0, 100 * MS, recorder))  # 3 waves of 10
    times = dict(recorder.sent)
    assert sorted(times) == list(range(30))
    elapsed = (max(times.values()) - start) / 1e9
    # 30 SYNs at 500/s take >= 58 ms; the spacing makes it >= 200 ms.
    assert elapsed >= 0.2
    for job in range(10):
        slots = [job * 3 + k for k in range(3)]
        gaps = [times[b] - times[a] for a, b in itertools.pairwise(slots)]
        assert min(gaps) >= 90 * MS, gaps  # one job's attempts are spread


def test_pacer_rate_cap_holds_within_a_wave() -> None:
    recorder = Recorder()
    start = time.monotonic_ns()
    drive(Pacer(waves(plans(*[1] * 50)), 1000.0, 0, recorder))
    elapsed = (recorder.sent[-1][1] - start) / 1e9
    assert elapsed >= 0.045  # 50 SYNs at 1000/s, 1 credit up front and a 5-SYN burst at most


def test_kernel_send_stamp_replaces_ours_even_after_the_answer() -> None:
    batch = Batch(2, 1000 * MS)
    batch.sent(0, T.key(40000, 443, 1), 100 * MS)
    batch.sent(1, T.key(40001, 443, 2), 100 * MS)
    batch.receive(tcp_answer(40000, 443, 1, 0x12), 150 * MS)
    batch.sent_at(T.key(40000, 443, 1), 110 * MS)  # read after the answer
    batch.sent_at(T.key(40009, 443, 9), 110 * MS)  # not ours: ignored
    first, second = batch.attempts()
    assert first.rtt_seconds == pytest.approx(0.040)
    assert second.rtt_seconds is None
    assert batch.kernel_tx == 1
