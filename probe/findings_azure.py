"""The finding kinds of the live Azure context (probe.azure, issue 18), part of
the catalogue ``probe.findings.FINDINGS``; the agent's diagnosis reports them
(probe.diagnosis.azure)."""

from __future__ import annotations

from probe.findingkind import CRIT_WARN, DIAGNOSIS, INFO, WARN, FindingKind, kind

AZURE_KINDS: tuple[tuple[str, FindingKind], ...] = (
    kind("azure-permission-missing", DIAGNOSIS, WARN,
          "the agent's identity may not read what a feature needs from ARM",
          "Grant {action} on {scope} to the agent's identity, e.g. with the custom role in "
          "deploy/azure/: az role assignment create --assignee-object-id "
          "\"$AGENT_PRINCIPAL_ID\" --assignee-principal-type ServicePrincipal --role "
          "\"apim-probe reader\" --scope \"{scope}\". Until then {feature} is skipped; "
          "probing goes on.",
          "ARM answered 403 (AuthorizationFailed) to one of the agent's reads: grant the "
          "action it names at the scope it names (deploy/azure/ has the least-privilege "
          "role); the feature it feeds is skipped meanwhile."),
    kind("azure-read-failed", DIAGNOSIS, (*WARN, *INFO),
          "a read of the Azure context failed; the last good one is kept",
          "{what} The agent keeps the last good answer ({age}) and reads again at the "
          "next refresh; check the agent's identity ([azure] identity, client_id), the "
          "resource ID ([azure] apim) and that ARM ({arm}) is reachable from this host.",
          "A read from IMDS or ARM failed (not found, throttled, unreachable, a token that "
          "could not be had): the last good context is kept with its age; the finding says "
          "which read and why."),
    kind("apim-view-stale", DIAGNOSIS, WARN,
          "APIM's own networkstatus has not been refreshed for over 30 minutes",
          "APIM refreshes its networkstatus every 15 minutes; a report last updated "
          "{updated} ({age} ago) means the instance itself may have lost its management "
          "channel (3443 inbound from ApiManagement, outbound to Storage and Sql). Check "
          "the instance's health in the portal and the management rows of this round.",
          "APIM's networkstatus is older than 30 minutes: APIM refreshes it every 15, so the "
          "instance may have lost its management channel; check its health."),
    kind("azure-config-contradicts", DIAGNOSIS, WARN,
          "the config says something the live APIM resource contradicts",
          "The config wins and the agent probes what it says. Make the config agree with "
          "the instance ({what}), or drop the key and let the live resource decide.",
          "The live APIM resource contradicts the config (mode, sku): the config wins; make "
          "them agree."),
    kind("nsg-denies-dependency", DIAGNOSIS, CRIT_WARN,
          "a rule of the APIM subnet's NSG denies a dependency that fails",
          "Rule {rule!r} (priority {priority}) in NSG {nsg} denies {flow}. Add an outbound "
          "Allow for service tag {tag} on port {port} with a priority number lower than "
          "{priority}, or narrow {rule!r}.",
          "A dependency fails and the APIM subnet's NSG, read live, has a rule that denies "
          "it: the finding names the rule and its priority."),
    kind("route-diverts-dependency", DIAGNOSIS, CRIT_WARN,
          "a route of the APIM subnet sends a failing dependency to an appliance or gateway",
          "Route {route!r} ({prefix} -> {hop}) in route table {table} takes {flow} away from "
          "the Internet path. Add a more specific route for service tag {tag} with next hop "
          "Internet, or allow the traffic on the appliance.",
          "A dependency fails and the APIM subnet's route table, read live, sends it to a "
          "virtual appliance or gateway: the finding names the route."),
    kind("agent-vantage-differs", DIAGNOSIS, (*WARN, *INFO),
          "this agent's network path differs from APIM's subnet",
          "This agent's verdicts stand for APIM's only where their paths agree: {what}. Run "
          "the agent in the APIM subnet's NSG and route table (a VM in a sibling subnet "
          "with the same NSG and route table attached), or read the differing rows with "
          "that in mind.",
          "The agent's NIC has another effective NSG or other user routes than the APIM "
          "subnet: its verdicts may differ from what APIM sees."),
)
