"""Send forged answers at a prober's source ports (run inside another namespace).

    syn_spoof.py '{"client": "198.18.1.10", "ports": [lo, hi], "target": "198.18.2.12",
                   "tport": 1433, "icmp_from": "198.18.1.1", "duration": 2.0}'

For every port in [lo, hi], round after round until ``duration`` is over:
a SYN-ACK and a RST from target:tport with random sequence/ack numbers, and
an ICMP port-unreachable from icmp_from quoting a TCP SYN client:port ->
target:tport with a random sequence number. None of them can carry the
prober's cookie. Prints {"sent": n}.
"""

from __future__ import annotations

import json
import random
import socket
import sys
import time

from scapy.layers.inet import ICMP, IP, TCP  # the IP layers only: scapy.all is slow


def main() -> None:
    spec = json.loads(sys.argv[1])
    client, (low, high) = spec["client"], spec["ports"]
    target, tport = spec["target"], int(spec["tport"])
    rng = random.Random()
    sock = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_RAW)
    sent = 0
    end = time.monotonic() + float(spec["duration"])
    while time.monotonic() < end:
        for port in range(low, high + 1):
            seq, ack = rng.getrandbits(32), rng.getrandbits(32)
            packets = [
                IP(src=target, dst=client) / TCP(sport=tport, dport=port, flags="SA",
                                                 seq=seq, ack=ack),
                IP(src=target, dst=client) / TCP(sport=tport, dport=port, flags="RA",
                                                 seq=0, ack=ack),
                IP(src=spec["icmp_from"], dst=client) / ICMP(type=3, code=3)
                / bytes(IP(src=client, dst=target) / TCP(sport=port, dport=tport, flags="S",
                                                         seq=seq))[:28],
            ]
            for packet in packets:
                sock.sendto(bytes(packet), (client, 0))
                sent += 1
        time.sleep(0.05)
    print(json.dumps({"sent": sent}), flush=True)


if __name__ == "__main__":
    main()
