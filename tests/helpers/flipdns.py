"""A VNet's own DNS server for tests/helpers/fleetlab.py: answers one name with
one address, or SERVFAIL for every question while a flag file says
"servfail" (the custom DNS server that lost its forwarder). UDP and TCP on one
address, port 53, inside the VNet's namespace.

    python flipdns.py LISTEN NAME ADDRESS FLAGFILE
"""

from __future__ import annotations

import socketserver
import sys
import threading
from pathlib import Path

import dns.message
import dns.rcode
import dns.rdatatype
import dns.rrset


def answer(wire: bytes, name: str, address: str, flag: Path) -> bytes:
    query = dns.message.from_wire(wire)
    response = dns.message.make_response(query)
    try:
        failing = flag.read_text(encoding="utf-8").strip() == "servfail"
    except OSError:
        failing = False
    question = query.question[0] if query.question else None
    if failing:
        response.set_rcode(dns.rcode.SERVFAIL)
    elif question is not None and question.name.to_text(omit_final_dot=True) == name:
        if question.rdtype == dns.rdatatype.A:
            response.answer.append(dns.rrset.from_text(question.name, 30, "IN", "A", address))
    else:
        response.set_rcode(dns.rcode.NXDOMAIN)
    return response.to_wire()


def main(listen: str, name: str, address: str, flag_path: str) -> None:
    flag = Path(flag_path)

    class Udp(socketserver.BaseRequestHandler):
        def handle(self) -> None:
            data, sock = self.request
            sock.sendto(answer(data, name, address, flag), self.client_address)

    class Tcp(socketserver.StreamRequestHandler):
        def handle(self) -> None:
            size = int.from_bytes(self.rfile.read(2), "big")
            out = answer(self.rfile.read(size), name, address, flag)
            self.wfile.write(len(out).to_bytes(2, "big") + out)

    socketserver.ThreadingUDPServer.allow_reuse_address = True
    socketserver.ThreadingTCPServer.allow_reuse_address = True
    udp = socketserver.ThreadingUDPServer((listen, 53), Udp)
    tcp = socketserver.ThreadingTCPServer((listen, 53), Tcp)
    threading.Thread(target=tcp.serve_forever, daemon=True).start()
    udp.serve_forever()



if __name__ == "__main__":
    main(*sys.argv[1:5])
