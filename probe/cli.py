"""Command line: parse flags, build the config, run, format. Nothing else."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import signal
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

from probe import __version__
from probe.config import (
    METHODS,
    AgentConfig,
    Config,
    Target,
    load,
    parse_resolver,
    parse_target_spec,
    with_overrides,
)
from probe.errors import ConfigError, ProbeError, UsageError, describe_error, error_lines
from probe.exporters import jsonreport, prometheus, table, textfile
from probe.fullround import complete_round
from probe.preflight import live_targets, no_targets
from probe.probers import make_prober, raw_allowed
from probe.resolvers import Resolver
from probe.results import AzureContext, RoundResult
from probe.round import exit_status
from probe.schema import Between, check_of
from probe.targets import expand, render_targets

if TYPE_CHECKING:
    from probe.azure.facts import Facts

FORMATS = ("table", "json", "prom")


def print_error(exc: BaseException) -> None:
    """``probe: error: ...``, one line per error (a config lists all of its)."""
    for line in error_lines(exc):
        print(f"probe: error: {line}", file=sys.stderr)


def _bounded(kind: Callable[[str], float], section: type, key: str) -> Callable[[str], float]:
    """A flag's converter with the range of the config key it overrides (one place)."""
    check = check_of(section, key)
    if not isinstance(check, Between):
        raise TypeError(f"{section.__name__}.{key} has no range")
    low, high, what = check.low, check.high, check.what

    def convert(text: str) -> float:
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected {what}, got {text!r}") from None
        if not low <= value <= high:
            raise argparse.ArgumentTypeError(f"expected {what} from {low:g} to {high:g}, "
                                             f"got {text!r}")
        return value
    return convert


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="probe",
        description="Probe the network dependencies of Azure API Management in a VNet: DNS "
                    "through each resolver side by side, TCP state and reason per address. "
                    "Also: 'probe lint FILE...' checks saved NSG / route table exports offline; "
                    "'probe targets -c FILE' lists the targets a config yields; "
                    "'probe fleet --prometheus URL' shows a fleet of agents from Prometheus.",
        epilog="Exit status: 0 every required target as expected, 1 otherwise, 2 usage or "
               "config error, 70 an internal error (a bug).",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    parser.add_argument("--once", action="store_true", help="run one round, report, exit")
    parser.add_argument("-c", "--config", type=Path, metavar="PATH", help="TOML config file")
    parser.add_argument("--check-config", action="store_true",
                        help="check the config as the agent does at start-up, short of "
                             "binding the port, and exit (0 valid, 2 invalid)")
    parser.add_argument("--target", action="append", metavar="[NAME=]HOST:PORT", default=None,
                        help="probe this target (repeatable; replaces the file's targets)")
    parser.add_argument("--resolver", action="append", metavar="IP[:PORT]|system|hosts",
                        default=None,
                        help="DNS server to query directly, or 'hosts' for this host's hosts "
                             "file (repeatable; the first is the primary; replaces the file's "
                             "list)")
    parser.add_argument("--timeout", type=_bounded(float, AgentConfig, "timeout"), metavar="S",
                        help="seconds one attempt may take")
    parser.add_argument("--count", type=_bounded(int, Target, "count"), metavar="N",
                        help="attempts per address")
    parser.add_argument("--method", choices=METHODS, help="TCP probe method (default auto)")
    parser.add_argument("--rate", type=_bounded(float, AgentConfig, "rate"),
                        metavar="PPS", help="cap on SYN probes per second")
    parser.add_argument("--format", choices=FORMATS, default="table",
                        help="report format (prom: Prometheus exposition format)")
    parser.add_argument("--apim", metavar="NAME|RESOURCE_ID",
                        help="read this API Management instance live through ARM with the "
                             "machine's managed identity (sets [azure] apim; needs "
                             "pip install 'apim-probe[azure]'): its profile, hostnames, "
                             "networkstatus, outbound dependencies, subnet NSG and routes")
    parser.add_argument("--textfile", type=Path, metavar="PATH",
                        help="also write the metrics to PATH, atomically, for node_exporter's "
                             "textfile collector (with --once: once; else after every round)")
    parser.add_argument("--listen", metavar="HOST:PORT",
                        help="daemon: serve /metrics and /healthz here (overrides "
                             "agent.listen; default 127.0.0.1:9839)")
    parser.add_argument("--log-format", choices=("text", "json"), default="text",
                        help="daemon: one event per line on stderr, logfmt text (journald "
                             "adds the time) or JSON with a time")
    parser.add_argument("--color", choices=("auto", "always", "never"), default="auto",
                        help="colour in the table (auto: only on a terminal)")
    return parser


def build_config(args: argparse.Namespace) -> Config:
    # The [apim] preset and imports are folded in before the flags, so that
    # --target still replaces the whole list.
    config = expand(load(args.config)) if args.config else Config()
    targets: list[Target] | None = None
    if args.target:
        try:
            targets = [parse_target_spec(spec) for spec in args.target]
        except ValueError as exc:
            raise UsageError(str(exc)) from None
    resolvers: list[Resolver] | None = None
    if args.resolver:
        resolvers = []
        for spec in args.resolver:
            try:
                resolvers.extend(parse_resolver(spec))
            except ValueError as exc:
                raise UsageError(f"--resolver {spec!r}: {exc}") from None
            except ConfigError as exc:
                raise UsageError(f"--resolver {spec!r}: {exc.message}") from None
    elif not config.dns.resolvers:
        try:
            resolvers = parse_resolver("system")
        except ConfigError as exc:
            raise UsageError(f"{exc.message}; give --resolver IP") from None
    config = _with_apim(config, getattr(args, "apim", None))
    return with_overrides(config, targets=targets, resolvers=resolvers, timeout=args.timeout,
                          count=args.count, method=args.method, rate=args.rate)


def _with_apim(config: Config, apim: str | None) -> Config:
    """``--apim``: [azure] apim for this run (the section made when the file has none)."""
    if apim is None:
        return config
    from probe.azure.settings import AzureConfig, apim_flag_problem

    problem = apim_flag_problem(apim)
    if problem is not None:
        raise UsageError(problem)
    azure = config.azure or AzureConfig()
    if azure.identity == "none":
        raise UsageError("--apim needs an identity, but [azure] identity = 'none'")
    return replace(config, azure=replace(azure, apim=apim))


def with_azure(config: Config) -> tuple[Config, tuple[Facts | None, AzureContext] | None]:
    """IMDS and (with [azure] apim) ARM, read now, folded into ``config`` (probe.azure):
    the config the round probes and the view it carries; (config, None) without [azure]."""
    if config.azure is None:
        return config, None
    from probe.azure.apply import apply
    from probe.azure.context import read_once
    from probe.azure.tokens import no_core_dumps

    no_core_dumps(config.azure)
    try:
        state = read_once(config.azure)
        if state.instance is None:
            print(f"probe: {state.imds_error} (no Azure context)", file=sys.stderr)
        applied = apply(config, state)
    except Exception as exc:  # noqa: BLE001 -- the Azure context fails alone: probe anyway
        _warn(f"the Azure context failed: {describe_error(exc)} (the round goes on "
              "without it)")
        return config, None
    return applied.config, applied.view()


def _colour(choice: str) -> bool:
    if choice == "always":
        return True
    if choice == "never" or os.environ.get("NO_COLOR"):
        return False
    return sys.stdout.isatty() and os.environ.get("TERM") != "dumb"


def _warn(message: str) -> None:
    print(f"probe: warning: {message}", file=sys.stderr)


def _agent_labels(config: Config, result: RoundResult) -> tuple[tuple[str, str], ...]:
    """[agent] labels over what IMDS said (the round's Azure context, with [azure])."""
    from probe.azure.imds import under_configured

    return under_configured(dict(result.azure.agent) if result.azure is not None else {},
                            config.agent.labels)


def _exposition(config: Config, args: argparse.Namespace, result: RoundResult) -> bytes:
    """The round as metrics for --format prom and --textfile (written, the file's
    lock held by the caller); b"" when neither is asked for."""
    if not (args.format == "prom" or args.textfile):
        return b""
    body, failed = prometheus.one_round(
        result, rtt_histogram=config.metrics.rtt_histogram,
        agent_labels=_agent_labels(config, result),
        previous=prometheus.previous_textfile(args.textfile) if args.textfile else "")
    for failure in failed:
        _warn(f"the export stage failed: {failure.error} (that part of the metrics is "
              "left out)")
    if args.textfile:
        try:
            prometheus.write_textfile(args.textfile, body)
        except OSError as exc:
            raise UsageError(f"--textfile {str(args.textfile)!r}: cannot write: "
                             f"{exc.strerror or exc}") from None
    return body


def run_once(config: Config, args: argparse.Namespace,
             azure: tuple[Facts | None, AzureContext] | None = None) -> int:
    prober = make_prober(config.agent, warn=_warn)
    result = asyncio.run(complete_round(config, prober, can_trace=raw_allowed(), azure=azure))
    status = exit_status(result)
    for failure in result.stage_failures:
        _warn(f"the {failure.stage} stage failed: {failure.error} (the rest of the round "
              "is reported)")
    with (textfile.locked(args.textfile) if args.textfile else contextlib.nullcontext()):
        body = _exposition(config, args, result)
    if args.format == "prom":
        sys.stdout.write(body.decode("utf-8"))
        return status
    try:
        if args.format == "json":
            text = jsonreport.render(result, exit_status=status)
        else:
            text = table.render(result, colour=_colour(args.color), exit_status=status)
        sys.stdout.write(text)  # encodes the whole text before writing any of it
    except Exception as exc:  # noqa: BLE001 -- the export stage fails alone
        _warn(f"the export stage failed: the {args.format} report: {describe_error(exc)}; "
              "the round follows as JSON")
        sys.stdout.write(json.dumps(jsonreport.to_dict(result, exit_status=status), indent=2,
                                    ensure_ascii=True) + "\n")
    return status


def run_daemon(args: argparse.Namespace, first: Config | None = None) -> int:
    """The agent; ``first``: the config already read at start-up (read once)."""
    from probe import daemon, httpserver

    pending = [first] if first is not None else []

    def load() -> Config:
        config = pending.pop() if pending else build_config(args)
        if not config.targets and not live_targets(config):
            raise no_targets(config)
        return config

    if args.listen is not None:
        httpserver.parse_listen(args.listen)  # a bad flag is a usage error before anything starts
    return daemon.serve(load, daemon.Options(listen=args.listen, log_format=args.log_format,
                                             textfile=args.textfile))


def check_config(config: Config, args: argparse.Namespace) -> int:
    """Every check the agent makes at start-up (``probe.preflight``) but binding the port."""
    from probe.preflight import preflight

    if args.listen is not None:
        from probe import httpserver

        httpserver.parse_listen(args.listen)
    preflight(config)
    if config.agent.method == "syn" and not raw_allowed():
        _warn("method = 'syn' needs raw sockets (root or CAP_NET_RAW), which this process "
              "may not open; the agent will refuse to start without them")
    print(f"{args.config or '<command line>'}: valid, {len(config.targets)} target(s), "
          f"resolvers {', '.join(r.label for r in config.dns.resolvers)}")
    return 0


def targets_main(argv: Sequence[str]) -> int:
    """`probe targets -c FILE`: the targets a config yields (preset, imports, explicit)."""
    parser = argparse.ArgumentParser(prog="probe targets",
                                     description="List the targets a config file yields: the "
                                                 "[apim] preset, imports and [[target]] tables.")
    parser.add_argument("-c", "--config", type=Path, metavar="PATH", required=True)
    args = parser.parse_args(argv)
    try:
        sys.stdout.write(render_targets(load(args.config)))
    except ProbeError as exc:
        print_error(exc)
        return exc.exit_status
    return 0


# sysexits' EX_SOFTWARE: a bug, never a verdict about the network (0, 1) or the
# input (2). Units treat it as a failure; the textfile unit's SuccessExitStatus=1
# never hides it.
EXIT_CRASH = 70


def main(argv: Sequence[str] | None = None) -> int:
    """Every command; an unexpected exception is one line and exit 70, not a
    traceback (APIM_PROBE_DEBUG=1 prints the traceback too)."""
    try:
        return _main(list(sys.argv[1:] if argv is None else argv))
    except Exception as exc:  # noqa: BLE001 -- the last line of defence: say it, exit 70
        if os.environ.get("APIM_PROBE_DEBUG"):
            import traceback

            traceback.print_exc()
        print(f"probe: internal error: {describe_error(exc)} (a bug in apim-probe: exit "
              f"{EXIT_CRASH}; APIM_PROBE_DEBUG=1 shows where)", file=sys.stderr)
        return EXIT_CRASH


def _main(argv: list[str]) -> int:
    if argv[:1] == ["lint"]:
        from probe import lint

        return lint.run(argv[1:])
    if argv[:1] == ["targets"]:
        return targets_main(argv[1:])
    if argv[:1] == ["context"]:
        from probe.azure.command import context_main

        return context_main(argv[1:])
    if argv[:1] == ["fleet"]:
        from probe import fleet

        return fleet.main(argv[1:])
    parser = build_parser()
    args = parser.parse_args(argv)
    if not args.once and not args.check_config:
        # The agent: a SIGHUP while it starts (systemctl reload right after start)
        # must not kill it (SIGHUP's default action); the config is being read anyway.
        signal.signal(signal.SIGHUP, signal.SIG_IGN)
    try:
        config = build_config(args)
        if args.check_config:
            return check_config(config, args)
        if not args.once:
            if not config.targets and not live_targets(config):
                raise no_targets(config)
            return run_daemon(args, config)
        config, azure = with_azure(config)
        if not config.targets:
            raise no_targets(config)
        return run_once(config, args, azure)
    except ProbeError as exc:
        if not args.once and args.log_format == "json":
            # the agent's fatal error (a taken port, a bad config) in the agent's format
            from probe.events import format_event

            errors = error_lines(exc)
            print(format_event("json", time.time(), "error", "fatal",
                               {"error": str(exc), "exit_status": exc.exit_status,
                                **({"errors": errors} if len(errors) > 1 else {})}),
                  file=sys.stderr)
        else:
            print_error(exc)
        return exc.exit_status
    except KeyboardInterrupt:
        return 130
