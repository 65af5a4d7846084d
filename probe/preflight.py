"""What the agent checks before it starts, in one place for the daemon and --check-config.

``preflight(config)`` is every start-up check short of binding the port:
there is something to probe, the TLS certificate and key load as a pair, the
basic-auth password file holds a password. The daemon calls ``access_from``
(at start and on every reload) and ``probe --check-config`` calls
``preflight``, so a config the check calls valid is one the agent runs.

Files are read through ``probe.files``: a FIFO or a device named as a
certificate or a password file is refused at once instead of hanging.
"""

from __future__ import annotations

import ssl
from dataclasses import dataclass

from probe.config import Config
from probe.errors import ConfigError, InputError, ProbeError, UsageError
from probe.files import CONFIG_LIMIT, read_regular_file

__all__ = ["NO_TARGETS", "Access", "access_from", "live_targets", "no_targets", "preflight"]

NO_TARGETS = ("no targets: give --target [NAME=]HOST:PORT or a config file with [[target]] "
              "tables")


def no_targets(config: Config) -> ProbeError:
    """The error for a config that names nothing to probe. A file (the installed
    default, deploy/default/probe.toml, until it is edited) is named: edit it."""
    if config.source and not config.source.startswith("<"):
        return UsageError(f"edit {config.source}: no instance or targets yet (name your "
                          "APIM instance with [apim] name, or add [[target]] tables; "
                          "examples/probe.toml shows every key)")
    return UsageError(NO_TARGETS)


@dataclass(frozen=True, slots=True)
class Access:
    """How /metrics is protected: TLS context, basic auth credentials."""

    tls: ssl.SSLContext | None = None
    user: str | None = None
    password: bytes | None = None


def _read(config: Config, path: str, key: str) -> bytes:
    try:
        return read_regular_file(path, CONFIG_LIMIT)
    except InputError as exc:
        raise ConfigError(f"{path}: {exc.message}", source=config.source, key=key) from None


def access_from(config: Config) -> Access:
    """Load the certificate and password the config names (ConfigError if unusable)."""
    agent = config.agent
    tls = None
    if agent.tls_cert and agent.tls_key:
        # Judge both files first: load_cert_chain would block on a FIFO.
        _read(config, agent.tls_cert, "agent.tls_cert")
        _read(config, agent.tls_key, "agent.tls_key")
        tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        tls.minimum_version = ssl.TLSVersion.TLSv1_2
        try:
            tls.load_cert_chain(agent.tls_cert, agent.tls_key)
        except (ssl.SSLError, OSError) as exc:
            raise ConfigError(f"cannot load the certificate and key ({exc}); expected a PEM "
                              "certificate and its private key", source=config.source,
                              key="agent.tls_cert") from None
    password = None
    if agent.basic_auth_user and agent.basic_auth_password_file:
        password = _read(config, agent.basic_auth_password_file,
                         "agent.basic_auth_password_file").rstrip(b"\r\n")
        if not password:
            raise ConfigError("expected a file holding the password, got an empty file",
                              source=config.source, key="agent.basic_auth_password_file")
    return Access(tls, agent.basic_auth_user, password)


def preflight(config: Config) -> Access:
    """Every check the agent makes before it starts, except binding the port."""
    if not config.targets and not live_targets(config):
        raise no_targets(config)
    return access_from(config)


def live_targets(config: Config) -> bool:
    """[azure] apim: the targets come from ARM (read after start-up)."""
    return config.azure is not None and bool(config.azure.apim) \
        and config.azure.identity != "none"
