"""Offline lint of saved Azure exports against APIM's network requirements.

    probe lint FILE... [--mode MODE] [--format table|json]   (MODE: a profile of probe.apimmodel)
                       [--subnet PREFIX] [--control-plane IP ...] [--destination IP ...]

Each FILE is recognised from its content, not its name (``probe.lint.shapes``):
an NSG, a list of NSG rules, a NIC's effective security rules, a route table,
a list of routes, a NIC's effective routes or a subnet, as ``az`` prints them
(flattened), as the REST API returns them (``properties`` nested, ``az
rest``), in list bodies ``{"value": [...]}`` or bare lists, or as PowerShell's
``ConvertTo-Json`` writes them (PascalCase), in UTF-8 or UTF-16.

The package, in the order data flows:

    exports   read a file (encodings, sizes), lint every document in it
    shapes    what a file holds, or why it is refused
    node      one JSON object read the same from az, REST and PowerShell
    parse     the JSON -> the models below (every problem an ExportError)
    nsg       NSG rules and APIM's requirements; does a rule match a flow
    nsg_lint  an NSG -> findings (missing, shadowed, not judged offline)
    routes    longest-prefix match and next hops that break APIM
    command   the command line, table and JSON output

Exit status: 0 no finding above info, 1 a critical or warning finding,
2 unreadable or malformed input (the message names the file and what was
expected).
"""

from probe.lint.command import run

__all__ = ["run"]
