"""``python -m lab up|down|status|check``: the lab from the command line."""

from __future__ import annotations

import argparse
import sys
import time

from lab import netlab
from lab import topology as t


def _print_checks(results: list[netlab.CheckResult], verbose: bool) -> int:
    failed = [r for r in results if not r.ok]
    for r in results:
        if verbose or not r.ok:
            mark = "ok  " if r.ok else "FAIL"
            extra = "" if r.ok else f" (expected {r.expected})"
            print(f"  {mark} {r.label}: {r.got}{extra}")
    print(f"self-check: {len(results) - len(failed)} passed, {len(failed)} failed")
    return 1 if failed else 0


def cmd_up(args: argparse.Namespace) -> int:
    start = time.monotonic()
    netlab.up(deterministic_route_errors=True if args.deterministic_route_errors else None)
    print(f"lab: up in {time.monotonic() - start:.2f} s ({', '.join(t.NAMESPACES)})")
    return 0


def cmd_down(_args: argparse.Namespace) -> int:
    start = time.monotonic()
    netlab.down()
    print(f"lab: down in {time.monotonic() - start:.2f} s")
    return 0


def cmd_status(_args: argparse.Namespace) -> int:
    st = netlab.status()
    for ns, present in st.namespaces.items():
        print(f"namespace {ns}: {'present' if present else 'absent'}")
    print(f"/etc/netns/{t.CLIENT_NS}: {'present' if st.etc_netns else 'absent'}")
    for name, pid, alive in st.processes:
        print(f"process {name}: pid {pid} {'running' if alive else 'NOT RUNNING'}")
    if not st.up:
        print("lab: not up")
        return 1
    print("lab: up")
    return _print_checks(st.checks, verbose=True)


def cmd_check(args: argparse.Namespace) -> int:
    if not netlab.is_up():
        raise netlab.LabError("the lab is not up (python -m lab up)")
    return _print_checks(netlab.check(full=True), verbose=args.verbose)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m lab", description="apim-probe network lab")
    sub = parser.add_subparsers(dest="command", required=True)
    p_up = sub.add_parser("up", help="create the namespaces and start the services")
    p_up.add_argument("--deterministic-route-errors", action="store_true",
                      help="answer the unreachable/prohibit networks from nft (no rate limit)")
    p_up.set_defaults(func=cmd_up)
    sub.add_parser("down", help="tear everything down").set_defaults(func=cmd_down)
    sub.add_parser("status", help="namespaces, processes, quick self-check").set_defaults(
        func=cmd_status)
    p_check = sub.add_parser("check", help="verify every TCP and DNS expectation (stdlib)")
    p_check.add_argument("-v", "--verbose", action="store_true")
    p_check.set_defaults(func=cmd_check)
    args = parser.parse_args(argv)
    try:
        return int(args.func(args))
    except netlab.LabError as exc:
        print(f"lab: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("lab: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
