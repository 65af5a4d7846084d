"""Command line: parse flags, build the config, run, format. Nothing else."""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path

from probe import __version__
from probe.config import (
    METHODS,
    Config,
    Resolver,
    Target,
    load,
    parse_resolver,
    parse_target_spec,
    with_overrides,
)
from probe.diagnosis import diagnose
from probe.errors import ConfigError, ProbeError, UsageError
from probe.exporters import jsonreport, table
from probe.probers import make_prober
from probe.round import exit_status, run_round

FORMATS = ("table", "json")


def _bounded(kind: Callable[[str], float], low: float, high: float,
             what: str) -> Callable[[str], float]:
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
                    "through each resolver side by side, TCP state and reason per address.",
        epilog="Exit status: 0 every required target as expected, 1 otherwise, 2 usage or "
               "config error.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    parser.add_argument("--once", action="store_true", help="run one round, report, exit")
    parser.add_argument("-c", "--config", type=Path, metavar="PATH", help="TOML config file")
    parser.add_argument("--check-config", action="store_true",
                        help="validate the config and exit (0 valid, 2 invalid)")
    parser.add_argument("--target", action="append", metavar="[NAME=]HOST:PORT", default=None,
                        help="probe this target (repeatable; replaces the file's targets)")
    parser.add_argument("--resolver", action="append", metavar="IP[:PORT]|system", default=None,
                        help="DNS server to query directly (repeatable; the first is the "
                             "primary; replaces the file's list)")
    parser.add_argument("--timeout", type=_bounded(float, 0.01, 60, "seconds"), metavar="S",
                        help="seconds one attempt may take")
    parser.add_argument("--count", type=_bounded(int, 1, 100, "an integer"), metavar="N",
                        help="attempts per address")
    parser.add_argument("--method", choices=METHODS, help="TCP probe method (default auto)")
    parser.add_argument("--rate", type=_bounded(float, 1, 1_000_000, "packets per second"),
                        metavar="PPS", help="cap on SYN probes per second")
    parser.add_argument("--format", choices=FORMATS, default="table", help="report format")
    parser.add_argument("--color", choices=("auto", "always", "never"), default="auto",
                        help="colour in the table (auto: only on a terminal)")
    return parser


def build_config(args: argparse.Namespace) -> Config:
    config = load(args.config) if args.config else Config()
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
    return with_overrides(config, targets=targets, resolvers=resolvers, timeout=args.timeout,
                          count=args.count, method=args.method, rate=args.rate)


def _colour(choice: str) -> bool:
    if choice == "always":
        return True
    if choice == "never" or os.environ.get("NO_COLOR"):
        return False
    return sys.stdout.isatty() and os.environ.get("TERM") != "dumb"


def _warn(message: str) -> None:
    print(f"probe: warning: {message}", file=sys.stderr)


def run_once(config: Config, args: argparse.Namespace) -> int:
    prober = make_prober(config.agent, warn=_warn)
    result = asyncio.run(run_round(config, prober))
    result = replace(result, findings=diagnose(result))
    status = exit_status(result)
    if args.format == "json":
        sys.stdout.write(jsonreport.render(result, exit_status=status))
    else:
        sys.stdout.write(table.render(result, colour=_colour(args.color), exit_status=status))
    return status


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        config = build_config(args)
        if args.check_config:
            print(f"{args.config or '<command line>'}: valid, {len(config.targets)} target(s), "
                  f"resolvers {', '.join(r.label for r in config.dns.resolvers)}")
            return 0
        if not config.targets:
            raise UsageError("no targets: give --target [NAME=]HOST:PORT or a config file "
                             "with [[target]] tables")
        if not args.once:
            raise UsageError("daemon mode is not available yet; use --once")
        return run_once(config, args)
    except ProbeError as exc:
        print(f"probe: error: {exc}", file=sys.stderr)
        return exc.exit_status
    except KeyboardInterrupt:
        return 130
