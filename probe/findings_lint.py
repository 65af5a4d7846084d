"""``probe lint``'s finding kinds, part of the catalogue ``probe.findings.FINDINGS``."""

from __future__ import annotations

from probe.findingkind import ANY, CRIT, CRIT_WARN, INFO, LINT, FindingKind, kind
from probe.results import Severity

_ROUTE_TUNNEL = (
    "Add a route for service tag ApiManagement with next hop Internet to the APIM "
    "subnet's route table (control-plane replies must not go through the firewall), "
    "and route or allow Storage, Sql, AzureKeyVault and AzureMonitor (service tag "
    "routes to Internet or service endpoints). If the default route is learnt over BGP "
    "or from a peered hub, set disableBgpRoutePropagation or override 0.0.0.0/0 here.")
_ROUTE_CHECK = (
    "Forced tunnelling in the route export: route service tag ApiManagement to Internet, "
    "route or allow Storage, Sql, AzureKeyVault and AzureMonitor; for a BGP or hub default "
    "route set disableBgpRoutePropagation or override 0.0.0.0/0 in the APIM subnet's table.")


LINT_KINDS: tuple[tuple[str, FindingKind], ...] = (
    # ---- lint: NSG exports ----------------------------------------------
    kind("nsg-rule-missing", LINT, ANY,
          "no NSG rule allows a flow APIM needs",
          "Add {rule}, with a priority number lower than {priority}.",
          "A flow APIM needs (3443 from ApiManagement, 6390 from AzureLoadBalancer, Storage "
          "443, Sql 1433, AzureKeyVault 443, AzureMonitor 1886/443, ...) meets a deny first: "
          "add an Allow rule for it with a lower priority number than that deny."),
    kind("nsg-rule-shadowed", LINT, ANY,
          "an NSG allow rule sits below a deny that wins",
          "Give {allow!r} a priority number lower than {priority} or narrow {decider!r} so it "
          "does not hold {remote} ({direction} rules are evaluated lowest number first).",
          "The allow rule exists but a deny with a lower priority number decides first: "
          "renumber the allow below the deny, or narrow the deny."),
    kind("nsg-rule-not-judged", LINT, INFO,
          "an NSG verdict depends on rules offline lint cannot expand",
          "Check these rules by hand, or ask Azure, which expands them: 'az network "
          "watcher test-ip-flow' or 'az network nic list-effective-nsg'.",
          "Rules naming application security groups or service tags lint cannot expand "
          "offline decide this verdict: check them with Azure's IP flow verify."),
    kind("nsg-default-rules-added", LINT, INFO,
          "a rule list was judged with Azure's default rules added",
          "Nothing to change; lint 'az network nsg show' output to judge the NSG as "
          "exported.",
          "Information: a bare rule list was judged with Azure's default rules added."),
    # ---- lint: route exports --------------------------------------------
    # The route-destination kinds' general remedy is for a --control-plane
    # address; variant "backend" is for a --destination one (a backend, on-premises).
    kind("route-control-plane-via-appliance", LINT, CRIT,
          "service tag ApiManagement is routed to a virtual appliance or gateway",
          "Set the ApiManagement route's next hop type to Internet.",
          "The ApiManagement route must have next hop Internet: the control plane's replies "
          "through a firewall are dropped (asymmetric routing)."),
    kind("route-control-plane-not-internet", LINT, CRIT,
          "service tag ApiManagement is routed somewhere other than Internet",
          "Set the ApiManagement route's next hop type to Internet.",
          "The ApiManagement route must have next hop Internet."),
    kind("route-default-via-appliance", LINT, CRIT_WARN,
          "0.0.0.0/0 goes to a virtual appliance or gateway (forced tunnelling)",
          _ROUTE_TUNNEL, _ROUTE_CHECK),
    kind("route-default-none", LINT, CRIT,
          "0.0.0.0/0 is routed to None",
          _ROUTE_TUNNEL, _ROUTE_CHECK),
    kind("route-destination-via-appliance", LINT, CRIT_WARN,
          "a destination's winning route goes to a virtual appliance or gateway",
          "Add a route for {destination}/32 (or service tag ApiManagement) with next "
          "hop Internet to the APIM subnet's route table; the longest prefix wins.",
          "APIM's control plane and Azure dependencies must not pass a virtual appliance or "
          "gateway: add a more specific route with next hop Internet (the longest prefix "
          "wins)."),
    kind("route-destination-none", LINT, CRIT_WARN,
          "a destination's winning route drops it (next hop None)",
          "Add a route for {destination}/32 (or service tag ApiManagement) with next "
          "hop Internet to the APIM subnet's route table; the longest prefix wins.",
          "Traffic to the destination is dropped by its winning route: add a more specific "
          "route with next hop Internet (the longest prefix wins).",
          backend="Add a route for {destination}'s prefix with the next hop that reaches it "
                  "(VirtualNetworkGateway, VirtualAppliance or Internet); the longest prefix "
                  "wins."),
    kind("route-destination", LINT, INFO,
          "which route a destination takes",
          "Nothing to change for APIM.",
          "Information: the route that wins for a destination, by longest prefix.",
          backend="Nothing to change for APIM if that is the way to it; a control-plane "
                  "address is checked with --control-plane."),
    # ---- lint: subnets -------------------------------------------------
    kind("subnet-delegation", LINT, CRIT,
         "the subnet's delegation is not what the mode needs",
         "Delegate subnet {name} to {delegation} (az network vnet subnet update -g RG "
         "--vnet-name VNET -n {name} --delegations {delegation}); mode {mode} cannot deploy "
         "into it otherwise.",
         "Classic APIM subnets are not delegated; v2 integration and workspace gateway "
         "integration need Microsoft.Web/serverFarms; Premium v2 and workspace gateway "
         "injection need Microsoft.Web/hostingEnvironments.",
         classic="A classic ({mode}) APIM subnet must not be delegated: remove the "
                 "delegation to {delegations} (az network vnet subnet update ... "
                 "--remove delegations), or use a v2 mode if this subnet is meant for one."),
    kind("subnet-size", LINT, (Severity.CRITICAL, Severity.INFO),
         "the subnet is smaller than the mode needs (or than recommended)",
         "The subnet is a /{length}: the mode needs /{least} at least and /{recommended} is "
         "recommended (APIM scales out into it). A subnet cannot grow while in use: create a "
         "larger one and move the instance (or the gateway) there.",
         "Give APIM a subnet of at least the mode's minimum (/27 for v2 and workspace "
         "gateways, /29 classic; /24 recommended)."),
    kind("subnet-address-prefix", LINT, CRIT,
         "the subnet sets addressPrefixes where the mode needs one addressPrefix",
         "Set one CIDR on subnet {name} as addressPrefix (az network vnet subnet update ... "
         "--address-prefixes {prefix} writes the plural list: set the singular property "
         "through ARM, Bicep or the REST API); Premium v2 injection reads addressPrefix only.",
         "Premium v2 injection needs the subnet's singular addressPrefix (one CIDR); the "
         "portal writes the plural addressPrefixes."),
    kind("subnet-nsg-missing", LINT, CRIT_WARN,
         "no NSG is associated with the APIM subnet",
         "Associate an NSG with subnet {name} (az network vnet subnet update ... "
         "--network-security-group NSG) holding the mode's rules (README, APIM modes).",
         "The mode requires an NSG on its subnet (v2 and workspace gateways: it must be "
         "there; classic: recommended, with the documented rules)."),
    kind("subnet-attached", LINT, INFO,
         "the subnet's NSG and route table, to lint too",
         "Save and lint them: {commands}.",
         "The subnet references an NSG and a route table: lint their exports too."),
)
