"""Listen on address:port... and accept forever (a target for open ports).

Prints "ready" once every port listens, so the caller knows when to start.
Accepted connections are closed at once; the SYN engine never completes a
handshake anyway (its kernel answers the SYN-ACK with a RST).
"""

from __future__ import annotations

import selectors
import socket
import sys


def main() -> None:
    address, ports = sys.argv[1], [int(p) for p in sys.argv[2:]]
    sel = selectors.DefaultSelector()
    for port in ports:
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind((address, port))
        s.listen(4096)
        s.setblocking(False)
        sel.register(s, selectors.EVENT_READ)
    print("ready", flush=True)
    while True:
        for key, _ in sel.select():
            sock = key.fileobj
            assert isinstance(sock, socket.socket)
            try:
                conn, _ = sock.accept()
            except BlockingIOError:
                continue
            conn.close()


if __name__ == "__main__":
    main()
