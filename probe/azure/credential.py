"""The identity the agent reads ARM with (azure-identity, the `azure` extra).

An explicit chain, never azure-identity's DefaultAzureCredential (which
would fall back to whatever developer login the machine holds):

    auto      WorkloadIdentityCredential when AKS injected it (the webhook sets
              AZURE_FEDERATED_TOKEN_FILE, AZURE_TENANT_ID, AZURE_CLIENT_ID), then
              ManagedIdentityCredential (VM, VMSS, ACI)
    workload  WorkloadIdentityCredential only
    managed   ManagedIdentityCredential only
    cli       AzureCliCredential: a developer's `az login`, only when asked
    none      no ARM reads

``[azure] client_id`` selects a user-assigned identity. ``[azure] imds``, when
it is not Azure's address, is where the managed identity's tokens are asked
for too (azure-identity reads it from AZURE_POD_IDENTITY_AUTHORITY_HOST, which
is set for this process only).
"""

from __future__ import annotations

import os
from typing import Any

from probe.azure.imds import DEFAULT_BASE
from probe.azure.settings import AzureConfig
from probe.errors import ProbeError

__all__ = ["WORKLOAD_ENV", "credential", "describe"]

WORKLOAD_ENV = ("AZURE_FEDERATED_TOKEN_FILE", "AZURE_TENANT_ID", "AZURE_CLIENT_ID")


def _workload_injected() -> bool:
    return all(os.environ.get(name) for name in WORKLOAD_ENV)


def describe(config: AzureConfig) -> str:
    """Which credential ``credential`` builds, in words (for `probe context`)."""
    who = f"user-assigned {config.client_id}" if config.client_id else "system-assigned"
    if config.identity == "auto":
        return ("workload identity (AKS), then managed identity" if _workload_injected()
                else f"managed identity ({who})")
    return {"managed": f"managed identity ({who})", "workload": "workload identity (AKS)",
            "cli": "Azure CLI login", "none": "none"}[config.identity]


def credential(config: AzureConfig) -> Any:
    """The azure-identity credential for ``config`` (None for ``identity = "none"``)."""
    if config.identity == "none":
        return None
    try:
        from azure.identity import (
            AzureCliCredential,
            ChainedTokenCredential,
            ManagedIdentityCredential,
            WorkloadIdentityCredential,
        )
    except ImportError:
        raise ProbeError("reading ARM needs the Azure extra: "
                         "pip install 'apim-probe[azure]'") from None
    if config.imds.rstrip("/") != DEFAULT_BASE:
        os.environ["AZURE_POD_IDENTITY_AUTHORITY_HOST"] = config.imds.rstrip("/")
    client_id = config.client_id or None
    if config.identity == "cli":
        return AzureCliCredential()
    if config.identity == "workload" or (config.identity == "auto" and _workload_injected()):
        try:
            workload = WorkloadIdentityCredential(client_id=client_id)
        except ValueError as exc:
            raise ProbeError(f"[azure] identity = {config.identity!r}: workload identity is "
                             f"not set up here ({exc})") from None
        if config.identity == "workload":
            return workload
        return ChainedTokenCredential(workload, ManagedIdentityCredential(client_id=client_id))
    return ManagedIdentityCredential(client_id=client_id)
