"""The test session's guard against real Azure hosts (loaded by every Python the
tests start: tests/conftest.py puts this folder on PYTHONPATH).

No test may resolve or connect to a real Azure host: the defaults of
``[azure] imds`` and ``arm`` (169.254.169.254, management.azure.com) and every
Azure or Microsoft sign-in name must never be reached, whatever a test
configures. An audit hook refuses such a name lookup or connection with an
error, and appends it to the file named by APIM_PROBE_AZURE_GUARD, which the
session checks at its end (tests/conftest.py): a refused attempt fails the run.
"""

from __future__ import annotations

import guard_azure

guard_azure.install()
