"""The agent: rounds on a schedule, /metrics and a health endpoint, signals.

    probe -c /etc/apim-probe/probe.toml [--listen HOST:PORT] [--log-format json|text]

* Rounds run one after the other, every ``agent.interval`` seconds plus a
  little jitter; a round slower than the interval is followed by a short
  rest, never by a burst of catch-up rounds (``next_start``).
* ``/metrics`` (Prometheus), ``/healthz`` and ``/-/healthy`` (200 while the
  last round is fresh, 503 once it is older than three intervals, ``health``)
  are served from a thread; nothing a request says chooses a target.
* SIGHUP reloads the config through the same loader as start-up: a bad
  config is logged and rejected, the running one stays, and
  ``apim_probe_config_last_reload_successful`` says 0. SIGTERM and SIGINT
  cancel the round in flight and stop.
* One structured line per event on stderr (``format_event``).

The decisions (when to start, whether rounds are fresh, whether a request is
authorised, what changed between rounds) are pure functions; the ``Agent``
only drives I/O around them.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import errno
import gzip
import hmac
import json
import os
import random
import signal
import socket
import ssl
import sys
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from socketserver import ThreadingMixIn
from typing import Any, TextIO
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from prometheus_client import CollectorRegistry, PlatformCollector, ProcessCollector
from prometheus_client.exposition import CONTENT_TYPE_PLAIN_0_0_4

from probe import __version__, hostinfo
from probe.addresses import is_ip, split_host_port
from probe.config import Config
from probe.errors import ProbeError, UsageError
from probe.exporters import prometheus
from probe.fullround import complete_round
from probe.preflight import Access, access_from
from probe.probers import TcpProber, make_prober, raw_allowed
from probe.results import RoundResult

JITTER = 0.05  # +-5 % of the interval, so many agents do not probe in lockstep
STALE_INTERVALS = 3
STOP_GRACE = 1.0  # seconds the cancelled round may take to unwind
HEALTH_PATHS = ("/healthz", "/-/healthy")

# --------------------------------------------------------------------------
# pure decisions


def next_start(previous_start: float, finished: float, interval: float, jitter: float) -> float:
    """When the next round starts (monotonic seconds).

    ``jitter`` is a fraction of the interval (drawn by the caller, e.g. in
    [-0.05, 0.05]). A round that overran its interval is followed by a rest of
    a tenth of the interval (at most 5 s): missed ticks are skipped, never
    caught up, so rounds cannot pile up.
    """
    ideal = previous_start + interval * (1.0 + jitter)
    rest = min(interval / 10.0, 5.0)
    return max(ideal, finished + rest)


def health(now: float, started: float, last_finished: float | None, interval: float,
           last_duration: float = 0.0) -> tuple[bool, str]:
    """Whether the agent is fresh: the last round (or the start, before the
    first round) is at most three intervals old (or three round durations,
    when rounds take longer than the interval)."""
    limit = STALE_INTERVALS * max(interval, last_duration)
    since = now - (last_finished if last_finished is not None else started)
    if last_finished is None:
        if since <= limit:
            return True, f"starting: no round finished yet ({since:.1f} s since start)"
        return False, f"stale: no round finished in {since:.1f} s (limit {limit:g} s)"
    if since <= limit:
        return True, f"ok: last round finished {since:.1f} s ago"
    return False, f"stale: last round finished {since:.1f} s ago (limit {limit:g} s)"


def basic_auth_ok(header: str | None, user: str, password: bytes) -> bool:
    """Whether an Authorization header carries this user and password.

    Both halves are compared in constant time, whatever the first one says.
    """
    if not header or header[:6].lower() != "basic ":
        return False
    try:
        decoded = base64.b64decode(header[6:].strip(), validate=True)
    except (binascii.Error, ValueError):
        return False
    given_user, sep, given_password = decoded.partition(b":")
    user_ok = hmac.compare_digest(given_user, user.encode("utf-8"))
    password_ok = hmac.compare_digest(given_password, password)
    return bool(sep) and user_ok and password_ok


def parse_listen(text: str) -> tuple[str, int]:
    """'HOST:PORT' or '[V6]:PORT'; port 0 picks a free port (tests)."""
    if text.endswith(":0"):
        host, port = text[:-2], 0
        if host.startswith("[") and host.endswith("]"):
            host = host[1:-1]
    else:
        try:
            parsed_host, parsed_port = split_host_port(text)
        except ValueError as exc:
            raise UsageError(f"--listen {text!r}: expected HOST:PORT ({exc})") from None
        if parsed_port is None:
            raise UsageError(f"--listen {text!r}: expected HOST:PORT (the port is missing)")
        host, port = parsed_host, parsed_port
    return host, port


def transitions(previous: RoundResult | None, current: RoundResult) -> list[dict[str, Any]]:
    """Target addresses whose state changed since the previous round."""
    if previous is None:
        return []
    before = {(r.target, r.address or ""): r for r in previous.tcp}
    out = []
    for row in current.tcp:
        old = before.get((row.target, row.address or ""))
        if old is not None and (old.state, old.reason) != (row.state, row.reason):
            out.append({"target": row.target, "address": row.address or "", "port": row.port,
                        "from": old.state.value, "to": row.state.value, "reason": row.reason,
                        "ok": row.ok})
    return out


def _logfmt_value(value: Any) -> str:
    text = json.dumps(value) if isinstance(value, bool) or value is None else str(value)
    if isinstance(value, float):
        text = f"{value:.6g}"
    if not text or any(c in text for c in ' ="\\') or not text.isprintable():
        return json.dumps(text)
    return text


_PRIORITY = {"error": 3, "warning": 4, "info": 6}


def format_event(fmt: str, when: float, level: str, event: str, fields: dict[str, Any],
                 *, journal: bool = False) -> str:
    """One log line. ``text`` is logfmt without a time (journald stamps it);
    ``json`` carries an ISO 8601 UTC time for collectors that do not. With
    ``journal`` (stderr is the journal) a ``<N>`` prefix gives journald the
    syslog priority, so ``journalctl -p warning`` finds the warnings."""
    prefix = f"<{_PRIORITY.get(level, 6)}>" if journal else ""
    if fmt == "json":
        stamp = datetime.fromtimestamp(when, UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
        return prefix + json.dumps({"time": stamp, "level": level, "event": event, **fields},
                                   default=str)
    parts = [f"level={level}", f"event={event}"]
    parts.extend(f"{k}={_logfmt_value(v)}" for k, v in fields.items())
    return prefix + " ".join(parts)


# --------------------------------------------------------------------------
# logging


class EventLog:
    """Writes one line per event; safe from the HTTP threads too."""

    def __init__(self, fmt: str = "text", stream: TextIO | None = None) -> None:
        self.fmt = fmt
        self.stream = stream if stream is not None else sys.stderr
        self.journal = stream is None and _stderr_is_journal()
        self._lock = threading.Lock()

    def __call__(self, event: str, level: str = "info", **fields: Any) -> None:
        line = format_event(self.fmt, time.time(), level, event, fields, journal=self.journal)
        with self._lock:
            self.stream.write(line + "\n")
            self.stream.flush()


def _stderr_is_journal() -> bool:
    """systemd sets JOURNAL_STREAM=DEV:INODE of the stream it connected."""
    expected = os.environ.get("JOURNAL_STREAM", "")
    try:
        st = os.fstat(sys.stderr.fileno())
    except (OSError, ValueError):
        return False
    return bool(expected) and expected == f"{st.st_dev}:{st.st_ino}"


# --------------------------------------------------------------------------
# HTTP


StartResponse = Callable[..., Any]
WsgiApp = Callable[[dict[str, Any], StartResponse], Iterable[bytes]]


class Routes:
    """The WSGI app: /metrics, the health endpoints, an index; nothing else."""

    def __init__(self, metrics: WsgiApp, fresh: Callable[[], tuple[bool, str]],
                 access: Callable[[], Access]) -> None:
        self.metrics = metrics
        self.fresh = fresh
        self.access = access

    def __call__(self, environ: dict[str, Any], start: StartResponse) -> Iterable[bytes]:
        method = environ.get("REQUEST_METHOD", "GET")
        if method not in ("GET", "HEAD"):
            return _reply(start, "405 Method Not Allowed", "only GET and HEAD\n",
                          [("Allow", "GET, HEAD")])
        access = self.access()
        if access.user is not None and access.password is not None and not basic_auth_ok(
                environ.get("HTTP_AUTHORIZATION"), access.user, access.password):
            return _reply(start, "401 Unauthorized", "authentication required\n",
                          [("WWW-Authenticate", 'Basic realm="apim-probe", charset="UTF-8"')])
        path = environ.get("PATH_INFO", "/")
        if path == "/metrics":
            return self.metrics(environ, start)
        if path in HEALTH_PATHS:
            ok, why = self.fresh()
            return _reply(start, "200 OK" if ok else "503 Service Unavailable", why + "\n")
        if path == "/":
            return _reply(start, "200 OK", f"apim-probe {__version__}: /metrics, "
                                           f"{', '.join(HEALTH_PATHS)}\n")
        return _reply(start, "404 Not Found", "not found: targets come only from the config\n")


def metrics_app(exposition: prometheus.CachedExposition) -> WsgiApp:
    """/metrics: the text format (0.0.4), gzip when the scraper asks for it."""
    def app(environ: dict[str, Any], start: StartResponse) -> Iterable[bytes]:
        chunks = exposition.chunks()
        headers = [("Content-Type", CONTENT_TYPE_PLAIN_0_0_4)]
        if "gzip" in environ.get("HTTP_ACCEPT_ENCODING", ""):
            chunks = [gzip.compress(b"".join(chunks), compresslevel=1)]
            headers.append(("Content-Encoding", "gzip"))
        headers.append(("Content-Length", str(sum(len(c) for c in chunks))))
        start("200 OK", headers)
        return [] if environ.get("REQUEST_METHOD") == "HEAD" else chunks
    return app


def _reply(start: StartResponse, status: str, body: str,
           headers: Sequence[tuple[str, str]] = ()) -> list[bytes]:
    data = body.encode("utf-8")
    start(status, [("Content-Type", "text/plain; charset=utf-8"),
                   ("Content-Length", str(len(data))), *headers])
    return [data]


class _Quiet(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        """Scrapes are not events: no line per request."""


class _Server(ThreadingMixIn, WSGIServer):
    daemon_threads = True
    access: Callable[[], Access] = Access
    on_error: Callable[[str, str], None] = staticmethod(lambda error, client: None)

    def handle_error(self, request: Any, client_address: Any) -> None:
        """One log line instead of socketserver's traceback on stderr."""
        exc = sys.exc_info()[1]
        self.on_error(f"{type(exc).__name__}: {exc}", str(client_address[0]))

    def finish_request(self, request: Any, client_address: Any) -> None:
        tls = self.access().tls
        if tls is None:
            super().finish_request(request, client_address)
            return
        request.settimeout(10)  # a client that never finishes its handshake
        try:
            wrapped = tls.wrap_socket(request, server_side=True)
        except (ssl.SSLError, OSError):
            return  # not TLS, or gave up: nothing to answer
        try:
            super().finish_request(wrapped, client_address)
        finally:
            wrapped.close()


class _Server6(_Server):
    address_family = socket.AF_INET6


def bind(listen: str, app: WsgiApp, access: Callable[[], Access],
         on_error: Callable[[str, str], None] | None = None) -> _Server:
    """Bind the HTTP server; a taken port or a wrong address is a UsageError."""
    host, port = parse_listen(listen)
    cls = _Server6 if is_ip(host) and ":" in host else _Server
    try:
        server = make_server(host, port, app, server_class=cls, handler_class=_Quiet)
    except OSError as exc:
        if exc.errno == errno.EADDRINUSE:
            raise UsageError(f"cannot listen on {listen}: address already in use (another "
                             "apim-probe? choose another port with --listen or agent.listen)"
                             ) from None
        raise UsageError(f"cannot listen on {listen}: {exc.strerror or exc}") from None
    assert isinstance(server, _Server)
    server.access = access
    if on_error is not None:
        server.on_error = on_error
    return server


# --------------------------------------------------------------------------
# the agent


@dataclass(frozen=True, slots=True)
class Options:
    listen: str | None = None  # overrides agent.listen
    log_format: str = "text"
    textfile: Path | None = None


class Agent:
    """Drives rounds, reloads and the snapshot the collector shows."""

    def __init__(self, load: Callable[[], Config], options: Options, log: EventLog) -> None:
        self.load = load
        self.options = options
        self.log = log
        self.config = load()
        self.access = access_from(self.config)
        self.prober = self._prober(self.config)
        self.collector = prometheus.Exposition()  # apim_probe_*, rendered once per round
        self.collector.record_reload(True)
        self.started = time.monotonic()
        self.last_finished: float | None = None
        self.last_duration = 0.0
        self.previous: RoundResult | None = None
        self.rounds = 0
        self.retired: list[TcpProber] = []  # replaced by a reload; closed between rounds
        self._stop: asyncio.Event | None = None
        self._wake: asyncio.Event | None = None

    def _prober(self, config: Config) -> TcpProber:
        return make_prober(config.agent, warn=lambda message: self.log(
            "probe_method_fallback", "warning", message=message))

    # -- read from the HTTP threads ------------------------------------------

    def fresh(self) -> tuple[bool, str]:
        return health(time.monotonic(), self.started, self.last_finished,
                      self.config.agent.interval, self.last_duration)

    def current_access(self) -> Access:
        return self.access

    # -- signals ---------------------------------------------------------------

    def stop(self, why: str) -> None:
        if self._stop is not None and not self._stop.is_set():
            self.log("stopping", signal=why)
            self._stop.set()

    def reload(self) -> None:
        old = self.config
        try:
            config = self.load()
            access = access_from(config)
            prober = self.prober
            if (config.agent.method, config.agent.rate, config.agent.concurrency) != (
                    old.agent.method, old.agent.rate, old.agent.concurrency):
                prober = self._prober(config)
        except ProbeError as exc:
            self.collector.record_reload(False)
            self.log("reload_rejected", "error", error=str(exc),
                     keeping=old.source or "<command line>")
            return
        if prober is not self.prober:
            self.retired.append(self.prober)  # a round may still be using it
        self.config, self.access, self.prober = config, access, prober
        self.collector.record_reload(True)
        self.log("reloaded", source=config.source or "<command line>",
                 targets=len(config.targets), interval_seconds=config.agent.interval)
        if self.options.listen is None and config.agent.listen != old.agent.listen:
            self.log("listen_unchanged", "warning", configured=config.agent.listen,
                     serving=old.agent.listen, message="a new agent.listen needs a restart")
        if self._wake is not None:
            self._wake.set()  # a new interval applies from now

    def close_retired(self) -> None:
        """Close the probers a reload replaced (raw sockets, reserved ports)."""
        while self.retired:
            _close(self.retired.pop())

    # -- rounds ------------------------------------------------------------------

    async def _round(self, config: Config, prober: TcpProber) -> tuple[RoundResult,
                                                                      hostinfo.HostInfo]:
        result = await complete_round(config, prober, can_trace=raw_allowed())
        host = await asyncio.to_thread(hostinfo.gather, result.tcp)
        return result, host

    def _record(self, result: RoundResult, host: hostinfo.HostInfo) -> None:
        self.rounds += 1
        self.collector.record_round(result, host, finished=time.time(),
                                    rtt_histogram=self.config.metrics.rtt_histogram)
        self.last_finished = time.monotonic()
        self.last_duration = result.duration_seconds
        if self.options.textfile is not None:
            try:
                prometheus.write_textfile(self.options.textfile, self.collector.body)
            except OSError as exc:
                self.log("textfile_failed", "error", path=str(self.options.textfile),
                         error=exc.strerror or str(exc))
        required = [r for r in result.tcp if r.required]
        self.log("round", number=self.rounds, duration_seconds=round(result.duration_seconds, 4),
                 method=result.tcp[0].method if result.tcp else "-", addresses=len(result.tcp),
                 failing=sum(1 for r in required if not r.ok), findings=len(result.findings))
        for change in transitions(self.previous, result):
            self.log("target_changed", "warning" if not change["ok"] else "info", **change)
        self.previous = result

    async def _sleep_until(self, when: float) -> None:
        assert self._stop is not None and self._wake is not None
        self._wake.clear()
        delay = when - time.monotonic()
        if delay <= 0:
            return
        waiters = [asyncio.ensure_future(self._stop.wait()),
                   asyncio.ensure_future(self._wake.wait())]
        try:
            await asyncio.wait(waiters, timeout=delay, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for w in waiters:
                w.cancel()

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        self._stop, self._wake = asyncio.Event(), asyncio.Event()
        loop.add_signal_handler(signal.SIGTERM, self.stop, "SIGTERM")
        loop.add_signal_handler(signal.SIGINT, self.stop, "SIGINT")
        loop.add_signal_handler(signal.SIGHUP, self.reload)
        try:
            await self._loop()
        finally:
            for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
                loop.remove_signal_handler(sig)

    async def _loop(self) -> None:
        assert self._stop is not None and self._wake is not None
        stopper = asyncio.ensure_future(self._stop.wait())
        try:
            while not self._stop.is_set():
                began = time.monotonic()
                task = asyncio.ensure_future(self._round(self.config, self.prober))
                await asyncio.wait([task, stopper], return_when=asyncio.FIRST_COMPLETED)
                if not task.done():
                    task.cancel()
                    await asyncio.wait([task], timeout=STOP_GRACE)
                    self.log("round_cancelled")
                    break
                try:
                    result, host = task.result()
                except (OSError, ProbeError) as exc:
                    self.log("round_failed", "error", error=str(exc))
                else:
                    self._record(result, host)
                self.close_retired()
                while not self._stop.is_set():
                    due = next_start(began, time.monotonic(), self.config.agent.interval,
                                     random.uniform(-JITTER, JITTER))
                    await self._sleep_until(due)
                    if time.monotonic() >= due or self._stop.is_set():
                        break
                    # woken by a reload: recompute with the (possibly new) interval
        finally:
            stopper.cancel()


def serve(load: Callable[[], Config], options: Options) -> int:
    """Run the agent until SIGTERM/SIGINT; ProbeError (exit 2) when it cannot start."""
    log = EventLog(options.log_format)
    # A reload asked for while starting must not kill the agent (SIGHUP's default
    # action); the config is being read anyway. The event loop takes over below.
    signal.signal(signal.SIGHUP, signal.SIG_IGN)
    agent = Agent(load, options, log)
    process = CollectorRegistry(auto_describe=False)
    ProcessCollector(registry=process)
    PlatformCollector(registry=process)
    exposition = prometheus.CachedExposition(agent.collector, process)
    listen = options.listen or agent.config.agent.listen
    routes = Routes(metrics_app(exposition), agent.fresh, agent.current_access)
    server = bind(listen, routes, agent.current_access, lambda error, client: log(
        "http_error", "warning", client=client, error=error))
    host, port = server.server_address[:2]
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.2},
                              name="metrics-http", daemon=True)
    thread.start()
    loopback = _is_loopback(str(host))
    log("started", version=__version__, source=agent.config.source or "<command line>",
        targets=len(agent.config.targets), interval_seconds=agent.config.agent.interval,
        method=agent.prober.method)
    log("listening", address=str(host), port=int(port),
        tls=agent.access.tls is not None, basic_auth=agent.access.user is not None)
    if not loopback and agent.access.user is None:
        log("metrics_exposed", "warning", address=str(host),
            message="/metrics listens beyond loopback without basic auth")
    try:
        asyncio.run(agent.run())
    finally:
        server.shutdown()
        server.server_close()
        agent.close_retired()
        _close(agent.prober)
    log("stopped", rounds=agent.rounds)
    return 0


def _close(prober: TcpProber) -> None:
    prober.close()  # the SYN engine holds sockets; connect() holds none (a no-op)


def _is_loopback(host: str) -> bool:
    return host in ("localhost", "::1") or host.startswith("127.")
