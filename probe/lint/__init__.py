"""Offline lint of saved Azure exports against APIM's network requirements.

    probe lint FILE... [--mode internal|external] [--format table|json]
                       [--subnet PREFIX] [--destination IP ...]

Each FILE is the JSON of one of (recognised from its content, not its name):

* ``az network nsg show``                        securityRules[] + defaultSecurityRules[]
* ``az network route-table show``                routes[] (addressPrefix, nextHopType, ...)
* ``az network nic show-effective-route-table``  value[] (addressPrefix[], source, state, ...)

The package, in the order data flows:

    exports   read a file, recognise what it is, one document -> findings
    parse     the JSON -> the models below (every problem an ExportError)
    nsg       NSG rules evaluated as Azure does, against APIM's requirements
    routes    longest-prefix match and next hops that break APIM
    command   the command line, table and JSON output

Exit status: 0 no finding above info, 1 a critical or warning finding,
2 unreadable or malformed input (the message names the file and what was
expected).
"""

from probe.lint.command import run

__all__ = ["run"]
