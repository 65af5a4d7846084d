"""apim-probe: watch the network dependencies of Azure API Management in a VNet."""

import signal as _signal
import sys as _sys

__version__ = "0.4.0"

# Run as the agent (`probe ...` or `python -m probe ...` without a one-shot
# command), a SIGHUP while it starts (`systemctl reload` right after `start`)
# must not end it: SIGHUP's default action would, before the event loop takes
# the signal over. So it is ignored from the first line of ours that runs,
# before the imports and the config (the interpreter's own start, some 50 ms,
# is the only window left). Imported as a library, nothing changes.
_ONE_SHOT = frozenset({"--once", "--check-config", "lint", "targets", "fleet", "context",
                       "-h", "--help", "--version"})
_AS_PROGRAM = ("-m", "/probe", "probe/__main__.py")  # -m: argv[0] while runpy imports us
if (_sys.argv and _sys.argv[0].endswith(_AS_PROGRAM)
        and not _ONE_SHOT & set(_sys.argv[1:])):
    _signal.signal(_signal.SIGHUP, _signal.SIG_IGN)
