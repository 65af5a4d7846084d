"""The PromQL the product ships, in one place: the alerting rules
(prometheus/alerts.py) and ``probe fleet`` build on these pieces, so a
fleet view and the alerts cannot disagree on what "failing" means.

Label-agnostic (issue 19): nothing here names job or instance. Aggregations
use ``without (...)`` and joins ``ignoring (...)``, so whatever tells agents
apart (instance under central scraping; external labels such as vnet and
region under remote_write or federation) stays on every answer.
"""

from __future__ import annotations

__all__ = ["AGE", "INFO_LABELS", "JOIN", "JOIN_ADDRESS", "PER_TARGET", "ROUNDS",
           "TARGET_FAILING", "TARGET_STREAK"]

# What is static per target, on apim_probe_target_info (one series per target).
INFO_LABELS = "dependency, host, port, expected, required"
# The static labels put on a per-target series (address aggregated away) and
# on a per-address one.
JOIN = f"* ignoring ({INFO_LABELS}) group_left (dependency, host, port)"
JOIN_ADDRESS = f"* ignoring (address, {INFO_LABELS}) group_left (dependency, host, port)"
# Consecutive failing rounds at which a target counts as failing: at least 6
# attempts per address with the default count = 3, so one lost packet or one
# bad round followed by a good one never does.
ROUNDS = 2
# Per agent and target: the failing-round streak of its best address.
TARGET_STREAK = "min without (address) (apim_probe_tcp_failing_rounds)"
TARGET_FAILING = f"""\
{TARGET_STREAK}
  {JOIN}
    apim_probe_target_info"""
# The labels of TARGET_FAILING's answers that say which endpoint, not which agent.
PER_TARGET = ("target", "dependency", "host", "port")
# Seconds since each agent's last round.
AGE = "time() - apim_probe_last_round_timestamp_seconds"
