"""`probe context`: what IMDS and ARM say, for troubleshooting the agent itself."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from probe.azure import imds
from probe.azure.context import AzureState, read_once
from probe.azure.settings import AzureConfig, apim_flag_problem
from probe.config import Config, load
from probe.display import printable
from probe.errors import ProbeError, error_lines

__all__ = ["context_main"]


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="probe context",
        description="Print what Azure's Instance Metadata Service says about this machine "
                    "(region, subscription, VM, scale set, zone, subnet, AKS cluster) and the "
                    "agent labels it gives; with [azure] apim or --apim, what ARM said about "
                    "the instance (each read, its outcome, the permissions missing). Exit 0 "
                    "on Azure with every read done, 1 when IMDS did not answer or a read "
                    "failed, 2 usage or config error.")
    parser.add_argument("-c", "--config", type=Path, metavar="PATH",
                        help="config file: its [azure] section and [agent] labels")
    parser.add_argument("--imds", metavar="URL", help="IMDS base URL (default: the config's, "
                        f"else {imds.DEFAULT_BASE})")
    parser.add_argument("--apim", metavar="NAME|RESOURCE_ID",
                        help="also read this API Management instance through ARM")
    parser.add_argument("--format", choices=("table", "json"), default="table")
    return parser


def _instance(instance: imds.Instance | None) -> dict[str, Any] | None:
    if instance is None:
        return None
    return {"location": instance.location, "environment": instance.environment,
            "subscription": instance.subscription, "resource_group": instance.resource_group,
            "resource_id": instance.resource_id, "name": instance.name, "vmss": instance.vmss,
            "zone": instance.zone, "aks": instance.aks, "private_ip": instance.private_ip,
            "subnet": instance.subnet, "arm": instance.arm, "tags": dict(instance.tags)}


def _arm(state: AzureState, azure: AzureConfig) -> dict[str, Any] | None:
    live = state.live
    if live is None:
        return None
    from probe.azure.credential import describe
    from probe.exporters.jsonreport import read_error_dict

    return {"endpoint": state.arm, "identity": describe(azure), "apim": live.apim_id or None,
            "requests": live.requests, "ids": dict(live.ids),
            "read": [{"call": call, "resource": path} for call, path, _ in live.documents],
            "failed": [read_error_dict(e) for e in live.errors]}


def _table(base: str, state: AzureState, body: dict[str, Any]) -> list[str]:
    instance = state.instance
    lines = [f"IMDS          {base}: " + ("answered" if instance else
                                           f"no answer: {state.imds_error}")]
    if instance is not None:
        lines += [f"{name:<14}{value or '-'}" for name, value in (
            ("location", instance.location), ("cloud", instance.environment),
            ("subscription", instance.subscription),
            ("resource group", instance.resource_group), ("vm", instance.name),
            ("scale set", instance.vmss), ("zone", instance.zone),
            ("private ip", instance.private_ip), ("subnet", instance.subnet),
            ("aks cluster", instance.aks), ("arm", instance.arm))]
    lines.append("agent labels  " + (", ".join(f"{k}={v}" for k, v in sorted(
        body["agent_labels"].items())) or "-"))
    arm = body.get("arm")
    if arm:
        lines += [f"ARM           {arm['endpoint']} as {arm['identity']}: {arm['requests']} "
                  "requests", f"apim          {arm['apim'] or '-'}"]
        lines += [f"  read        {r['call']}: {r['resource']}" for r in arm["read"]]
        for failed in arm["failed"]:
            lines.append(f"  failed      {failed['call']} ({failed['code']}): "
                         f"{failed['message']}")
            if failed["action"]:
                lines.append(f"              grant {failed['action']} on {failed['scope']}")
    return lines


def context_main(argv: Sequence[str]) -> int:
    args = _parser().parse_args(argv)
    try:
        config = load(args.config) if args.config else Config()
        problem = apim_flag_problem(args.apim) if args.apim is not None else None
        if problem is not None:
            raise ProbeError(problem)
    except ProbeError as exc:
        for line in error_lines(exc):
            print(f"probe: error: {line}", file=sys.stderr)
        return 2
    azure = config.azure or AzureConfig()
    azure = replace(azure, imds=args.imds or azure.imds, apim=args.apim or azure.apim)
    state = read_once(azure)
    labels = dict(imds.under_configured(state.labels, config.agent.labels))
    body = {"imds": azure.imds, "on_azure": state.instance is not None,
            "error": state.imds_error or None, "instance": _instance(state.instance),
            "agent_labels": labels, "arm": _arm(state, azure)}
    if args.format == "json":
        sys.stdout.write(json.dumps(body, indent=2, ensure_ascii=True) + "\n")
    else:
        sys.stdout.write("".join(f"{printable(line)}\n"
                                 for line in _table(azure.imds, state, body)))
    failed = state.live is not None and bool(state.live.errors)
    return 0 if state.instance is not None and not failed else 1
