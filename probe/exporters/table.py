"""The round as a table for a human at a terminal (colour only on a TTY)."""

from __future__ import annotations

import statistics
from collections.abc import Sequence

from probe.display import printable
from probe.localnames import HOSTS
from probe.results import (
    AzureContext,
    DnsResult,
    Hop,
    HostInfo,
    PortState,
    RoundResult,
    Severity,
    TcpResult,
    by_name,
)

_COLOURS = {"green": "32", "red": "31", "yellow": "33", "bold": "1", "dim": "2", "cyan": "36"}


class Painter:
    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled

    def __call__(self, text: str, colour: str) -> str:
        if not self.enabled or not text:
            return text
        return f"\x1b[{_COLOURS[colour]}m{text}\x1b[0m"


def _grid(rows: Sequence[Sequence[tuple[str, str | None]]], paint: Painter) -> list[str]:
    """Align cells (text, colour) in columns; padding is computed on plain text."""
    # Every cell is made printable here: a name, an answer or a reason from
    # elsewhere can neither forge a row nor send a terminal escape.
    rows = [[(printable(text), colour) for text, colour in row] for row in rows]
    widths = [max(len(row[i][0]) for row in rows) for i in range(len(rows[0]))]
    lines = []
    for row in rows:
        cells = []
        for i, ((text, colour), width) in enumerate(zip(row, widths, strict=True)):
            padded = text if i == len(widths) - 1 else text.ljust(width)  # no trailing pad
            cells.append(paint(padded, colour) if colour else padded)
        lines.append("  ".join(cells).rstrip())
    return lines


def _ms(seconds: float | None) -> str:
    return "-" if seconds is None else f"{seconds * 1000:.1f} ms"


_STATE_COLOUR = {PortState.OPEN: "green", PortState.CLOSED: "yellow",
                 PortState.FILTERED: "red", PortState.UNRESOLVED: "red", PortState.ERROR: "red",
                 PortState.UNUSABLE: "red"}


def _tcp_row(r: TcpResult) -> list[tuple[str, str | None]]:
    rtts = r.rtt_seconds
    rtt = _ms(statistics.median(rtts)) if rtts else "-"
    loss = "-" if r.loss_ratio is None else f"{r.loss_ratio:.0%}"
    where = f"{r.address}:{r.port}" if r.address else f"{r.host}:{r.port}"
    if r.address and ":" in r.address:
        where = f"[{r.address}]:{r.port}"
    responder = ""
    if r.responder and r.responder != r.address:
        responder = f"from {r.responder}"
    verdict = "ok" if r.ok else f"FAIL (expected {r.expected.value})"
    if not r.ok and not r.required:
        verdict = f"warn (expected {r.expected.value}, optional)"
    return [
        (r.target, "bold"),
        (r.dependency, None),
        (where, None),
        (r.state.value, _STATE_COLOUR[r.state]),
        (r.reason, None),
        (rtt, None),
        (loss, None),
        (responder, "cyan"),
        (verdict, "green" if r.ok else ("red" if r.required else "yellow")),
    ]


def _dns_cell(result: DnsResult | None) -> tuple[str, str | None]:
    if result is None:
        return "", None
    if result.ok:
        dropped = f" (+{result.addresses_dropped} not probed)" if result.addresses_dropped else ""
        return " ".join(result.addresses) + dropped, "green"
    return result.status.value.upper() if result.rcode else result.status.value, "red"


def _trim(hops: Sequence[Hop]) -> Sequence[Hop]:
    """Hops up to the last that answered, plus one silent one to show where it stops."""
    answered = [i for i, h in enumerate(hops) if h.answered]
    return hops[: (answered[-1] + 2) if answered else 1]


def _dns_section(result: RoundResult, paint: Painter) -> list[str]:
    """Names down, resolvers across, and where the resolvers disagree."""
    if not result.dns:
        return []
    out = ["", paint("DNS (name x resolver; the first resolver is the primary)", "bold")]
    grouped = by_name(result.dns)
    rows: list[list[tuple[str, str | None]]] = [
        [("NAME", "dim"), *((label, "dim") for label in result.resolvers), ("", None)]]
    for name, answers in grouped.items():
        per = {a.resolver: a for a in answers}
        # the hosts file lists few names: it differs from DNS by nature (finding
        # hosts-file-pin says when that matters)
        outcomes = {(a.status, frozenset(a.addresses)) for a in answers if a.resolver != HOSTS}
        differ = len(outcomes) > 1
        chain = next((a.cname_chain for a in answers if a.cname_chain), ())
        label = name + (f" -> {' -> '.join(chain)}" if chain else "")
        rows.append([(label, None), *(_dns_cell(per.get(r)) for r in result.resolvers),
                     ("<- resolvers disagree" if differ else "", "yellow")])
    out.extend(_grid(rows, paint))
    return out


def host_lines(host: HostInfo) -> list[str]:
    """The ``HOST`` section: one line per route and per interface."""
    lines = []
    established: dict[str, list[int]] = {}  # one pass: routes x connections would be quadratic
    for c in host.connections:
        if c.established is not None:
            established.setdefault(c.address, []).append(c.established)
    for r in host.routes:
        where = f"via {r.interface or '?'} from {r.source}" if r.source else f"no route ({r.error})"
        known = established.get(r.address, [])
        conns = f", {sum(known)} established" if known else ""
        lines.append(printable(f"  {r.address}: {where}{conns}"))
    for i in host.interfaces:
        bits = i.speed_bits_per_second
        speed = f", {bits // 1_000_000} Mbit/s" if bits else ""
        lines.append(printable(
            f"  {i.name}: {'up' if i.up else 'DOWN'}, mtu {i.mtu}{speed}, errors "
            f"{i.errors_in} in / {i.errors_out} out, drops {i.drops_in} in / {i.drops_out} out"))
    return lines


def _findings_section(result: RoundResult, paint: Painter) -> list[str]:
    if not result.findings:
        return []
    out = ["", paint("FINDINGS", "bold")]
    for f in result.findings:
        tint = {Severity.CRITICAL: "red", Severity.WARNING: "yellow"}.get(f.severity, "dim")
        out.append(f"{paint(f.severity.value.upper(), tint)} "
                   + printable(f"{f.id}: {f.summary}"))
        out.extend(printable(f"    {line}") for line in f.evidence)
        out.append(printable(f"    remedy: {f.remedy}"))
    return out


def _azure_lines(azure: AzureContext, paint: Painter) -> list[str]:
    """The header: where the agent runs (IMDS) and what ARM said, with its age."""
    agent = ", ".join(f"{k}={v}" for k, v in azure.agent) or "not on Azure (no IMDS)"
    lines = [paint("AZURE", "bold"), printable(f"  agent  {agent}")]
    if azure.apim:
        age = "-" if azure.age_seconds is None else f"{azure.age_seconds:.0f} s ago"
        lines.append(printable(f"  apim   {azure.apim} (read {azure.read_at or '-'}, {age}, "
                               f"{azure.requests} ARM requests)"))
        parts = [f"networkstatus updated {azure.status_updated or '-'}",
                 f"nsg {azure.nsg or '-'}", f"route table {azure.route_table or '-'}"]
        lines.append(printable("  " + "; ".join(parts)))
    for error in azure.errors:
        lines.append("  " + paint(printable(f"{error.call}: {error.message}"), "yellow"))
    lines.append("")
    return lines


def render(result: RoundResult, *, colour: bool = False, exit_status: int | None = None) -> str:
    paint = Painter(colour)
    out: list[str] = _azure_lines(result.azure, paint) if result.azure is not None else []
    out.append(paint(f"TCP (method {result.method})", "bold"))
    if result.tcp:
        titles = ("TARGET", "DEPENDENCY", "ADDRESS:PORT", "STATE", "REASON", "RTT", "LOSS",
                  "RESPONDER", "RESULT")
        header: list[tuple[str, str | None]] = [(h, "dim") for h in titles]
        out.extend(_grid([header, *(_tcp_row(r) for r in result.tcp)], paint))
    else:
        out.append("  no targets")

    out.extend(_dns_section(result, paint))

    if result.traces:
        out.append("")
        out.append(paint("PATH (TCP traceroute to the probed port)", "bold"))
        for t in result.traces:
            hops = "  ".join(f"{h.ttl}:{h.address or '*'}" for h in _trim(t.hops))
            end = ("reached" if t.reached else
                   f"stops after {t.stopped_after.address}" if t.stopped_after else "no answer")
            out.append(printable(f"{t.target} {t.address}:{t.port}  {hops}  ({end})"))

    if result.health:
        out.append("")
        out.append(paint("GATEWAY HEALTH", "bold"))
        for h in result.health:
            out.append(printable(f"{h.url} via {h.address or 'its name'}: ")
                       + paint(printable(h.reason), "green" if h.ok else "red")
                       + f" ({h.duration_seconds * 1000:.0f} ms)")

    out.extend(_findings_section(result, paint))

    if result.stage_failures:
        out.append("")
        out.append(paint("STAGES THAT FAILED (the rest of the round stands)", "bold"))
        out.extend(f"{paint(f.stage, 'red')}: {printable(f.error)}"
                   for f in result.stage_failures)

    host = host_lines(result.host) if result.host is not None else []
    if host:
        out.append("")
        out.append(paint("HOST (where the probes leave from)", "bold"))
        out.extend(host)

    out.append("")
    required = [r for r in result.tcp if r.required]
    met = sum(r.ok for r in required)
    summary = (f"{met}/{len(required)} required target addresses as expected, "
               f"{len(result.findings)} finding(s), round took {result.duration_seconds:.2f} s")
    if exit_status is not None:
        summary += f", exit {exit_status}"
    out.append(paint(summary, "green" if met == len(required) else "red"))
    return "\n".join(out) + "\n"
