"""The agent: rounds on a schedule, /metrics and a health endpoint, signals.

    probe -c /etc/apim-probe/probe.toml [--listen HOST:PORT] [--log-format json|text]

* Rounds start every ``agent.interval`` seconds (start to start) plus a
  little jitter (``probe.schedule``).
* ``/metrics`` (Prometheus), ``/healthz`` and ``/-/healthy`` are served from
  threads (``probe.httpserver``); nothing a request says chooses a target.
* SIGHUP reloads the config through the same loader as start-up: a bad
  config is logged and rejected, the running one stays, and
  ``apim_probe_config_last_reload_successful`` says 0. SIGTERM and SIGINT
  cancel the round in flight and stop.
* One structured line per event on stderr (``probe.events``).

The decisions (when to start, whether rounds are fresh, whether a request is
authorised, what changed between rounds) are pure functions in those
modules; the ``Agent`` only drives I/O around them.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import signal
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TypeVar

from prometheus_client import CollectorRegistry, PlatformCollector, ProcessCollector

from probe import __version__, limits
from probe.azure import imds
from probe.azure.apply import Applier
from probe.azure.context import AzureWatch
from probe.azure.tokens import no_core_dumps
from probe.config import Config
from probe.errors import ProbeError, describe_error
from probe.events import EventLog, event_name, route_logging, transitions
from probe.exporters import prometheus
from probe.exporters.textfile import TextfileWriter
from probe.fullround import complete_round
from probe.httpserver import Routes, bind, is_loopback, metrics_app
from probe.preflight import Access, preflight
from probe.probers import TcpProber, make_prober, raw_allowed
from probe.probers.connect import ConnectProber
from probe.rawfallback import RawFallback
from probe.results import RoundResult, StageFailure
from probe.retries import describe
from probe.schedule import JITTER, health, next_start, overrun, ready

T = TypeVar("T")
STOP_GRACE = 1.0  # seconds the cancelled round may take to unwind


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
        self.access = preflight(self.config)  # the checks --check-config makes
        self.prober = self._prober(self.config)
        self.collector = prometheus.Exposition()  # apim_probe_*, rendered once per round
        self.collector.record_reload(True)
        self.started = time.monotonic()
        self.last_finished: float | None = None
        self.last_duration = 0.0
        self.previous: RoundResult | None = None
        self.rounds = 0
        self.retired: list[TcpProber] = []  # replaced by a reload; closed between rounds
        self.textfile = (TextfileWriter(options.textfile, log)
                         if options.textfile is not None else None)
        self.last_start: float | None = None
        # [azure]: where the agent runs and what it guards, read off the loop
        self.azure = AzureWatch(self.log)
        self.applied = Applier(self.log)  # per refresh or reload, not per round
        no_core_dumps(self.config.azure)
        self.azure.tick(self.config.azure)
        self._stop: asyncio.Event | None = None
        self._reload_wanted: asyncio.Event | None = None
        self._wake: asyncio.Event | None = None

    def _prober(self, config: Config) -> TcpProber:
        prober = make_prober(config.agent, warn=lambda message: self.log(
            "probe_method_fallback", "warning", message=message))
        if prober.method != "syn":
            return prober
        # The raw sockets may fail with the NIC: connect() stands in meanwhile.
        return RawFallback(prober, ConnectProber(concurrency=config.agent.concurrency), self.log)

    # -- read from the HTTP threads ------------------------------------------

    def fresh(self) -> tuple[bool, str]:
        return health(time.monotonic(), self.started, self.last_finished,
                      self.config.agent.interval, self.last_duration)

    def is_ready(self) -> tuple[bool, str]:
        return ready(time.monotonic(), self.started, self.last_finished,
                     self.config.agent.interval, self.last_duration)

    def current_access(self) -> Access:
        return self.access

    # -- signals ---------------------------------------------------------------

    def stop(self, why: str) -> None:
        if self._stop is not None and not self._stop.is_set():
            self.log("stopping", signal=why)
            self._stop.set()

    def request_reload(self) -> None:
        """SIGHUP, or the config file changed: one reload, however many ask at once
        (the reloader reads the file off the event loop)."""
        if self._reload_wanted is not None:
            self._reload_wanted.set()

    def read_reload(self) -> tuple[Config, Access] | str:
        """Read and check a new config (any thread): it and its access, or why not."""
        try:
            config = self.load()
            return config, preflight(config)
        except Exception as exc:  # noqa: BLE001 -- whatever the reason, the running config stays
            return str(exc) if isinstance(exc, ProbeError) else describe_error(exc)

    def reload(self) -> None:
        """Read, check and apply a new config, here and now."""
        self.apply_reload(self.read_reload())

    def apply_reload(self, outcome: tuple[Config, Access] | str) -> None:
        """Apply what ``read_reload`` found (on the event loop's thread)."""
        old = self.config
        try:
            if isinstance(outcome, str):
                raise ProbeError(outcome)
            config, access = outcome
            prober = self.prober
            if (config.agent.method, config.agent.rate, config.agent.concurrency) != (
                    old.agent.method, old.agent.rate, old.agent.concurrency):
                prober = self._prober(config)
        except Exception as exc:  # noqa: BLE001 -- whatever the reason, the running config stays
            self.collector.record_reload(False)
            error = str(exc) if isinstance(exc, ProbeError) else describe_error(exc)
            self.log("reload_rejected", "error", error=error,
                     keeping=old.source or "<command line>")
            return
        if prober is not self.prober:
            self.retired.append(self.prober)  # a round may still be using it
        no_core_dumps(config.azure)  # a reload that turns ARM reads on
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

    async def _round(self, config: Config, prober: TcpProber) -> RoundResult:
        if config.azure is None:
            return await complete_round(config, prober, can_trace=raw_allowed())
        applied = self.applied(config, self.azure.state)
        return await complete_round(applied.config, prober, can_trace=raw_allowed(),
                                    azure=applied.view())

    def agent_labels(self) -> tuple[tuple[str, str], ...]:
        """IMDS's identity labels under the configured ones (the config wins)."""
        self.azure.tick(self.config.azure)
        return imds.under_configured(self.azure.labels(), self.config.agent.labels)

    def _record(self, result: RoundResult, began: float) -> None:
        self.rounds += 1
        try:
            exported = self.collector.record_round(
                result, finished=time.time(), rtt_histogram=self.config.metrics.rtt_histogram,
                agent_labels=self.agent_labels())
        except Exception as exc:  # noqa: BLE001 -- the export stage fails alone
            exported = (StageFailure("export", describe_error(exc)),)
        for failure in (*result.stage_failures, *exported):
            self.log("stage_failed", "error", stage=failure.stage, error=failure.error,
                     number=self.rounds)
        finished = time.monotonic()
        self.last_finished = finished
        self.last_duration = finished - began
        if self.textfile is not None:
            self.textfile.submit(self.collector.body)  # rendered once, by record_round
        required = [r for r in result.tcp if r.required]
        gap = None if self.last_start is None else round(began - self.last_start, 4)
        self.log("round", number=self.rounds, duration_seconds=round(result.duration_seconds, 4),
                 elapsed_seconds=round(finished - began, 4), gap_seconds=gap,
                 method=result.method, addresses=len(result.tcp),
                 failing=sum(1 for r in required if not r.ok), findings=len(result.findings))
        for change in transitions(self.previous, result):
            self.log(event_name(change), "warning" if not change["ok"] else "info", **change)
        self.previous = result

    def _overran(self, began: float, finished: float) -> None:
        interval = self.config.agent.interval
        late = overrun(began, finished, interval)
        if late is not None:
            self.log("round_overrun", "warning", number=self.rounds,
                     elapsed_seconds=round(finished - began, 4), interval_seconds=interval,
                     overrun_seconds=round(late, 4))

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
        self._reload_wanted = asyncio.Event()
        loop.add_signal_handler(signal.SIGTERM, self.stop, "SIGTERM")
        loop.add_signal_handler(signal.SIGINT, self.stop, "SIGINT")
        loop.add_signal_handler(signal.SIGHUP, self.request_reload)
        helpers = [asyncio.ensure_future(self._reloader()),
                   asyncio.ensure_future(self._watch_config())]
        try:
            await self._loop()
        finally:
            for task in helpers:
                task.cancel()
            for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
                loop.remove_signal_handler(sig)

    async def _reloader(self) -> None:
        """Reloads, one at a time: read and checked in a thread of its own (a large
        import never stalls the rounds' DNS and SYN timing), applied here."""
        assert self._reload_wanted is not None and self._stop is not None
        while not self._stop.is_set():
            await self._reload_wanted.wait()
            self._reload_wanted.clear()  # SIGHUPs queued meanwhile make one more reload
            outcome = await _in_thread(self.read_reload)
            if not self._stop.is_set():
                self.apply_reload(outcome)

    async def _watch_config(self) -> None:
        """Reload when the config file changes (a kubelet swapping a ConfigMap's
        ..data symlink, an editor's save): its inode, size or mtime, every
        WATCH_SECONDS, through symlinks."""
        path = self.config.source
        if not path or path.startswith("<"):
            return
        last = _stamp(path)
        while True:
            await asyncio.sleep(WATCH_SECONDS)
            now = _stamp(path)
            if now != last:
                last = now
                self.log("config_changed", path=path)
                self.request_reload()

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
                    result = task.result()
                    self._record(result, began)
                except Exception as exc:  # noqa: BLE001 -- a failed round never ends the agent
                    self.log("round_failed", "error", error=describe_error(exc))
                self._overran(began, time.monotonic())
                self.last_start = began
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
    route_logging(log)
    # A reload asked for while starting must not kill the agent (SIGHUP's default
    # action); the config is being read anyway. The event loop takes over below.
    signal.signal(signal.SIGHUP, signal.SIG_IGN)
    soft, hard = limits.raise_nofile()

    def fitted() -> Config:
        """The config, its probe concurrency within the descriptor budget."""
        config = load()
        share = limits.budget(soft, hard, config.agent.concurrency)
        if share.probes < config.agent.concurrency:
            config = replace(config, agent=replace(config.agent, concurrency=share.probes))
        return config

    agent = Agent(fitted, options, log)
    share = limits.budget(soft, hard, agent.config.agent.concurrency)
    process = CollectorRegistry(auto_describe=False)
    ProcessCollector(registry=process)
    PlatformCollector(registry=process)
    exposition = prometheus.CachedExposition(agent.collector, process,
                                             lambda: agent.config.metrics.process)
    listen = options.listen or agent.config.agent.listen
    routes = Routes(metrics_app(exposition), agent.fresh, agent.current_access, agent.is_ready)
    server = bind(listen, routes, agent.current_access, lambda error, client: log(
        "http_error", "warning", client=client, error=error),
        on_retry=lambda attempt, delay, error: log(
            "listen_retry", "warning", address=listen, attempt=attempt,
            next_delay_seconds=round(delay, 3), error=describe(error)),
        max_connections=share.http)
    host, port = server.server_address[:2]
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.2},
                              name="metrics-http", daemon=True)
    thread.start()
    loopback = is_loopback(str(host))
    log("started", version=__version__, source=agent.config.source or "<command line>",
        targets=len(agent.config.targets), interval_seconds=agent.config.agent.interval,
        method=agent.prober.method)
    log("resources", nofile_soft=soft, nofile_hard=hard, probe_concurrency=share.probes,
        http_connections=share.http)
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


WATCH_SECONDS = 2.0


def _stamp(path: str) -> tuple[int, int, int, int] | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns


async def _in_thread(work: Callable[[], T]) -> T:
    """``work()`` in a daemon thread of its own: unlike asyncio.to_thread, a
    stop never waits for it (the process may exit while a big file is parsed)."""
    loop = asyncio.get_running_loop()
    done: asyncio.Future[T] = loop.create_future()

    def settle(value: T | None, error: BaseException | None) -> None:
        if done.done():
            return
        if error is not None:
            done.set_exception(error)
        else:
            done.set_result(value)  # type: ignore[arg-type]

    def run() -> None:
        try:
            value, error = work(), None
        except BaseException as exc:  # noqa: BLE001 -- handed to the awaiting task
            value, error = None, exc
        with contextlib.suppress(RuntimeError):  # the loop has closed: nobody waits
            loop.call_soon_threadsafe(settle, value, error)

    threading.Thread(target=run, name="reload", daemon=True).start()
    return await done


def _close(prober: TcpProber) -> None:
    prober.close()  # the SYN engine holds sockets; connect() holds none (a no-op)


