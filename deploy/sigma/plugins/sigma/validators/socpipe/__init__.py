"""socpipe's validators for `sigma check`: the provincial `checklist.*` tag namespace.

A module in pySigma's `sigma.validators` namespace package is a validator plugin, found by
sigma-cli's plugin discovery when this folder is on `sys.path` (deploy/sigma/check.py puts it
there). pySigma's `namespace_tag` knows a fixed set of namespaces and takes no configuration, so
deploy/sigma/validation.yml replaces it by `socpipe_namespace_tag` (the same set plus `checklist`,
without `d3fend`) and adds `socpipe_checklist_tag` (a checklist tag names one of the codes VN-01..VN-12).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from sigma.rule import SigmaRuleTag
from sigma.validators.base import SigmaTagValidator, SigmaValidationIssue, SigmaValidationIssueSeverity
from sigma.validators.core.tags import InvalidNamespaceTagIssue, NamespaceTagValidator

from detections.tags import CHECKLIST_CODES, CHECKLIST_NAMESPACE

# plugin discovery takes the `validators` map; without __all__ it would also register every class
# imported here under its class name
__all__ = ["validators"]


class SocpipeNamespaceTagValidator(SigmaTagValidator):
    """Sigma's tag namespaces plus `checklist` (DOMAIN.md's checklist weaknesses), less `d3fend`
    (its data cannot be had offline, so its tags could not be checked)."""

    allowed_namespace: ClassVar[frozenset[str]] = frozenset(
        (NamespaceTagValidator.allowed_namespace - {"d3fend"}) | {CHECKLIST_NAMESPACE}
    )

    def validate_tag(self, tag: SigmaRuleTag) -> list[SigmaValidationIssue]:
        if tag.namespace not in self.allowed_namespace:
            return [InvalidNamespaceTagIssue([self.rule], tag)]
        return []


@dataclass
class InvalidChecklistTagIssue(SigmaValidationIssue):
    description: ClassVar[str] = "Checklist tag is not checklist.vn-01 .. checklist.vn-12"
    severity: ClassVar[SigmaValidationIssueSeverity] = SigmaValidationIssueSeverity.MEDIUM
    tag: SigmaRuleTag


class SocpipeChecklistTagValidator(SigmaTagValidator):
    """A `checklist.*` tag names a code of detections.tags.CHECKLIST_CODES (an unknown code would
    be dropped from the alerts silently, so it must fail the check)."""

    def validate_tag(self, tag: SigmaRuleTag) -> list[SigmaValidationIssue]:
        if tag.namespace == CHECKLIST_NAMESPACE and tag.name.upper() not in CHECKLIST_CODES:
            return [InvalidChecklistTagIssue([self.rule], tag)]
        return []


validators = {
    "socpipe_namespace_tag": SocpipeNamespaceTagValidator,
    "socpipe_checklist_tag": SocpipeChecklistTagValidator,
}
