"""The [azure] config section (read by probe.config, used by probe.azure)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from probe.schema import Between, key

__all__ = ["AzureConfig"]


def _http_url(value: Any) -> str | None:
    return None if re.fullmatch(r"https?://[^\s/?#]+(/[^\s?#]*)?", value) else \
        "expected an http:// or https:// base URL"


@dataclass(frozen=True, slots=True)
class AzureConfig:
    """[azure]: the section's presence turns on the Azure context (IMDS)."""

    imds: str = key("http://169.254.169.254", str, "base URL of the Instance Metadata "
                    "Service (where the agent runs: region, subscription, VM, subnet, AKS "
                    "cluster, as labels of `apim_probe_agent_info`); read without a proxy",
                    check=_http_url, expected="an http:// or https:// base URL")
    refresh: float = key(900.0, float, "seconds between reads of the Azure context",
                         check=Between(60, 86400, "seconds"), convert=float)
