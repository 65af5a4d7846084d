"""The round as JSON: the contract scripts and CI pipelines read."""

from __future__ import annotations

import json
from typing import Any

from probe.results import (
    ApimCheck,
    AzureContext,
    AzureReadError,
    DnsResult,
    Finding,
    HostInfo,
    HttpResult,
    RoundResult,
    StageFailure,
    TcpResult,
    TraceResult,
)


def _round6(value: float) -> float:
    return round(value, 6)


def dns_dict(r: DnsResult) -> dict[str, Any]:
    return {
        "name": r.name,
        "resolver": r.resolver,
        "status": r.status.value,
        "rcode": r.rcode,
        "addresses": list(r.addresses),
        "cname_chain": list(r.cname_chain),
        "duration_seconds": _round6(r.duration_seconds),
        "detail": r.detail,
    }


def tcp_dict(r: TcpResult) -> dict[str, Any]:
    return {
        "target": r.target,
        "dependency": r.dependency,
        "host": r.host,
        "address": r.address,
        "port": r.port,
        "state": r.state.value,
        "reason": r.reason,
        "expected": r.expected.value,
        "ok": r.ok,
        "required": r.required,
        "method": r.method,
        "sent": r.sent,
        "received": r.received,
        "loss_ratio": None if r.loss_ratio is None else round(r.loss_ratio, 4),
        "rtt_seconds": [_round6(x) for x in r.rtt_seconds],
        "responder": r.responder,
        "reply_ttl": r.reply_ttl,
        "attempts": [
            {"state": a.state.value, "reason": a.reason,
             "rtt_seconds": None if a.rtt_seconds is None else _round6(a.rtt_seconds),
             "responder": a.responder, "reply_ttl": a.reply_ttl}
            for a in r.attempts
        ],
    }


def trace_dict(t: TraceResult) -> dict[str, Any]:
    stopped = t.stopped_after
    return {
        "target": t.target, "dependency": t.dependency, "address": t.address, "port": t.port,
        "reached": t.reached,
        "stopped_after": stopped.address if stopped else None,
        "hops": [{"ttl": h.ttl, "address": h.address, "reason": h.reason,
                  "rtt_seconds": None if h.rtt_seconds is None else _round6(h.rtt_seconds)}
                 for h in t.hops],
    }


def health_dict(h: HttpResult) -> dict[str, Any]:
    return {"url": h.url, "address": h.address, "status": h.status, "ok": h.ok,
            "reason": h.reason, "duration_seconds": _round6(h.duration_seconds), "tls": h.tls}


def finding_dict(f: Finding) -> dict[str, Any]:
    return {"id": f.id, "severity": f.severity.value, "subject": f.subject,
            "summary": f.summary, "evidence": list(f.evidence), "remedy": f.remedy}


def host_dict(host: HostInfo) -> dict[str, Any]:
    """The ``host`` section: where the probes leave from."""
    return {
        "routes": [{"address": r.address, "source": r.source, "interface": r.interface,
                    "error": r.error} for r in host.routes],
        "interfaces": [{"name": i.name, "up": i.up, "mtu": i.mtu,
                        "speed_bits_per_second": i.speed_bits_per_second,
                        "errors_in": i.errors_in, "errors_out": i.errors_out,
                        "drops_in": i.drops_in, "drops_out": i.drops_out}
                       for i in host.interfaces],
        "connections": [{"target": c.target, "address": c.address, "port": c.port,
                         "established": c.established} for c in host.connections],
        "pinned": [{"name": name, "addresses": list(addresses)}
                   for name, addresses in host.pinned],
    }


def read_error_dict(error: AzureReadError) -> dict[str, Any]:
    return {"call": error.call, "code": error.code, "message": error.message,
            "action": error.action or None, "scope": error.scope or None}


def azure_dict(azure: AzureContext) -> dict[str, Any]:
    return {"agent": dict(azure.agent), "apim": azure.apim or None,
            "read_at": azure.read_at or None, "age_seconds": azure.age_seconds,
            "requests": azure.requests, "status_updated": azure.status_updated or None,
            "nsg": azure.nsg or None, "route_table": azure.route_table or None,
            "errors": [read_error_dict(e) for e in azure.errors],
            "error_counts": [{"call": c, "code": k, "count": n}
                             for c, k, n in azure.error_counts]}


def view_dict(check: ApimCheck) -> dict[str, Any]:
    return {"name": check.name, "dependency": check.dependency, "host": check.host,
            "port": check.port, "location": check.location, "status": check.status,
            "error": check.error or None, "last_updated": check.last_updated or None}


def stage_dict(failure: StageFailure) -> dict[str, Any]:
    return {"stage": failure.stage, "error": failure.error}


def to_dict(result: RoundResult, *, exit_status: int | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {
        "started": result.started.strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
        "duration_seconds": round(result.duration_seconds, 4),
        "method": result.method,
        "resolvers": list(result.resolvers),
        "dns": [dns_dict(r) for r in result.dns],
        "tcp": [tcp_dict(r) for r in result.tcp],
        "findings": [finding_dict(f) for f in result.findings],
        "traces": [trace_dict(t) for t in result.traces],
        "health": [health_dict(h) for h in result.health],
        "host": host_dict(result.host) if result.host is not None else None,
        "stage_failures": [stage_dict(f) for f in result.stage_failures],
    }
    # Only with [azure] / networkstatus: a round without them reads as before.
    if result.azure is not None:
        out["azure"] = azure_dict(result.azure)
    if result.apim_view:
        out["apim_view"] = [view_dict(c) for c in result.apim_view]
    if exit_status is not None:
        out["exit_status"] = exit_status
    return out


def render(result: RoundResult, *, exit_status: int | None = None) -> str:
    return json.dumps(to_dict(result, exit_status=exit_status), indent=2) + "\n"
