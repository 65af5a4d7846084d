"""HTTP(S) health check: GET one URL, e.g. the gateway's /status-0123456789abcdef.

A TCP SYN-ACK on 443 says something listens; only a request says the gateway
serves. Stdlib only (http.client + ssl). Certificates are verified by default
(an internal-mode gateway with a certificate the VNet's machines do not
trust is a finding too); ``verify=False`` turns that off for a lab or a
private CA not installed on the probe host.

``address`` lets a check connect to one resolved address while sending the
URL's hostname in SNI and Host, so every address of a name is checked, as
the TCP round does. Failures are data (``HttpResult.reason``), never
exceptions: the reason vocabulary follows the TCP one where it overlaps
(conn-refused, no-response, host-unreach, ...).
"""

from __future__ import annotations

import asyncio
import errno
import http.client
import socket
import ssl
import time
from collections.abc import Sequence
from urllib.parse import urlsplit

from probe.results import NO_RESPONSE, HttpResult

__all__ = ["HttpResult", "check", "check_all"]


_ERRNO_REASONS: dict[int, str] = {
    errno.ECONNREFUSED: "conn-refused",
    errno.ECONNRESET: "reset",
    errno.EHOSTUNREACH: "host-unreach",
    errno.ENETUNREACH: "net-unreach",
    errno.ETIMEDOUT: NO_RESPONSE,
    errno.EPERM: "local-prohibited",
    errno.EACCES: "local-prohibited",
}


def reason_for(exc: BaseException) -> str:
    """The reason word for a failed check (pure)."""
    if isinstance(exc, ssl.SSLCertVerificationError):
        return f"certificate: {exc.verify_message or exc.reason or 'verification failed'}"
    if isinstance(exc, ssl.SSLError):
        return f"tls-error: {exc.reason or exc.__class__.__name__}"
    if isinstance(exc, TimeoutError | socket.timeout):
        return NO_RESPONSE
    if isinstance(exc, http.client.HTTPException):
        return f"bad-response: {exc.__class__.__name__}"
    if isinstance(exc, socket.gaierror):
        return "unresolved"
    if isinstance(exc, OSError) and exc.errno in _ERRNO_REASONS:
        return _ERRNO_REASONS[exc.errno]
    if isinstance(exc, OSError):
        return f"error: {exc.strerror or exc}"
    return f"error: {exc}"


def split_url(url: str) -> tuple[str, str, int, str]:
    """(scheme, host, port, path with query) of an http or https URL."""
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"expected an http:// or https:// URL, got {url!r}")
    port = parts.port or (443 if scheme == "https" else 80)
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    return scheme, parts.hostname, port, path


def check(url: str, *, address: str | None = None, timeout: float = 5.0, verify: bool = True,
          cafile: str | None = None, expect: int = 200) -> HttpResult:
    """GET ``url`` (through ``address`` when given). Blocking: use a thread in async code.

    ``cafile``: PEM bundle to trust instead of the system's (a private CA).
    """
    scheme, host, port, path = split_url(url)
    started = time.perf_counter()
    tls: str | None = None
    connection: http.client.HTTPConnection | None = None
    try:
        raw = socket.create_connection((address or host, port), timeout=timeout)
        sock: socket.socket = raw
        if scheme == "https":
            context = ssl.create_default_context(cafile=cafile)
            if not verify:
                context.check_hostname = False
                context.verify_mode = ssl.CERT_NONE
            try:
                sock = context.wrap_socket(raw, server_hostname=host)
            except (ssl.SSLError, OSError):
                raw.close()
                raise
            tls = sock.version() if isinstance(sock, ssl.SSLSocket) else None
        connection = http.client.HTTPConnection(host, port, timeout=timeout)
        # A connected (and verified) socket: http.client sends Host from `host`.
        connection.sock = sock
        connection.request("GET", path, headers={"User-Agent": "apim-probe",
                                                 "Connection": "close"})
        response = connection.getresponse()
        response.read(65536)
        status = response.status
        return HttpResult(url, address, status, status == expect,
                          f"{status} {response.reason}".strip(),
                          time.perf_counter() - started, tls)
    except (OSError, http.client.HTTPException) as exc:  # ssl.SSLError is an OSError
        return HttpResult(url, address, None, False, reason_for(exc),
                          time.perf_counter() - started, tls)
    finally:
        if connection is not None:
            connection.close()


async def check_all(url: str, addresses: Sequence[str] = (), *, timeout: float = 5.0,
                    verify: bool = True, cafile: str | None = None,
                    expect: int = 200) -> tuple[HttpResult, ...]:
    """``check`` through each address side by side (through the name when none).

    Each check runs in a thread with socket timeouts (the kernel's poll), not
    an event-loop timer: a blocked event loop cannot turn a served request into
    ``no-response``, so these need no stall clock (``probe.probers.stallclock``).
    """
    targets: list[str | None] = list(dict.fromkeys(addresses)) or [None]
    return tuple(await asyncio.gather(*(
        asyncio.to_thread(check, url, address=a, timeout=timeout, verify=verify, cafile=cafile,
                          expect=expect) for a in targets)))
