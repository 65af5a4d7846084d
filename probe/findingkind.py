"""What one finding id means (``FindingKind``) and the severity sets the
catalogue uses: shared by ``probe.findings`` (the catalogue, the diagnosis's
kinds) and ``probe.findings_lint`` (lint's kinds). A bottom layer: it imports
only ``probe.results``."""

from __future__ import annotations

from dataclasses import dataclass

from probe.results import Severity

DIAGNOSIS = "diagnosis"
LINT = "lint"

CRIT = (Severity.CRITICAL,)
WARN = (Severity.WARNING,)
INFO = (Severity.INFO,)
CRIT_WARN = (Severity.CRITICAL, Severity.WARNING)
ANY = (Severity.CRITICAL, Severity.WARNING, Severity.INFO)


@dataclass(frozen=True, slots=True)
class FindingKind:
    """What one finding id means, whoever reports it."""

    id: str
    source: str  # DIAGNOSIS or LINT
    severities: tuple[Severity, ...]
    title: str
    remedy: str  # a str.format template; the fields are the subject's own values
    check: str  # what to check in general (no fields): dashboard and docs
    # (name, template): the remedy for a named case of the id the general one does
    # not fit, chosen with ``finding(..., variant=name)``.
    variants: tuple[tuple[str, str], ...] = ()

    def template(self, variant: str | None = None) -> str:
        """The remedy template, or a variant's (KeyError for one the kind lacks)."""
        return self.remedy if variant is None else dict(self.variants)[variant]

    @property
    def severity(self) -> str:
        """'critical / warning': the severities as the docs and the dashboard list them."""
        return " / ".join(s.value for s in self.severities)


def kind(id: str, source: str, severities: tuple[Severity, ...], title: str, remedy: str,
          check: str, **variants: str) -> tuple[str, FindingKind]:
    return id, FindingKind(id, source, severities, title, remedy, check, tuple(variants.items()))
