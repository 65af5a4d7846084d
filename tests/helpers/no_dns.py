"""Run the CLI with every name-lookup call of the socket module failing loudly.

    python tests/helpers/no_dns.py -c FILE --listen 127.0.0.1:0

A lookup prints ``NAME LOOKUP: getfqdn(...)`` on stderr and raises, so a test
sees both the attempt and its consequence. Numeric addresses do not count:
getaddrinfo with AI_NUMERICHOST semantics (an IP literal) asks no server, and
is left alone.
"""

from __future__ import annotations

import socket
import sys
from typing import Any


def _refuse(name: str) -> Any:
    def lookup(*args: Any, **kwargs: Any) -> Any:
        print(f"NAME LOOKUP: {name}{args}", file=sys.stderr, flush=True)
        raise OSError(f"{name} must not be called")
    return lookup


for _name in ("getfqdn", "gethostbyaddr", "gethostbyname", "gethostbyname_ex", "getnameinfo"):
    setattr(socket, _name, _refuse(_name))

if __name__ == "__main__":
    from probe.cli import main

    raise SystemExit(main(sys.argv[1:]))
