"""The apim-probe network lab: Linux network namespaces for testing the probers.

Not part of the installed ``probe`` package.  Use ``python -m lab up|down|status|check``
from the repository root, or ``lab.netlab.running()`` from pytest; the address
plan and the measured behaviours are in ``lab.topology``.
"""
