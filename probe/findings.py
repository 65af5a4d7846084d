"""The finding catalogue: every finding id apim-probe can report, defined once.

A ``FindingKind`` says what a finding id means: the severities it can take,
a one-line title, the remedy template the finding carries (``str.format``
fields filled with the values of the subject at hand) and what to check in
general (the text of the dashboard's 'Finding remedies' panel and of
docs/findings.md). Two sources report findings:

    diagnosis   the agent, from each probe round (probe.diagnosis)
    lint        ``probe lint``, from saved Azure NSG / route exports

The diagnosis and the lint build their findings with ``finding()``, which
refuses an id that is not here and takes the remedy from here (a kind whose
remedy differs by case names the other cases' templates as variants); tests
walk probe/ for every ``Finding(`` and ``finding(`` and check their ids
against ``FINDINGS``; the dashboard, the alerts and the docs are generated
from or checked against it.

This module is a bottom layer (it imports only probe.results and its two
parts, probe.findingkind and probe.findings_lint), so the
diagnosis and the lint can both use it.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping
from types import MappingProxyType

from probe.findingkind import (
    CRIT,
    CRIT_WARN,
    DIAGNOSIS,
    INFO,
    LINT,
    WARN,
    FindingKind,
    kind,
)
from probe.findings_azure import AZURE_KINDS
from probe.findings_lint import LINT_KINDS
from probe.results import Finding, Severity

# The forced-tunnelling advice, as the diagnosis (path traces) and the lint
# (route exports) give it: the lint can name the route-table setting.
_TUNNEL = (
    "A 0.0.0.0/0 route (yours, BGP from an on-premises gateway, or from a peered VNet) "
    "sends APIM's traffic to a virtual appliance or gateway, and a stateful firewall "
    "drops the replies of management traffic that arrived directly. In the APIM "
    "subnet's route table add a route for service tag ApiManagement with next hop "
    "Internet, service tag routes or service endpoints for Storage, Sql, AzureKeyVault "
    "and AzureMonitor, or allow this traffic on the appliance.")
FINDINGS: Mapping[str, FindingKind] = MappingProxyType(dict((
    # ---- diagnosis: DNS -------------------------------------------------
    kind("dns-custom-not-forwarding", DIAGNOSIS, CRIT_WARN,
          "a custom DNS server fails an Azure name that Azure DNS resolves",
          "The VNet's DNS server {failing} does not resolve this Azure name while Azure DNS "
          "does: it does not forward. Add a conditional forwarder for the zone (azure-api.net, "
          "core.windows.net, database.windows.net, vault.azure.net, the privatelink zones) or a "
          "default forwarder to Azure DNS {azure_dns} (reachable only from inside Azure) or to "
          "an Azure DNS Private Resolver inbound endpoint. APIM resolves every dependency "
          "through the VNet's DNS, so a name it cannot resolve is a dependency it cannot reach.",
          "The VNet's custom DNS server fails an Azure name that Azure DNS resolves: add a "
          "conditional forwarder (azure-api.net, core.windows.net, database.windows.net, "
          "vault.azure.net, the privatelink zones) or a default forwarder to 168.63.129.16 or "
          "an Azure DNS Private Resolver inbound endpoint."),
    kind("dns-resolver-fails", DIAGNOSIS, CRIT_WARN,
          "a resolver fails a name another one resolves",
          "The failing DNS server does not resolve this name while another one "
          "does. If it is the VNet's custom DNS server, add a conditional "
          "forwarder for the zone (or a default forwarder) to Azure DNS "
          "{azure_dns} or an Azure DNS Private Resolver; APIM uses the VNet's DNS "
          "for every dependency, so a name it cannot resolve is a dependency it "
          "cannot reach.",
          "One resolver fails a name another resolves. If it is the VNet's DNS server, forward "
          "the zone to Azure DNS 168.63.129.16 (or a Private Resolver); check the DNS server "
          "runs and UDP/TCP 53 to it is allowed."),
    kind("dns-answers-differ", DIAGNOSIS, WARN,
          "resolvers answer a name with different addresses",
          "Resolvers disagree on this name: a stale A record or a private DNS zone "
          "linked to one resolver's network only. Traffic follows the primary "
          "resolver's answer; make the records agree (in internal mode APIM names must "
          "resolve to the instance's private address).",
          "Resolvers give different addresses: a stale A record or a private DNS zone linked "
          "to one network only. Make the records agree (internal mode: APIM names resolve to "
          "the instance's private VIP)."),
    kind("dns-answer-unusable", DIAGNOSIS, CRIT_WARN,
          "a name resolves to an address that cannot be the dependency (required: critical)",
          "{resolver} answers {addresses} for {name}: 0.0.0.0 or :: is what a DNS sinkhole or "
          "a blocking policy answers (a DNS firewall or filtering resolver, a Private DNS "
          "zone or conditional forwarder holding a placeholder record). Nothing is probed. "
          "Find the policy or zone that blocks {name} on {resolver} and let it answer the "
          "real address (compare Azure DNS {azure_dns}).",
          "A DNS answer cannot be the dependency (0.0.0.0 or ::, loopback, this host, "
          "multicast, broadcast, link-local): a DNS sinkhole or blocking policy, or a wrong "
          "record. The address is not probed; fix the resolver's policy or the zone.",
          **dict((
              ("loopback", "{resolver} answers {addresses} (loopback) for {name}: a filtering "
               "resolver or an override record points it at the host that asks, where "
               "{name} is not. Nothing is probed. Remove the override or the record from the "
               "zone {resolver} serves (compare Azure DNS {azure_dns})."),
              ("own-address", "{resolver} answers {addresses}, this agent's own address, for "
               "{name}: a record in a custom or private zone points at the wrong host. "
               "Nothing is probed. Correct the record (compare Azure DNS {azure_dns})."),
              ("multicast", "{resolver} answers {addresses}, a multicast group, for {name}: "
               "no TCP service answers there, so the record is wrong or corrupted. Nothing "
               "is probed. Correct the A/AAAA record in the zone {resolver} serves."),
              ("broadcast", "{resolver} answers {addresses}, a broadcast address, for {name}: "
               "the record is wrong (a subnet's last address). Nothing is probed. Correct "
               "the A record in the zone {resolver} serves."),
              ("link-local", "{resolver} answers {addresses}, link-local (169.254.0.0/16, "
               "fe80::/10: never routed beyond this link; 169.254.169.254 is the instance "
               "metadata service), for {name}: the record is wrong. Nothing is probed. "
               "Correct the record in the zone {resolver} serves."),
          ))),
    kind("dns-addresses-capped", DIAGNOSIS, WARN,
          "a name answers with more addresses than the agent probes",
          "{name} answers with {count} addresses; the agent probes the lowest {probed} in "
          "address order ([dns] max_addresses) and tests none of the others. If every "
          "address matters, raise [dns] max_addresses (up to 4096); otherwise find out why "
          "the zone holds so many records (a wildcard, a misconfigured or hostile server).",
          "A name answers with more addresses than [dns] max_addresses: only the lowest ones "
          "are probed. Raise max_addresses if every address matters, or find out why the "
          "zone holds so many records."),
    kind("hosts-file-pin", DIAGNOSIS, WARN,
          "this host's hosts file pins a name to other addresses than DNS answers",
          "This host's hosts file pins {name} to {pinned}, and DNS ({resolver}) answers "
          "{answer}. curl, ping, openssl and browsers on this host use the pin; APIM never "
          "reads this host's hosts file, it asks the VNet's DNS, so a test from here does not "
          "show what APIM gets. The agent probes what DNS answers. Remove the pin, or make "
          "DNS answer {pinned} (internal mode: an A record in a private DNS zone azure-api.net "
          "linked to the VNet, or on the custom DNS server).",
          "A name is pinned in this host's hosts file to other addresses than DNS answers: "
          "tools on this host see the pin, APIM sees DNS. Remove the pin or fix the record "
          "(internal mode: a private DNS zone azure-api.net linked to the VNet).",
          unresolved="This host's hosts file pins {name} to {pinned}, but DNS ({resolver}) "
          "does not resolve it ({answer}). Tools on this host reach {name} through the pin; "
          "APIM asks the VNet's DNS and cannot resolve it at all: \"works from the jump box, "
          "not from APIM\". Create the record where APIM looks (internal mode: a private DNS "
          "zone azure-api.net linked to the VNet, or the custom DNS server) instead of the pin."),
    # ---- diagnosis: outbound dependencies -------------------------------
    kind("outbound-dropped", DIAGNOSIS, CRIT_WARN,
          "a dependency is silently dropped (required: critical)",
          "Add {advice} above any deny (DenyAllOutBound is 65500), and check that "
          "no user-defined route sends this traffic to a virtual appliance that "
          "drops it (Network Watcher 'connection troubleshoot': "
          "NetworkSecurityRule / UserDefinedRoute).",
          "Silence: an NSG deny, a firewall or a route to nowhere. Add an outbound NSG rule "
          "from VirtualNetwork to the service tag (Storage 443, Sql 1433, AzureKeyVault 443, "
          "AzureMonitor 1886/443) above DenyAllOutBound (65500); check user-defined routes do "
          "not send it to an appliance that drops it."),
    kind("outbound-rejected-path", DIAGNOSIS, CRIT_WARN,
          "ICMP reject from a device in the path",
          "{responder} (a firewall, virtual appliance or router) "
          "rejects this traffic: allow it there, or add {advice} and a "
          "route whose next hop is not that device (for Azure services: "
          "service tag route with next hop Internet, or a service endpoint).",
          "A firewall, virtual appliance or router in the path answers with ICMP: allow the "
          "traffic there, or route the service tag with next hop Internet / use a service "
          "endpoint."),
    kind("outbound-rejected-host", DIAGNOSIS, CRIT_WARN,
          "ICMP reject from the target itself",
          "The packet reached the destination and its own firewall answered: "
          "allow the APIM subnet on the destination (service firewall, "
          "'Selected networks' / service endpoint for the subnet, the host's "
          "firewall) or check the port is the documented one.",
          "The destination's own firewall rejects: allow the APIM subnet on the service "
          "('Selected networks', service endpoint) or check the port."),
    kind("outbound-blocked-locally", DIAGNOSIS, CRIT_WARN,
          "this host's own firewall or routes refuse to send",
          "No packet left this machine: check its local firewall (iptables/nft "
          "OUTPUT) and routes; this says nothing yet about the VNet's NSG.",
          "No packet left the probing host: its own firewall (nft/iptables OUTPUT) or routes "
          "refuse. Says nothing yet about the VNet's NSG."),
    kind("outbound-refused", DIAGNOSIS, WARN,
          "an Azure dependency answers with a reset",
          "An Azure endpoint should accept this port: check that the name "
          "resolves to the right address (a stale private endpoint record?) and "
          "that no firewall in the path resets the connection.",
          "An Azure endpoint answers with a reset: the name may resolve to a stale private "
          "endpoint address, or a firewall in the path resets the connection."),
    kind("backend-refused", DIAGNOSIS, CRIT_WARN,
          "a backend refuses connections: 'transportErrorCode 111'",
          "Nothing listens on this address and port (or a firewall resets): start "
          "the service or fix the backend URL's port in APIM; the NSG is not the "
          "cause, the packet got an answer.",
          "Nothing listens on the backend's port ('transportErrorCode 111'): start the service "
          "or fix the backend URL's port in APIM. The NSG is not the cause; the packet got an "
          "answer."),
    # ---- diagnosis: APIM's own endpoints --------------------------------
    kind("management-unresolved", DIAGNOSIS, CRIT,
          "the management endpoint does not resolve",
          "Create the record: in internal mode an A record for "
          "<name>.management.azure-api.net pointing at the instance's private "
          "address, in a private DNS zone linked to the VNet or on the custom DNS "
          "server; in external mode forward azure-api.net to Azure DNS.",
          "<name>.management.azure-api.net does not resolve: create the A record for the "
          "instance's private address (private DNS zone azure-api.net linked to the VNet, or "
          "the custom DNS server); in external mode forward azure-api.net to Azure DNS."),
    kind("management-unreachable", DIAGNOSIS, CRIT,
          "the management endpoint (3443) is unreachable",
          "Allow inbound TCP 3443 from service tag ApiManagement to VirtualNetwork "
          "in the APIM subnet's NSG, and add a user-defined route for service tag "
          "ApiManagement with next hop Internet when a 0.0.0.0/0 route sends traffic "
          "to a firewall (its replies are otherwise dropped: asymmetric routing).",
          "Port 3443 unreachable ('APIs keep loading'): allow inbound TCP 3443 from service "
          "tag ApiManagement to VirtualNetwork in the APIM subnet's NSG; with a 0.0.0.0/0 "
          "route to a firewall add a route for service tag ApiManagement with next hop "
          "Internet (asymmetric routing drops the replies)."),
    kind("profile-dns-unresolved", DIAGNOSIS, CRIT,
          "a name the mode needs the VNet's DNS to resolve does not resolve",
          "{name} does not resolve on {resolver}, and in mode {mode} the VNet's DNS must "
          "resolve {pattern} ({source}). Add a conditional forwarder for the zone to Azure "
          "DNS 168.63.129.16 (or an Azure DNS Private Resolver) on the custom DNS server, or "
          "link the privatelink zone to the VNet.",
          "A name the mode's profile needs (Premium v2 injection: *.vault.azure.net) does not "
          "resolve on the VNet's DNS: forward the zone to Azure DNS or link its private zone."),
    kind("workspace-gateway-health-port", DIAGNOSIS, CRIT,
          "an injected workspace gateway does not take port 80 from the VNet",
          "{address} does not take port 80 from the VNet. An injected workspace gateway needs "
          "inbound AzureLoadBalancer -> 80 (the health ping) and VirtualNetwork -> 80 and 443 "
          "in its subnet's NSG ({source}); without the ping the load balancer takes the "
          "gateway out of rotation. Allow them above any deny.",
          "An injected workspace gateway refuses or drops port 80: allow inbound "
          "AzureLoadBalancer -> 80 and VirtualNetwork -> 80, 443 in its subnet's NSG."),
    kind("captcha-endpoint-changed", DIAGNOSIS, WARN,
         "the developer portal's CAPTCHA host changed on 30 September 2025",
         "The developer portal's CAPTCHA moved from {old} to {new} on 30 September 2025 "
         "({source}). Allow outbound HTTPS to {new} (firewall, NSG service tags, proxy "
         "allow-lists); the old host no longer serves it, so sign-up and password reset "
         "pages fail where only it is allowed.",
         "The CAPTCHA host of the developer portal changed (30 September 2025): allow "
         "partner.prod.repmap.microsoft.com on 443."),
    kind("trusted-service-connectivity", DIAGNOSIS, WARN,
         "the APIM resource leaves trusted service connectivity on (retired 15 March 2026)",
         "{instance} does not set {property} to True. Trusted service connectivity was "
         "retired on 15 March 2026 ({source}): a gateway that reaches Storage, Key Vault, "
         "Service Bus, Event Hubs or Container Registry through 'trusted Microsoft services' "
         "fails now. Give it a network line of sight (private endpoint, VNet, service "
         "endpoint or the services' firewall), then set the property to True.",
         "Trusted service connectivity is retired (15 March 2026): give the gateway a "
         "network path to Storage and Key Vault, then set DisableOverPrivilegedAccess."),
    kind("apim-platform-retired", DIAGNOSIS, CRIT,
          "the instance runs on a retired compute platform (stv1)",
          "{instance} runs on platformVersion {platform}. Microsoft retired the stv1 platform "
          "on {retired} ({source}): the instance is unsupported and may be shut down or "
          "migrated without notice. Migrate it to stv2 (in a VNet: a new subnet and public IP, "
          "or the in-place migration keeping the IP: az apim migrate-to-stv2 / the REST "
          "migrateToStv2 operation), then update NSG and route rules for the new subnet.",
          "The instance's platformVersion is stv1, retired on 31 August 2024: migrate it to "
          "stv2 (migrateToStv2), then update the NSG and routes of the new subnet."),
    kind("apim-address-public", DIAGNOSIS, CRIT,
          "an APIM name is public in internal mode",
          "In internal mode APIM's names must resolve to the instance's private "
          "VIP: create a private DNS zone azure-api.net (A records for the "
          "gateway, portal, management and scm names) linked to the VNet, or the "
          "same records on the custom DNS server.",
          "An APIM name resolves to a public address in internal mode: create the private DNS "
          "zone azure-api.net (gateway, portal, management, scm records) linked to the VNet, "
          "or the same records on the custom DNS server."),
    kind("apim-address-mismatch", DIAGNOSIS, CRIT,
          "an APIM name is not the instance's address",
          "A stale or hand-written record: point the A record at the instance's "
          "address (portal: the API Management instance's Overview, private or "
          "public VIP) in the private DNS zone or on the custom DNS server.",
          "An APIM name resolves to an address that is not the instance's: fix the A record "
          "(the instance's Overview shows its private / public VIP)."),
    kind("configuration-unreachable", DIAGNOSIS, CRIT,
          "a self-hosted gateway is cut off from Azure",
          "Allow outbound HTTPS 443 from the gateway to "
          "<name>.configuration.azure-api.net (and <name>.management.azure-api.net "
          "for v1 tokens) through the firewall or proxy, make the name resolvable, "
          "and check the gateway token has not expired.",
          "A self-hosted gateway cannot reach <name>.configuration.azure-api.net:443: allow "
          "outbound HTTPS through the firewall or proxy, make the name resolvable, check the "
          "gateway token. It runs on its last cached configuration meanwhile."),
    kind("path-forbidden-hop", DIAGNOSIS, CRIT_WARN,
          "traffic crosses a forbidden hop (Azure dependency: critical)",
          _TUNNEL,
          "Forced tunnelling: a 0.0.0.0/0 route (yours, BGP from on-premises, or from a peered "
          "VNet) sends APIM's traffic through an appliance or gateway. Add a route for service "
          "tag ApiManagement with next hop Internet, service-tag routes or service endpoints "
          "for Storage, Sql, AzureKeyVault and AzureMonitor, or allow the traffic on the "
          "appliance."),
    kind("gateway-unhealthy", DIAGNOSIS, CRIT,
          "GET /status-0123456789abcdef failed",
          "The gateway does not serve /status-0123456789abcdef: if TCP 443 is open, "
          "the instance is unhealthy (check the Azure portal's Network status and "
          "Resource health, Storage and SQL reachability); if it is not, see the TCP "
          "findings for the gateway.",
          "GET /status-0123456789abcdef on the gateway failed. With TCP 443 open the instance "
          "itself is unhealthy: check the portal's Network status and Resource health, and "
          "Storage / SQL reachability above; with 443 not open, see the gateway's TCP "
          "findings."),
    kind("gateway-certificate-untrusted", DIAGNOSIS, WARN,
          "the gateway's certificate is not trusted here",
          "Clients in the VNet will refuse it too: give the custom domain a "
          "certificate with its full chain (Key Vault certificate), install the "
          "private CA on the clients, or set [apim] verify_tls = false if this "
          "host is not meant to trust it.",
          "The gateway's TLS certificate is not trusted from the VNet: give the custom domain "
          "a certificate with its full chain (Key Vault), install the private CA on the "
          "clients, or set [apim] verify_tls = false if this host is not meant to trust it."),
    # ---- diagnosis: APIM's own networkstatus beside the round -----------
    kind("apim-view-differs", DIAGNOSIS, CRIT_WARN,
          "APIM fails a dependency this agent reaches (required: critical)",
          "Look at what only the APIM subnet has: its NSG (an outbound rule to this "
          "dependency's service tag on port {port}), its route table (0.0.0.0/0 "
          "or a service-tag route to a virtual appliance that drops it), a service "
          "endpoint or private endpoint the service's firewall admits for one subnet "
          "and not the other, and its DNS{dns}. `probe lint` on the APIM subnet's "
          "effective NSG and routes shows which rule decides. If APIM's report predates "
          "a fix (see 'last checked'), save networkstatus again.",
          "APIM's networkstatus fails an endpoint this agent reaches: the difference lies "
          "between the APIM subnet and this host's subnet (NSG, route table, service or "
          "private endpoint, DNS). Lint the APIM subnet's effective NSG and routes."),
    kind("apim-view-corroborated", DIAGNOSIS, CRIT_WARN,
          "APIM and this agent both fail a dependency (required: critical)",
          "Both vantage points fail, so the block is common to both paths: an NSG or "
          "route table both subnets share, a firewall or virtual appliance both cross, "
          "the service's own firewall, or DNS. This agent's own finding for the same "
          "endpoint says where its probe stopped (silence, a reject and from whom, a "
          "reset); fix that and APIM's next check (every 15 minutes) should agree.",
          "APIM and this agent both fail the endpoint: the block is common to both paths; "
          "this agent's own finding for it says where the probe stopped."),
    # The default is for an endpoint not probed this round; the variants for
    # APIM's internal checks ("internal", and the ones with advice of their own).
    kind("apim-view-failure", DIAGNOSIS, CRIT_WARN,
          "APIM fails a check this agent cannot repeat (required: critical)",
          "Add it as a target ([apim] import of this networkstatus does, unless a "
          "[[target]] replaced it) to see whether this subnet reaches it; until then "
          "only APIM's word is known.",
          "APIM reports a failing internal check or an endpoint not probed this round: read "
          "APIM's error; probe the endpoint too where it is a name.",
          internal="Only APIM sees this check: read its error above, and check the APIM "
                   "subnet's NSG rules between VirtualNetwork and VirtualNetwork (APIM's "
                   "instances talk to each other there).",
          cache="APIM's instances cannot reach their internal cache: allow TCP 6381-6383 (and "
                "UDP 4290 for rate-limit counters) from VirtualNetwork to VirtualNetwork, "
                "inbound and outbound, in the APIM subnet's NSG.",
          scm="APIM's Git (scm) endpoint check fails: it only matters if configuration is "
              "saved to or deployed from Git; check inbound 443 within the subnet and outbound "
              "445 to Storage for its file share."),
    kind("apim-view-inbound", DIAGNOSIS, CRIT,
          "Azure's control plane cannot reach the instance (inbound 3443)",
          "Allow inbound TCP 3443 from service tag ApiManagement to VirtualNetwork in "
          "the APIM subnet's NSG, and add a route for service tag ApiManagement with "
          "next hop Internet when a 0.0.0.0/0 route sends the replies to a firewall. "
          "This agent's own probe of 3443 (if any) comes from inside the VNet: another "
          "path, which neither confirms nor rules this out.",
          "Inbound 3443 from ApiManagement fails: allow it in the APIM subnet's NSG and route "
          "service tag ApiManagement to Internet when forced tunnelling is on."),
    kind("apim-view-agent-only", DIAGNOSIS, INFO,
          "APIM reaches a dependency this agent does not",
          "APIM's own check succeeds from the APIM subnet, so APIM is not affected (as "
          "of 'last checked'). Look at this host's subnet (its NSG, its routes) and its "
          "own firewall before touching the APIM subnet's rules.",
          "Information: the block is on this host's side, not on APIM's path."),
    *AZURE_KINDS,
    *LINT_KINDS,
)))


def finding(id: str, severity: Severity, subject: str, summary: str,
            evidence: tuple[str, ...], *, variant: str | None = None,
            **remedy: object) -> Finding:
    """A Finding of a catalogued kind, its remedy (``variant``'s, if given) filled
    from ``remedy``'s values.

    Raises KeyError for an id not in FINDINGS, a variant the kind lacks or a
    remedy field left unfilled, and ValueError for a severity the kind does not
    take: a programming error, caught by the rules' and the lint's tests.
    """
    kind = FINDINGS[id]
    if severity not in kind.severities:
        raise ValueError(f"{id} is {kind.severity}, not {severity.value}")
    return Finding(id=id, severity=severity, subject=subject, summary=summary,
                   evidence=evidence, remedy=kind.template(variant).format(**remedy))


def of(source: str) -> tuple[FindingKind, ...]:
    """The kinds one source reports, in catalogue order."""
    return tuple(k for k in FINDINGS.values() if k.source == source)


def markdown_rows(kinds: tuple[FindingKind, ...]) -> list[str]:
    """The '| id | severity | what to check |' table of the dashboard's remedy panel."""
    return ["| id | severity | what to check |", "|---|---|---|",
            *(f"| `{k.id}` | {k.severity} | {k.check.replace('|', '/')} |" for k in kinds)]


def markdown() -> str:
    """docs/findings.md: ``python -m probe.findings > docs/findings.md``."""
    out = ["# Findings", "",
           "Every finding apim-probe reports, generated from the catalogue in",
           "`probe/findings.py` (`python -m probe.findings > docs/findings.md`). A finding",
           "carries an id, a severity, a subject, the evidence and a remedy for that",
           "subject; this is the general advice per id.", ""]
    for source, heading in ((DIAGNOSIS, "The agent's diagnosis of each round"),
                            (LINT, "`probe lint` of saved Azure exports")):
        out += [f"## {heading}", "", "| id | severity | what it says | what to check |",
                "|---|---|---|---|"]
        out += [f"| `{k.id}` | {k.severity} | {k.title} | {k.check.replace('|', '/')} |"
                for k in of(source)]
        out.append("")
    return "\n".join(out)


if __name__ == "__main__":
    sys.stdout.write(markdown())
